//! The MSK edge: an event source mapping's [`KafkaEvent`] turned into the
//! [`Batch`] the consumers take, decoding each record's base64 value here,
//! so the consumers never see MSK's wire format.

use std::sync::Arc;

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine;
use hashtag_core::record::{Batch, Delivered, Undecodable};

/// The records of `event`, keyed by their `topic-partition`. A tombstone or
/// a value that is not base64 stays in the batch as undecodable, for the
/// consumer to dead-letter: it never fails the invocation.
pub fn batch(event: &KafkaEvent) -> Batch {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let records = event
        .records
        .iter()
        .flat_map(|(source, records)| {
            let source: Arc<str> = source.as_str().into();
            records.iter().map(move |r| Delivered {
                source: source.clone(),
                offset: r.offset,
                timestamp_ms: r.timestamp.0.timestamp_millis(),
                value: match &r.value {
                    None => Err(Undecodable {
                        reason: "tombstone (no value)".into(),
                        delivered: String::new(),
                    }),
                    Some(v) => b64.decode(v).map_err(|e| Undecodable {
                        reason: format!("value is not base64: {e}"),
                        delivered: v.clone(),
                    }),
                },
            })
        })
        .collect();
    Batch { records }
}

/// A batch as an MSK event source mapping delivers it: records grouped
/// under `topic-partition`, values base64-encoded (the inverse of
/// [`batch`]). The local event source mapping (`hashtag trigger`) invokes
/// the consumer functions with it.
pub fn event(batch: &Batch) -> KafkaEvent {
    let b64 = &base64::engine::general_purpose::STANDARD;
    let mut event = KafkaEvent::default();
    event.event_source = Some("aws:kafka".into());
    event.event_source_arn = Some("arn:local:kafka:hashtag".into());
    for r in &batch.records {
        let (topic, partition) = r.source.rsplit_once('-').unwrap_or((&r.source, "0"));
        let mut rec = KafkaRecord::default();
        rec.topic = Some(topic.to_string());
        rec.partition = partition.parse().unwrap_or_default();
        rec.offset = r.offset;
        rec.timestamp = MillisecondTimestamp(
            chrono::DateTime::from_timestamp_millis(r.timestamp_ms).unwrap_or_default(),
        );
        rec.timestamp_type = Some("CREATE_TIME".into());
        rec.value = match &r.value {
            Ok(bytes) => Some(b64.encode(bytes)),
            Err(e) if e.delivered.is_empty() => None,
            Err(e) => Some(e.delivered.clone()),
        };
        event
            .records
            .entry(r.source.to_string())
            .or_default()
            .push(rec);
    }
    event
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::kafka::KafkaRecord;
    use hashtag_core::record::LogRecord;

    #[test]
    fn values_are_decoded_and_bad_ones_kept_with_their_reason() {
        let record = |offset, value: Option<&str>| {
            let mut r = KafkaRecord::default();
            r.offset = offset;
            r.value = value.map(String::from);
            r
        };
        let mut event = KafkaEvent::default();
        event.records.insert(
            "posts-1".into(),
            vec![
                record(1, Some("e30=")),
                record(2, Some("!!")),
                record(3, None),
            ],
        );
        let batch = batch(&event);
        assert_eq!(batch.records.len(), 3);
        assert!(batch.records.iter().all(|r| &*r.source == "posts-1"));
        assert_eq!(batch.records[0].value, Ok(b"{}".to_vec()));
        let bad = batch.records[1].value.as_ref().unwrap_err();
        assert!(bad.reason.contains("not base64") && bad.delivered == "!!");
        let tombstone = batch.records[2].value.as_ref().unwrap_err();
        assert!(tombstone.reason.contains("tombstone"));
    }

    #[test]
    fn an_event_of_log_records_decodes_to_their_batch() {
        let records = [0, 1].map(|offset| LogRecord {
            partition: 3,
            offset,
            key: Some(b"k".to_vec()),
            value: format!("v{offset}").into_bytes(),
            timestamp_ms: 1_700_000_000_000,
        });
        let sent = Batch::from_log("posts", &records);
        let event = event(&sent);
        assert_eq!(event.records["posts-3"].len(), 2);
        assert_eq!(batch(&event), sent);
    }
}
