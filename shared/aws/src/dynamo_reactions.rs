//! Posts' reaction counts in the hashtag table (single-table design, as
//! the mention graph): one item per post, partition `~reactions:<post id>`,
//! sort key `counts`, holding `counts` (a map of emoji to net count),
//! `through` and `above` (which of the post's numbered changes the counts
//! hold: all up to `through`, and the list `above` beyond it) and
//! `version`, which every write increments and the next write is
//! conditioned on. A batch writes each
//! post it touches once, however many reactions it got: one read and one
//! conditional write (one write unit for an item under 1 KB).

use std::collections::{BTreeMap, HashMap};

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{stream, StreamExt, TryStreamExt};

use super::dynamo_hashtags::{get_n, get_s, n, s, BATCH_GET_MAX};
use super::{sdk_error, DynamoHashtagStore};
use hashtag_core::ids::Id;
use hashtag_core::ports::{ReactionCounts, StoreError};
use hashtag_core::reactions::{ReactionContribution, ReactionState};

/// Partition key prefix of reaction counts.
pub(crate) const REACTIONS_PREFIX: &str = "~reactions:";
/// Posts of one batch written at once.
const CONCURRENT_POSTS: usize = 16;
/// Attempts of a post's read-and-conditional-write before the batch fails
/// (and is redelivered): a post's events are all on one partition, so
/// only a second consumer of it (a rebalance) makes it retry.
const POST_ATTEMPTS: usize = 5;

type Item = HashMap<String, AttributeValue>;

fn counts_key(post_id: Id) -> [(String, AttributeValue); 2] {
    [
        ("tag".to_string(), s(format!("{REACTIONS_PREFIX}{post_id}"))),
        ("sk".to_string(), s("counts")),
    ]
}

/// A post's counts item as a write leaves it.
pub fn reactions_item(post_id: Id, state: &ReactionState, version: u64) -> Item {
    let counts = state
        .counts
        .iter()
        .map(|(emoji, count)| (emoji.clone(), n(count)))
        .collect();
    let above = state.above.iter().map(n).collect();
    let mut item: Item = HashMap::from([
        ("counts".to_string(), AttributeValue::M(counts)),
        ("through".to_string(), n(state.through)),
        ("above".to_string(), AttributeValue::L(above)),
        ("version".to_string(), n(version)),
    ]);
    item.extend(counts_key(post_id));
    item
}

/// A post's counts, progress and version from its item.
fn state_of(item: &Item) -> (ReactionState, u64) {
    let counts: BTreeMap<String, i64> = item
        .get("counts")
        .and_then(|c| c.as_m().ok())
        .map(|m| {
            m.iter()
                .filter_map(|(emoji, v)| Some((emoji.clone(), v.as_n().ok()?.parse().ok()?)))
                .collect()
        })
        .unwrap_or_default();
    let above = item
        .get("above")
        .and_then(|l| l.as_l().ok())
        .map(|l| {
            l.iter()
                .filter_map(|v| v.as_n().ok()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    let state = ReactionState {
        counts,
        through: get_n(item, "through").unwrap_or(0),
        above,
    };
    (state, get_n(item, "version").unwrap_or(0))
}

impl DynamoHashtagStore {
    /// Reads a post's counts (strongly consistent, so a write sees the
    /// last one), with the version they were written at.
    async fn read_reactions(
        &self,
        post_id: Id,
    ) -> Result<Option<(ReactionState, u64)>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(counts_key(post_id).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get reactions", e))?;
        Ok(out.item.as_ref().map(state_of))
    }

    /// Applies one post's contribution: read, [`ReactionContribution::apply`],
    /// write conditioned on the version read. Returns whether it wrote.
    async fn apply_post(&self, post: &ReactionContribution) -> Result<bool, StoreError> {
        for _ in 0..POST_ATTEMPTS {
            let stored = self.read_reactions(post.post_id).await?;
            let Some(next) = post.apply(stored.as_ref().map(|(state, _)| state)) else {
                return Ok(false);
            };
            let read = stored.map(|(_, version)| version);
            let item = reactions_item(post.post_id, &next, read.unwrap_or(0) + 1);
            if self
                .put_if_unchanged(item, "version", read, "put reactions")
                .await?
            {
                return Ok(true);
            }
        }
        Err(StoreError::Backend(format!(
            "the reactions of post {} kept changing under their write",
            post.post_id
        )))
    }
}

#[async_trait]
impl ReactionCounts for DynamoHashtagStore {
    async fn apply_reactions(&self, posts: &[ReactionContribution]) -> Result<usize, StoreError> {
        let writes: Vec<_> = posts.iter().map(|p| self.apply_post(p)).collect();
        stream::iter(writes)
            .buffer_unordered(CONCURRENT_POSTS)
            .try_fold(0, |sum, wrote| async move { Ok(sum + usize::from(wrote)) })
            .await
    }

    async fn reactions(&self, post_id: Id) -> Result<ReactionState, StoreError> {
        Ok(self
            .read_reactions(post_id)
            .await?
            .map(|(state, _)| state)
            .unwrap_or_default())
    }

    async fn reaction_totals(&self, posts: &[Id]) -> Result<Vec<(Id, i64)>, StoreError> {
        let mut unique = posts.to_vec();
        unique.sort_unstable();
        unique.dedup();
        // Strongly consistent: the ranker reads right after the consumer's
        // writes.
        let reads: Vec<_> = unique
            .chunks(BATCH_GET_MAX)
            .map(|chunk| {
                let keys = chunk
                    .iter()
                    .map(|post| counts_key(*post).into_iter().collect())
                    .collect();
                self.batch_get(keys, true, "reaction totals")
            })
            .collect();
        let items: Vec<Vec<Item>> = stream::iter(reads)
            .buffer_unordered(CONCURRENT_POSTS)
            .try_collect()
            .await?;
        let mut totals: Vec<(Id, i64)> = items
            .iter()
            .flatten()
            .filter_map(|item| {
                let key = get_s(item, "tag")?;
                let post = key.strip_prefix(REACTIONS_PREFIX)?.parse().ok()?;
                Some((Id(post), state_of(item).0.shown().values().sum()))
            })
            .collect();
        totals.sort_unstable();
        Ok(totals)
    }

    async fn all_reactions(&self) -> Result<Vec<(Id, ReactionState)>, StoreError> {
        let items = self
            .scan_where(
                "begins_with(#t, :p)",
                ("#t", "tag"),
                (":p", s(REACTIONS_PREFIX)),
            )
            .await?;
        let mut posts: Vec<(Id, ReactionState)> = items
            .iter()
            .filter_map(|item| {
                let key = item.get("tag")?.as_s().ok()?;
                let post = key.strip_prefix(REACTIONS_PREFIX)?.parse().ok()?;
                Some((Id(post), state_of(item).0))
            })
            .collect();
        posts.sort_by_key(|(post, _)| *post);
        Ok(posts)
    }
}
