//! Pipeline metrics of the consumers: records in, posts counted, malformed
//! records, conditional-update retries, batch latency. On Lambda each batch
//! prints one CloudWatch embedded-metric-format line ([`emf_line`]), which
//! CloudWatch turns into metrics without an API call; the single-machine
//! server keeps running totals ([`PipelineMetrics`]) served as Prometheus
//! text on `GET /metrics`.

use std::collections::BTreeMap;
use std::fmt::Write;
use std::sync::Mutex;
use std::time::Duration;

use crate::consumer::BatchReport;

/// CloudWatch namespace of the service's metrics.
pub const NAMESPACE: &str = "HashtagService";

/// Upper bounds (seconds) of the batch-latency histogram buckets.
const LATENCY_BUCKETS: [f64; 10] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0];

/// The counters of a report, as (metric name, help, value).
fn counters(report: &BatchReport) -> [(&'static str, &'static str, usize); 6] {
    [
        (
            "records_in",
            "Records delivered to the consumer.",
            report.records,
        ),
        (
            "posts_counted",
            "(tag, post) pairs newly counted.",
            report.posts_counted,
        ),
        (
            "malformed_records",
            "Records set aside as dead letters.",
            report.malformed,
        ),
        (
            "duplicate_records",
            "Records delivered again within a batch.",
            report.duplicates,
        ),
        (
            "republished_posts",
            "Records of posts already counted through another record.",
            report.republished,
        ),
        (
            "conditional_retries",
            "Conditional counter updates retried.",
            report.conditional_retries,
        ),
    ]
}

/// One consumer's running totals.
#[derive(Default)]
struct Totals {
    batches: u64,
    failed_batches: u64,
    counters: BTreeMap<&'static str, (&'static str, u64)>,
    /// Per bucket of [`LATENCY_BUCKETS`], then +Inf.
    latency_buckets: [u64; LATENCY_BUCKETS.len() + 1],
    latency_sum: f64,
}

/// Running totals per consumer, for `GET /metrics`.
#[derive(Default)]
pub struct PipelineMetrics {
    consumers: Mutex<BTreeMap<&'static str, Totals>>,
}

impl PipelineMetrics {
    /// Records one batch of `consumer`: its report if it succeeded, and how
    /// long it took either way.
    pub fn observe(&self, consumer: &'static str, report: Option<&BatchReport>, elapsed: Duration) {
        let mut consumers = self.consumers.lock().unwrap_or_else(|e| e.into_inner());
        let totals = consumers.entry(consumer).or_default();
        totals.batches += 1;
        match report {
            Some(report) => {
                for (name, help, value) in counters(report) {
                    totals.counters.entry(name).or_insert((help, 0)).1 += value as u64;
                }
            }
            None => totals.failed_batches += 1,
        }
        let secs = elapsed.as_secs_f64();
        let bucket = LATENCY_BUCKETS
            .iter()
            .position(|&le| secs <= le)
            .unwrap_or(LATENCY_BUCKETS.len());
        totals.latency_buckets[bucket] += 1;
        totals.latency_sum += secs;
    }

    /// The totals in the Prometheus text exposition format, with each
    /// consumer's lag (records not yet handled) where it could be read.
    pub fn prometheus(&self, lag: &[(&str, u64)]) -> String {
        let consumers = self.consumers.lock().unwrap_or_else(|e| e.into_inner());
        let mut out = String::new();
        let mut family =
            |name: &str, kind: &str, help: &str, samples: &mut dyn Iterator<Item = String>| {
                let _ = writeln!(
                    out,
                    "# HELP hashtag_{name} {help}\n# TYPE hashtag_{name} {kind}"
                );
                for sample in samples {
                    let _ = writeln!(out, "{sample}");
                }
            };
        let names: Vec<(&str, &str)> = counters(&BatchReport::default())
            .iter()
            .map(|(n, h, _)| (*n, *h))
            .collect();
        for (name, help) in names {
            family(
                name,
                "counter",
                help,
                &mut consumers.iter().map(|(c, t)| {
                    let v = t.counters.get(name).map_or(0, |(_, v)| *v);
                    format!("hashtag_{name}_total{{consumer=\"{c}\"}} {v}")
                }),
            );
        }
        family(
            "failed_batches",
            "counter",
            "Batches that failed and will be retried.",
            &mut consumers.iter().map(|(c, t)| {
                format!(
                    "hashtag_failed_batches_total{{consumer=\"{c}\"}} {}",
                    t.failed_batches
                )
            }),
        );
        family("batch_latency_seconds", "histogram", "Time to handle a batch.", &mut consumers.iter().flat_map(|(c, t)| {
            let mut cumulative = 0;
            let mut lines: Vec<String> = LATENCY_BUCKETS
                .iter()
                .map(|le| le.to_string())
                .chain(["+Inf".to_string()])
                .zip(t.latency_buckets)
                .map(|(le, n)| {
                    cumulative += n;
                    format!("hashtag_batch_latency_seconds_bucket{{consumer=\"{c}\",le=\"{le}\"}} {cumulative}")
                })
                .collect();
            lines.push(format!("hashtag_batch_latency_seconds_sum{{consumer=\"{c}\"}} {}", t.latency_sum));
            lines.push(format!("hashtag_batch_latency_seconds_count{{consumer=\"{c}\"}} {}", t.batches));
            lines
        }));
        family(
            "consumer_lag_records",
            "gauge",
            "Records of the consumer's topic it has not handled yet.",
            &mut lag
                .iter()
                .map(|(c, n)| format!("hashtag_consumer_lag_records{{consumer=\"{c}\"}} {n}")),
        );
        out
    }
}

/// One batch as a CloudWatch embedded-metric-format log line: its report,
/// or `None` for a batch that failed (then only `FailedBatches` and the
/// latency), printed before the error goes back to the event source
/// mapping, so an alarm on `FailedBatches` sees every retry.
pub fn emf_line(consumer: &str, report: Option<&BatchReport>, elapsed: Duration) -> String {
    let mut root = serde_json::Map::new();
    let mut metrics = vec![
        serde_json::json!({"Name": "BatchLatency", "Unit": "Milliseconds"}),
        serde_json::json!({"Name": "FailedBatches", "Unit": "Count"}),
    ];
    root.insert("FailedBatches".into(), u8::from(report.is_none()).into());
    for (name, _, value) in report.map(counters).into_iter().flatten() {
        let name = camel(name);
        metrics.push(serde_json::json!({"Name": name, "Unit": "Count"}));
        root.insert(name, value.into());
    }
    root.insert(
        "BatchLatency".into(),
        (elapsed.as_secs_f64() * 1000.0).into(),
    );
    root.insert("Consumer".into(), consumer.into());
    root.insert(
        "_aws".into(),
        serde_json::json!({
            "Timestamp": chrono::Utc::now().timestamp_millis(),
            "CloudWatchMetrics": [{
                "Namespace": NAMESPACE,
                "Dimensions": [["Consumer"]],
                "Metrics": metrics,
            }],
        }),
    );
    serde_json::Value::Object(root).to_string()
}

/// `records_in` -> `RecordsIn`.
fn camel(snake: &str) -> String {
    snake
        .split('_')
        .map(|w| {
            let mut c = w.chars();
            c.next()
                .map(|f| f.to_ascii_uppercase().to_string() + c.as_str())
                .unwrap_or_default()
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report() -> BatchReport {
        BatchReport {
            records: 10,
            processed: 8,
            malformed: 2,
            posts_counted: 12,
            conditional_retries: 1,
            ..BatchReport::default()
        }
    }

    #[test]
    fn prometheus_text_sums_batches_and_fills_the_histogram() {
        let m = PipelineMetrics::default();
        m.observe(
            "hashtag-consumer",
            Some(&report()),
            Duration::from_millis(20),
        );
        m.observe(
            "hashtag-consumer",
            Some(&report()),
            Duration::from_millis(3),
        );
        m.observe("hashtag-consumer", None, Duration::from_secs(20));
        let text = m.prometheus(&[("hashtag-consumer", 7)]);
        for line in [
            "hashtag_records_in_total{consumer=\"hashtag-consumer\"} 20",
            "hashtag_consumer_lag_records{consumer=\"hashtag-consumer\"} 7",
            "hashtag_malformed_records_total{consumer=\"hashtag-consumer\"} 4",
            "hashtag_conditional_retries_total{consumer=\"hashtag-consumer\"} 2",
            "hashtag_failed_batches_total{consumer=\"hashtag-consumer\"} 1",
            "hashtag_batch_latency_seconds_bucket{consumer=\"hashtag-consumer\",le=\"0.005\"} 1",
            "hashtag_batch_latency_seconds_bucket{consumer=\"hashtag-consumer\",le=\"0.025\"} 2",
            "hashtag_batch_latency_seconds_bucket{consumer=\"hashtag-consumer\",le=\"10\"} 2",
            "hashtag_batch_latency_seconds_bucket{consumer=\"hashtag-consumer\",le=\"+Inf\"} 3",
            "hashtag_batch_latency_seconds_count{consumer=\"hashtag-consumer\"} 3",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line} in\n{text}");
        }
    }

    #[test]
    fn emf_line_declares_every_value_it_carries() {
        let line = emf_line(
            "hashtag-consumer",
            Some(&report()),
            Duration::from_millis(7),
        );
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        let declared = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(declared["Namespace"], NAMESPACE);
        assert_eq!(declared["Dimensions"][0][0], "Consumer");
        assert_eq!(v["Consumer"], "hashtag-consumer");
        for m in declared["Metrics"].as_array().unwrap() {
            let name = m["Name"].as_str().unwrap();
            assert!(v[name].is_number(), "{name} declared but not set");
        }
        assert_eq!(v["RecordsIn"], 10);
        assert_eq!(v["MalformedRecords"], 2);
        assert_eq!(v["PostsCounted"], 12);
        assert_eq!(v["BatchLatency"], 7.0);
        assert_eq!(v["FailedBatches"], 0);
    }

    #[test]
    fn a_failed_batch_is_counted_in_its_emf_line() {
        let line = emf_line("hashtag-consumer", None, Duration::from_millis(3));
        let v: serde_json::Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["FailedBatches"], 1);
        assert!(v.get("RecordsIn").is_none());
        let declared = v["_aws"]["CloudWatchMetrics"][0]["Metrics"]
            .as_array()
            .unwrap();
        assert!(declared
            .iter()
            .all(|m| v[m["Name"].as_str().unwrap()].is_number()));
    }
}
