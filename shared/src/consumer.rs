//! The Kafka-triggered handlers: the hashtag counter and the ranking
//! consumer. They take MSK-shaped [`KafkaEvent`]s, so the same functions run
//! behind an MSK event source mapping on Lambda and behind the embedded
//! event-log poller on one machine.

use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::aggregate::{aggregate, SourcedEvent, TagContribution};
use crate::domain::{parse_rfc3339_ms, validate_image_url, PostEvent, Ranking, TOP_POSTS};
use crate::extract::tag_key;
use crate::ports::{HashtagStore, StoreError};

/// What one invocation did; logged, and returned as the Lambda's result.
#[derive(Debug, Default, Clone, PartialEq, Eq, Serialize)]
pub struct BatchReport {
    /// Records in the event.
    pub records: usize,
    /// Records decoded and processed.
    pub processed: usize,
    /// Records set aside because they could not be decoded or were invalid.
    pub malformed: usize,
    /// Records delivered more than once within the event (same partition and offset).
    pub duplicates: usize,
    /// Distinct tags written (counts) or rankings applied.
    pub writes: usize,
}

/// Records of an event as (`topic-partition`, record), sorted by source and
/// offset so every partition is processed in order, each offset once; with
/// a report that counts them and the duplicates dropped.
fn sorted_records(event: &KafkaEvent) -> (Vec<(&str, &KafkaRecord)>, BatchReport) {
    let mut records: Vec<(&str, &KafkaRecord)> = event
        .records
        .iter()
        .flat_map(|(source, recs)| recs.iter().map(move |r| (source.as_str(), r)))
        .collect();
    records.sort_by(|a, b| (a.0, a.1.offset).cmp(&(b.0, b.1.offset)));
    let delivered = records.len();
    records.dedup_by(|a, b| a.0 == b.0 && a.1.offset == b.1.offset);
    let report = BatchReport {
        records: delivered,
        duplicates: delivered - records.len(),
        ..BatchReport::default()
    };
    (records, report)
}

/// Decodes a record's base64 JSON value, or says why it cannot be.
fn decode<T: DeserializeOwned>(record: &KafkaRecord) -> Result<T, String> {
    let value = record.value.as_deref().ok_or("tombstone (no value)")?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(value)
        .map_err(|e| format!("value is not base64: {e}"))?;
    serde_json::from_slice(&bytes).map_err(|e| format!("value is not the expected JSON: {e}"))
}

fn set_aside(source: &str, record: &KafkaRecord, reason: &str) {
    tracing::warn!(
        source,
        offset = record.offset,
        reason,
        "malformed record set aside"
    );
}

/// What a batch adds to the hashtag table, one contribution per distinct
/// tag, with the report so far (`writes` set). Pure: no store involved, so
/// benchmarks and tests can run the whole decode-and-aggregate path.
/// Malformed records are logged and skipped.
pub fn post_batch_contributions(event: &KafkaEvent) -> (Vec<TagContribution>, BatchReport) {
    let (records, mut report) = sorted_records(event);
    let mut decoded = Vec::with_capacity(records.len());
    for (source, record) in records {
        match decode::<PostEvent>(record) {
            Ok(event) => decoded.push(SourcedEvent {
                source,
                offset: record.offset,
                event,
            }),
            Err(reason) => {
                report.malformed += 1;
                set_aside(source, record, &reason);
            }
        }
    }
    report.processed = decoded.len();
    let contributions = aggregate(&decoded);
    report.writes = contributions.len();
    (contributions, report)
}

/// Counts the posts of a batch: one hashtag-table update per distinct tag.
/// Malformed records never fail the batch; a store error fails it, and the
/// redelivery is harmless because [`HashtagStore::apply_counts`] is
/// idempotent.
pub async fn handle_post_batch(
    store: &dyn HashtagStore,
    event: &KafkaEvent,
) -> Result<BatchReport, StoreError> {
    let (contributions, report) = post_batch_contributions(event);
    store.apply_counts(&contributions).await?;
    Ok(report)
}

/// Checks a ranking from the popularity service before it reaches a page.
pub fn validate_ranking(ranking: &Ranking) -> Result<(), String> {
    if tag_key(&ranking.tag).is_empty() {
        return Err("ranking has an empty tag".into());
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
pub async fn handle_ranking_batch(
    store: &dyn HashtagStore,
    event: &KafkaEvent,
) -> Result<BatchReport, StoreError> {
    let (records, mut report) = sorted_records(event);
    for (source, record) in records {
        let ranking = decode::<Ranking>(record).and_then(|r| validate_ranking(&r).map(|()| r));
        match ranking {
            Ok(ranking) => {
                report.processed += 1;
                if store.apply_ranking(&ranking).await? {
                    report.writes += 1;
                }
            }
            Err(reason) => {
                report.malformed += 1;
                set_aside(source, record, &reason);
            }
        }
    }
    Ok(report)
}
