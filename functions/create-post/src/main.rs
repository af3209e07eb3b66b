//! Lambda function behind `POST /posts` and `POST /create_post`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_http::<shared::lambda::CreatePost>().await
}
