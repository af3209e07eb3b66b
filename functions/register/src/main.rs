//! Lambda function behind `POST /users` and `POST /register`.

use hashtag_lambda::{logging, run_http, sdk_config, Register};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    run_http::<Register>(sdk_config().await, None).await
}
