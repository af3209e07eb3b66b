//! What the hashtag consumer's writes cost on DynamoDB, by its billing
//! rules: a write is billed 1 write unit per started KB of the larger of the
//! item before and after it, and each item of a BatchWriteItem is billed on
//! its own. The items are built by the same functions the DynamoDB store
//! writes with, so the model follows the adapter.
//!
//! The benchmarks use it to compare the consumer's writes per post with the
//! original design's (one increment per tag per post of a document holding
//! the tag's top posts), on the same stream.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use serde::Serialize;

use hashtag_aws::items::{claim_item, counter_item, day_item, recent_post_items};
use hashtag_core::aggregate::TagContribution;
use hashtag_core::domain::{TopPost, TOP_POSTS};
use hashtag_core::history::{tag_days, Day, DayState};
use hashtag_core::ports::PostClaim;
use hashtag_core::trends::index_rank;

/// DynamoDB's size of an attribute value, in bytes: strings and binaries
/// by length, numbers at 1 byte per two significant digits plus 1, lists
/// and maps 3 bytes plus 1 per element plus their elements.
pub fn value_size(value: &AttributeValue) -> usize {
    match value {
        AttributeValue::S(s) => s.len(),
        AttributeValue::N(n) => {
            let digits = n.trim_start_matches('-').replace('.', "");
            let significant = digits.trim_start_matches('0').trim_end_matches('0').len();
            significant.div_ceil(2) + 1
        }
        AttributeValue::B(b) => b.as_ref().len(),
        AttributeValue::Bool(_) | AttributeValue::Null(_) => 1,
        AttributeValue::L(items) => 3 + items.iter().map(|v| 1 + value_size(v)).sum::<usize>(),
        AttributeValue::M(map) => {
            3 + map
                .iter()
                .map(|(k, v)| 1 + k.len() + value_size(v))
                .sum::<usize>()
        }
        AttributeValue::Ss(v) => v.iter().map(String::len).sum(),
        AttributeValue::Ns(v) => v
            .iter()
            .map(|n| value_size(&AttributeValue::N(n.clone())))
            .sum(),
        AttributeValue::Bs(v) => v.iter().map(|b| b.as_ref().len()).sum(),
        _ => 0,
    }
}

/// DynamoDB's size of an item: its attribute names and values.
pub fn item_size(item: &HashMap<String, AttributeValue>) -> usize {
    item.iter().map(|(k, v)| k.len() + value_size(v)).sum()
}

/// Write units of one write of `item`: 1 per started KB, at least 1.
pub fn write_units(item: &HashMap<String, AttributeValue>) -> u64 {
    item_size(item).div_ceil(1024).max(1) as u64
}

/// Writes to the hashtag table, and what they are billed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct WriteCost {
    /// Counter updates (one UpdateItem per distinct tag of a batch).
    pub counter_writes: u64,
    /// Their write units.
    pub counter_units: u64,
    /// Recent-post items put (the post lists).
    pub post_items: u64,
    /// BatchWriteItem requests carrying them (25 items each at most).
    pub post_requests: u64,
    /// Their write units.
    pub post_units: u64,
    /// Post claims (one conditional PutItem per post).
    pub claim_writes: u64,
    /// Their write units.
    pub claim_units: u64,
    /// History days put (one conditional PutItem per distinct (tag, day)).
    pub history_writes: u64,
    /// Their write units.
    pub history_units: u64,
    /// Write units of the `trending` index: a day's entry is written when
    /// its rounded peak first appears (1) or moves (2: the old entry
    /// deleted, the new one put); a write that leaves it alone costs the
    /// index nothing.
    pub trend_index_units: u64,
}

impl WriteCost {
    /// The writes of one batch but its history ([`HistoryModel`]):
    /// `batch` as the aggregation hands it to the store, `claims` its posts'
    /// claims, `sources` every partition the table's counters have marks
    /// for (counter items grow with them).
    pub fn of_batch(batch: &[TagContribution], claims: &[PostClaim], sources: &[String]) -> Self {
        // Offsets and counts as long as they get: an upper bound of the bill.
        let marks: Vec<(&str, i64)> = sources.iter().map(|s| (s.as_str(), i64::MAX)).collect();
        let total = u64::MAX;
        let mut cost = WriteCost::default();
        for tag in batch {
            cost.counter_writes += 1;
            cost.counter_units += write_units(&counter_item(&tag.key, &tag.display, total, &marks));
            let items = recent_post_items(tag, i64::from(u32::MAX));
            cost.post_items += items.len() as u64;
            cost.post_requests += items.len().div_ceil(25) as u64;
            cost.post_units += items.iter().map(write_units).sum::<u64>();
        }
        for claim in claims {
            cost.claim_writes += 1;
            cost.claim_units += write_units(&claim_item(claim, i64::from(u32::MAX)));
        }
        cost
    }

    /// Every write request.
    pub fn requests(&self) -> u64 {
        self.counter_writes + self.post_requests + self.claim_writes + self.history_writes
    }

    /// Every write unit.
    pub fn units(&self) -> u64 {
        self.counter_units
            + self.post_units
            + self.claim_units
            + self.history_units
            + self.trend_index_units
    }
}

/// The history's writes, by its items as they grow: the days the store
/// would hold, each batch's days applied to them as the adapter does.
#[derive(Default)]
pub struct HistoryModel {
    days: HashMap<(String, Day), DayState>,
}

impl HistoryModel {
    /// The history writes of one batch at `now_ms`, added to `cost`: one
    /// conditional put per distinct (tag, day) with something new, billed
    /// on the item it writes, plus the `trending` index's entry for a day
    /// with a trend peak.
    pub fn apply(&mut self, tags: &[TagContribution], now_ms: i64, cost: &mut WriteCost) {
        for day in tag_days(tags, Day::of_ms(now_ms)) {
            let key = (day.key.clone(), day.day);
            let Some(mut next) = day.apply(self.days.get(&key)) else {
                continue;
            };
            if next.may_trend(day.day, now_ms) {
                let yesterday = self
                    .days
                    .get(&(day.key.clone(), Day(day.day.0 - 1)))
                    .map_or(0, |d| d.authors.estimate());
                next.score_trend(yesterday, now_ms);
            }
            cost.history_writes += 1;
            cost.history_units += write_units(&day_item(&day, &next));
            let rank = |d: &DayState| d.peak.map(index_rank);
            let before = self.days.get(&key).and_then(rank);
            cost.trend_index_units += match (before, rank(&next)) {
                (None, Some(_)) => 1,
                (Some(a), Some(b)) if a != b => 2,
                _ => 0,
            };
            self.days.insert(key, next);
        }
    }
}

impl std::ops::AddAssign for WriteCost {
    fn add_assign(&mut self, o: Self) {
        self.counter_writes += o.counter_writes;
        self.counter_units += o.counter_units;
        self.post_items += o.post_items;
        self.post_requests += o.post_requests;
        self.post_units += o.post_units;
        self.claim_writes += o.claim_writes;
        self.claim_units += o.claim_units;
        self.history_writes += o.history_writes;
        self.history_units += o.history_units;
        self.trend_index_units += o.trend_index_units;
    }
}

/// Write units of one increment in the original design, where a tag's
/// count and its top posts (post id and image URL, as the page shows them)
/// live in one document: each increment rewrites the whole document.
pub fn original_increment_units(key: &str, top_posts: &[TopPost]) -> u64 {
    let posts = top_posts
        .iter()
        .take(TOP_POSTS)
        .map(|p| {
            AttributeValue::M(HashMap::from([
                (
                    "post_id".to_string(),
                    AttributeValue::N(p.post_id.0.to_string()),
                ),
                (
                    "image_url".to_string(),
                    AttributeValue::S(p.image_url.clone()),
                ),
            ]))
        })
        .collect();
    write_units(&HashMap::from([
        ("tag".to_string(), AttributeValue::S(key.to_string())),
        (
            "total_posts".to_string(),
            AttributeValue::N(u64::MAX.to_string()),
        ),
        ("top_posts".to_string(), AttributeValue::L(posts)),
    ]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(pairs: &[(&str, AttributeValue)]) -> HashMap<String, AttributeValue> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect()
    }

    #[test]
    fn sizes_follow_dynamodb_rules() {
        let s = |v: &str| AttributeValue::S(v.into());
        let n = |v: &str| AttributeValue::N(v.into());
        // Names count; strings by UTF-8 bytes.
        assert_eq!(item_size(&item(&[("tag", s("café"))])), 3 + 5);
        // Numbers: 1 byte per two significant digits, plus 1.
        assert_eq!(value_size(&n("7")), 2);
        assert_eq!(value_size(&n("1234")), 3);
        assert_eq!(value_size(&n("12345")), 4);
        assert_eq!(value_size(&n("1000")), 2);
        assert_eq!(value_size(&n("-12.50")), 3);
        // Lists and maps: 3 bytes, 1 per element, and the elements.
        assert_eq!(
            value_size(&AttributeValue::L(vec![n("1"), s("ab")])),
            3 + 3 + 3
        );
        // A KB boundary.
        assert_eq!(write_units(&item(&[("k", s(&"x".repeat(1023)))])), 1);
        assert_eq!(write_units(&item(&[("k", s(&"x".repeat(1024)))])), 2);
    }

    #[test]
    fn a_document_of_100_top_posts_costs_several_units_per_increment() {
        let posts: Vec<TopPost> = (0..100)
            .map(|i| TopPost {
                post_id: hashtag_core::ids::Id(912_423_684_273_078_272 + i),
                image_url: format!("/images/{}.svg", 912_423_684_273_078_272 + i),
            })
            .collect();
        let units = original_increment_units("rust", &posts);
        assert!((5..=8).contains(&units), "{units}");
        assert_eq!(original_increment_units("rust", &[]), 1);
    }
}
