//! Reactions per event-time window in SQLite (`hashtags.db`): one row per
//! (window, emoji), and per (window, source partition) the highest offset
//! counted, written in one transaction per batch. Windows older than
//! [`WINDOW_RETENTION_MS`] are deleted as new ones are written.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::params;

use super::db::{backend, write_transaction};
use super::SqliteHashtagStore;
use hashtag_core::domain::now_ms;
use hashtag_core::ports::{ReactionWindows, StoreError};
use hashtag_core::windows::{WindowContribution, WindowCounts, WINDOW_RETENTION_MS};

/// The windows' tables, applied with the hashtag table's.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS reaction_windows (
    start_ms INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (start_ms, emoji)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reaction_window_marks (
    start_ms INTEGER NOT NULL,
    source TEXT NOT NULL,
    offset INTEGER NOT NULL,
    PRIMARY KEY (start_ms, source)
) WITHOUT ROWID;
";

#[async_trait]
impl ReactionWindows for SqliteHashtagStore {
    async fn apply_windows(&self, windows: &[WindowContribution]) -> Result<usize, StoreError> {
        if windows.is_empty() {
            return Ok(0);
        }
        let windows = windows.to_vec();
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                let mut written = 0;
                for window in &windows {
                    let marks: BTreeMap<String, i64> = tx
                        .prepare_cached(
                            "SELECT source, offset FROM reaction_window_marks WHERE start_ms = ?1",
                        )
                        .and_then(|mut s| {
                            s.query_map([window.start_ms], |r| Ok((r.get(0)?, r.get(1)?)))?
                                .collect()
                        })
                        .map_err(backend)?;
                    let Some(delta) = window.above(&marks) else {
                        continue;
                    };
                    for (emoji, n) in &delta.counts {
                        tx.prepare_cached(
                            "INSERT INTO reaction_windows (start_ms, emoji, count) VALUES (?1, ?2, ?3)
                             ON CONFLICT (start_ms, emoji) DO UPDATE SET count = count + excluded.count",
                        )
                        .and_then(|mut s| s.execute(params![window.start_ms, emoji, n]))
                        .map_err(backend)?;
                    }
                    for (source, offset) in &delta.marks {
                        tx.prepare_cached(
                            "INSERT INTO reaction_window_marks (start_ms, source, offset) VALUES (?1, ?2, ?3)
                             ON CONFLICT (start_ms, source) DO UPDATE SET offset = excluded.offset",
                        )
                        .and_then(|mut s| s.execute(params![window.start_ms, source, offset]))
                        .map_err(backend)?;
                    }
                    written += 1;
                }
                let expired = now_ms() - WINDOW_RETENTION_MS;
                for table in ["reaction_windows", "reaction_window_marks"] {
                    tx.execute(&format!("DELETE FROM {table} WHERE start_ms < ?1"), [expired])
                        .map_err(backend)?;
                }
                tx.commit().map_err(backend)?;
                Ok(written)
            })
            .await
    }

    async fn windows(&self, since_ms: i64, limit: usize) -> Result<Vec<WindowCounts>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT start_ms, emoji, count FROM reaction_windows
                         WHERE start_ms IN (SELECT DISTINCT start_ms FROM reaction_windows
                                            WHERE start_ms >= ?1 ORDER BY start_ms LIMIT ?2)
                         ORDER BY start_ms, emoji",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![since_ms, limit as i64], |r| {
                        Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?, r.get(2)?))
                    })
                    .map_err(backend)?;
                let mut windows: Vec<WindowCounts> = Vec::new();
                for row in rows {
                    let (start_ms, emoji, count) = row.map_err(backend)?;
                    match windows.last_mut() {
                        Some(w) if w.start_ms == start_ms => {
                            w.counts.insert(emoji, count);
                        }
                        _ => windows.push(WindowCounts {
                            start_ms,
                            counts: BTreeMap::from([(emoji, count)]),
                        }),
                    }
                }
                for w in &mut windows {
                    w.counts.retain(|_, n| *n != 0);
                }
                // A window whose reactions net to zero is none.
                windows.retain(|w| !w.counts.is_empty());
                Ok(windows)
            })
            .await
    }
}
