//! Feeds a Kafka handler from a record source (the embedded event log, or a
//! Kafka broker) the way an MSK event source mapping does: batches of up to
//! `batch_size` records, waiting at most `window` to fill one, and
//! committing offsets only after the handler succeeds. A failing batch is
//! retried with backoff, never skipped.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use tokio::sync::watch;
use tokio::time::{sleep, Instant};

use super::event_log::EventLog;
use hashtag_core::consumer::BatchReport;
use hashtag_core::ports::{RecordSource, StoreError};
use hashtag_core::record::{Batch, LogRecord};

/// A consumer, such as [`hashtag_core::consumer::handle_post_batch`].
pub type BatchHandler = Arc<
    dyn Fn(Batch) -> Pin<Box<dyn Future<Output = Result<BatchReport, StoreError>> + Send>>
        + Send
        + Sync,
>;

#[async_trait]
impl RecordSource for EventLog {
    async fn fetch(
        &self,
        group: &str,
        topic: &str,
        max: usize,
    ) -> Result<Vec<LogRecord>, StoreError> {
        EventLog::fetch(self, group, topic, max).await
    }

    async fn commit(
        &self,
        group: &str,
        topic: &str,
        records: &[LogRecord],
    ) -> Result<(), StoreError> {
        EventLog::commit(self, group, topic, records).await
    }

    async fn wait_for_records(&self) {
        // Local appends signal; other processes' appends are polled for.
        let appended = self.appended();
        tokio::select! {
            _ = appended.notified() => {}
            _ = sleep(IDLE_POLL) => {}
        }
    }
}

/// How a poller batches, like an event source mapping's settings.
#[derive(Debug, Clone)]
pub struct PollerConfig {
    /// Consumer group whose offsets are committed.
    pub group: String,
    /// Topic read.
    pub topic: String,
    /// Most records per batch (MSK default 100).
    pub batch_size: usize,
    /// Longest wait to fill a batch (MSK default 500 ms).
    pub window: Duration,
}

/// How often to look for records appended elsewhere.
const IDLE_POLL: Duration = Duration::from_millis(200);
/// Longest wait between retries of a failing batch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

/// Runs until `shutdown` turns true; the batch in flight completes first.
pub async fn run(
    log: Arc<dyn RecordSource>,
    cfg: PollerConfig,
    handler: BatchHandler,
    mut shutdown: watch::Receiver<bool>,
) {
    let mut first_seen: Option<Instant> = None;
    let mut backoff = Duration::from_millis(50);
    while !*shutdown.borrow() {
        let records = match log.fetch(&cfg.group, &cfg.topic, cfg.batch_size).await {
            Ok(records) => records,
            Err(e) => {
                tracing::error!(topic = %cfg.topic, error = %e, "event log read failed");
                pause(&mut shutdown, MAX_BACKOFF).await;
                continue;
            }
        };
        if records.is_empty() {
            tokio::select! {
                _ = log.wait_for_records() => {}
                _ = shutdown.changed() => {}
            }
            continue;
        }
        if records.len() < cfg.batch_size {
            let deadline = *first_seen.get_or_insert_with(Instant::now) + cfg.window;
            let now = Instant::now();
            if now < deadline {
                pause(
                    &mut shutdown,
                    (deadline - now).min(Duration::from_millis(50)),
                )
                .await;
                continue;
            }
        }
        first_seen = None;
        let started = Instant::now();
        match handler(Batch::from_log(&cfg.topic, &records)).await {
            Ok(report) => {
                if let Err(e) = log.commit(&cfg.group, &cfg.topic, &records).await {
                    // The batch will be delivered again; the handler is idempotent.
                    tracing::error!(topic = %cfg.topic, error = %e, "offset commit failed");
                    continue;
                }
                backoff = Duration::from_millis(50);
                tracing::debug!(topic = %cfg.topic, ?report, elapsed_ms = started.elapsed().as_millis() as u64, "batch done");
            }
            Err(e) => {
                tracing::warn!(topic = %cfg.topic, error = %e, retry_in_ms = backoff.as_millis() as u64, "batch failed; retrying");
                pause(&mut shutdown, backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
}

async fn pause(shutdown: &mut watch::Receiver<bool>, d: Duration) {
    tokio::select! {
        _ = sleep(d) => {}
        _ = shutdown.changed() => {}
    }
}
