//! Tag history in SQLite (`hashtags.db`, beside the hashtag table): one row
//! per (tag, day) with its uses, its packed distinct-author sketch, its
//! marks (highest offset applied per source, as JSON: a handful of
//! partitions) and its trend peak, indexed by (day, peak) for the trends.
//! Days past retention are deleted a bounded number at a time by the
//! writes themselves.

use async_trait::async_trait;
use rusqlite::{params, OptionalExtension, Transaction};

use super::db::{backend, write_transaction};
use super::SqliteHashtagStore;
use hashtag_core::history::{Day, DayContribution, DayRow, DayState, Sketch};
use hashtag_core::ports::{StoreError, TagHistory, TagModeration};
use hashtag_core::trends::Moderation;

/// The history's table, applied with the hashtag table's.
pub(crate) const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS tag_days (
    tag_key TEXT NOT NULL,
    day INTEGER NOT NULL,
    uses INTEGER NOT NULL,
    authors BLOB NOT NULL,
    marks TEXT NOT NULL,
    peak REAL,
    related TEXT NOT NULL,
    PRIMARY KEY (tag_key, day)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS tag_days_by_day ON tag_days (day);
CREATE INDEX IF NOT EXISTS tag_days_trending ON tag_days (day, peak) WHERE peak IS NOT NULL;
CREATE TABLE IF NOT EXISTS tag_moderation (
    tag_key TEXT PRIMARY KEY,
    status TEXT NOT NULL
) WITHOUT ROWID;
";

/// Expired days deleted per write.
const PRUNE_PER_WRITE: i64 = 1_000;

fn corrupt(what: &str, key: &str, day: Day) -> StoreError {
    StoreError::Backend(format!("tag_days {key} {}: bad {what}", day.iso()))
}

fn json_error(e: serde_json::Error) -> StoreError {
    StoreError::Backend(e.to_string())
}

/// A day's columns as stored.
struct DayColumns {
    uses: i64,
    authors: Vec<u8>,
    marks: String,
    peak: Option<f64>,
    related: String,
}

/// A day as a write reads it.
fn read_day(tx: &Transaction<'_>, key: &str, day: Day) -> Result<Option<DayState>, StoreError> {
    let row = tx
        .prepare_cached(
            "SELECT uses, authors, marks, peak, related FROM tag_days WHERE tag_key = ?1 AND day = ?2",
        )
        .and_then(|mut s| {
            s.query_row(params![key, day.0], |r| {
                Ok(DayColumns {
                    uses: r.get(0)?,
                    authors: r.get(1)?,
                    marks: r.get(2)?,
                    peak: r.get(3)?,
                    related: r.get(4)?,
                })
            })
            .optional()
        })
        .map_err(backend)?;
    let Some(row) = row else {
        return Ok(None);
    };
    Ok(Some(DayState {
        uses: row.uses as u64,
        authors: Sketch::from_bytes(&row.authors).ok_or_else(|| corrupt("sketch", key, day))?,
        marks: serde_json::from_str(&row.marks).map_err(|_| corrupt("marks", key, day))?,
        peak: row.peak,
        related: serde_json::from_str(&row.related).map_err(|_| corrupt("related", key, day))?,
    }))
}

#[async_trait]
impl TagHistory for SqliteHashtagStore {
    async fn apply_history(
        &self,
        days: &[DayContribution],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let days = days.to_vec();
        let today = Day::of_ms(now_ms);
        self.db
            .write(move |conn| {
                let tx = write_transaction(conn)?;
                let mut written = 0;
                for contribution in &days {
                    let stored = read_day(&tx, &contribution.key, contribution.day)?;
                    let Some(mut next) = contribution.apply(stored.as_ref()) else {
                        continue;
                    };
                    if next.may_trend(contribution.day, now_ms) {
                        let yesterday = read_day(&tx, &contribution.key, Day(today.0 - 1))?
                            .map_or(0, |d| d.authors.estimate());
                        next.score_trend(yesterday, now_ms);
                    }
                    let marks = serde_json::to_string(&next.marks).map_err(json_error)?;
                    let related = serde_json::to_string(&next.related).map_err(json_error)?;
                    tx.prepare_cached(
                        "INSERT INTO tag_days (tag_key, day, uses, authors, marks, peak, related)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                         ON CONFLICT (tag_key, day) DO UPDATE SET uses = excluded.uses,
                           authors = excluded.authors, marks = excluded.marks, peak = excluded.peak,
                           related = excluded.related",
                    )
                    .and_then(|mut s| {
                        s.execute(params![
                            contribution.key,
                            contribution.day.0,
                            next.uses as i64,
                            next.authors.to_bytes(),
                            marks,
                            next.peak,
                            related
                        ])
                    })
                    .map_err(backend)?;
                    written += 1;
                }
                if written > 0 {
                    let oldest = Day::oldest_kept(today);
                    tx.prepare_cached(
                        "DELETE FROM tag_days WHERE (tag_key, day) IN (
                           SELECT tag_key, day FROM tag_days WHERE day < ?1 LIMIT ?2)",
                    )
                    .and_then(|mut s| s.execute(params![oldest.0, PRUNE_PER_WRITE]))
                    .map_err(backend)?;
                }
                tx.commit().map_err(backend)?;
                Ok(written)
            })
            .await
    }

    async fn history(&self, key: &str, first: Day, last: Day) -> Result<Vec<DayRow>, StoreError> {
        let key = key.to_string();
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT day, uses, authors, related, peak FROM tag_days
                         WHERE tag_key = ?1 AND day BETWEEN ?2 AND ?3",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![key, first.0, last.0], |r| {
                        Ok((
                            Day(r.get(0)?),
                            r.get::<_, i64>(1)?,
                            r.get::<_, Vec<u8>>(2)?,
                            r.get::<_, String>(3)?,
                            r.get::<_, Option<f64>>(4)?,
                        ))
                    })
                    .map_err(backend)?;
                let mut out = Vec::new();
                for row in rows {
                    let (day, uses, authors, related, peak) = row.map_err(backend)?;
                    let authors =
                        Sketch::from_bytes(&authors).ok_or_else(|| corrupt("sketch", &key, day))?;
                    out.push(DayRow {
                        day,
                        uses: uses as u64,
                        accounts: authors.estimate(),
                        related: serde_json::from_str(&related)
                            .map_err(|_| corrupt("related", &key, day))?,
                        peak,
                    });
                }
                Ok(out)
            })
            .await
    }

    async fn trending(&self, day: Day, limit: usize) -> Result<Vec<(String, f64)>, StoreError> {
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT tag_key, peak FROM tag_days
                         WHERE day = ?1 AND peak IS NOT NULL ORDER BY peak DESC LIMIT ?2",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![day.0, limit as i64], |r| Ok((r.get(0)?, r.get(1)?)))
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await
    }
}

#[async_trait]
impl TagModeration for SqliteHashtagStore {
    async fn set_moderation(&self, key: &str, status: Moderation) -> Result<(), StoreError> {
        let key = key.to_string();
        self.db
            .write(move |conn| {
                match status {
                    Moderation::Listed => {
                        conn.execute("DELETE FROM tag_moderation WHERE tag_key = ?1", [&key])
                    }
                    _ => conn.execute(
                        "INSERT INTO tag_moderation (tag_key, status) VALUES (?1, ?2)
                         ON CONFLICT (tag_key) DO UPDATE SET status = excluded.status",
                        params![key, status.as_str()],
                    ),
                }
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn moderated(&self, keys: &[String]) -> Result<Vec<(String, Moderation)>, StoreError> {
        let keys = keys.to_vec();
        self.db
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached("SELECT status FROM tag_moderation WHERE tag_key = ?1")
                    .map_err(backend)?;
                let mut out = Vec::new();
                for key in keys {
                    let status: Option<String> = stmt
                        .query_row([&key], |r| r.get(0))
                        .optional()
                        .map_err(backend)?;
                    if let Some(status) = status.as_deref().and_then(Moderation::parse) {
                        out.push((key, status));
                    }
                }
                Ok(out)
            })
            .await
    }
}
