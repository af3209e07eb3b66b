//! The hashtag table in SQLite (`hashtags.db`), the embedded counterpart of
//! the DynamoDB table: per tag a small counter row, its idempotency marks
//! (highest offset applied per source partition), its most recent posts and
//! its ranking.

use std::path::Path;

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension};

use super::db::{backend, write_transaction, Db, Durability};
use hashtag_core::aggregate::{CountedPost, TagContribution};
use hashtag_core::domain::{parse_rfc3339_ms, rfc3339_ms, Ranking, TagPage, TopPost, TOP_POSTS};
use hashtag_core::extract::{tag_display_form, tag_key};
use hashtag_core::ids::Id;
use hashtag_core::ports::{
    CountOutcome, DeadLetter, DeadLetters, PostClaim, Rankings, StoreError, TagAudit, TagCount,
    TagCounter, TagPages,
};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tags (
    tag_key TEXT PRIMARY KEY,
    display TEXT NOT NULL,
    total_posts INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tag_marks (
    tag_key TEXT NOT NULL,
    source TEXT NOT NULL,
    last_offset INTEGER NOT NULL,
    PRIMARY KEY (tag_key, source)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tag_recent (
    tag_key TEXT NOT NULL,
    post_id INTEGER NOT NULL,
    image_url TEXT NOT NULL,
    PRIMARY KEY (tag_key, post_id)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS post_claims (
    post_id INTEGER PRIMARY KEY,
    source TEXT NOT NULL,
    offset INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS dead_letters (
    source TEXT NOT NULL,
    offset INTEGER NOT NULL,
    reason TEXT NOT NULL,
    value TEXT NOT NULL,
    set_aside_at TEXT NOT NULL,
    PRIMARY KEY (source, offset)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS tag_ranking (
    tag_key TEXT PRIMARY KEY,
    display TEXT NOT NULL,
    generated_ms INTEGER NOT NULL,
    posts TEXT NOT NULL,
    updated_ms INTEGER NOT NULL
) WITHOUT ROWID;
";

/// The embedded hashtag store.
pub struct SqliteHashtagStore {
    pub(crate) db: Db,
}

impl SqliteHashtagStore {
    /// Opens (creating) the table in `path`.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        Ok(SqliteHashtagStore {
            db: Db::open(
                path,
                Durability::Normal,
                &format!(
                    "{SCHEMA}{}{}{}{}{}",
                    super::mention_graph::SCHEMA,
                    super::tag_history::SCHEMA,
                    super::reaction_counts::SCHEMA,
                    super::reaction_windows::SCHEMA,
                    super::ranker_state::SCHEMA
                ),
            )?,
        })
    }
}

#[async_trait]
impl TagPages for SqliteHashtagStore {
    async fn page(&self, key: &str) -> Result<Option<TagPage>, StoreError> {
        let key = key.to_string();
        self.db
            .read(move |conn| {
                let tx = conn.transaction().map_err(backend)?; // one consistent snapshot
                let counts: Option<(String, i64, i64)> = tx
                    .prepare_cached("SELECT display, total_posts, updated_ms FROM tags WHERE tag_key = ?1")
                    .and_then(|mut s| s.query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
                    .map_err(backend)?;
                let ranking: Option<(String, String, i64)> = tx
                    .prepare_cached("SELECT display, posts, updated_ms FROM tag_ranking WHERE tag_key = ?1")
                    .and_then(|mut s| s.query_row([&key], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional())
                    .map_err(backend)?;
                let (tag, total, counts_ms) = match (&counts, &ranking) {
                    (None, None) => return Ok(None),
                    (Some((d, n, ms)), _) => (d.clone(), *n, *ms),
                    (None, Some((d, _, _))) => (d.clone(), 0, 0),
                };
                let recent_posts = {
                    let mut stmt = tx
                        .prepare_cached(
                            "SELECT post_id, image_url FROM tag_recent WHERE tag_key = ?1 ORDER BY post_id DESC LIMIT ?2",
                        )
                        .map_err(backend)?;
                    let rows = stmt
                        .query_map(params![key, TOP_POSTS as i64], |r| {
                            Ok(TopPost { post_id: Id(r.get(0)?), image_url: r.get(1)? })
                        })
                        .map_err(backend)?
                        .collect::<Result<Vec<_>, _>>()
                        .map_err(backend)?;
                    rows
                };
                let (top_posts, ranked_ms) = match ranking {
                    Some((_, posts, ms)) => (
                        serde_json::from_str(&posts).map_err(|e| StoreError::Backend(e.to_string()))?,
                        ms,
                    ),
                    None => (recent_posts.clone(), 0),
                };
                Ok(Some(TagPage {
                    tag,
                    total_posts: total.max(0) as u64,
                    top_posts,
                    updated_at: rfc3339_ms(counts_ms.max(ranked_ms)),
                    recent_posts,
                }))
            })
            .await
    }
}

#[async_trait]
impl TagCounter for SqliteHashtagStore {
    async fn apply_counts(&self, batch: &[TagContribution]) -> Result<CountOutcome, StoreError> {
        let batch = batch.to_vec();
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                let now = hashtag_core::domain::now_ms();
                let mut outcome = CountOutcome::default();
                for tag in &batch {
                    let mut fresh: Vec<&CountedPost> = Vec::new();
                    for source in &tag.sources {
                        let mark: Option<i64> = tx
                            .prepare_cached("SELECT last_offset FROM tag_marks WHERE tag_key = ?1 AND source = ?2")
                            .and_then(|mut s| s.query_row(params![tag.key, source.source], |r| r.get(0)).optional())
                            .map_err(backend)?;
                        let Some(last) = source.next_mark(mark) else {
                            continue;
                        };
                        let new = source.above(mark);
                        tx.prepare_cached(
                            "INSERT INTO tag_marks (tag_key, source, last_offset) VALUES (?1, ?2, ?3)
                             ON CONFLICT (tag_key, source) DO UPDATE SET last_offset = excluded.last_offset",
                        )
                        .and_then(|mut s| s.execute(params![tag.key, source.source, last]))
                        .map_err(backend)?;
                        fresh.extend(new);
                    }
                    if fresh.is_empty() {
                        continue;
                    }
                    outcome.posts_counted += fresh.len();
                    tx.prepare_cached(
                        "INSERT INTO tags (tag_key, display, total_posts, updated_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (tag_key) DO UPDATE SET total_posts = total_posts + excluded.total_posts,
                         updated_ms = excluded.updated_ms",
                    )
                    .and_then(|mut s| s.execute(params![tag.key, tag.display, fresh.len() as i64, now]))
                    .map_err(backend)?;
                    // Only the newest TOP_POSTS can stay on the page.
                    fresh.sort_by_key(|p| std::cmp::Reverse(p.post_id));
                    let mut insert = tx
                        .prepare_cached("INSERT OR IGNORE INTO tag_recent (tag_key, post_id, image_url) VALUES (?1, ?2, ?3)")
                        .map_err(backend)?;
                    for post in fresh.iter().take(TOP_POSTS) {
                        insert.execute(params![tag.key, post.post_id.0, &*post.image_url]).map_err(backend)?;
                    }
                    tx.prepare_cached(
                        "DELETE FROM tag_recent WHERE tag_key = ?1 AND post_id < (
                           SELECT post_id FROM tag_recent WHERE tag_key = ?1 ORDER BY post_id DESC LIMIT 1 OFFSET ?2)",
                    )
                    .and_then(|mut s| s.execute(params![tag.key, (TOP_POSTS - 1) as i64]))
                    .map_err(backend)?;
                }
                tx.commit().map_err(backend)?;
                Ok(outcome)
            })
            .await
    }

    async fn claim_posts(&self, claims: &[PostClaim]) -> Result<Vec<Id>, StoreError> {
        let claims = claims.to_vec();
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                let mut lost = Vec::new();
                {
                    let mut claim = tx
                        .prepare_cached(
                            "INSERT INTO post_claims (post_id, source, offset) VALUES (?1, ?2, ?3)
                             ON CONFLICT (post_id) DO UPDATE SET post_id = post_id
                             RETURNING source = ?2 AND offset = ?3",
                        )
                        .map_err(backend)?;
                    for c in &claims {
                        let won: bool = claim
                            .query_row(params![c.post_id.0, c.source, c.offset], |r| r.get(0))
                            .map_err(backend)?;
                        if !won {
                            lost.push(c.post_id);
                        }
                    }
                }
                tx.commit().map_err(backend)?;
                Ok(lost)
            })
            .await
    }
}

#[async_trait]
impl DeadLetters for SqliteHashtagStore {
    async fn set_aside(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        let letters = letters.to_vec();
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                for l in &letters {
                    tx.prepare_cached(
                        "INSERT OR IGNORE INTO dead_letters (source, offset, reason, value, set_aside_at)
                         VALUES (?1, ?2, ?3, ?4, ?5)",
                    )
                    .and_then(|mut s| s.execute(params![l.source, l.offset, l.reason, l.value, l.set_aside_at]))
                    .map_err(backend)?;
                }
                tx.commit().map_err(backend)
            })
            .await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT source, offset, reason, value, set_aside_at FROM dead_letters
                         ORDER BY set_aside_at DESC, source, offset DESC LIMIT ?1",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map([limit as i64], |r| {
                        Ok(DeadLetter {
                            source: r.get(0)?,
                            offset: r.get(1)?,
                            reason: r.get(2)?,
                            value: r.get(3)?,
                            set_aside_at: r.get(4)?,
                        })
                    })
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await
    }
}

#[async_trait]
impl TagAudit for SqliteHashtagStore {
    async fn tag_counts(&self) -> Result<Vec<TagCount>, StoreError> {
        self.db
            .read(|conn| {
                // One snapshot: each count is read with the marks it reflects.
                let tx = conn.transaction().map_err(backend)?;
                let mut marks: std::collections::HashMap<String, Vec<(String, i64)>> =
                    std::collections::HashMap::new();
                {
                    let mut stmt = tx
                        .prepare("SELECT tag_key, source, last_offset FROM tag_marks")
                        .map_err(backend)?;
                    let rows = stmt
                        .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?)))
                        .map_err(backend)?;
                    for row in rows {
                        let (key, source, offset) = row.map_err(backend)?;
                        marks.entry(key).or_default().push((source, offset));
                    }
                }
                let mut stmt = tx
                    .prepare("SELECT tag_key, display, total_posts FROM tags ORDER BY tag_key")
                    .map_err(backend)?;
                let rows = stmt
                    .query_map([], |r| {
                        let key: String = r.get(0)?;
                        Ok(TagCount {
                            marks: marks.remove(&key).unwrap_or_default(),
                            key,
                            display: r.get(1)?,
                            total_posts: r.get::<_, i64>(2)?.max(0) as u64,
                        })
                    })
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await
    }

    async fn claims(&self, posts: &[Id]) -> Result<Vec<PostClaim>, StoreError> {
        let posts = posts.to_vec();
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT source, offset FROM post_claims WHERE post_id = ?1")
                    .map_err(backend)?;
                let mut claims = Vec::with_capacity(posts.len());
                for post_id in posts {
                    let claim = stmt
                        .query_row([post_id.0], |r| {
                            Ok(PostClaim {
                                post_id,
                                source: r.get(0)?,
                                offset: r.get(1)?,
                            })
                        })
                        .optional()
                        .map_err(backend)?;
                    claims.extend(claim);
                }
                Ok(claims)
            })
            .await
    }

    async fn repair_count(
        &self,
        key: &str,
        display: &str,
        expected: Option<u64>,
        total: u64,
    ) -> Result<bool, StoreError> {
        let (key, display) = (key.to_string(), display.to_string());
        self.db
            .write(move |conn| {
                let changed = match expected {
                    None => conn.execute(
                        "INSERT INTO tags (tag_key, display, total_posts, updated_ms) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (tag_key) DO NOTHING",
                        params![key, display, total as i64, hashtag_core::domain::now_ms()],
                    ),
                    Some(old) => conn.execute(
                        "UPDATE tags SET total_posts = ?2, updated_ms = ?3 WHERE tag_key = ?1 AND total_posts = ?4",
                        params![key, total as i64, hashtag_core::domain::now_ms(), old as i64],
                    ),
                }
                .map_err(backend)?;
                Ok(changed == 1)
            })
            .await
    }
}

#[async_trait]
impl Rankings for SqliteHashtagStore {
    async fn apply_ranking(&self, ranking: &Ranking) -> Result<bool, StoreError> {
        let key = tag_key(&ranking.tag);
        let display = tag_display_form(&ranking.tag);
        let generated = parse_rfc3339_ms(&ranking.generated_at)
            .ok_or_else(|| StoreError::Backend("ranking generated_at is not RFC 3339".into()))?;
        let posts: Vec<&TopPost> = ranking.posts.iter().take(TOP_POSTS).collect();
        let posts =
            serde_json::to_string(&posts).map_err(|e| StoreError::Backend(e.to_string()))?;
        self.db
            .write(move |conn| {
                let changed = conn
                    .execute(
                        "INSERT INTO tag_ranking (tag_key, display, generated_ms, posts, updated_ms) VALUES (?1, ?2, ?3, ?4, ?5)
                         ON CONFLICT (tag_key) DO UPDATE SET generated_ms = excluded.generated_ms,
                           posts = excluded.posts, updated_ms = excluded.updated_ms
                         WHERE excluded.generated_ms > tag_ranking.generated_ms",
                        params![key, display, generated, posts, hashtag_core::domain::now_ms()],
                    )
                    .map_err(backend)?;
                Ok(changed == 1)
            })
            .await
    }
}
