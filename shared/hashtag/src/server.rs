//! The single-machine server: serves every route through the shared router
//! and runs the Kafka consumers in-process, on the embedded event log or on
//! a Kafka broker. `GET /metrics` answers the consumers' metrics in the
//! Prometheus text format.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::watch;

use std::future::Future;
use std::pin::Pin;
use std::time::Instant;

use hashtag_core::consumer::{
    handle_mention_batch, handle_post_batch, handle_ranking_batch, handle_reaction_batch,
    BatchReport,
};
use hashtag_core::domain::POSTS_TOPIC;
use hashtag_core::mentions::Decay;
use hashtag_core::metrics::PipelineMetrics;
use hashtag_core::popularity::top_posts_topic;
use hashtag_core::ports::RecordSource;
use hashtag_core::ports::StoreError;
use hashtag_core::ports::{EventPublisher, HashtagStore};
use hashtag_core::reactions::REACTIONS_TOPIC;
use hashtag_core::record::Batch;
use hashtag_core::windows::Windowing;
use hashtag_embedded::poller::{self, BatchHandler, PollerConfig};
use hashtag_http::auth::ClientAddr;
use hashtag_http::{route, ApiError, App};

use crate::wiring::Serving;

/// Batching of the in-process consumers.
#[derive(Debug, Clone)]
pub struct ConsumerSettings {
    /// Records that make a batch go out before the window ends.
    pub batch_size: usize,
    /// Most records per batch while a backlog waits.
    pub max_batch_size: usize,
    /// Longest wait to fill a batch.
    pub window: Duration,
}

/// Reads a hyper request's body into the `Request<Bytes>` the handlers
/// take, enforcing the body limit while reading.
async fn read_request(req: Request<Incoming>, max_body: usize) -> Result<Request<Bytes>, ApiError> {
    let (parts, body) = req.into_parts();
    let bytes = Limited::new(body, max_body)
        .collect()
        .await
        .map_err(|e| {
            if e.is::<http_body_util::LengthLimitError>() {
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "payload_too_large",
                    format!("request bodies are limited to {max_body} bytes"),
                )
            } else {
                ApiError::bad_request("unreadable_body", "the request body could not be read")
            }
        })?
        .to_bytes();
    Ok(Request::from_parts(parts, bytes))
}

/// What `GET /metrics` reports: the consumers' totals and their lag.
struct Monitor {
    metrics: Arc<PipelineMetrics>,
    records: Arc<dyn RecordSource>,
}

impl Monitor {
    /// The metrics in the Prometheus text format; a consumer whose lag
    /// cannot be read (the broker is down) is left out of the lag gauge.
    async fn prometheus(&self) -> String {
        let mut lag = Vec::with_capacity(CONSUMERS.len());
        for c in &CONSUMERS {
            match self.records.backlog(c.group, (c.topic)()).await {
                Ok(n) => lag.push((c.name, n)),
                Err(e) => tracing::warn!(consumer = c.name, error = %e, "lag unreadable"),
            }
        }
        self.metrics.prometheus(&lag)
    }
}

async fn handle(
    app: Arc<App>,
    monitor: Arc<Monitor>,
    body_timeout: Duration,
    peer: SocketAddr,
    mut req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    req.extensions_mut().insert(ClientAddr(peer.ip()));
    if req.uri().path() == "/metrics" && req.method() == http::Method::GET {
        let res = Response::builder()
            .header(http::header::CONTENT_TYPE, "text/plain; version=0.0.4")
            .body(Full::new(Bytes::from(monitor.prometheus().await)))
            .unwrap_or_default();
        return Ok(res);
    }
    let limit = app.body_limit(req.uri().path());
    let read = tokio::time::timeout(body_timeout, read_request(req, limit)).await;
    let res = match read {
        Ok(Ok(req)) => route(&app, req).await,
        Ok(Err(e)) => e.into_response(),
        Err(_) => {
            let mut res = ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the body did not arrive within {body_timeout:?}"),
            )
            .into_response();
            // The rest of the body would be read as the next request.
            res.headers_mut().insert(
                http::header::CONNECTION,
                http::HeaderValue::from_static("close"),
            );
            res
        }
    };
    Ok(res.map(Full::new))
}

/// What the in-process consumers write to and publish through.
struct Outputs {
    store: Arc<dyn HashtagStore>,
    /// The ranker's.
    publisher: Arc<dyn EventPublisher>,
    /// The reaction windows'.
    windowing: Windowing,
}

/// A consumer function of the library, such as [`handle_post_batch`].
type ConsumerFn =
    for<'a> fn(
        &'a Outputs,
        &'a Batch,
    ) -> Pin<Box<dyn Future<Output = Result<BatchReport, StoreError>> + Send + 'a>>;

/// A consumer that records each batch in `metrics`.
fn consumer(
    name: &'static str,
    outputs: Arc<Outputs>,
    metrics: Arc<PipelineMetrics>,
    handle: ConsumerFn,
) -> BatchHandler {
    Arc::new(move |event| {
        let (outputs, metrics) = (outputs.clone(), metrics.clone());
        Box::pin(async move {
            let started = Instant::now();
            let result = handle(&outputs, &event).await;
            metrics.observe(name, result.as_ref().ok(), started.elapsed());
            result
        })
    })
}

/// How the server treats connections, so that slow or idle clients cannot
/// hold it: see `hashtag serve --help` and the README.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Longest wait for a request's headers, from the connection's start or
    /// the end of its previous response (so also the keep-alive idle
    /// timeout); then the connection is closed.
    pub header_timeout: Duration,
    /// Longest wait for a request's body once its headers are in: then 408.
    pub body_timeout: Duration,
    /// Most connections open at once; one more is answered 503 with
    /// `Retry-After` and closed, while the open ones are served.
    pub max_connections: usize,
}

/// Serves `listener` and runs the consumers until `shutdown` turns true;
/// then stops accepting, lets in-flight requests and batches finish, returns.
/// The consumers write to `hashtags`, the store the app's pages read.
pub async fn run(
    listener: TcpListener,
    serving: Serving,
    consumers: ConsumerSettings,
    limits: ConnectionLimits,
    shutdown: watch::Receiver<bool>,
) -> Result<(), String> {
    let metrics = Arc::new(PipelineMetrics::default());
    let records = serving.records.clone();
    let pollers = start_consumers(&serving, &consumers, &metrics, &shutdown);
    let monitor = Arc::new(Monitor { metrics, records });
    serve_http(listener, Arc::new(serving.app), monitor, limits, shutdown).await;
    for p in pollers {
        let _ = p.await;
    }
    Ok(())
}

/// An in-process consumer: its name in metrics, its topic, its consumer
/// group (its own offsets), its handler.
struct Consumer {
    name: &'static str,
    /// Read at start: the top-posts topic is configurable
    /// (`TOP_POSTS_TOPIC`), and the ranker publishes to the same.
    topic: fn() -> &'static str,
    group: &'static str,
    handle: ConsumerFn,
}

/// The consumers `hashtag serve` runs, one poller each.
const CONSUMERS: [Consumer; 4] = [
    Consumer {
        name: "hashtag-consumer",
        topic: || POSTS_TOPIC,
        group: "hashtag-service-posts",
        handle: |o, e| Box::pin(handle_post_batch(o.store.as_ref(), e)),
    },
    Consumer {
        name: "top-posts-consumer",
        topic: top_posts_topic,
        group: "hashtag-service-top-posts",
        handle: |o, e| Box::pin(handle_ranking_batch(o.store.as_ref(), e)),
    },
    Consumer {
        name: "mention-consumer",
        topic: || POSTS_TOPIC,
        group: "hashtag-service-mentions",
        handle: |o, e| {
            Box::pin(handle_mention_batch(
                o.store.as_ref(),
                e,
                Decay::configured(),
            ))
        },
    },
    Consumer {
        name: "reaction-consumer",
        topic: || REACTIONS_TOPIC,
        group: "hashtag-service-reactions",
        handle: |o, e| {
            let ranker = Some(o.publisher.as_ref());
            Box::pin(handle_reaction_batch(
                o.store.as_ref(),
                e,
                &o.windowing,
                ranker,
            ))
        },
    },
];

/// One poller per consumer, on its topic.
fn start_consumers(
    serving: &Serving,
    consumers: &ConsumerSettings,
    metrics: &Arc<PipelineMetrics>,
    shutdown: &watch::Receiver<bool>,
) -> Vec<tokio::task::JoinHandle<()>> {
    let outputs = Arc::new(Outputs {
        store: serving.hashtags.clone(),
        publisher: serving.publisher.clone(),
        windowing: serving.app.windowing,
    });
    CONSUMERS
        .iter()
        .map(|c| {
            let handler = consumer(c.name, outputs.clone(), metrics.clone(), c.handle);
            let cfg = PollerConfig {
                group: c.group.to_string(),
                topic: (c.topic)().to_string(),
                batch_size: consumers.batch_size,
                max_batch_size: consumers.max_batch_size,
                window: consumers.window,
            };
            let records = serving.records.clone();
            tokio::spawn(poller::run(records, cfg, handler, shutdown.clone()))
        })
        .collect()
}

/// Answers a connection over the cap: 503 with `Retry-After`, then closes.
async fn refuse(mut stream: tokio::net::TcpStream) {
    use tokio::io::AsyncWriteExt;
    let body = r#"{"error":{"code":"too_many_connections","message":"the server is at its connection limit; retry shortly"}}"#;
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\nretry-after: 1\r\nconnection: close\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.write_all(body.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Accepts and serves HTTP/1 connections within `limits` until `shutdown`
/// turns true, then lets in-flight requests finish (at most 10 s).
async fn serve_http(
    listener: TcpListener,
    app: Arc<App>,
    monitor: Arc<Monitor>,
    limits: ConnectionLimits,
    mut shutdown: watch::Receiver<bool>,
) {
    let graceful = GracefulShutdown::new();
    let slots = Arc::new(tokio::sync::Semaphore::new(limits.max_connections));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(hyper_util::rt::TokioTimer::new())
        .header_read_timeout(limits.header_timeout);
    loop {
        let (stream, peer): (_, SocketAddr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => break,
        };
        let Ok(slot) = slots.clone().try_acquire_owned() else {
            tokio::spawn(refuse(stream));
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (app, monitor, body_timeout) = (app.clone(), monitor.clone(), limits.body_timeout);
        let conn = http.serve_connection(
            TokioIo::new(stream),
            service_fn(move |req| handle(app.clone(), monitor.clone(), body_timeout, peer, req)),
        );
        let conn = graceful.watch(conn);
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!(error = %e, "connection ended with an error");
            }
            drop(slot);
        });
    }
    tokio::select! {
        _ = graceful.shutdown() => {}
        _ = tokio::time::sleep(Duration::from_secs(10)) => tracing::warn!("connections still open at shutdown"),
    }
}
