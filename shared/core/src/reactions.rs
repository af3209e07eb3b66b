//! Emoji reactions to posts. A user's reaction with one emoji on one post
//! is a set member in the post store: reacting twice is once, removing is
//! idempotent, and only a change of the set becomes an event on the
//! [`REACTIONS_TOPIC`] (keyed by post), numbered among the post's changes in
//! the transaction that made it. The reaction consumer sums a batch's events
//! per post into one contribution, written once per post per batch, counting
//! each number once: a redelivered batch, a replay, or an event the outbox
//! published twice is never counted twice.

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
    /// The change's number among the post's changes (1, 2, ...), given in
    /// the transaction that made it. The consumer counts each number once:
    /// an event the outbox published twice (under two offsets) or a batch
    /// delivered again adds nothing.
    pub seq: i64,
    /// When, Unix milliseconds.
    pub at_ms: i64,
    /// The post's hashtags as written, each once: the tags whose Top view
    /// the change may reorder ([`crate::popularity`]). Empty in events from
    /// before rankings, which then re-rank nothing.
    #[serde(default)]
    pub tags: Vec<String>,
    /// The post's cover image, as tag pages show it.
    #[serde(default)]
    pub cover: String,
}

/// A reaction to the live stream, as the emoji-streaming seed's API takes
/// it (`POST /emoji`): no post, counted in the windows only
/// ([`crate::windows`]). Published on [`REACTIONS_TOPIC`], keyed by user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LiveReaction {
    /// The id the API answered as `message_id`.
    pub message_id: Id,
    /// Who reacted: the signed-in user's id (the seed's clients named
    /// themselves by a UUID; the API takes only the verified identity).
    pub user_id: String,
    /// With what.
    pub emoji: Emoji,
    /// Event time (the client's `timestamp`), Unix milliseconds.
    pub at_ms: i64,
}

/// The latest event time a record may carry (9999-12-31T23:59:59.999Z):
/// window arithmetic stays far from overflow.
pub const MAX_EVENT_MS: i64 = 253_402_300_799_999;

/// Longest `user_id` a live reaction carries, in bytes.
pub const MAX_LIVE_USER_BYTES: usize = 128;

impl LiveReaction {
    /// Checks a decoded live reaction's fields: a record the API would not
    /// have sent is not counted.
    pub fn validate(&self) -> Result<(), String> {
        if self.message_id.0 <= 0 || !(0..=MAX_EVENT_MS).contains(&self.at_ms) {
            return Err(
                "message_id must be positive and at_ms a time before the year 10000".into(),
            );
        }
        if self.user_id.trim().is_empty() || self.user_id.len() > MAX_LIVE_USER_BYTES {
            return Err(format!("user_id must be 1 to {MAX_LIVE_USER_BYTES} bytes"));
        }
        Ok(())
    }
}

/// A record of the reactions topic: a change of a post's reactions, or a
/// reaction to the live stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReactionRecord {
    /// To a post.
    Post(ReactionEvent),
    /// To the live stream.
    Live(LiveReaction),
}

impl ReactionRecord {
    /// Decodes and checks a record's JSON value: a post's reaction if it
    /// names a post, else a live reaction; or why it is neither.
    pub fn decode(bytes: &[u8]) -> Result<ReactionRecord, String> {
        let post = match serde_json::from_slice::<ReactionEvent>(bytes) {
            Ok(event) => return event.validate().map(|()| ReactionRecord::Post(event)),
            Err(e) => e,
        };
        match serde_json::from_slice::<LiveReaction>(bytes) {
            Ok(live) => live.validate().map(|()| ReactionRecord::Live(live)),
            Err(live) => Err(format!(
                "value is neither a post's reaction ({post}) nor a live one ({live})"
            )),
        }
    }
}

/// The post a reaction is to, as its store reads it in the reaction's
/// transaction.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactedPost {
    /// The post.
    pub post_id: Id,
    /// Its caption, whose hashtags the event carries.
    pub caption: String,
    /// Its cover image.
    pub cover: String,
}

impl ReactionEvent {
    /// The event of a change of `post`'s reactions: `user_id` added
    /// (`present`) or removed `emoji`, the post's change number `seq`.
    pub fn new(post: ReactedPost, user_id: Id, emoji: Emoji, present: bool, seq: i64) -> Self {
        let mut keys = std::collections::HashSet::new();
        let tags = crate::extract::hashtags(&post.caption)
            .filter(|tag| crate::domain::tag_fits(tag) && keys.insert(crate::extract::tag_key(tag)))
            .map(String::from)
            .collect();
        ReactionEvent {
            post_id: post.post_id,
            user_id,
            emoji,
            delta: if present { 1 } else { -1 },
            seq,
            at_ms: crate::domain::now_ms(),
            tags,
            cover: post.cover,
        }
    }

    /// Checks a decoded event as the API checked the reaction: a record
    /// that would not have been accepted is not counted.
    pub fn validate(&self) -> Result<(), String> {
        if self.post_id.0 <= 0 || self.user_id.0 <= 0 {
            return Err("post_id and user_id must be positive".into());
        }
        if self.delta != 1 && self.delta != -1 {
            return Err(format!("delta must be 1 or -1, not {}", self.delta));
        }
        if self.seq <= 0 {
            return Err(format!("seq must be positive, not {}", self.seq));
        }
        if !(0..=MAX_EVENT_MS).contains(&self.at_ms) {
            return Err(format!(
                "at_ms {} is no time before the year 10000",
                self.at_ms
            ));
        }
        if let Some(tag) = self.tags.iter().find(|t| !crate::domain::tag_fits(t)) {
            return Err(crate::domain::tag_too_long(tag).message);
        }
        if !self.tags.is_empty() {
            crate::domain::validate_image_url(&self.cover).map_err(|e| e.message)?;
        }
        Ok(())
    }
}

/// A post's reaction counts as stored by the consumer, with which of the
/// post's numbered changes they hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReactionState {
    /// Net count per emoji (emojis whose count fell to 0 are dropped).
    pub counts: BTreeMap<String, i64>,
    /// Every change numbered up to this one is counted.
    pub through: i64,
    /// Changes numbered above `through` that are counted, ascending: those
    /// whose predecessors are still on their way (the outbox may publish
    /// out of order). Empty once they have arrived.
    pub above: Vec<i64>,
}

impl ReactionState {
    /// Whether the change numbered `seq` is counted.
    pub fn counted(&self, seq: i64) -> bool {
        seq <= self.through || self.above.binary_search(&seq).is_ok()
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

/// Changes counted ahead of a missing one, at most, per post: a gap the
/// outbox leaves closes within seconds (the relay publishes what waits),
/// so this many later changes mean the missing one will not come.
pub const MAX_EARLY: usize = 1_000;

/// One change of a contribution: its number, emoji and delta.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionChange {
    /// The change's number among the post's.
    pub seq: i64,
    /// The emoji.
    pub emoji: String,
    /// +1 or -1.
    pub delta: i64,
}

/// Everything a batch changes of one post's reactions.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReactionContribution {
    /// The post.
    pub post_id: Id,
    /// In the order read (duplicates included: `apply` counts each number
    /// once).
    pub changes: Vec<ReactionChange>,
}

impl ReactionContribution {
    /// The post's counts after this contribution, counting only the
    /// changes whose number is not counted yet: `None` if nothing is new (a
    /// redelivery). The one rule that makes reaction counts exact under
    /// redelivery, replay and double publication, on every adapter.
    pub fn apply(&self, stored: Option<&ReactionState>) -> Option<ReactionState> {
        let mut next = stored.cloned().unwrap_or_default();
        let mut changed = false;
        for change in &self.changes {
            if next.counted(change.seq) {
                continue;
            }
            let at = next.above.partition_point(|seq| *seq < change.seq);
            next.above.insert(at, change.seq);
            *next.counts.entry(change.emoji.clone()).or_default() += change.delta;
            changed = true;
        }
        // A number missing behind MAX_EARLY later ones is given up: its
        // event was set aside (malformed) or lost, and waiting for it would
        // grow the post's record without bound.
        let given_up = next.above.len().saturating_sub(MAX_EARLY);
        if given_up > 0 {
            next.through = next.above[given_up - 1];
            next.above.drain(..given_up);
        }
        let caught_up = next
            .above
            .iter()
            .zip(next.through + 1..)
            .take_while(|(seq, expected)| **seq == *expected)
            .count();
        next.through += caught_up as i64;
        next.above.drain(..caught_up);
        next.counts.retain(|_, n| *n != 0);
        changed.then_some(next)
    }
}

/// Rows of (post, emoji, count) in post order, as the post stores count
/// their reaction sets, grouped per post.
pub fn counts_by_post(
    rows: impl IntoIterator<Item = (Id, String, i64)>,
) -> Vec<(Id, BTreeMap<String, i64>)> {
    let mut posts: Vec<(Id, BTreeMap<String, i64>)> = Vec::new();
    for (post, emoji, count) in rows {
        match posts.last_mut() {
            Some((p, counts)) if *p == post => {
                counts.insert(emoji, count);
            }
            _ => posts.push((post, BTreeMap::from([(emoji, count)]))),
        }
    }
    posts
}

/// One contribution per post of a batch: the consumer's hot path, so that a
/// post that got a thousand reactions in a batch is written once.
pub fn aggregate_reactions(events: &[ReactionEvent]) -> Vec<ReactionContribution> {
    let mut by_post: BTreeMap<Id, Vec<ReactionChange>> = BTreeMap::new();
    for e in events {
        by_post.entry(e.post_id).or_default().push(ReactionChange {
            seq: e.seq,
            emoji: e.emoji.as_str().to_string(),
            delta: i64::from(e.delta),
        });
    }
    by_post
        .into_iter()
        .map(|(post_id, changes)| ReactionContribution { post_id, changes })
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

    fn event(post: i64, user: i64, emoji: &str, delta: i8, seq: i64) -> ReactionEvent {
        ReactionEvent {
            post_id: Id(post),
            user_id: Id(user),
            emoji: Emoji::parse(emoji).unwrap(),
            delta,
            seq,
            at_ms: 0,
            tags: Vec::new(),
            cover: String::new(),
        }
    }

    #[test]
    fn a_batch_is_one_contribution_per_post_and_a_redelivery_adds_nothing() {
        let events = [
            event(1, 10, "👍", 1, 1),
            event(2, 10, "🔥", 1, 1),
            event(1, 11, "👍", 1, 2),
            event(1, 10, "👍", -1, 3),
            event(1, 12, "😂", 1, 4),
        ];
        let posts = aggregate_reactions(&events);
        assert_eq!(posts.len(), 2);
        let first = posts[0].apply(None).unwrap();
        assert_eq!(
            first.counts,
            BTreeMap::from([("👍".to_string(), 1), ("😂".to_string(), 1)])
        );
        assert_eq!((first.through, first.above.len()), (4, 0));
        assert_eq!(posts[0].apply(Some(&first)), None, "redelivered");
        // Half the batch again with one new change: only the new one counts.
        let again = aggregate_reactions(&[event(1, 12, "😂", 1, 4), event(1, 12, "😂", -1, 5)]);
        let next = again[0].apply(Some(&first)).unwrap();
        assert_eq!(next.counts, BTreeMap::from([("👍".to_string(), 1)]));
        assert_eq!(next.through, 5);
    }

    #[test]
    fn a_change_published_twice_or_out_of_order_counts_once() {
        // The outbox published change 2 twice (under two offsets), and 4
        // before 3.
        let batch = aggregate_reactions(&[
            event(1, 10, "👍", 1, 1),
            event(1, 11, "🔥", 1, 2),
            event(1, 11, "🔥", 1, 2),
            event(1, 11, "🔥", -1, 4),
        ]);
        let state = batch[0].apply(None).unwrap();
        assert_eq!(state.counts, BTreeMap::from([("👍".to_string(), 1)]));
        assert_eq!((state.through, state.above.clone()), (2, vec![4]));
        // Change 4 again, in a later batch: nothing new.
        let late = aggregate_reactions(&[event(1, 11, "🔥", -1, 4)]);
        assert_eq!(late[0].apply(Some(&state)), None);
        // Change 3 arrives: the counts catch up and so do the numbers.
        let missing = aggregate_reactions(&[event(1, 12, "🔥", 1, 3)]);
        let caught_up = missing[0].apply(Some(&state)).unwrap();
        assert_eq!(
            caught_up.counts,
            BTreeMap::from([("👍".to_string(), 1), ("🔥".to_string(), 1)])
        );
        assert_eq!((caught_up.through, caught_up.above.len()), (4, 0));
    }

    #[test]
    fn a_change_that_never_comes_is_given_up_after_max_early_later_ones() {
        // Change 1 never arrives (its record was set aside).
        let later: Vec<ReactionEvent> = (2..=MAX_EARLY as i64 + 2)
            .map(|seq| event(1, 10, "👍", if seq % 2 == 0 { 1 } else { -1 }, seq))
            .collect();
        let state = aggregate_reactions(&later)[0].apply(None).unwrap();
        assert_eq!(state.above.len(), 0, "given up on 1, caught up to the rest");
        assert_eq!(state.through, MAX_EARLY as i64 + 2);
        assert_eq!(state.counts["👍"], 1);
        let partial = aggregate_reactions(&later[..MAX_EARLY])[0]
            .apply(None)
            .unwrap();
        assert_eq!((partial.through, partial.above.len()), (0, MAX_EARLY));
    }

    #[test]
    fn a_removal_counted_before_its_addition_is_shown_as_absent() {
        let early = aggregate_reactions(&[event(1, 10, "👍", 1, 1), event(1, 13, "🔥", -1, 3)]);
        let state = early[0].apply(None).unwrap();
        assert_eq!(state.counts["🔥"], -1);
        assert_eq!(state.shown(), BTreeMap::from([("👍".to_string(), 1)]));
    }

    #[test]
    fn an_event_carries_its_posts_tags_once_and_its_cover() {
        let post = ReactedPost {
            post_id: Id(1),
            caption: "#Sun and #sun at the #beach".into(),
            cover: "https://img.example/1.jpg".into(),
        };
        let e = ReactionEvent::new(post, Id(2), Emoji::parse("👍").unwrap(), false, 3);
        assert_eq!(e.tags, ["Sun", "beach"]);
        assert_eq!((e.delta, e.seq), (-1, 3));
        assert!(e.validate().is_ok());
        let mut bad = e.clone();
        bad.cover = "javascript:alert(1)".into();
        assert!(bad.validate().is_err(), "a ranking could not show it");
    }

    #[test]
    fn a_record_is_a_posts_reaction_a_live_one_or_set_aside() {
        let post = serde_json::to_vec(&event(1, 2, "👍", 1, 1)).unwrap();
        assert!(matches!(
            ReactionRecord::decode(&post),
            Ok(ReactionRecord::Post(_))
        ));
        let live = r#"{"message_id":"5","user_id":"3f2a","emoji":"🔥","at_ms":1000}"#;
        assert!(matches!(
            ReactionRecord::decode(live.as_bytes()),
            Ok(ReactionRecord::Live(_))
        ));
        let nameless = r#"{"message_id":"5","user_id":" ","emoji":"🔥","at_ms":1000}"#;
        assert!(ReactionRecord::decode(nameless.as_bytes()).is_err());
        let neither = ReactionRecord::decode(b"{}").unwrap_err();
        assert!(neither.contains("neither"), "{neither}");
    }

    #[test]
    fn events_are_checked_as_the_api_checks_reactions() {
        assert!(event(1, 1, "👍", 1, 1).validate().is_ok());
        assert!(event(0, 1, "👍", 1, 1).validate().is_err());
        assert!(event(1, 1, "👍", 2, 1).validate().is_err());
        assert!(event(1, 1, "👍", 1, 0).validate().is_err());
        let json = r#"{"post_id":"1","user_id":"2","emoji":"nope","delta":1,"seq":1,"at_ms":0}"#;
        assert!(serde_json::from_str::<ReactionEvent>(json).is_err());
    }
}
