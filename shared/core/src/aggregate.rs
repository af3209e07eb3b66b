//! The consumer's hot path: turn a batch of post events into one contribution
//! per distinct tag, so the hashtag table gets one update per tag per batch
//! instead of one per tag per post.

use std::ops::Range;
use std::sync::Arc;

// foldhash: several times faster than the default SipHash on short keys,
// and still seeded per process, so captions cannot be crafted to collide.
use foldhash::HashMap;

use crate::domain::PostEvent;
use crate::extract::{hashtags_into, tag_display_form, tag_key_into};
use crate::ids::Id;

/// A post counted for a tag, with the offset it was read at.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedPost {
    /// Offset of the record within its partition.
    pub offset: i64,
    /// The post.
    pub post_id: Id,
    /// Its author (for the tag's distinct authors per day).
    pub author: Id,
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

impl SourcePosts {
    /// The posts above `mark`, the highest offset of this source already
    /// counted for the tag (`None`: none yet): the only ones a delivery may
    /// count. This is the rule that makes counting idempotent under
    /// redelivery, on every adapter.
    pub fn above(&self, mark: Option<i64>) -> impl Iterator<Item = &CountedPost> + Clone {
        self.posts
            .iter()
            .filter(move |p| mark.is_none_or(|m| p.offset > m))
    }

    /// The mark after counting [`SourcePosts::above`] `mark`: the highest
    /// offset counted, or `None` if nothing here is new.
    pub fn next_mark(&self, mark: Option<i64>) -> Option<i64> {
        self.above(mark).map(|p| p.offset).max()
    }

    /// The lowest offset here: a mark below it means none of these posts
    /// was counted yet.
    pub fn first_offset(&self) -> i64 {
        self.posts.iter().map(|p| p.offset).min().unwrap_or(0)
    }
}

/// Everything a batch adds to one tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagContribution {
    /// Normalised tag (partition key of the hashtag table).
    pub key: String,
    /// Spelling first seen in this batch, in its display form
    /// ([`crate::extract::tag_display_form`]).
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

/// One decoded record of a batch, with its caption's hashtags.
#[derive(Debug, Clone)]
pub struct SourcedEvent<'a> {
    /// `topic-partition` of the record.
    pub source: &'a str,
    /// Its offset.
    pub offset: i64,
    /// The decoded post event.
    pub event: PostEvent,
    /// Byte ranges of the caption's hashtags (without the sign), in text
    /// order, repeats included.
    hashtags: Vec<Range<usize>>,
}

impl<'a> SourcedEvent<'a> {
    /// The record with its caption's hashtags extracted: the one extraction
    /// of the caption on the consumer's path, which both the caption rules
    /// ([`crate::domain::check_caption`]) and [`aggregate`] use.
    pub fn new(source: &'a str, offset: i64, event: PostEvent) -> Self {
        let mut found = Vec::new();
        hashtags_into(&event.caption, &mut found);
        // An entity's range covers its sign; its text ends the range.
        let hashtags = found
            .iter()
            .map(|e| e.range.end - e.text.len()..e.range.end)
            .collect();
        SourcedEvent {
            source,
            offset,
            event,
            hashtags,
        }
    }

    /// The caption's hashtags as written, in text order.
    pub fn hashtags(&self) -> impl ExactSizeIterator<Item = &str> + Clone {
        self.hashtags.iter().map(|r| &self.event.caption[r.clone()])
    }
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
    for record in records {
        post_slots.clear();
        let mut image_url: Option<Arc<str>> = None;
        for display in record.hashtags() {
            let slot = match by_spelling.get(display) {
                Some(&slot) => slot,
                None => {
                    tag_key_into(display, &mut key);
                    let slot = *by_key.entry(key.clone()).or_insert_with(|| {
                        out.push(TagContribution {
                            key: key.clone(),
                            display: tag_display_form(display),
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
                author: record.event.user_id,
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
            author: "ann".into(),
            caption: caption.into(),
            image_url: format!("https://img/{id}"),
            created_at: "2026-01-01T00:00:00Z".into(),
        }
    }

    #[test]
    fn one_contribution_per_distinct_tag() {
        let records = vec![
            SourcedEvent::new("posts-0", 5, ev(1, "#Rust #rust #AWS")),
            SourcedEvent::new("posts-1", 9, ev(2, "#RUST")),
            SourcedEvent::new("posts-0", 6, ev(3, "no tags")),
            SourcedEvent::new("posts-0", 7, ev(4, "#rust")),
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
