//! Lambda function behind `POST /posts` and `POST /create_post`: the one HTTP
//! function that links the Kafka client, to publish each post's event right
//! after its transaction commits (without `KAFKA_BOOTSTRAP`, events wait in
//! the outbox for the relay).

use hashtag_lambda::{logging, run_http, sdk_config, CreatePost};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    let config = sdk_config().await;
    let kafka = hashtag_kafka::connect_from_env(&config).await?;
    run_http::<CreatePost>(config, kafka.map(|k| k as _)).await
}
