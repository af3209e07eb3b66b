//! Posts' reaction counts in SQLite (`hashtags.db`, beside the hashtag
//! table), as the reaction consumer keeps them: one row per (post, emoji)
//! and one per post saying which of its numbered changes they hold.

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};

use super::db::{backend, write_transaction};
use super::SqliteHashtagStore;
use hashtag_core::ids::Id;
use hashtag_core::ports::{ReactionCounts, StoreError};
use hashtag_core::reactions::{ReactionContribution, ReactionState};

/// The counts' tables, applied with the hashtag table's.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS post_reactions (
    post_id INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    count INTEGER NOT NULL,
    PRIMARY KEY (post_id, emoji)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reaction_progress (
    post_id INTEGER PRIMARY KEY,
    through INTEGER NOT NULL,
    above TEXT NOT NULL -- JSON array of the numbers counted above `through`
);
";

/// A post's counts and progress; `None` if none of its changes is counted.
fn read_state(
    conn: &rusqlite::Connection,
    post_id: Id,
) -> Result<Option<ReactionState>, StoreError> {
    let progress: Option<(i64, String)> = conn
        .prepare_cached("SELECT through, above FROM reaction_progress WHERE post_id = ?1")
        .and_then(|mut s| {
            s.query_row([post_id.0], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
        })
        .map_err(backend)?;
    let Some((through, above)) = progress else {
        return Ok(None);
    };
    let above = serde_json::from_str(&above)
        .map_err(|e| StoreError::Backend(format!("post {post_id}: reaction progress: {e}")))?;
    let counts = conn
        .prepare_cached("SELECT emoji, count FROM post_reactions WHERE post_id = ?1")
        .and_then(|mut s| {
            s.query_map([post_id.0], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<Result<_, _>>()
        })
        .map_err(backend)?;
    Ok(Some(ReactionState {
        counts,
        through,
        above,
    }))
}

/// Replaces a post's counts and progress with `state`.
fn write_state(tx: &Transaction<'_>, post_id: Id, state: &ReactionState) -> Result<(), StoreError> {
    tx.execute("DELETE FROM post_reactions WHERE post_id = ?1", [post_id.0])
        .map_err(backend)?;
    for (emoji, count) in &state.counts {
        tx.execute(
            "INSERT INTO post_reactions (post_id, emoji, count) VALUES (?1, ?2, ?3)",
            params![post_id.0, emoji, count],
        )
        .map_err(backend)?;
    }
    let above = serde_json::to_string(&state.above)
        .map_err(|e| StoreError::Backend(format!("encoding reaction progress: {e}")))?;
    tx.execute(
        "INSERT INTO reaction_progress (post_id, through, above) VALUES (?1, ?2, ?3)
         ON CONFLICT (post_id) DO UPDATE SET through = excluded.through, above = excluded.above",
        params![post_id.0, state.through, above],
    )
    .map_err(backend)?;
    Ok(())
}

#[async_trait]
impl ReactionCounts for SqliteHashtagStore {
    async fn apply_reactions(&self, posts: &[ReactionContribution]) -> Result<usize, StoreError> {
        let posts = posts.to_vec();
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                let mut written = 0;
                for post in &posts {
                    let stored = read_state(&tx, post.post_id)?;
                    let Some(next) = post.apply(stored.as_ref()) else {
                        continue;
                    };
                    write_state(&tx, post.post_id, &next)?;
                    written += 1;
                }
                tx.commit().map_err(backend)?;
                Ok(written)
            })
            .await
    }

    async fn reactions(&self, post_id: Id) -> Result<ReactionState, StoreError> {
        self.db
            .read(move |conn| Ok(read_state(conn, post_id)?.unwrap_or_default()))
            .await
    }

    async fn reaction_totals(&self, posts: &[Id]) -> Result<Vec<(Id, i64)>, StoreError> {
        let mut unique = posts.to_vec();
        unique.sort_unstable();
        unique.dedup();
        self.db
            .read(move |conn| {
                // Counts below zero (a removal counted before its addition)
                // are shown as absent, so they add nothing.
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT sum(max(count, 0)) FROM post_reactions WHERE post_id = ?1",
                    )
                    .map_err(backend)?;
                let mut totals = Vec::new();
                for post in unique {
                    let total: Option<i64> =
                        stmt.query_row([post.0], |r| r.get(0)).map_err(backend)?;
                    if let Some(total) = total {
                        totals.push((post, total));
                    }
                }
                Ok(totals)
            })
            .await
    }

    async fn all_reactions(&self) -> Result<Vec<(Id, ReactionState)>, StoreError> {
        self.db
            .read(move |conn| {
                let mut by_post: BTreeMap<Id, ReactionState> = BTreeMap::new();
                let mut stmt = conn
                    .prepare("SELECT post_id, emoji, count FROM post_reactions")
                    .map_err(backend)?;
                let rows = stmt
                    .query_map([], |r| {
                        Ok((Id(r.get(0)?), r.get::<_, String>(1)?, r.get(2)?))
                    })
                    .map_err(backend)?;
                for row in rows {
                    let (post, emoji, count) = row.map_err(backend)?;
                    by_post.entry(post).or_default().counts.insert(emoji, count);
                }
                Ok(by_post.into_iter().collect())
            })
            .await
    }
}
