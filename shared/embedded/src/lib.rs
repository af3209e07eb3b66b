//! The single-machine adapters: SQLite files under a data directory and a
//! durable event log that stands in for Kafka.
//!
//! `posts.db` holds users, posts, images and the event log, so a post and
//! its event commit in one transaction (a transactional outbox whose log *is*
//! the broker). `hashtags.db` holds the hashtag table, like DynamoDB does on AWS.

mod db;
pub mod event_log;
mod hashtag_store;
pub mod poller;
mod post_store;

use std::path::Path;
use std::sync::Arc;

pub use event_log::EventLog;
pub use hashtag_store::SqliteHashtagStore;
pub use post_store::SqlitePostStore;

use hashtag_core::ports::StoreError;

/// The embedded stores, opened on one data directory.
pub struct Embedded {
    /// Users, posts, images; appends post events to `log`.
    pub posts: Arc<SqlitePostStore>,
    /// The hashtag table.
    pub hashtags: Arc<SqliteHashtagStore>,
    /// The event log in `posts.db`.
    pub log: EventLog,
}

/// Opens (creating if needed) the stores under `data_dir`. `partitions` is
/// the partition count of each topic of the event log.
pub fn open(data_dir: &Path, partitions: u32) -> Result<Embedded, StoreError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", data_dir.display())))?;
    let log = EventLog::open(&data_dir.join("posts.db"), partitions)?;
    let posts = Arc::new(SqlitePostStore::new(log.clone())?);
    let hashtags = Arc::new(SqliteHashtagStore::open(&data_dir.join("hashtags.db"))?);
    Ok(Embedded {
        posts,
        hashtags,
        log,
    })
}
