//! A durable, partitioned, append-only event log in SQLite that stands in for
//! Kafka on one machine: records have a topic, a partition chosen by key with
//! Kafka's partitioner, and dense offsets; consumer groups commit the next
//! offset to read per partition. Records are never deleted, so a partition
//! can be replayed from offset 0.

use std::path::Path;
use std::sync::Arc;

use rusqlite::{params, Connection, OptionalExtension};
use tokio::sync::Notify;

use super::db::{backend, write_transaction, Db, Durability};
use hashtag_core::partition::partition_for;
use hashtag_core::ports::StoreError;
pub use hashtag_core::record::LogRecord;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS event_log (
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    offset INTEGER NOT NULL,
    key BLOB,
    value BLOB NOT NULL,
    timestamp_ms INTEGER NOT NULL,
    PRIMARY KEY (topic, partition, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS consumer_offsets (
    grp TEXT NOT NULL,
    topic TEXT NOT NULL,
    partition INTEGER NOT NULL,
    next_offset INTEGER NOT NULL,
    PRIMARY KEY (grp, topic, partition)
) WITHOUT ROWID;
";

/// The offset the next record of a partition gets.
fn end_offset(conn: &Connection, topic: &str, partition: u32) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "SELECT COALESCE(MAX(offset) + 1, 0) FROM event_log WHERE topic = ?1 AND partition = ?2",
    )
    .and_then(|mut s| s.query_row(params![topic, partition], |r| r.get(0)))
    .map_err(backend)
}

/// The next offset `group` reads in a partition (0 before its first commit).
fn committed_offset(
    conn: &Connection,
    group: &str,
    topic: &str,
    partition: u32,
) -> Result<i64, StoreError> {
    conn.prepare_cached(
        "SELECT next_offset FROM consumer_offsets WHERE grp = ?1 AND topic = ?2 AND partition = ?3",
    )
    .and_then(|mut s| {
        s.query_row(params![group, topic, partition], |r| r.get(0))
            .optional()
    })
    .map(Option::unwrap_or_default)
    .map_err(backend)
}

/// Handle on the log in a database file; cheap to clone.
#[derive(Clone)]
pub struct EventLog {
    db: Db,
    partitions: u32,
    appended: Arc<Notify>,
}

impl EventLog {
    /// Opens the log in `path` (creating its tables); every topic has
    /// `partitions` partitions.
    ///
    /// The partition count is part of the log: the first count given is
    /// recorded, and a different one later is refused, since records keyed
    /// to partitions no longer read would never be counted.
    pub fn open(path: &Path, partitions: u32) -> Result<Self, StoreError> {
        let partitions = partitions.max(1);
        let db = Db::open(path, Durability::Full, SCHEMA)?;
        let recorded = db.setting("partitions", i64::from(partitions))?;
        if recorded != i64::from(partitions) {
            return Err(StoreError::Conflict(format!(
                "the event log in {} has {recorded} partitions; {partitions} would strand its events in partitions no consumer reads: run with --partitions {recorded}",
                path.display()
            )));
        }
        Ok(EventLog {
            db,
            partitions,
            appended: Arc::new(Notify::new()),
        })
    }

    /// The database the log lives in, for stores that append to it in their
    /// own transactions.
    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    /// Appends a record inside an open transaction (`tx`, or a savepoint of
    /// one); its partition comes from the key. Returns (partition, offset).
    pub fn append_in(
        &self,
        tx: &Connection,
        topic: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(u32, i64), StoreError> {
        let partition = partition_for(key, self.partitions);
        let offset = end_offset(tx, topic, partition)?;
        tx.execute(
            "INSERT INTO event_log (topic, partition, offset, key, value, timestamp_ms) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![topic, partition, offset, key, value, hashtag_core::domain::now_ms()],
        )
        .map_err(backend)?;
        Ok((partition, offset))
    }

    /// Wakes pollers after a commit that appended records.
    pub fn notify_appended(&self) {
        self.appended.notify_waiters();
    }

    /// Signalled after local appends; pollers also poll on a timer to see
    /// appends from other processes.
    pub fn appended(&self) -> Arc<Notify> {
        self.appended.clone()
    }

    /// Appends one record in its own transaction.
    pub async fn publish(
        &self,
        topic: &str,
        key: Vec<u8>,
        value: Vec<u8>,
    ) -> Result<(u32, i64), StoreError> {
        let log = self.clone();
        let topic = topic.to_string();
        let at = self
            .db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                let at = log.append_in(&tx, &topic, &key, &value)?;
                tx.commit().map_err(backend)?;
                Ok(at)
            })
            .await?;
        self.notify_appended();
        Ok(at)
    }

    /// Up to `max` records of `topic` after `group`'s committed offsets,
    /// taken from the partitions in turn, each in offset order.
    pub async fn fetch(
        &self,
        group: &str,
        topic: &str,
        max: usize,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let (group, topic, partitions) = (group.to_string(), topic.to_string(), self.partitions);
        self.db
            .read(move |conn| {
                let mut out = Vec::new();
                let starts = (0..partitions)
                    .map(|p| committed_offset(conn, &group, &topic, p))
                    .collect::<Result<Vec<_>, _>>()?;
                let mut read = conn
                    .prepare_cached(
                        "SELECT offset, key, value, timestamp_ms FROM event_log
                         WHERE topic = ?1 AND partition = ?2 AND offset >= ?3 ORDER BY offset LIMIT ?4",
                    )
                    .map_err(backend)?;
                // Share the batch fairly: each partition gets an equal slice
                // first, then leftovers go to whoever has more.
                let share = max.div_ceil(partitions as usize).max(1);
                for round_max in [share, max] {
                    for p in 0..partitions {
                        let room = max.saturating_sub(out.len());
                        let taken = out.iter().filter(|r: &&LogRecord| r.partition == p).count();
                        let want = round_max.saturating_sub(taken).min(room);
                        if want == 0 {
                            continue;
                        }
                        let from = starts[p as usize] + taken as i64;
                        let rows = read
                            .query_map(params![topic, p, from, want as i64], |r| {
                                Ok(LogRecord {
                                    partition: p,
                                    offset: r.get(0)?,
                                    key: r.get(1)?,
                                    value: r.get(2)?,
                                    timestamp_ms: r.get(3)?,
                                })
                            })
                            .map_err(backend)?;
                        for row in rows {
                            out.push(row.map_err(backend)?);
                        }
                    }
                }
                out.sort_by_key(|r| (r.partition, r.offset));
                Ok(out)
            })
            .await
    }

    /// Records of `topic` after `group`'s committed offsets.
    pub async fn backlog(&self, group: &str, topic: &str) -> Result<u64, StoreError> {
        let (group, topic, partitions) = (group.to_string(), topic.to_string(), self.partitions);
        self.db
            .read(move |conn| {
                let mut total = 0;
                for p in 0..partitions {
                    let waiting =
                        end_offset(conn, &topic, p)? - committed_offset(conn, &group, &topic, p)?;
                    total += waiting.max(0) as u64;
                }
                Ok(total)
            })
            .await
    }

    /// Commits, for each partition of `records`, the offset after its last
    /// record: the group will not see them again.
    pub async fn commit(
        &self,
        group: &str,
        topic: &str,
        records: &[LogRecord],
    ) -> Result<(), StoreError> {
        let mut next: Vec<(u32, i64)> = Vec::new();
        for r in records {
            match next.iter_mut().find(|(p, _)| *p == r.partition) {
                Some(slot) => slot.1 = slot.1.max(r.offset + 1),
                None => next.push((r.partition, r.offset + 1)),
            }
        }
        let (group, topic) = (group.to_string(), topic.to_string());
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                for (p, off) in next {
                    tx.execute(
                        "INSERT INTO consumer_offsets (grp, topic, partition, next_offset) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (grp, topic, partition) DO UPDATE SET next_offset = MAX(next_offset, excluded.next_offset)",
                        params![group, topic, p, off],
                    )
                    .map_err(backend)?;
                }
                tx.commit().map_err(backend)
            })
            .await
    }
}

/// The log as the ranker's publisher on one machine: each record appended
/// in its own transaction, as Kafka's producer would send it.
#[async_trait::async_trait]
impl hashtag_core::ports::EventPublisher for EventLog {
    async fn publish(&self, topic: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        EventLog::publish(self, topic, key.to_vec(), value.to_vec())
            .await
            .map(|_| ())
    }

    /// All in one transaction: one `fsync` for a batch of rankings.
    async fn publish_batch(
        &self,
        topic: &str,
        records: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        if records.is_empty() {
            return Ok(());
        }
        let (log, topic, records) = (self.clone(), topic.to_string(), records.to_vec());
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                for (key, value) in &records {
                    log.append_in(&tx, &topic, key, value)?;
                }
                tx.commit().map_err(backend)
            })
            .await?;
        self.notify_appended();
        Ok(())
    }

    /// The log is this process's own database: reachable while it runs.
    async fn connected(&self) -> Result<(), StoreError> {
        self.db
            .read(|conn| conn.execute_batch("SELECT 1").map_err(backend))
            .await
    }
}
