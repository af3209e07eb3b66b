//! Lambda function triggered by MSK on the top-posts topic: applies popularity rankings.

use hashtag_lambda::{logging, run_kafka, sdk_config, TopPostsConsumer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    run_kafka::<TopPostsConsumer>(sdk_config().await, None).await
}
