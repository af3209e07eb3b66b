//! Records as consumers receive them, independent of where they were read:
//! a Kafka topic through an MSK event source mapping (whose adapter decodes
//! the base64 values at its edge), or the embedded event log (whose records
//! are bytes already).

use std::sync::Arc;

/// One record read from a topic partition by a [`crate::ports::RecordSource`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogRecord {
    /// Partition within the topic.
    pub partition: u32,
    /// Dense offset within the partition, from 0.
    pub offset: i64,
    /// Partitioning key.
    pub key: Option<Vec<u8>>,
    /// Payload.
    pub value: Vec<u8>,
    /// Append time, Unix milliseconds.
    pub timestamp_ms: i64,
}

/// Why a delivered record has no usable value, with the value as it came.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undecodable {
    /// Logged and kept in the dead letter.
    pub reason: String,
    /// The value as delivered (for MSK, the text that was not base64).
    pub delivered: String,
}

/// One record of a batch: where it was read and its value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    /// `topic-partition`, as MSK keys its records; shared by the records
    /// of one partition.
    pub source: Arc<str>,
    /// Offset within the partition.
    pub offset: i64,
    /// When the record entered its topic (its Kafka timestamp), Unix
    /// milliseconds: what decides whether a reaction is too late for its
    /// window ([`crate::windows`]), alike on every delivery.
    pub timestamp_ms: i64,
    /// The value's bytes, or why there are none (a tombstone, bad base64).
    pub value: Result<Vec<u8>, Undecodable>,
}

/// The records one consumer invocation handles, in any order, possibly
/// with repeats (delivery is at least once); the consumers sort them by
/// partition and offset and drop the repeats.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Batch {
    /// The records.
    pub records: Vec<Delivered>,
}

impl Batch {
    /// The batch of `records` read from `topic`.
    pub fn from_log(topic: &str, records: &[LogRecord]) -> Batch {
        let mut sources: Vec<(u32, Arc<str>)> = Vec::new();
        let records = records
            .iter()
            .map(|r| {
                let source = match sources.iter().find(|(p, _)| *p == r.partition) {
                    Some((_, s)) => s.clone(),
                    None => {
                        let s: Arc<str> = format!("{topic}-{}", r.partition).into();
                        sources.push((r.partition, s.clone()));
                        s
                    }
                };
                Delivered {
                    source,
                    offset: r.offset,
                    timestamp_ms: r.timestamp_ms,
                    value: Ok(r.value.clone()),
                }
            })
            .collect();
        Batch { records }
    }
}
