//! Lambda function for the read side: `GET /tags/{name}`, `POST /hashtag_summary`, post pages, the home page.

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    shared::lambda::run_http::<shared::lambda::Summary>().await
}
