//! The consumers' use cases: count a batch of posts, apply a batch of
//! rankings. They take a [`Batch`] of (source partition, offset, bytes), so
//! the same functions run behind an MSK event source mapping on Lambda (whose
//! adapter decodes the event's base64 at its edge) and behind the poller of
//! the single-machine server.

use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use std::collections::HashSet;

use crate::aggregate::{aggregate, SourcedEvent};
use crate::domain::{
    check_caption, parse_rfc3339_ms, rfc3339_ms, tag_fits, tag_too_long, validate_image_url,
    PostEvent, Ranking, TOP_POSTS,
};
use crate::extract::{tag_display, tag_key};
use crate::history::{tag_days, Day};
use crate::ids::{id_time_ms, Id};
use crate::mentions::{aggregate_mentions, Decay, MentionText};
use crate::popularity::rank_touched_tags;
use crate::ports::{
    DeadLetter, DeadLetters, EventPublisher, MentionGraph, PostClaim, RankerState, Rankings,
    ReactionCounts, ReactionWindows, StoreError, TagCounter, TagHistory, TagPages,
    DEAD_LETTER_VALUE_MAX,
};
use crate::reactions::{aggregate_reactions, ReactionEvent, ReactionRecord};
use crate::record::{Batch, Delivered};
use crate::windows::{aggregate_windows, Windowed, Windowing};

/// What one invocation did; logged, turned into metrics, and returned as
/// the Lambda's result.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Records in the event.
    pub records: usize,
    /// Records decoded and processed.
    pub processed: usize,
    /// Records set aside in the dead-letter store because they could not be
    /// decoded or were invalid.
    pub malformed: usize,
    /// Records delivered more than once within the event (same partition and offset).
    pub duplicates: usize,
    /// Records of a post already counted through another record (a post
    /// published twice).
    pub republished: usize,
    /// (tag, post) pairs newly counted; a redelivered batch adds none.
    pub posts_counted: usize,
    /// Conditional counter updates retried on a changed mark.
    pub conditional_retries: usize,
    /// Distinct tags written (counts) or rankings applied.
    pub writes: usize,
    /// Distinct (tag, day) history entries written.
    pub history_writes: usize,
    /// Rankings published on the top-posts topic (the reaction
    /// consumer's ranker, [`crate::popularity`]).
    pub rankings: usize,
    /// Reactions that came after their window's grace period, counted in
    /// no window ([`crate::windows`]).
    pub late: usize,
}

/// Records of a batch sorted by source and offset, so every partition is
/// processed in order, each offset once; with a report that counts them
/// and the duplicates dropped.
fn sorted_records(batch: &Batch) -> (Vec<&Delivered>, BatchReport) {
    let mut records: Vec<&Delivered> = batch.records.iter().collect();
    records.sort_by(|a, b| (&a.source, a.offset).cmp(&(&b.source, b.offset)));
    let delivered = records.len();
    records.dedup_by(|a, b| a.source == b.source && a.offset == b.offset);
    let report = BatchReport {
        records: delivered,
        duplicates: delivered - records.len(),
        ..BatchReport::default()
    };
    (records, report)
}

/// Decodes a record's JSON value, or says why it cannot be.
fn decode<T: DeserializeOwned>(record: &Delivered) -> Result<T, String> {
    let bytes = record.value.as_ref().map_err(|e| e.reason.clone())?;
    serde_json::from_slice(bytes).map_err(|e| format!("value is not the expected JSON: {e}"))
}

/// Checks a decoded post event as the API checked the post: a record that
/// would not have been accepted (an oversized caption, a bad image URL) is
/// not counted.
fn validate_post_event(event: &SourcedEvent<'_>) -> Result<(), String> {
    let post = &event.event;
    if post.post_id.0 <= 0 || post.user_id.0 <= 0 {
        return Err("post_id and user_id must be positive".into());
    }
    check_caption(&post.caption, event.hashtags()).map_err(|e| e.message)?;
    validate_image_url(&post.image_url).map_err(|e| e.message)
}

/// Logs a record set aside and makes its dead letter, keeping the value
/// as MSK delivers it (base64), cut to [`DEAD_LETTER_VALUE_MAX`].
fn set_aside(record: &Delivered, reason: String) -> DeadLetter {
    tracing::warn!(
        source = &*record.source,
        offset = record.offset,
        reason = reason.as_str(),
        "malformed record set aside"
    );
    let mut value = match &record.value {
        // Four base64 characters per three bytes: encode no more than fits.
        Ok(bytes) => base64::engine::general_purpose::STANDARD
            .encode(&bytes[..bytes.len().min(DEAD_LETTER_VALUE_MAX / 4 * 3)]),
        Err(e) => e.delivered.clone(),
    };
    if value.len() > DEAD_LETTER_VALUE_MAX {
        let mut end = DEAD_LETTER_VALUE_MAX;
        while !value.is_char_boundary(end) {
            end -= 1;
        }
        value.truncate(end);
    }
    DeadLetter {
        source: record.source.to_string(),
        offset: record.offset,
        reason,
        value,
        set_aside_at: rfc3339_ms(crate::domain::now_ms()),
    }
}

/// A batch's post records, decoded: the usable events in (source, offset)
/// order, the dead letters of the others, and the report so far.
pub struct DecodedPosts<'a> {
    /// Events to count.
    pub events: Vec<SourcedEvent<'a>>,
    /// Records set aside.
    pub dead_letters: Vec<DeadLetter>,
    /// `records`, `duplicates`, `processed` and `malformed` filled in.
    pub report: BatchReport,
}

/// Decodes and validates a batch of post events. Pure: benchmarks and tests
/// run the decode-and-aggregate path with it and [`aggregate`].
pub fn decode_posts(batch: &Batch) -> DecodedPosts<'_> {
    let (records, mut report) = sorted_records(batch);
    let mut events = Vec::with_capacity(records.len());
    let mut dead_letters = Vec::new();
    for record in records {
        let event = decode::<PostEvent>(record)
            .map(|e| SourcedEvent::new(&record.source, record.offset, e))
            .and_then(|e| validate_post_event(&e).map(|()| e));
        match event {
            Ok(event) => events.push(event),
            Err(reason) => dead_letters.push(set_aside(record, reason)),
        }
    }
    report.processed = events.len();
    report.malformed = dead_letters.len();
    DecodedPosts {
        events,
        dead_letters,
        report,
    }
}

/// The claims of a batch's events, one per post: its first record.
fn claims(events: &[SourcedEvent<'_>]) -> Vec<PostClaim> {
    let mut seen = HashSet::with_capacity(events.len());
    events
        .iter()
        .filter(|e| seen.insert(e.event.post_id))
        .map(|e| PostClaim {
            post_id: e.event.post_id,
            source: e.source.to_string(),
            offset: e.offset,
        })
        .collect()
}

/// Keeps the events whose record counts their post
/// ([`TagCounter::claim_posts`]); returns how many were dropped as
/// republished. Every consumer of the posts topic agrees on the same
/// record per post, whichever claims first.
async fn keep_claimed<S: TagCounter + ?Sized>(
    store: &S,
    events: &mut Vec<SourcedEvent<'_>>,
) -> Result<usize, StoreError> {
    let claims = claims(events);
    let lost: HashSet<Id> = store.claim_posts(&claims).await?.into_iter().collect();
    let winners: HashSet<(&str, i64)> = claims
        .iter()
        .filter(|c| !lost.contains(&c.post_id))
        .map(|c| (c.source.as_str(), c.offset))
        .collect();
    let before = events.len();
    events.retain(|e| winners.contains(&(e.source, e.offset)));
    Ok(before - events.len())
}

/// Counts the posts of a batch: one hashtag-table update per distinct tag,
/// and one history update per distinct (tag, day) ([`crate::history`]).
///
/// Malformed records go to the dead-letter store and never fail the batch.
/// Each post is counted through one record only ([`TagCounter::claim_posts`]),
/// so a post published twice is counted once. A store error fails the
/// batch; the redelivery is harmless because claims,
/// [`TagCounter::apply_counts`] and [`TagHistory::apply_history`] are
/// idempotent.
pub async fn handle_post_batch<S: TagCounter + TagHistory + DeadLetters + ?Sized>(
    store: &S,
    batch: &Batch,
) -> Result<BatchReport, StoreError> {
    let DecodedPosts {
        mut events,
        dead_letters,
        mut report,
    } = decode_posts(batch);
    if !dead_letters.is_empty() {
        store.set_aside(&dead_letters).await?;
    }
    report.republished = keep_claimed(store, &mut events).await?;
    let contributions = aggregate(&events);
    report.writes = contributions.len();
    let now = crate::domain::now_ms();
    let days = tag_days(&contributions, Day::of_ms(now));
    // Side by side (on DynamoDB the batch takes the longer of the two, not
    // their sum): counts and history keep their own marks, so a failure of
    // either is completed by the redelivery without counting anything twice.
    let (outcome, history_writes) = futures_util::future::try_join(
        store.apply_counts(&contributions),
        store.apply_history(&days, now),
    )
    .await?;
    report.posts_counted = outcome.posts_counted;
    report.conditional_retries = outcome.conditional_retries;
    report.history_writes = history_writes;
    Ok(report)
}

/// Adds the mentions of a batch of posts to the mention graph: one write
/// per distinct (author, mentioned) edge ([`aggregate_mentions`]), each
/// post through the one record that counts it, as the hashtag consumer
/// does. Idempotent under redelivery like the counts (offset marks per
/// edge). A post's mentions weigh from the time of the post (its id's).
pub async fn handle_mention_batch<S: TagCounter + MentionGraph + DeadLetters + ?Sized>(
    store: &S,
    batch: &Batch,
    decay: Decay,
) -> Result<BatchReport, StoreError> {
    let DecodedPosts {
        mut events,
        dead_letters,
        mut report,
    } = decode_posts(batch);
    if !dead_letters.is_empty() {
        store.set_aside(&dead_letters).await?;
    }
    // A caption without `@` mentions nobody: its post needs no claim (a
    // conditional write each), which most posts then never cost twice.
    events.retain(|e| e.event.caption.contains('@'));
    report.republished = keep_claimed(store, &mut events).await?;
    let texts: Vec<MentionText<'_>> = events
        .iter()
        .map(|e| MentionText {
            source: e.source,
            offset: e.offset,
            author: &e.event.author,
            text: &e.event.caption,
            at_ms: id_time_ms(e.event.post_id) as i64,
        })
        .collect();
    let edges = aggregate_mentions(&texts, &decay);
    report.writes = store.apply_mentions(&edges).await?;
    Ok(report)
}

/// Counts a batch of reaction events: per post, the net count per emoji,
/// written once per post per batch, each of the post's numbered changes
/// counted once (a redelivered, replayed or twice-published event adds
/// nothing); and every reaction, the live stream's too, in its event-time
/// window ([`crate::windows`], exact under redelivery by offset marks).
/// Malformed events are set aside and never block their partition. Then,
/// with a `ranker` to publish through, re-ranks the tags of the batch's
/// posts ([`rank_touched_tags`]).
pub async fn handle_reaction_batch<
    S: ReactionCounts + ReactionWindows + RankerState + TagPages + DeadLetters + ?Sized,
>(
    store: &S,
    batch: &Batch,
    windowing: &Windowing,
    ranker: Option<&dyn EventPublisher>,
) -> Result<BatchReport, StoreError> {
    let (records, mut report) = sorted_records(batch);
    let mut dead_letters = Vec::new();
    let mut decoded = Vec::with_capacity(records.len());
    for record in records {
        let value = record.value.as_ref().map_err(|e| e.reason.clone());
        match value.and_then(|bytes| ReactionRecord::decode(bytes)) {
            Ok(reaction) => decoded.push((record, reaction)),
            Err(reason) => dead_letters.push(set_aside(record, reason)),
        }
    }
    report.malformed = dead_letters.len();
    report.processed = decoded.len();
    if !dead_letters.is_empty() {
        store.set_aside(&dead_letters).await?;
    }
    let windowed: Vec<Windowed<'_>> = decoded
        .iter()
        .map(|(record, reaction)| {
            let (emoji, delta, event_ms) = match reaction {
                ReactionRecord::Post(e) => (&e.emoji, i64::from(e.delta), e.at_ms),
                ReactionRecord::Live(l) => (&l.emoji, 1, l.at_ms),
            };
            Windowed {
                source: &record.source,
                offset: record.offset,
                emoji: emoji.as_str(),
                delta,
                event_ms,
                arrived_ms: record.timestamp_ms,
            }
        })
        .collect();
    let (windows, late) = aggregate_windows(&windowed, windowing);
    report.late = late;
    let events: Vec<ReactionEvent> = decoded
        .into_iter()
        .filter_map(|(_, reaction)| match reaction {
            ReactionRecord::Post(event) => Some(event),
            ReactionRecord::Live(_) => None,
        })
        .collect();
    let posts = aggregate_reactions(&events);
    // Side by side: counts and windows keep their own marks, so a failure
    // of either is completed by the redelivery without counting twice.
    let (written, _) = futures_util::future::try_join(
        store.apply_reactions(&posts),
        store.apply_windows(&windows),
    )
    .await?;
    report.writes = written;
    if let Some(publisher) = ranker {
        report.rankings = rank_touched_tags(store, publisher, &events).await?;
    }
    Ok(report)
}

/// Checks a ranking from the popularity service before it reaches a page.
pub fn validate_ranking(ranking: &Ranking) -> Result<(), String> {
    if tag_key(&ranking.tag).is_empty() {
        return Err("ranking has an empty tag".into());
    }
    if !tag_fits(&ranking.tag) {
        return Err(tag_too_long(tag_display(&ranking.tag)).message);
    }
    if parse_rfc3339_ms(&ranking.generated_at).is_none() {
        return Err("generated_at is not an RFC 3339 time".into());
    }
    if ranking.posts.len() > TOP_POSTS {
        return Err(format!("ranking lists more than {TOP_POSTS} posts"));
    }
    for post in &ranking.posts {
        validate_image_url(&post.image_url).map_err(|e| e.message)?;
    }
    Ok(())
}

/// Applies ranking notifications in order; a ranking older than the stored
/// one is ignored by the store.
pub async fn handle_ranking_batch<S: Rankings + DeadLetters + ?Sized>(
    store: &S,
    batch: &Batch,
) -> Result<BatchReport, StoreError> {
    let (records, mut report) = sorted_records(batch);
    let mut dead_letters = Vec::new();
    let mut rankings = Vec::with_capacity(records.len());
    for record in records {
        match decode::<Ranking>(record).and_then(|r| validate_ranking(&r).map(|()| r)) {
            Ok(ranking) => rankings.push(ranking),
            Err(reason) => dead_letters.push(set_aside(record, reason)),
        }
    }
    report.malformed = dead_letters.len();
    if !dead_letters.is_empty() {
        store.set_aside(&dead_letters).await?;
    }
    for ranking in rankings {
        report.processed += 1;
        if store.apply_ranking(&ranking).await? {
            report.writes += 1;
        }
    }
    Ok(report)
}
