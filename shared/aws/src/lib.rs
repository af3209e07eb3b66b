//! The AWS adapters: the hashtag table in DynamoDB, users and posts in
//! Aurora PostgreSQL through the RDS Data API. They implement the same ports
//! as the embedded adapters and pass the same contract tests.
//!
//! Clients come from the standard AWS configuration chain, so the
//! `AWS_ENDPOINT_URL` / `AWS_ENDPOINT_URL_<SERVICE>` variables point the same
//! binaries at AWS, at LocalStack, or at the project's local stack.

mod aurora_posts;
mod dynamo_hashtags;
mod dynamo_history;
mod dynamo_mentions;
mod dynamo_ranker;
mod dynamo_reactions;
mod dynamo_windows;
pub mod env;

pub use aurora_posts::{AuroraPostStore, DataApiTarget};
pub use dynamo_hashtags::DynamoHashtagStore;

/// The hashtag table's item shapes, for the write-cost model of the tools.
pub mod items {
    pub use crate::dynamo_hashtags::{claim_item, counter_item, recent_post_items};
    pub use crate::dynamo_history::day_item;
    pub use crate::dynamo_mentions::edge_item;
    pub use crate::dynamo_reactions::reactions_item;
}

use std::time::Duration;

use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_config::{BehaviorVersion, SdkConfig};

use hashtag_core::ports::StoreError;

/// The shared SDK configuration (region, credentials, endpoints) from the
/// environment. Load it once per process: it resolves credentials.
///
/// Throttling, 5xx and timeouts are retried inside the call with
/// exponential backoff and jitter (the SDK's standard mode, here with 5
/// attempts); an attempt gives up after 20 s (an Aurora cluster resuming
/// from auto-pause can take 15). If they persist the call
/// fails, and with it the batch, which MSK then redelivers.
pub async fn sdk_config() -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .http_client(https_client())
        .retry_config(RetryConfig::standard().with_max_attempts(5))
        .timeout_config(
            TimeoutConfig::builder()
                .operation_attempt_timeout(Duration::from_secs(20))
                .build(),
        )
        .load()
        .await
}

/// The HTTP client of every AWS call: hyper and rustls on `ring`, the
/// crypto library the Kafka client's TLS already links, so a bootstrap
/// carries one (the SDK's default client would add aws-lc, megabytes more).
pub fn https_client() -> aws_sdk_dynamodb::config::SharedHttpClient {
    use aws_smithy_http_client::tls::{rustls_provider::CryptoMode, Provider};
    aws_smithy_http_client::Builder::new()
        .tls_provider(Provider::Rustls(CryptoMode::Ring))
        .build_https()
}

/// A backend error from an SDK call, with the whole error chain (the SDK's
/// top-level `Display` says only "service error").
fn sdk_error(context: &str, error: impl std::error::Error) -> StoreError {
    StoreError::Backend(format!(
        "{context}: {}",
        aws_sdk_dynamodb::error::DisplayErrorContext(error)
    ))
}
