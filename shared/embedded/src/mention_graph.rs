//! The mention graph in SQLite (`hashtags.db`, beside the hashtag table):
//! one row per edge with its forward-decayed log weight, indexed by author
//! and by mentioned user on the weight, so the strongest edges either way
//! are an index range; and the edges' marks (highest offset applied per
//! source). Edges decayed below the minimum are deleted a bounded number
//! at a time by the writes themselves: no sweeping job, no table lock.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Row, Transaction};

use super::db::{backend, write_transaction};
use super::SqliteHashtagStore;
use hashtag_core::domain::now_ms;
use hashtag_core::mentions::{Decay, Direction, EdgeContribution, EdgeState, StoredEdge};
use hashtag_core::ports::{MentionAudit, MentionGraph, MentionReads, StoreError};

/// The graph's tables, applied with the hashtag table's.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS mention_edges (
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    src_name TEXT NOT NULL,
    dst_name TEXT NOT NULL,
    mentions INTEGER NOT NULL,
    log_weight REAL NOT NULL,
    expires_ms INTEGER NOT NULL,
    PRIMARY KEY (src, dst)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS mention_edges_out ON mention_edges (src, log_weight);
CREATE INDEX IF NOT EXISTS mention_edges_in ON mention_edges (dst, log_weight);
CREATE INDEX IF NOT EXISTS mention_edges_expiry ON mention_edges (expires_ms);
CREATE TABLE IF NOT EXISTS mention_marks (
    src TEXT NOT NULL,
    dst TEXT NOT NULL,
    source TEXT NOT NULL,
    last_offset INTEGER NOT NULL,
    PRIMARY KEY (src, dst, source)
) WITHOUT ROWID;
";

/// Expired edges deleted per write: bounded, so a write never waits on a
/// large delete; steady writes remove them faster than they expire.
const PRUNE_PER_WRITE: i64 = 1_000;

const EDGE_COLUMNS: &str = "src, dst, src_name, dst_name, mentions, log_weight";

/// An edge row of [`EDGE_COLUMNS`], without its marks.
fn edge_of(r: &Row<'_>) -> rusqlite::Result<StoredEdge> {
    Ok(StoredEdge {
        from: r.get(0)?,
        to: r.get(1)?,
        from_name: r.get(2)?,
        to_name: r.get(3)?,
        state: EdgeState {
            mentions: r.get::<_, i64>(4)? as u64,
            log_weight: r.get(5)?,
            marks: Vec::new(),
        },
    })
}

/// An edge's state with its marks, as a write reads it.
fn read_state(tx: &Transaction<'_>, from: &str, to: &str) -> Result<Option<EdgeState>, StoreError> {
    let row: Option<(i64, f64)> = tx
        .prepare_cached(
            "SELECT mentions, log_weight FROM mention_edges WHERE src = ?1 AND dst = ?2",
        )
        .and_then(|mut s| {
            s.query_row([from, to], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(backend)?;
    let Some((mentions, log_weight)) = row else {
        return Ok(None);
    };
    let mut stmt = tx
        .prepare_cached("SELECT source, last_offset FROM mention_marks WHERE src = ?1 AND dst = ?2")
        .map_err(backend)?;
    let marks = stmt
        .query_map([from, to], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(backend)?
        .collect::<Result<_, _>>()
        .map_err(backend)?;
    Ok(Some(EdgeState {
        mentions: mentions as u64,
        log_weight,
        marks,
    }))
}

/// Deletes up to [`PRUNE_PER_WRITE`] edges expired at `now`, with marks.
fn prune(tx: &Transaction<'_>, now: i64) -> Result<(), StoreError> {
    let expired: Vec<(String, String)> = tx
        .prepare_cached("SELECT src, dst FROM mention_edges WHERE expires_ms < ?1 LIMIT ?2")
        .and_then(|mut s| {
            s.query_map(params![now, PRUNE_PER_WRITE], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })?
            .collect()
        })
        .map_err(backend)?;
    for (src, dst) in expired {
        for table in ["mention_edges", "mention_marks"] {
            tx.execute(
                &format!("DELETE FROM {table} WHERE src = ?1 AND dst = ?2"),
                [&src, &dst],
            )
            .map_err(backend)?;
        }
    }
    Ok(())
}

#[async_trait]
impl MentionGraph for SqliteHashtagStore {
    async fn apply_mentions(&self, edges: &[EdgeContribution]) -> Result<usize, StoreError> {
        let edges = edges.to_vec();
        let decay = Decay::configured();
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                let now = now_ms();
                let mut written = 0;
                for edge in &edges {
                    let stored = read_state(&tx, &edge.from, &edge.to)?;
                    let Some(next) = edge.apply(stored.as_ref()) else { continue };
                    if decay.expired(next.log_weight, now) {
                        continue;
                    }
                    tx.execute(
                        "INSERT INTO mention_edges (src, dst, src_name, dst_name, mentions, log_weight, expires_ms)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (src, dst) DO UPDATE SET
                             src_name = excluded.src_name, mentions = excluded.mentions,
                             log_weight = excluded.log_weight, expires_ms = excluded.expires_ms",
                        params![
                            edge.from,
                            edge.to,
                            edge.from_name,
                            edge.to_name,
                            next.mentions as i64,
                            next.log_weight,
                            decay.expires_at_ms(next.log_weight)
                        ],
                    )
                    .map_err(backend)?;
                    for (source, offset) in &next.marks {
                        tx.execute(
                            "INSERT INTO mention_marks (src, dst, source, last_offset) VALUES (?1, ?2, ?3, ?4)
                             ON CONFLICT (src, dst, source) DO UPDATE SET last_offset = excluded.last_offset",
                            params![edge.from, edge.to, source, offset],
                        )
                        .map_err(backend)?;
                    }
                    written += 1;
                }
                prune(&tx, now)?;
                tx.commit().map_err(backend)?;
                Ok(written)
            })
            .await
    }
}

#[async_trait]
impl MentionReads for SqliteHashtagStore {
    async fn strongest(
        &self,
        user: &str,
        direction: Direction,
        limit: usize,
        min_log_weight: f64,
    ) -> Result<Vec<StoredEdge>, StoreError> {
        let user = user.to_string();
        let column = match direction {
            Direction::Out => "src",
            Direction::In => "dst",
        };
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(&format!(
                        "SELECT {EDGE_COLUMNS} FROM mention_edges WHERE {column} = ?1 AND log_weight >= ?2
                         ORDER BY log_weight DESC LIMIT ?3"
                    ))
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![user, min_log_weight, limit as i64], edge_of)
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await
    }

    async fn edge(&self, from: &str, to: &str) -> Result<Option<StoredEdge>, StoreError> {
        let (from, to) = (from.to_string(), to.to_string());
        self.db
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT {EDGE_COLUMNS} FROM mention_edges WHERE src = ?1 AND dst = ?2"
                ))
                .and_then(|mut s| s.query_row([from, to], edge_of).optional())
                .map_err(backend)
            })
            .await
    }
}

#[async_trait]
impl MentionAudit for SqliteHashtagStore {
    async fn mention_edges(&self) -> Result<Vec<StoredEdge>, StoreError> {
        self.db
            .read(move |conn| {
                let tx = conn.transaction().map_err(backend)?; // one snapshot
                let mut edges: Vec<StoredEdge> = tx
                    .prepare(&format!(
                        "SELECT {EDGE_COLUMNS} FROM mention_edges ORDER BY src, dst"
                    ))
                    .and_then(|mut s| s.query_map([], edge_of)?.collect())
                    .map_err(backend)?;
                let marks: Vec<(String, String, String, i64)> = tx
                    .prepare(
                        "SELECT src, dst, source, last_offset FROM mention_marks ORDER BY src, dst",
                    )
                    .and_then(|mut s| {
                        s.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))?
                            .collect()
                    })
                    .map_err(backend)?;
                for (src, dst, source, offset) in marks {
                    if let Ok(i) = edges
                        .binary_search_by(|e| (e.from.as_str(), e.to.as_str()).cmp(&(&src, &dst)))
                    {
                        edges[i].state.marks.push((source, offset));
                    }
                }
                Ok(edges)
            })
            .await
    }
}
