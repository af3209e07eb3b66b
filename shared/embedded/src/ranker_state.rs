//! The popularity ranker's record of each tag in SQLite (`hashtags.db`):
//! one row per tag with its candidates as JSON, written only if its
//! version is the one read.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::db::backend;
use super::SqliteHashtagStore;
use hashtag_core::popularity::{Candidate, TagCandidates};
use hashtag_core::ports::{RankerState, StoreError};

/// The records' table, applied with the hashtag table's.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS ranker_candidates (
    tag_key TEXT PRIMARY KEY,
    posts TEXT NOT NULL, -- JSON array of {post_id, image_url, reactions}
    version INTEGER NOT NULL,
    generated_ms INTEGER NOT NULL
);
";

#[async_trait]
impl RankerState for SqliteHashtagStore {
    async fn candidates(&self, key: &str) -> Result<TagCandidates, StoreError> {
        let key = key.to_string();
        self.db
            .read(move |conn| {
                let row: Option<(String, i64, i64)> = conn
                    .prepare_cached(
                        "SELECT posts, version, generated_ms FROM ranker_candidates WHERE tag_key = ?1",
                    )
                    .and_then(|mut s| {
                        s.query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                            .optional()
                    })
                    .map_err(backend)?;
                let Some((posts, version, generated_ms)) = row else {
                    return Ok(TagCandidates::default());
                };
                Ok(TagCandidates {
                    posts: serde_json::from_str(&posts).map_err(|e| {
                        StoreError::Backend(format!("ranker record of {key}: {e}"))
                    })?,
                    version: version as u64,
                    generated_ms,
                })
            })
            .await
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
        let (key, read_version) = (key.to_string(), read.version as i64);
        self.db
            .write(move |conn| {
                let changed = conn
                    .execute(
                        "INSERT INTO ranker_candidates (tag_key, posts, version, generated_ms)
                         VALUES (?1, ?2, ?3 + 1, ?4)
                         ON CONFLICT (tag_key) DO UPDATE SET posts = excluded.posts,
                           version = excluded.version, generated_ms = excluded.generated_ms
                         WHERE ranker_candidates.version = ?3",
                        params![key, posts, read_version, generated_ms],
                    )
                    .map_err(backend)?;
                // A first write finds no row only if none was read.
                Ok(changed == 1)
            })
            .await
    }
}
