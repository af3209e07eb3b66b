//! Lambda function triggered by MSK on the reactions topic: counts each
//! post's reactions per emoji, once per post per batch.

use hashtag_lambda::{logging, run_kafka, sdk_config, ReactionConsumer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    run_kafka::<ReactionConsumer>(sdk_config().await).await
}
