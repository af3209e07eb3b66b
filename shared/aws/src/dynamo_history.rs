//! Tag history in the hashtag table: under each tag, one item per UTC day,
//! sort key `day#YYYY-MM-DD`, with `uses`, `authors` (the packed
//! distinct-author sketch: at most 641 bytes), `related` (a map of the tags
//! seen with it to their posts, at most 10), one `mark:<source>` attribute
//! per source, and `expires_at` for DynamoDB's TTL to delete the day after
//! its retention at no write cost. Most days fit one write unit; a day
//! with a dense sketch and a full related map takes two.
//!
//! A day on which the tag trended also carries `peak` (its forward-decayed
//! trend peak, see [`hashtag_core::trends`]), `trend_day` (the day) and
//! `trend_rank` (the peak rounded down to [`hashtag_core::trends::INDEX_STEP`]):
//! the sparse index `trending` (`trend_day`, `trend_rank`, keys only) lists
//! a day's strongest trends in one Query. It costs write units only on the
//! days of tags that trend, and only when their rounded peak moves.
//!
//! `d` sorts before `p`: a tag page's Query (descending, newest posts
//! first) reaches its posts before any day; a history read is one Query on
//! a range of days.
//!
//! Operators' decisions are one item per moderated tag, sort key
//! `~moderation`, with `status`.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{stream, StreamExt, TryStreamExt};

use super::dynamo_hashtags::{get_n, get_s, insert_marks, marks_of, n, s, BATCH_GET_MAX};
use super::{sdk_error, DynamoHashtagStore};
use hashtag_core::history::{Day, DayContribution, DayRow, DayState, Sketch};
use hashtag_core::ports::{StoreError, TagHistory, TagModeration};
use hashtag_core::trends::{index_rank, rank_floor, Moderation};

/// Sort key prefix of a day.
const DAY_PREFIX: &str = "day#";
/// The index of trend peaks by day.
pub(crate) const TRENDING_INDEX: &str = "trending";
/// Sort key of a tag's moderation.
const MODERATION_SK: &str = "~moderation";
/// Days of one batch written at once.
const CONCURRENT_DAYS: usize = 16;
/// Attempts of a day's read-and-conditional-write before the batch fails
/// (and is redelivered): only a concurrent writer of the same tag's day
/// (two partitions' consumers) makes it retry.
const DAY_ATTEMPTS: usize = 5;

type Item = HashMap<String, AttributeValue>;

fn day_sk(day: Day) -> String {
    format!("{DAY_PREFIX}{}", day.iso())
}

fn day_key(key: &str, day: Day) -> Item {
    HashMap::from([
        ("tag".to_string(), s(key)),
        ("sk".to_string(), s(day_sk(day))),
    ])
}

/// The key of a tag's moderation item.
fn moderation_key(key: &str) -> Item {
    HashMap::from([
        ("tag".to_string(), s(key)),
        ("sk".to_string(), s(MODERATION_SK)),
    ])
}

/// The day of an item's sort key.
fn day_of(item: &Item) -> Option<Day> {
    let sk = item.get("sk")?.as_s().ok()?;
    Day::parse(sk.strip_prefix(DAY_PREFIX)?)
}

fn sketch_of(item: &Item) -> Option<Sketch> {
    Sketch::from_bytes(item.get("authors")?.as_b().ok()?.as_ref())
}

/// The related tags of an item, most first.
fn related_of(item: &Item) -> Vec<(String, u64)> {
    let mut related: Vec<(String, u64)> = item
        .get("related")
        .and_then(|r| r.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(tag, n)| Some((tag.clone(), n.as_n().ok()?.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default();
    related.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    related
}

/// A day's state from its item, marks included.
fn state_of(item: &Item) -> Option<DayState> {
    Some(DayState {
        uses: get_n(item, "uses")?,
        authors: sketch_of(item)?,
        marks: marks_of(item),
        peak: get_n(item, "peak"),
        related: related_of(item),
    })
}

/// A day's item as a write leaves it.
pub fn day_item(contribution: &DayContribution, state: &DayState) -> Item {
    let mut item = day_key(&contribution.key, contribution.day);
    item.insert("uses".to_string(), n(state.uses));
    item.insert(
        "authors".to_string(),
        AttributeValue::B(state.authors.to_bytes().into()),
    );
    item.insert("expires_at".to_string(), n(contribution.day.expires_at_s()));
    insert_marks(&mut item, &state.marks);
    if !state.related.is_empty() {
        let related = state
            .related
            .iter()
            .map(|(t, c)| (t.clone(), n(c)))
            .collect();
        item.insert("related".to_string(), AttributeValue::M(related));
    }
    if let Some(peak) = state.peak {
        item.insert("peak".to_string(), n(peak));
        item.insert("trend_day".to_string(), s(contribution.day.iso()));
        item.insert("trend_rank".to_string(), n(index_rank(peak)));
    }
    item
}

impl DynamoHashtagStore {
    /// A tag's day: strongly consistent for a write, so it sees the last
    /// one; `None` if the tag has no posts that day.
    async fn read_day(
        &self,
        key: &str,
        day: Day,
        consistent: bool,
    ) -> Result<Option<DayState>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(day_key(key, day)))
            .consistent_read(consistent)
            .send()
            .await
            .map_err(|e| sdk_error("get day", e))?;
        match out.item.as_ref() {
            None => Ok(None),
            Some(item) => state_of(item).map(Some).ok_or_else(|| {
                StoreError::Backend(format!("history of {key} {} is unreadable", day.iso()))
            }),
        }
    }

    /// Applies one day's contribution at `now_ms`: read,
    /// [`DayContribution::apply`] (and, for a day that may trend,
    /// yesterday's distinct authors and [`DayState::score_trend`]), put
    /// conditioned on the uses read (they grow with every write, so they
    /// version the item). Returns whether it wrote.
    async fn apply_day(
        &self,
        contribution: &DayContribution,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        let (key, day) = (&contribution.key, contribution.day);
        let mut yesterday = None;
        for _ in 0..DAY_ATTEMPTS {
            let stored = self.read_day(key, day, true).await?;
            let Some(mut next) = contribution.apply(stored.as_ref()) else {
                return Ok(false);
            };
            if next.may_trend(day, now_ms) {
                let accounts = match yesterday {
                    Some(accounts) => accounts,
                    None => self
                        .read_day(key, Day(day.0 - 1), false)
                        .await?
                        .map_or(0, |d| d.authors.estimate()),
                };
                yesterday = Some(accounts);
                next.score_trend(accounts, now_ms);
            }
            let item = day_item(contribution, &next);
            let read = stored.as_ref().map(|old| old.uses);
            if self.put_if_unchanged(item, "uses", read, "put day").await? {
                return Ok(true);
            }
        }
        Err(StoreError::Backend(format!(
            "history of {key} {} kept changing under its write",
            day.iso()
        )))
    }
}

#[async_trait]
impl TagHistory for DynamoHashtagStore {
    async fn apply_history(
        &self,
        days: &[DayContribution],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        let writes: Vec<_> = days.iter().map(|d| self.apply_day(d, now_ms)).collect();
        stream::iter(writes)
            .buffer_unordered(CONCURRENT_DAYS)
            .try_fold(0, |sum, wrote| async move { Ok(sum + usize::from(wrote)) })
            .await
    }

    async fn history(&self, key: &str, first: Day, last: Day) -> Result<Vec<DayRow>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#t = :t AND sk BETWEEN :first AND :last")
            .expression_attribute_names("#t", "tag")
            .expression_attribute_values(":t", s(key))
            .expression_attribute_values(":first", s(day_sk(first)))
            .expression_attribute_values(":last", s(day_sk(last)))
            .projection_expression("sk, #u, #a, #r, #p")
            .expression_attribute_names("#u", "uses")
            .expression_attribute_names("#a", "authors")
            .expression_attribute_names("#r", "related")
            .expression_attribute_names("#p", "peak")
            .send()
            .await
            .map_err(|e| sdk_error("query history", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                Some(DayRow {
                    day: day_of(item)?,
                    uses: get_n(item, "uses")?,
                    accounts: sketch_of(item)?.estimate(),
                    related: related_of(item),
                    peak: get_n(item, "peak"),
                })
            })
            .collect())
    }

    async fn trending(&self, day: Day, limit: usize) -> Result<Vec<(String, f64)>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(TRENDING_INDEX)
            .key_condition_expression("trend_day = :d")
            .expression_attribute_values(":d", s(day.iso()))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1_000) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("query trends", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                let rank = get_n(item, "trend_rank")?;
                Some((get_s(item, "tag")?.to_string(), rank_floor(rank)))
            })
            .collect())
    }
}

#[async_trait]
impl TagModeration for DynamoHashtagStore {
    async fn set_moderation(&self, key: &str, status: Moderation) -> Result<(), StoreError> {
        let item_key = moderation_key(key);
        match status {
            Moderation::Listed => self
                .client
                .delete_item()
                .table_name(&self.table)
                .set_key(Some(item_key))
                .send()
                .await
                .map(|_| ())
                .map_err(|e| sdk_error("delete moderation", e)),
            _ => {
                let mut item = item_key;
                item.insert("status".to_string(), s(status.as_str()));
                self.client
                    .put_item()
                    .table_name(&self.table)
                    .set_item(Some(item))
                    .send()
                    .await
                    .map(|_| ())
                    .map_err(|e| sdk_error("put moderation", e))
            }
        }
    }

    async fn moderated(&self, keys: &[String]) -> Result<Vec<(String, Moderation)>, StoreError> {
        let mut out = Vec::new();
        for chunk in keys.chunks(BATCH_GET_MAX) {
            let item_keys = chunk.iter().map(|key| moderation_key(key)).collect();
            for item in self.batch_get(item_keys, false, "moderation").await? {
                let status = get_s(&item, "status").and_then(Moderation::parse);
                if let (Some(key), Some(status)) = (get_s(&item, "tag"), status) {
                    out.push((key.to_string(), status));
                }
            }
        }
        Ok(out)
    }
}
