//! Lambda function triggered by MSK on the posts topic (its own consumer group): builds the mention graph.

use hashtag_lambda::{logging, run_kafka, sdk_config, MentionConsumer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    run_kafka::<MentionConsumer>(sdk_config().await, None).await
}
