//! Lambda function run on a schedule: publishes the post events that
//! create-post stored but could not publish (Kafka down, or the function
//! stopped between commit and publication).

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_relay().await
}
