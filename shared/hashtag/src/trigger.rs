//! `hashtag trigger`: a local MSK event source mapping. It reads a topic of
//! the local stack's broker in batches, as the mapping does (batch size,
//! batching window, offsets committed only after success), and invokes a
//! consumer function with each batch as an MSK event through the Lambda
//! Invoke API of `cargo lambda watch`, which runs the function on the real
//! runtime API. `scripts/local-api` runs one per consumer in the template.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;

use hashtag_core::consumer::BatchReport;
use hashtag_core::ports::{RecordSource, StoreError};
use hashtag_core::record::Batch;
use hashtag_embedded::poller::{self, BatchHandler, PollerConfig};
use hashtag_kafka::KafkaSource;

use crate::wiring::{kafka, wait_for_signal};
use crate::Trigger;

/// Invokes `function` at `invoke` (`host:port` of `cargo lambda watch`)
/// with `batch` as an MSK event; a function error fails the batch.
async fn invoke(invoke: &str, function: &str, batch: Batch) -> Result<BatchReport, StoreError> {
    let failed = |what: String| StoreError::Backend(format!("invoking {function}: {what}"));
    let event = serde_json::to_vec(&hashtag_lambda::msk::event(&batch))
        .map_err(|e| failed(e.to_string()))?;
    let stream = tokio::net::TcpStream::connect(invoke)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .map_err(|e| failed(e.to_string()))?;
    tokio::spawn(conn);
    let req = Request::post(format!("/2015-03-31/functions/{function}/invocations"))
        .header(http::header::HOST, invoke)
        .header(http::header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(event)))
        .map_err(|e| failed(e.to_string()))?;
    let res = send
        .send_request(req)
        .await
        .map_err(|e| failed(e.to_string()))?;
    let (status, function_error) = (
        res.status(),
        res.headers().contains_key("x-amz-function-error"),
    );
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| failed(e.to_string()))?
        .to_bytes();
    let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
    if status != StatusCode::OK || function_error || answer.get("errorType").is_some() {
        return Err(failed(format!(
            "{status}: {}",
            String::from_utf8_lossy(&body)
        )));
    }
    tracing::debug!(function, %answer, "batch invoked");
    Ok(BatchReport::default())
}

/// Runs the mapping until Ctrl-C or SIGTERM.
pub async fn run(options: Trigger) -> Result<(), String> {
    let config = hashtag_aws::sdk_config().await;
    let records: Arc<dyn RecordSource> = Arc::new(KafkaSource::new(kafka(&config).await?));
    let (target, function) = (Arc::new(options.invoke), Arc::new(options.function));
    let handler: BatchHandler = {
        let function = function.clone();
        Arc::new(move |batch| {
            let (target, function) = (target.clone(), function.clone());
            Box::pin(async move { invoke(&target, &function, batch).await })
        })
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop.send(true);
    });
    let config = PollerConfig {
        group: function.to_string(),
        topic: options.topic,
        batch_size: options.batch_size,
        // An event source mapping never exceeds its batch size.
        max_batch_size: options.batch_size,
        window: Duration::from_millis(options.batching_window_ms),
    };
    println!("triggering {function} from {}", config.topic);
    poller::run(records, config, handler, stopped).await;
    Ok(())
}
