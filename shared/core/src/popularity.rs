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
//! tag's page.

use std::collections::{BTreeMap, HashMap};

use crate::domain::{now_ms, rfc3339_ms, Ranking, TopPost, TOP_POSTS, TOP_POSTS_TOPIC};
use crate::extract::tag_key;
use crate::ids::{id_time_ms, Id};
use crate::ports::{EventPublisher, ReactionCounts, StoreError, TagPages};
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

/// Seconds of age worth ten times the reactions (Reddit's constant).
const SECONDS_PER_DECADE: f64 = 45_000.0;

/// A post's hot score from its net reactions and when it was posted (Unix
/// milliseconds).
pub fn hot_score(reactions: i64, posted_ms: i64) -> f64 {
    (reactions.max(1) as f64).log10() + posted_ms as f64 / 1000.0 / SECONDS_PER_DECADE
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

/// Re-ranks every tag a batch of reactions touched and publishes the
/// rankings that differ from the tags' pages on the top-posts topic
/// (keyed by tag). A tag's candidates are its page's Top and Recent posts
/// and the batch's reacted posts that carry it; returns the rankings
/// published.
///
/// Run after the batch's counts are written, on every delivery of the
/// batch: a redelivered batch ranks again from the stored counts, so a
/// ranking lost with a failed invocation is published by its retry.
pub async fn rank_touched_tags<S: TagPages + ReactionCounts + ?Sized>(
    store: &S,
    publisher: &dyn EventPublisher,
    events: &[ReactionEvent],
) -> Result<usize, StoreError> {
    let mut tags = Vec::new();
    for (key, touched) in touched_tags(events) {
        let page = store.page(&key).await?;
        tags.push((key, touched, page));
    }
    // Every candidate's total in one read: tags share posts.
    let mut ids: Vec<Id> = Vec::new();
    for (_, touched, page) in &tags {
        ids.extend(touched.posts.iter().map(|p| p.post_id));
        if let Some(page) = page {
            ids.extend(page.top_posts.iter().map(|p| p.post_id));
            ids.extend(page.recent_posts.iter().map(|p| p.post_id));
        }
    }
    let totals: HashMap<Id, i64> = store.reaction_totals(&ids).await?.into_iter().collect();
    let generated_at = rfc3339_ms(now_ms());
    let mut rankings = Vec::new();
    for (key, touched, page) in tags {
        let mut candidates = touched.posts;
        let mut shown: &[TopPost] = &[];
        if let Some(page) = &page {
            candidates.extend(page.top_posts.iter().cloned());
            candidates.extend(page.recent_posts.iter().cloned());
            shown = &page.top_posts;
        }
        let ranked = rank(&candidates, &totals);
        if ranked == shown {
            continue;
        }
        let ranking = Ranking {
            tag: page.map_or(touched.tag, |p| p.tag),
            generated_at: generated_at.clone(),
            posts: ranked,
        };
        let value = serde_json::to_vec(&ranking)
            .map_err(|e| StoreError::Backend(format!("encoding ranking: {e}")))?;
        rankings.push((key.into_bytes(), value));
    }
    publisher
        .publish_batch(top_posts_topic(), &rankings)
        .await?;
    Ok(rankings.len())
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
