//! The consumer's hot path: turn a batch of post events into one contribution
//! per distinct tag, so the hashtag table gets one update per tag per batch
//! instead of one per tag per post.

use std::sync::Arc;

// foldhash: several times faster than the default SipHash on short keys,
// and still seeded per process, so captions cannot be crafted to collide.
use foldhash::HashMap;

use crate::domain::PostEvent;
use crate::extract::{hashtags_into, tag_key_into, Entity};
use crate::ids::Id;

/// A post counted for a tag, with the offset it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedPost {
    /// Offset of the record within its partition.
    pub offset: i64,
    /// The post.
    pub post_id: Id,
    /// Its cover image, shared by every tag of the post (a batch lists
    /// each post under several tags; copying the URL for each was a
    /// measurable part of the consumer's time).
    pub image_url: Arc<str>,
}

/// The posts of one partition that carry a tag, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourcePosts {
    /// `topic-partition`, as MSK keys its records.
    pub source: String,
    /// In increasing offset order.
    pub posts: Vec<CountedPost>,
}

/// Everything a batch adds to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagContribution {
    /// Normalised tag (partition key of the hashtag table).
    pub key: String,
    /// Spelling first seen in this batch.
    pub display: String,
    /// Per source partition.
    pub sources: Vec<SourcePosts>,
}

impl TagContribution {
    /// Posts this contribution adds if none was applied before.
    pub fn post_count(&self) -> usize {
        self.sources.iter().map(|s| s.posts.len()).sum()
    }
}

/// One decoded record of a batch.
#[derive(Debug, Clone)]
pub struct SourcedEvent<'a> {
    /// `topic-partition` of the record.
    pub source: &'a str,
    /// Its offset.
    pub offset: i64,
    /// The decoded post event.
    pub event: PostEvent,
}

/// Aggregates a batch. Records must come in offset order within each source
/// (MSK delivers them so); a tag repeated in a caption counts once.
pub fn aggregate(records: &[SourcedEvent<'_>]) -> Vec<TagContribution> {
    let mut out: Vec<TagContribution> = Vec::new();
    let mut by_key: HashMap<String, usize> = HashMap::default();
    // Popular tags come back many times per batch, mostly spelt alike:
    // a spelling seen before skips normalisation.
    let mut by_spelling: HashMap<&str, usize> = HashMap::default();
    // Buffers reused across the batch's posts.
    let mut key = String::new();
    let mut post_slots: Vec<usize> = Vec::new();
    let mut tags: Vec<Entity<'_>> = Vec::new();
    for record in records {
        post_slots.clear();
        let mut image_url: Option<Arc<str>> = None;
        hashtags_into(&record.event.caption, &mut tags);
        for display in tags.iter().map(|t| t.text) {
            let slot = match by_spelling.get(display) {
                Some(&slot) => slot,
                None => {
                    tag_key_into(display, &mut key);
                    let slot = *by_key.entry(key.clone()).or_insert_with(|| {
                        out.push(TagContribution {
                            key: key.clone(),
                            display: display.to_string(),
                            sources: Vec::new(),
                        });
                        out.len() - 1
                    });
                    by_spelling.insert(display, slot);
                    slot
                }
            };
            if post_slots.contains(&slot) {
                continue;
            }
            post_slots.push(slot);
            let counted = CountedPost {
                offset: record.offset,
                post_id: record.event.post_id,
                image_url: image_url
                    .get_or_insert_with(|| record.event.image_url.as_str().into())
                    .clone(),
            };
            let sources = &mut out[slot].sources;
            match sources.iter_mut().find(|s| s.source == record.source) {
                Some(s) => s.posts.push(counted),
                None => sources.push(SourcePosts {
                    source: record.source.to_string(),
                    posts: vec![counted],
                }),
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::Id;

    fn ev(id: i64, caption: &str) -> PostEvent {
        PostEvent {
            post_id: Id(id),
            user_id: Id(1),
            caption: caption.into(),
            image_url: format!("https://img/{id}"),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn one_contribution_per_distinct_tag() {
        let records = vec![
            SourcedEvent {
                source: "posts-0",
                offset: 5,
                event: ev(1, "#Rust #rust #AWS"),
            },
            SourcedEvent {
                source: "posts-1",
                offset: 9,
                event: ev(2, "#RUST"),
            },
            SourcedEvent {
                source: "posts-0",
                offset: 6,
                event: ev(3, "no tags"),
            },
            SourcedEvent {
                source: "posts-0",
                offset: 7,
                event: ev(4, "#rust"),
            },
        ];
        let agg = aggregate(&records);
        assert_eq!(agg.len(), 2);
        let rust = &agg[0];
        assert_eq!((rust.key.as_str(), rust.display.as_str()), ("rust", "Rust"));
        assert_eq!(rust.post_count(), 3);
        assert_eq!(rust.sources.len(), 2);
        let p0: Vec<i64> = rust.sources[0].posts.iter().map(|p| p.offset).collect();
        assert_eq!(p0, vec![5, 7]);
        assert_eq!(agg[1].key, "aws");
        assert_eq!(agg[1].post_count(), 1);
    }
}
