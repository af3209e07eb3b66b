//! The MSK edge: an event source mapping's [`KafkaEvent`] turned into the
//! [`Batch`] the consumers take, decoding each record's base64 value here,
//! so the consumers never see MSK's wire format.

use std::sync::Arc;

use aws_lambda_events::event::kafka::KafkaEvent;
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

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lambda_events::event::kafka::KafkaRecord;

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
}
