//! Lambda function triggered by MSK on the posts topic: counts a whole batch, one update per distinct tag.

use hashtag_lambda::{logging, run_kafka, sdk_config, HashtagConsumer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    run_kafka::<HashtagConsumer>(sdk_config().await, None).await
}
