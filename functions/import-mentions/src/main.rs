//! Lambda function behind `POST /mentions/import` and `POST /upload_csv`:
//! CSV imports into the mention graph (DynamoDB), kept out of create-post
//! so that the function on every post's path stays small.

use hashtag_lambda::{logging, run_http, sdk_config, ImportMentions};

#[tokio::main]
async fn main() -> Result<(), lambda_runtime::Error> {
    logging::init_lambda();
    run_http::<ImportMentions>(sdk_config().await, None).await
}
