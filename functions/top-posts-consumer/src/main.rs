//! Lambda function triggered by MSK on the top-posts topic: applies popularity rankings.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_kafka::<shared::lambda::TopPostsConsumer>().await
}
