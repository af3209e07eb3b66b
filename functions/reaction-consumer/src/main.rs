//! Lambda function triggered by MSK on the reactions topic: counts each
//! post's reactions per emoji, once per post per batch, then publishes the
//! re-ranked top posts of their tags on the top-posts topic.

use hashtag_lambda::{logging, run_kafka, sdk_config, ReactionConsumer};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    let config = sdk_config().await;
    let kafka = hashtag_kafka::connect_from_env(&config)
        .await?
        .ok_or("KAFKA_BOOTSTRAP must be set: the ranker publishes rankings")?;
    run_kafka::<ReactionConsumer>(config, Some(kafka)).await
}
