//! Lambda function for the read side: `GET /tags/{name}`, `POST /hashtag_summary`, post pages, the home page.

use hashtag_lambda::{logging, run_http, sdk_config, Summary};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    run_http::<Summary>(sdk_config().await, None).await
}
