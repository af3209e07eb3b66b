//! The AWS resources a process uses, as the environment names them
//! (template.yaml sets the variables; `scripts/local-aws` writes the same
//! for the local stack).

use aws_config::SdkConfig;
use hashtag_core::ports::StoreError;

use crate::{AuroraPostStore, DataApiTarget, DynamoHashtagStore};

/// The database name when `DB_NAME` is not set (the template's).
pub const DEFAULT_DB_NAME: &str = "hashtag";

/// Whether the environment names the AWS resources (as template.yaml
/// does): `hashtag` commands then use the AWS adapters, else the embedded
/// stores.
pub fn on_aws() -> bool {
    std::env::var_os("HASHTAG_TABLE").is_some()
}

/// A variable parsed as `T`, or `default` when it is unset or unparsable.
pub fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn required(name: &str) -> Result<String, StoreError> {
    std::env::var(name)
        .map_err(|_| StoreError::Backend(format!("{name} must be set (see template.yaml)")))
}

/// The Aurora post store named by `DB_CLUSTER_ARN`, `DB_SECRET_ARN` and
/// `DB_NAME`, its events stored for `POSTS_TOPIC` (else `posts`).
pub fn aurora_store(config: &SdkConfig) -> Result<AuroraPostStore, StoreError> {
    let target = DataApiTarget {
        resource_arn: required("DB_CLUSTER_ARN")?,
        secret_arn: required("DB_SECRET_ARN")?,
        database: env_or("DB_NAME", DEFAULT_DB_NAME.to_string()),
    };
    let mut posts = AuroraPostStore::new(aws_sdk_rdsdata::Client::new(config), target);
    if let Ok(topic) = std::env::var("POSTS_TOPIC") {
        posts = posts.with_posts_topic(topic);
    }
    Ok(posts)
}

/// The DynamoDB hashtag store named by `HASHTAG_TABLE`.
pub fn dynamo_store(config: &SdkConfig) -> Result<DynamoHashtagStore, StoreError> {
    Ok(DynamoHashtagStore::new(
        aws_sdk_dynamodb::Client::new(config),
        required("HASHTAG_TABLE")?,
    ))
}

/// This process's Snowflake worker id: `HASHTAG_WORKER_ID` if set, else one
/// leased from the database, so concurrent containers never share one.
pub async fn worker_id(posts: &AuroraPostStore) -> Result<u16, StoreError> {
    match std::env::var("HASHTAG_WORKER_ID") {
        Ok(_) => Ok(env_or("HASHTAG_WORKER_ID", 0)),
        Err(_) => posts.lease_worker_id().await,
    }
}
