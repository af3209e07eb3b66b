//! The single-machine adapters: SQLite files under a data directory and a
//! durable event log that stands in for Kafka.
//!
//! `posts.db` holds users, posts, images and the event log, so a post and
//! its event commit in one transaction (a transactional outbox whose log *is*
//! the broker). `hashtags.db` holds the hashtag table, like DynamoDB does on AWS.

mod db;
pub mod event_log;
mod group_commit;
mod hashtag_store;
mod mention_graph;
pub mod poller;
mod post_store;
mod ranker_state;
mod reaction_counts;
mod reaction_windows;
mod tag_history;

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

/// Opens (creating if needed) the stores under `data_dir`: what `serve`
/// does. `partitions` is the partition count of each topic of the event
/// log, which must be the one the log was created with.
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

/// Opens the stores of an existing data directory: what the commands that
/// run beside a server do (`reconcile`, `dead-letters`, `publish-ranking`),
/// so that a mistyped `--data-dir` is an error rather than a new, empty
/// directory with nothing to report.
pub fn open_existing(data_dir: &Path, partitions: u32) -> Result<Embedded, StoreError> {
    if !data_dir.join("posts.db").is_file() {
        return Err(StoreError::Missing(format!(
            "no data directory at {}: give the --data-dir of a server (`hashtag serve` creates one)",
            data_dir.display()
        )));
    }
    open(data_dir, partitions)
}

/// The lock that makes a server the only one on its data directory, held
/// as long as the returned file is open. Two servers on one directory would
/// interleave their event logs' offsets and, with one worker id, mint the
/// same post ids.
pub fn lock(data_dir: &Path) -> Result<std::fs::File, StoreError> {
    std::fs::create_dir_all(data_dir)
        .map_err(|e| StoreError::Backend(format!("cannot create {}: {e}", data_dir.display())))?;
    let path = data_dir.join("serve.lock");
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| StoreError::Backend(format!("cannot open {}: {e}", path.display())))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::Conflict(format!(
            "{} is in use by another `hashtag serve`; give each server its own --data-dir",
            data_dir.display()
        ))),
        Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Backend(format!(
            "cannot lock {}: {e}",
            path.display()
        ))),
    }
}
