//! The ports: what the handlers need from storage. The embedded adapters
//! (SQLite) and the AWS adapters (Aurora Data API, DynamoDB) implement them,
//! and the same contract tests run against every implementation.

use async_trait::async_trait;

use crate::aggregate::TagContribution;
use crate::domain::{Post, Ranking, TagPage, User, Username};
use crate::ids::Id;

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the username is taken).
    Conflict(String),
    /// A referenced entity does not exist (e.g. the post's author).
    Missing(String),
    /// The backend failed; the message is for logs, not for clients.
    Backend(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(m) => write!(f, "conflict: {m}"),
            StoreError::Missing(m) => write!(f, "missing: {m}"),
            StoreError::Backend(m) => write!(f, "backend error: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Users, posts and images (Aurora on AWS, SQLite embedded).
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Stores a new user; [`StoreError::Conflict`] if the username is taken
    /// in any casing.
    async fn create_user(&self, user_id: Id, username: &Username) -> Result<User, StoreError>;

    /// Stores a post with its images and, in the same transaction, its
    /// [`crate::domain::PostEvent`] for publication, so a stored post is always
    /// published and an unstored one never is. [`StoreError::Missing`] if the
    /// author does not exist.
    async fn create_post(&self, post: &Post) -> Result<(), StoreError>;

    /// A post by id.
    async fn get_post(&self, post_id: Id) -> Result<Option<Post>, StoreError>;
}

/// The hashtag table (DynamoDB on AWS, SQLite embedded), partitioned by tag key.
#[async_trait]
pub trait HashtagStore: Send + Sync {
    /// Adds a batch's contributions: per tag, the posts seen on each source
    /// partition with their offsets. Idempotent: for every (tag, partition)
    /// the store remembers the highest offset applied and skips posts at or
    /// below it, so a redelivered batch counts nothing twice and a batch that
    /// failed half-way is completed by its retry.
    async fn apply_counts(&self, batch: &[TagContribution]) -> Result<(), StoreError>;

    /// Replaces a tag's ranked posts unless a ranking generated at the same
    /// time or later is stored. Returns whether it was applied.
    async fn apply_ranking(&self, ranking: &Ranking) -> Result<bool, StoreError>;

    /// The page of the tag with this key (see [`crate::extract::tag_key`]).
    async fn page(&self, key: &str) -> Result<Option<TagPage>, StoreError>;
}
