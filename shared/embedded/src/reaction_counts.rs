//! Posts' reaction counts in SQLite (`hashtags.db`, beside the hashtag
//! table), as the reaction consumer keeps them: one row per (post, emoji)
//! and the posts' marks (highest offset applied per source).

use std::collections::BTreeMap;

use async_trait::async_trait;
use rusqlite::{params, Transaction};

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
CREATE TABLE IF NOT EXISTS reaction_marks (
    post_id INTEGER NOT NULL,
    source TEXT NOT NULL,
    last_offset INTEGER NOT NULL,
    PRIMARY KEY (post_id, source)
) WITHOUT ROWID;
";

/// Rows of `sql` (taking the post id) as (text, number) pairs.
fn pairs(
    conn: &rusqlite::Connection,
    sql: &str,
    post_id: Id,
) -> Result<Vec<(String, i64)>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(backend)?;
    let rows = stmt
        .query_map([post_id.0], |r| Ok((r.get(0)?, r.get(1)?)))
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend);
    rows
}

/// A post's counts and marks.
fn read_state(conn: &rusqlite::Connection, post_id: Id) -> Result<ReactionState, StoreError> {
    Ok(ReactionState {
        counts: pairs(
            conn,
            "SELECT emoji, count FROM post_reactions WHERE post_id = ?1",
            post_id,
        )?
        .into_iter()
        .collect(),
        marks: pairs(
            conn,
            "SELECT source, last_offset FROM reaction_marks WHERE post_id = ?1",
            post_id,
        )?,
    })
}

/// Replaces a post's counts and marks with `state`.
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
    for (source, offset) in &state.marks {
        tx.execute(
            "INSERT INTO reaction_marks (post_id, source, last_offset) VALUES (?1, ?2, ?3)
             ON CONFLICT (post_id, source) DO UPDATE SET last_offset = excluded.last_offset",
            params![post_id.0, source, offset],
        )
        .map_err(backend)?;
    }
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
                    let stored = (!stored.marks.is_empty()).then_some(stored);
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
        self.db.read(move |conn| read_state(conn, post_id)).await
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
