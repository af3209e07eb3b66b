//! Lambda function triggered by MSK on the posts topic: counts a whole batch, one update per distinct tag.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_kafka::<shared::lambda::HashtagConsumer>().await
}
