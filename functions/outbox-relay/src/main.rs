//! Lambda function run on a schedule: publishes the post events that
//! create-post stored but could not publish (Kafka down, or the function
//! stopped between commit and publication).

use hashtag_lambda::{logging, run_relay, sdk_config};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    let config = sdk_config().await;
    let kafka = hashtag_kafka::connect_from_env(&config)
        .await?
        .ok_or("KAFKA_BOOTSTRAP must be set")?;
    run_relay(config, kafka).await
}
