//! The popularity ranker: which of a tag's posts its Top view shows first.
//!
//! The score is Reddit's "hot" score over a post's net reactions `n` and
//! the time it was posted: `log10(max(n, 1)) + posted_seconds / 45,000`.
//! Ten times the reactions weigh as much as being 12.5 hours newer, so a
//! post with many reactions rises above newer ones and sinks as newer posts
//! gather theirs. The age term is a fixed offset from an epoch, so a post's
//! score changes only when its reactions do: a tag is re-ranked when a
//! reaction to one of its posts is counted, never on a clock, and a tag
//! nobody reacted to keeps its recent list (with no reactions the score
//! orders posts by time).
//!
//! The ranker runs on the reaction consumer's output (in the same
//! invocation, after the counts are written) and publishes each ranking on
//! the top-posts topic, so the ranking consumer stays the only writer of a
//! tag's page. It keeps its own record per tag ([`TagCandidates`]): the
//! tag's best reacted posts with their net reactions, written with a
//! version check, so rankers of different partitions (or a page the ranking
//! consumer has not updated yet) never lose each other's posts. A ranking
//! is that record merged with the page's Recent posts (no reactions: ranked
//! by time), stamped with a time that grows with the record's versions.

use std::collections::{BTreeMap, HashMap};

use futures_util::{stream, StreamExt, TryStreamExt};
use serde::{Deserialize, Serialize};

use crate::domain::{now_ms, rfc3339_ms, Ranking, TopPost, TOP_POSTS, TOP_POSTS_TOPIC};
use crate::extract::tag_key;
use crate::ids::{id_time_ms, Id};
use crate::ports::{EventPublisher, RankerState, ReactionCounts, StoreError, TagPages};
use crate::reactions::ReactionEvent;

/// The topic rankings go to: `TOP_POSTS_TOPIC` if set (the template's
/// `TopPostsTopic`), else [`TOP_POSTS_TOPIC`].
pub fn top_posts_topic() -> &'static str {
    static TOPIC: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    TOPIC.get_or_init(|| {
        std::env::var("TOP_POSTS_TOPIC")
            .ok()
            .filter(|t| !t.trim().is_empty())
            .unwrap_or_else(|| TOP_POSTS_TOPIC.to_string())
    })
}

/// Tags ranked at once: a batch touches as many tags as its posts carry,
/// and on DynamoDB each is a query, a read and a write of its own.
const TAGS_IN_FLIGHT: usize = 16;

/// Seconds of age worth ten times the reactions (Reddit's constant).
const SECONDS_PER_DECADE: f64 = 45_000.0;

/// A post's hot score from its net reactions and when it was posted (Unix
/// milliseconds).
pub fn hot_score(reactions: i64, posted_ms: i64) -> f64 {
    (reactions.max(1) as f64).log10() + posted_ms as f64 / 1000.0 / SECONDS_PER_DECADE
}

/// A reacted post the ranker keeps for a tag.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Candidate {
    /// The post.
    pub post_id: Id,
    /// Its cover image.
    pub image_url: String,
    /// Its net reactions, as shown.
    pub reactions: i64,
}

/// The ranker's record of a tag: its best reacted posts, and the version
/// and ranking time they were written with (0 and 0 when none is stored).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TagCandidates {
    /// At most [`TOP_POSTS`], best first.
    pub posts: Vec<Candidate>,
    /// Incremented by every write; the next write is conditioned on it.
    pub version: u64,
    /// The time of the ranking published from this record, Unix ms.
    pub generated_ms: i64,
}

impl TagCandidates {
    /// The record after `touched` (posts with their new totals): each
    /// replaces its post's entry; a post with no reactions left leaves (it
    /// ranks by time from the Recent list); the best [`TOP_POSTS`] stay.
    /// `None` if nothing changes.
    pub fn merge(&self, touched: &[Candidate]) -> Option<Vec<Candidate>> {
        let mut posts: Vec<Candidate> = self
            .posts
            .iter()
            .filter(|c| !touched.iter().any(|t| t.post_id == c.post_id))
            .cloned()
            .collect();
        posts.extend(touched.iter().filter(|t| t.reactions > 0).cloned());
        posts.sort_by(|a, b| {
            score_of(b)
                .total_cmp(&score_of(a))
                .then(b.post_id.cmp(&a.post_id))
        });
        posts.truncate(TOP_POSTS);
        (posts != self.posts).then_some(posts)
    }

    /// The time for a ranking of the next version: now, or just after the
    /// last one if the clock says otherwise, so that a later record's
    /// ranking always replaces an earlier one's.
    pub fn next_generated_ms(&self, now_ms: i64) -> i64 {
        now_ms.max(self.generated_ms + 1)
    }
}

/// A candidate's hot score.
fn score_of(c: &Candidate) -> f64 {
    hot_score(c.reactions, id_time_ms(c.post_id) as i64)
}

/// A tag's posts that a batch of reactions touched: the tag as written and
/// each post with its cover image.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TouchedTag {
    /// The tag as written in the first post that carries it.
    pub tag: String,
    /// The posts, with their cover images.
    pub posts: Vec<TopPost>,
}

/// The tags a batch of reaction events touched, by key, each with its
/// reacted posts once.
pub fn touched_tags(events: &[ReactionEvent]) -> BTreeMap<String, TouchedTag> {
    let mut tags: BTreeMap<String, TouchedTag> = BTreeMap::new();
    for e in events {
        for tag in &e.tags {
            let touched = tags.entry(tag_key(tag)).or_insert_with(|| TouchedTag {
                tag: tag.clone(),
                posts: Vec::new(),
            });
            if !touched.posts.iter().any(|p| p.post_id == e.post_id) {
                touched.posts.push(TopPost {
                    post_id: e.post_id,
                    image_url: e.cover.clone(),
                });
            }
        }
    }
    tags
}

/// The best [`TOP_POSTS`] of `candidates` (duplicates ignored), best first,
/// by [`hot_score`] with the net reactions `totals` gives (none: 0); ties go
/// to the newer post.
pub fn rank(candidates: &[TopPost], totals: &HashMap<Id, i64>) -> Vec<TopPost> {
    let mut seen = std::collections::HashSet::new();
    let mut scored: Vec<(f64, &TopPost)> = candidates
        .iter()
        .filter(|p| seen.insert(p.post_id))
        .map(|p| {
            let n = totals.get(&p.post_id).copied().unwrap_or(0);
            (hot_score(n, id_time_ms(p.post_id) as i64), p)
        })
        .collect();
    scored.sort_by(|a, b| b.0.total_cmp(&a.0).then(b.1.post_id.cmp(&a.1.post_id)));
    scored
        .into_iter()
        .take(TOP_POSTS)
        .map(|(_, p)| p.clone())
        .collect()
}

/// Attempts of a tag's read-merge-write before the tag is left to its next
/// batch: only rankers of the same tag at once make it retry.
const RANK_ATTEMPTS: usize = 8;

/// Re-ranks every tag a batch of reactions touched and publishes the
/// rankings that differ from the tags' pages on the top-posts topic
/// (keyed by tag). Per tag: the batch's posts with their stored totals are
/// merged into the ranker's record ([`TagCandidates::merge`]), and the
/// record with the page's Recent posts is ranked. Returns the rankings
/// published.
///
/// Run after the batch's counts are written, on every delivery of the
/// batch: a redelivered batch ranks again from the stored counts, so a
/// ranking lost with a failed invocation is published by its retry.
pub async fn rank_touched_tags<S: TagPages + ReactionCounts + RankerState + ?Sized>(
    store: &S,
    publisher: &dyn EventPublisher,
    events: &[ReactionEvent],
) -> Result<usize, StoreError> {
    let touched: Vec<(String, TouchedTag)> = touched_tags(events).into_iter().collect();
    let mut ids: Vec<Id> = events.iter().map(|e| e.post_id).collect();
    ids.sort_unstable();
    ids.dedup();
    let totals: HashMap<Id, i64> = store.reaction_totals(&ids).await?.into_iter().collect();
    let ranks: Vec<_> = touched
        .iter()
        .map(|(key, tag)| rank_tag(store, key, tag, &totals))
        .collect();
    let rankings: Vec<Option<(Vec<u8>, Vec<u8>)>> = stream::iter(ranks)
        .buffered(TAGS_IN_FLIGHT)
        .try_collect()
        .await?;
    let rankings: Vec<(Vec<u8>, Vec<u8>)> = rankings.into_iter().flatten().collect();
    publisher
        .publish_batch(top_posts_topic(), &rankings)
        .await?;
    Ok(rankings.len())
}

/// One tag of [`rank_touched_tags`]: its ranking as a (key, value) record
/// to publish, or none if the page shows it already or the tag has no page
/// yet (the hashtag consumer has not counted its posts: the record keeps
/// the reacted posts for the next re-rank). A ranking to publish is stamped
/// with a new version of the record, so it replaces every earlier one.
async fn rank_tag<S: TagPages + RankerState + ?Sized>(
    store: &S,
    key: &str,
    tag: &TouchedTag,
    totals: &HashMap<Id, i64>,
) -> Result<Option<(Vec<u8>, Vec<u8>)>, StoreError> {
    let touched: Vec<Candidate> = tag
        .posts
        .iter()
        .map(|p| Candidate {
            post_id: p.post_id,
            image_url: p.image_url.clone(),
            reactions: totals.get(&p.post_id).copied().unwrap_or(0),
        })
        .collect();
    let page = store.page(key).await?;
    for _ in 0..RANK_ATTEMPTS {
        let stored = store.candidates(key).await?;
        let merged = stored.merge(&touched);
        let posts = merged.clone().unwrap_or_else(|| stored.posts.clone());
        let ranked = page.as_ref().map(|page| {
            let reacted: HashMap<Id, i64> =
                posts.iter().map(|c| (c.post_id, c.reactions)).collect();
            let candidates: Vec<TopPost> = posts
                .iter()
                .map(|c| TopPost {
                    post_id: c.post_id,
                    image_url: c.image_url.clone(),
                })
                .chain(page.recent_posts.iter().cloned())
                .collect();
            rank(&candidates, &reacted)
        });
        let publish = match (&page, &ranked) {
            (Some(page), Some(ranked)) => *ranked != page.top_posts,
            _ => false,
        };
        if merged.is_none() && !publish {
            return Ok(None);
        }
        let generated_ms = stored.next_generated_ms(now_ms());
        if !store
            .put_candidates(key, &posts, &stored, generated_ms)
            .await?
        {
            continue;
        }
        let (Some(page), Some(ranked), true) = (page, ranked, publish) else {
            return Ok(None);
        };
        let ranking = Ranking {
            tag: page.tag,
            generated_at: rfc3339_ms(generated_ms),
            posts: ranked,
        };
        let value = serde_json::to_vec(&ranking)
            .map_err(|e| StoreError::Backend(format!("encoding ranking: {e}")))?;
        return Ok(Some((key.as_bytes().to_vec(), value)));
    }
    // Rankers of other partitions kept winning on this tag (a hot one):
    // failing the batch would redo its counts and rank every tag again,
    // under the same contention. The tag's counts are stored; its reacted
    // posts join its record at their next reaction.
    tracing::warn!(
        tag = key,
        "the ranker's record kept changing; this batch's posts left out of it"
    );
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::EPOCH_MS;

    /// A post made at `ms`, with an id as the generator gives (time in
    /// the bits above worker and sequence).
    fn post_at(ms: i64) -> TopPost {
        let post_id = Id((((ms as u64 - EPOCH_MS) << 22) | 1) as i64);
        assert_eq!(id_time_ms(post_id) as i64, ms);
        TopPost {
            post_id,
            image_url: format!("https://img.example/{ms}.jpg"),
        }
    }

    #[test]
    fn ten_times_the_reactions_weigh_as_much_as_twelve_and_a_half_hours() {
        let t = 1_800_000_000_000;
        let newer = t + 45_000_000;
        assert!((hot_score(10, t) - hot_score(1, newer)).abs() < 1e-9);
        assert_eq!(hot_score(0, t), hot_score(1, t), "no reactions: by time");
        assert_eq!(hot_score(-3, t), hot_score(0, t), "below zero: as none");
        assert!(hot_score(2, t) > hot_score(1, t));
    }

    #[test]
    fn a_post_with_many_reactions_rises_above_newer_ones() {
        let base = EPOCH_MS as i64 + 86_400_000;
        let posts: Vec<TopPost> = (0..5).map(|i| post_at(base + i * 60_000)).collect();
        let by_time = rank(&posts, &HashMap::new());
        let newest_first: Vec<Id> = posts.iter().rev().map(|p| p.post_id).collect();
        assert_eq!(
            by_time.iter().map(|p| p.post_id).collect::<Vec<_>>(),
            newest_first
        );
        let totals = HashMap::from([(posts[0].post_id, 5)]);
        let ranked = rank(&posts, &totals);
        assert_eq!(ranked[0], posts[0], "the oldest, with 5 reactions, first");
        assert_eq!(ranked.len(), 5);
        // Twelve and a half hours later, a post with no reactions is level
        // with one reaction's worth; ten times as many keep the old one up.
        let later = post_at(base + 45_000_000 + 1_000);
        let totals = HashMap::from([(posts[0].post_id, 10)]);
        let mut with_later = posts.clone();
        with_later.push(later.clone());
        assert_eq!(rank(&with_later, &totals)[0], later);
        let totals = HashMap::from([(posts[0].post_id, 100)]);
        assert_eq!(rank(&with_later, &totals)[0], posts[0]);
    }

    fn candidate(post: &TopPost, reactions: i64) -> Candidate {
        Candidate {
            post_id: post.post_id,
            image_url: post.image_url.clone(),
            reactions,
        }
    }

    #[test]
    fn the_record_keeps_each_posts_latest_total_and_drops_posts_without_reactions() {
        let base = EPOCH_MS as i64 + 86_400_000;
        let posts: Vec<TopPost> = (0..3).map(|i| post_at(base + i * 60_000)).collect();
        let empty = TagCandidates::default();
        let first = empty
            .merge(&[candidate(&posts[0], 5), candidate(&posts[1], 1)])
            .unwrap();
        assert_eq!(first, [candidate(&posts[0], 5), candidate(&posts[1], 1)]);
        let stored = TagCandidates {
            posts: first,
            version: 1,
            generated_ms: 10,
        };
        // Another batch: post 1 lost its reaction, post 2 got ten.
        let next = stored
            .merge(&[candidate(&posts[1], 0), candidate(&posts[2], 10)])
            .unwrap();
        assert_eq!(next, [candidate(&posts[2], 10), candidate(&posts[0], 5)]);
        assert_eq!(stored.merge(&[candidate(&posts[0], 5)]), None, "unchanged");
        assert_eq!(stored.next_generated_ms(5), 11, "never before the last");
        assert_eq!(stored.next_generated_ms(50), 50);
    }

    #[test]
    fn a_ranking_keeps_the_best_hundred_once_each() {
        let base = EPOCH_MS as i64 + 86_400_000;
        let mut posts: Vec<TopPost> = (0..150).map(|i| post_at(base + i * 1_000)).collect();
        posts.extend(posts.clone());
        let ranked = rank(&posts, &HashMap::new());
        assert_eq!(ranked.len(), TOP_POSTS);
        assert_eq!(ranked[0], posts[149]);
        assert_eq!(ranked[99], posts[50]);
    }
}
