//! Feeds a Kafka handler from a record source (the embedded event log, or a
//! Kafka broker) the way an MSK event source mapping does: a batch goes out
//! once `batch_size` records wait or `window` has passed since the first,
//! and offsets are committed only after the handler succeeds. A failing
//! batch is retried with backoff, never skipped.
//!
//! Under lag the batches grow: a batch takes every waiting record up to
//! `max_batch_size`, so a backlog is drained in a few large batches (whose
//! per-batch writes amortise over more records) rather than in many of
//! `batch_size`, and once the backlog is gone batches shrink back to what
//! arrives within a window. With `max_batch_size == batch_size` the poller
//! never exceeds the configured size, as an event source mapping does not.

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

    async fn backlog(&self, group: &str, topic: &str) -> Result<u64, StoreError> {
        EventLog::backlog(self, group, topic).await
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
    /// Records that make a batch go out before the window ends (MSK's
    /// `BatchSize`, default 100).
    pub batch_size: usize,
    /// Most records per batch when more are waiting (at least
    /// `batch_size`; MSK's largest batch size is 10,000).
    pub max_batch_size: usize,
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
    let most = cfg.max_batch_size.max(cfg.batch_size);
    while !*shutdown.borrow() {
        let records = match log.fetch(&cfg.group, &cfg.topic, most).await {
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

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    /// A fresh event log in the temporary directory, removed on drop.
    struct TempLog(std::path::PathBuf);

    impl TempLog {
        fn new(name: &str) -> (TempLog, EventLog) {
            let dir = std::env::temp_dir().join(format!(
                "hashtag-poller-{name}-{}-{}",
                std::process::id(),
                hashtag_core::domain::now_ms()
            ));
            std::fs::create_dir_all(&dir).unwrap();
            let log = EventLog::open(&dir.join("posts.db"), 4).unwrap();
            (TempLog(dir), log)
        }
    }

    impl Drop for TempLog {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// The sizes of the batches a poller hands over while draining a
    /// backlog of `backlog` records.
    async fn batches_draining(backlog: usize, batch_size: usize, max: usize) -> Vec<usize> {
        let (_dir, log) = TempLog::new(&format!("{batch_size}-{max}"));
        for i in 0..backlog {
            log.publish("t", i.to_string().into_bytes(), b"{}".to_vec())
                .await
                .unwrap();
        }
        assert_eq!(log.backlog("g", "t").await.unwrap(), backlog as u64);
        let sizes = Arc::new(Mutex::new(Vec::new()));
        let (stop, stopped) = watch::channel(false);
        let stop = Arc::new(stop);
        let handler: BatchHandler = {
            let (sizes, stop) = (sizes.clone(), stop.clone());
            Arc::new(move |batch: Batch| {
                let mut sizes = sizes.lock().unwrap();
                sizes.push(batch.records.len());
                if sizes.iter().sum::<usize>() >= backlog {
                    let _ = stop.send(true);
                }
                Box::pin(async { Ok(BatchReport::default()) })
            })
        };
        let cfg = PollerConfig {
            group: "g".into(),
            topic: "t".into(),
            batch_size,
            max_batch_size: max,
            window: Duration::from_millis(500),
        };
        let source: Arc<dyn RecordSource> = Arc::new(log.clone());
        tokio::time::timeout(Duration::from_secs(30), run(source, cfg, handler, stopped))
            .await
            .expect("the poller drains the backlog");
        assert_eq!(log.backlog("g", "t").await.unwrap(), 0, "all committed");
        let sizes = sizes.lock().unwrap().clone();
        sizes
    }

    #[tokio::test]
    async fn a_backlog_is_taken_in_one_large_batch() {
        assert_eq!(batches_draining(2_500, 100, 10_000).await, vec![2_500]);
    }

    #[tokio::test]
    async fn batches_never_exceed_the_largest_size() {
        let sizes = batches_draining(2_500, 100, 1_000).await;
        assert_eq!(sizes, vec![1_000, 1_000, 500]);
        let sizes = batches_draining(250, 100, 100).await;
        assert_eq!(sizes, vec![100, 100, 50]);
    }
}
