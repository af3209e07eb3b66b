//! Emoji reactions to posts. A user's reaction with one emoji on one post
//! is a set member in the post store: reacting twice is once, removing is
//! idempotent, and only a change of the set becomes an event on the
//! [`REACTIONS_TOPIC`] (keyed by post, so one post's events stay in order).
//! The reaction consumer sums a batch's events per post into one
//! contribution, written once per post per batch, under the same
//! per-source offset marks as the tag counters: a redelivered event is
//! never counted twice.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::domain::Invalid;
use crate::ids::Id;

/// The topic of reaction events.
pub const REACTIONS_TOPIC: &str = "reactions";

/// One emoji as Unicode defines it, in its fully-qualified form: a single
/// code point, a skin-tone variant, a flag, or a ZWJ sequence. An
/// unqualified spelling ("❤" without its variation selector) is the same
/// emoji and is stored fully qualified ("❤️"), so that both count as one.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Emoji(String);

impl Emoji {
    /// The emoji `text` is (surrounding whitespace aside), or 422
    /// `invalid_emoji`.
    pub fn parse(text: &str) -> Result<Emoji, Invalid> {
        match emojis::get(text.trim()) {
            Some(emoji) => Ok(Emoji(emoji.as_str().to_string())),
            None => Err(Invalid {
                code: "invalid_emoji",
                message: format!(
                    "{:?} is not one emoji (a fully-qualified Unicode emoji, such as 👍, 👍🏽 or 🏳️‍🌈)",
                    text.chars().take(40).collect::<String>()
                ),
            }),
        }
    }

    /// The emoji.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for Emoji {
    type Error = String;
    fn try_from(s: String) -> Result<Self, Self::Error> {
        Emoji::parse(&s).map_err(|e| e.message)
    }
}

impl From<Emoji> for String {
    fn from(e: Emoji) -> String {
        e.0
    }
}

/// A change of a post's reactions, as published on [`REACTIONS_TOPIC`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReactionEvent {
    /// The post: the partition key.
    pub post_id: Id,
    /// Who reacted.
    pub user_id: Id,
    /// With what.
    pub emoji: Emoji,
    /// +1 (added) or -1 (removed).
    pub delta: i8,
    /// When, Unix milliseconds.
    pub at_ms: i64,
}

impl ReactionEvent {
    /// Checks a decoded event as the API checked the reaction: a record
    /// that would not have been accepted is not counted.
    pub fn validate(&self) -> Result<(), String> {
        if self.post_id.0 <= 0 || self.user_id.0 <= 0 {
            return Err("post_id and user_id must be positive".into());
        }
        if self.delta != 1 && self.delta != -1 {
            return Err(format!("delta must be 1 or -1, not {}", self.delta));
        }
        Ok(())
    }
}

/// A post's reaction counts as stored by the consumer, with the highest
/// offset counted per source.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReactionState {
    /// Net count per emoji (emojis whose count fell to 0 are dropped).
    pub counts: BTreeMap<String, i64>,
    /// (source, highest offset counted).
    pub marks: Vec<(String, i64)>,
}

impl ReactionState {
    /// The mark of `source`, if any of its events was counted.
    pub fn mark(&self, source: &str) -> Option<i64> {
        self.marks
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, m)| *m)
    }

    /// The counts to show. On AWS the outbox may publish one post's events
    /// out of order, so a removal can be counted before the addition it
    /// takes back: its emoji is below zero until the addition arrives, and
    /// is shown as absent meanwhile (the stored sum stays exact).
    pub fn shown(&self) -> BTreeMap<String, i64> {
        self.counts
            .iter()
            .filter(|(_, n)| **n > 0)
            .map(|(e, n)| (e.clone(), *n))
            .collect()
    }
}

/// One event of a contribution: its offset, emoji and delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionChange {
    /// Offset within its source.
    pub offset: i64,
    /// The emoji.
    pub emoji: String,
    /// +1 or -1.
    pub delta: i64,
}

/// The events of one source for one post, in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionSource {
    /// `topic-partition`.
    pub source: String,
    /// In increasing offset order.
    pub changes: Vec<ReactionChange>,
}

/// Everything a batch changes of one post's reactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionContribution {
    /// The post.
    pub post_id: Id,
    /// Per source.
    pub sources: Vec<ReactionSource>,
}

impl ReactionContribution {
    /// The post's counts after this contribution, counting per source only
    /// the events above the stored mark: `None` if nothing is new (a
    /// redelivery). The one rule that makes reaction counts idempotent, on
    /// every adapter.
    pub fn apply(&self, stored: Option<&ReactionState>) -> Option<ReactionState> {
        let mut next = stored.cloned().unwrap_or_default();
        let mut changed = false;
        for source in &self.sources {
            let mark = stored.and_then(|s| s.mark(&source.source));
            let mut last = None;
            for change in source
                .changes
                .iter()
                .filter(|c| mark.is_none_or(|m| c.offset > m))
            {
                *next.counts.entry(change.emoji.clone()).or_default() += change.delta;
                last = Some(change.offset);
            }
            let Some(last) = last else { continue };
            changed = true;
            match next.marks.iter_mut().find(|(s, _)| *s == source.source) {
                Some((_, m)) => *m = last,
                None => next.marks.push((source.source.clone(), last)),
            }
        }
        next.counts.retain(|_, n| *n != 0);
        changed.then_some(next)
    }

    /// Events in this contribution.
    pub fn events(&self) -> usize {
        self.sources.iter().map(|s| s.changes.len()).sum()
    }
}

/// A decoded event with where it was read.
pub struct SourcedReaction<'a> {
    /// `topic-partition`.
    pub source: &'a str,
    /// Offset within it.
    pub offset: i64,
    /// The event.
    pub event: ReactionEvent,
}

/// One contribution per post of a batch (given in source and offset
/// order): the consumer's hot path, so that a post that got a thousand
/// reactions in a batch is written once.
pub fn aggregate_reactions(events: &[SourcedReaction<'_>]) -> Vec<ReactionContribution> {
    let mut by_post: BTreeMap<Id, Vec<ReactionSource>> = BTreeMap::new();
    for e in events {
        let sources = by_post.entry(e.event.post_id).or_default();
        let change = ReactionChange {
            offset: e.offset,
            emoji: e.event.emoji.as_str().to_string(),
            delta: i64::from(e.event.delta),
        };
        match sources.iter_mut().find(|s| s.source == e.source) {
            Some(s) => s.changes.push(change),
            None => sources.push(ReactionSource {
                source: e.source.to_string(),
                changes: vec![change],
            }),
        }
    }
    by_post
        .into_iter()
        .map(|(post_id, sources)| ReactionContribution { post_id, sources })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emojis_are_validated_and_stored_fully_qualified() {
        for ok in ["👍", "👍🏽", "🧑🏽‍🚀", "👨‍👩‍👧", "🏳️‍🌈", "🇫🇷", " 🔥 "]
        {
            assert!(Emoji::parse(ok).is_ok(), "{ok}");
        }
        assert_eq!(Emoji::parse("❤").unwrap(), Emoji::parse("❤️").unwrap());
        assert_eq!(Emoji::parse("❤").unwrap().as_str(), "❤\u{fe0f}");
        for bad in ["", "a", ":)", "👍👍", "👍 🔥", "#", "🏽"] {
            assert_eq!(
                Emoji::parse(bad).unwrap_err().code,
                "invalid_emoji",
                "{bad:?}"
            );
        }
    }

    fn event(post: i64, user: i64, emoji: &str, delta: i8) -> ReactionEvent {
        ReactionEvent {
            post_id: Id(post),
            user_id: Id(user),
            emoji: Emoji::parse(emoji).unwrap(),
            delta,
            at_ms: 0,
        }
    }

    #[test]
    fn a_batch_is_one_contribution_per_post_and_a_redelivery_adds_nothing() {
        let events = [
            (0, event(1, 10, "👍", 1)),
            (1, event(2, 10, "🔥", 1)),
            (2, event(1, 11, "👍", 1)),
            (3, event(1, 10, "👍", -1)),
            (4, event(1, 12, "😂", 1)),
        ];
        let sourced: Vec<SourcedReaction<'_>> = events
            .iter()
            .map(|(offset, event)| SourcedReaction {
                source: "reactions-0",
                offset: *offset,
                event: event.clone(),
            })
            .collect();
        let posts = aggregate_reactions(&sourced);
        assert_eq!(posts.len(), 2);
        let first = posts[0].apply(None).unwrap();
        assert_eq!(
            first.counts,
            BTreeMap::from([("👍".to_string(), 1), ("😂".to_string(), 1)])
        );
        assert_eq!(first.marks, vec![("reactions-0".to_string(), 4)]);
        assert_eq!(posts[0].apply(Some(&first)), None, "redelivered");
        // Half the batch again with one new event: only the new one counts.
        let again = aggregate_reactions(&[
            SourcedReaction {
                source: "reactions-0",
                offset: 4,
                event: event(1, 12, "😂", 1),
            },
            SourcedReaction {
                source: "reactions-0",
                offset: 5,
                event: event(1, 12, "😂", -1),
            },
        ]);
        let next = again[0].apply(Some(&first)).unwrap();
        assert_eq!(next.counts, BTreeMap::from([("👍".to_string(), 1)]));
        // A removal counted before its addition: exact when stored, absent
        // when shown.
        let early = aggregate_reactions(&[SourcedReaction {
            source: "reactions-1",
            offset: 0,
            event: event(1, 13, "🔥", -1),
        }]);
        let early = early[0].apply(Some(&next)).unwrap();
        assert_eq!(early.counts["🔥"], -1);
        assert_eq!(early.shown(), BTreeMap::from([("👍".to_string(), 1)]));
    }

    #[test]
    fn events_are_checked_as_the_api_checks_reactions() {
        assert!(event(1, 1, "👍", 1).validate().is_ok());
        assert!(event(0, 1, "👍", 1).validate().is_err());
        assert!(event(1, 1, "👍", 2).validate().is_err());
        let json = r#"{"post_id":"1","user_id":"2","emoji":"nope","delta":1,"at_ms":0}"#;
        assert!(serde_json::from_str::<ReactionEvent>(json).is_err());
    }
}
