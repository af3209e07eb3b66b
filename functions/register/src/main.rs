//! Lambda function behind `POST /users` and `POST /register`.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_http::<shared::lambda::Register>().await
}
