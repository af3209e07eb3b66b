//! The popularity ranker's record of each tag in the hashtag table: one
//! item per tag, partition `~candidates:<tag key>`, sort key `candidates`,
//! holding `posts` (JSON: the candidates, at most 100; under 250 KB with
//! the longest image URLs, within the 400 KB item limit), `version`
//! (every write increments it and is conditioned on the one read) and
//! `generated_ms`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo_hashtags::{get_n, get_s, n, s};
use super::{sdk_error, DynamoHashtagStore};
use hashtag_core::popularity::{Candidate, TagCandidates};
use hashtag_core::ports::{RankerState, StoreError};

/// Partition key prefix of the ranker's records.
const CANDIDATES_PREFIX: &str = "~candidates:";

type Item = HashMap<String, AttributeValue>;

fn candidates_key(key: &str) -> [(String, AttributeValue); 2] {
    [
        ("tag".to_string(), s(format!("{CANDIDATES_PREFIX}{key}"))),
        ("sk".to_string(), s("candidates")),
    ]
}

#[async_trait]
impl RankerState for DynamoHashtagStore {
    async fn candidates(&self, key: &str) -> Result<TagCandidates, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(candidates_key(key).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get ranker record", e))?;
        let Some(item) = out.item else {
            return Ok(TagCandidates::default());
        };
        Ok(TagCandidates {
            posts: serde_json::from_str(get_s(&item, "posts").unwrap_or("[]"))
                .map_err(|e| StoreError::Backend(format!("ranker record of {key}: {e}")))?,
            version: get_n(&item, "version").unwrap_or(0),
            generated_ms: get_n(&item, "generated_ms").unwrap_or(0),
        })
    }

    async fn put_candidates(
        &self,
        key: &str,
        posts: &[Candidate],
        read: &TagCandidates,
        generated_ms: i64,
    ) -> Result<bool, StoreError> {
        let posts = serde_json::to_string(posts)
            .map_err(|e| StoreError::Backend(format!("encoding ranker record: {e}")))?;
        let mut item: Item = HashMap::from([
            ("posts".to_string(), s(posts)),
            ("version".to_string(), n(read.version + 1)),
            ("generated_ms".to_string(), n(generated_ms)),
        ]);
        item.extend(candidates_key(key));
        let read_version = (read.version > 0).then_some(read.version);
        self.put_if_unchanged(item, "version", read_version, "put ranker record")
            .await
    }
}
