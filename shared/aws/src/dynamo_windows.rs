//! Reactions per event-time window in the hashtag table: one item per
//! window, partition `~windows`, sort key the window's start (20 digits,
//! so key order is time order), holding `count:<emoji>` numbers, one
//! `mark:<source>` per source partition (the highest offset counted, as
//! the counters keep them) and `expires_at` (TTL, after
//! [`WINDOW_RETENTION_MS`]). A batch writes each window it touches once:
//! a read and an update that adds the counts, conditioned on the marks
//! of the batch's own sources only, so consumers of other partitions
//! never make it retry.

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;

use super::dynamo_hashtags::{applied, get_n, mark_attribute, marks_of, n, s};
use super::{sdk_error, DynamoHashtagStore};
use hashtag_core::ports::{ReactionWindows, StoreError};
use hashtag_core::windows::{WindowContribution, WindowCounts, WINDOW_RETENTION_MS};

/// Partition key of the windows.
const WINDOWS_PARTITION: &str = "~windows";
/// Prefix of a window's count attributes.
const COUNT_PREFIX: &str = "count:";
/// Attempts of a window's read-and-update before the batch fails (and is
/// redelivered): only a second consumer of one partition (a rebalance)
/// makes it retry.
const WINDOW_ATTEMPTS: usize = 5;

type Item = HashMap<String, AttributeValue>;

fn window_sk(start_ms: i64) -> String {
    format!("{start_ms:020}")
}

fn window_key(start_ms: i64) -> Item {
    HashMap::from([
        ("tag".to_string(), s(WINDOWS_PARTITION)),
        ("sk".to_string(), s(window_sk(start_ms))),
    ])
}

/// A window's counts from its item.
fn counts_of(item: &Item) -> BTreeMap<String, i64> {
    item.keys()
        .filter_map(|name| {
            let emoji = name.strip_prefix(COUNT_PREFIX)?;
            Some((emoji.to_string(), get_n(item, name)?))
        })
        .filter(|(_, count)| *count != 0)
        .collect()
}

impl DynamoHashtagStore {
    /// Applies one window's contribution: read its marks,
    /// [`WindowContribution::above`], update conditioned on them. Returns
    /// whether it wrote.
    async fn apply_window(&self, window: &WindowContribution) -> Result<bool, StoreError> {
        for _ in 0..WINDOW_ATTEMPTS {
            let read = self
                .client
                .get_item()
                .table_name(&self.table)
                .set_key(Some(window_key(window.start_ms)))
                .consistent_read(true)
                .send()
                .await
                .map_err(|e| sdk_error("get window", e))?;
            let stored: BTreeMap<String, i64> = read
                .item
                .as_ref()
                .map(|item| marks_of(item).into_iter().collect())
                .unwrap_or_default();
            let Some(delta) = window.above(&stored) else {
                return Ok(false);
            };
            let expires_at = (window.start_ms + WINDOW_RETENTION_MS) / 1000;
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .set_key(Some(window_key(window.start_ms)))
                .expression_attribute_values(":exp", n(expires_at))
                .expression_attribute_values(":start", n(window.start_ms));
            let mut adds = Vec::new();
            for (i, (emoji, count)) in delta.counts.iter().enumerate() {
                adds.push(format!("#c{i} :c{i}"));
                update = update
                    .expression_attribute_names(format!("#c{i}"), format!("{COUNT_PREFIX}{emoji}"))
                    .expression_attribute_values(format!(":c{i}"), n(count));
            }
            let (mut sets, mut conditions) = (Vec::new(), Vec::new());
            for (i, (source, offset)) in delta.marks.iter().enumerate() {
                sets.push(format!("#m{i} = :m{i}"));
                update = update
                    .expression_attribute_names(format!("#m{i}"), mark_attribute(source))
                    .expression_attribute_values(format!(":m{i}"), n(offset));
                match stored.get(source) {
                    Some(old) => {
                        conditions.push(format!("#m{i} = :r{i}"));
                        update = update.expression_attribute_values(format!(":r{i}"), n(old));
                    }
                    None => conditions.push(format!("attribute_not_exists(#m{i})")),
                }
            }
            let mut expression = format!(
                "SET {}, expires_at = :exp, start_ms = :start",
                sets.join(", ")
            );
            if !adds.is_empty() {
                expression.push_str(&format!(" ADD {}", adds.join(", ")));
            }
            let update = update
                .update_expression(expression)
                .condition_expression(conditions.join(" AND "));
            if applied(update.send().await, "update window")? {
                return Ok(true);
            }
        }
        Err(StoreError::Backend(format!(
            "the window at {} kept changing under its update",
            window.start_ms
        )))
    }
}

#[async_trait]
impl ReactionWindows for DynamoHashtagStore {
    async fn apply_windows(&self, windows: &[WindowContribution]) -> Result<usize, StoreError> {
        let mut written = 0;
        for window in windows {
            written += usize::from(self.apply_window(window).await?);
        }
        Ok(written)
    }

    async fn windows(&self, since_ms: i64, limit: usize) -> Result<Vec<WindowCounts>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#t = :t AND sk >= :since")
            .expression_attribute_names("#t", "tag")
            .expression_attribute_values(":t", s(WINDOWS_PARTITION))
            .expression_attribute_values(":since", s(window_sk(since_ms.max(0))))
            .limit(limit.clamp(1, 10_000) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("query windows", e))?;
        Ok(out
            .items()
            .iter()
            .filter_map(|item| {
                Some(WindowCounts {
                    start_ms: get_n(item, "start_ms")?,
                    counts: counts_of(item),
                })
            })
            // A window whose reactions net to zero is none, as on SQLite.
            .filter(|w| !w.counts.is_empty())
            .collect())
    }
}
