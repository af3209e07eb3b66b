//! The load generator (`hashtag loadgen`): registers accounts (on the
//! server's own accounts: a password each) and publishes the
//! [`crate::workload`] stream of posts through the HTTP API of a running
//! server (the single-machine server, on either adapter set), shows its
//! progress, then checks that the server counted what it was sent.
//!
//! - Every post carries an `Idempotency-Key`, so a request retried after a
//!   dropped connection or a 5xx never creates a second post.
//! - Every `probe_every`-th post also carries a tag of its own; a probe
//!   polls that tag's page until the post is counted, which measures
//!   freshness end to end: from the `201` to the count being visible.
//! - Expected counts are the server's counts before the run plus what the
//!   run's accepted posts carry, so a server with earlier data checks too
//!   (as long as nothing else posts meanwhile).
//! - The mention graph is checked too: the run's authors are new users, so
//!   each of their edges must count exactly the accepted posts that mention
//!   its user (`GET /users/{author}/mentions?with=`), for the
//!   [`EDGES_CHECKED`] most mentioned edges.
//! - The hashtag consumer's lag (`GET /metrics`) is sampled every 100 ms
//!   from the first post until the counts match, so a freshness regression
//!   shows whether the consumer fell behind, by how much and for how long.
//! - With `reactions`, reacting clients follow the posts ([`reactions`]):
//!   skewed towards some posts, checked for exact counts at the end, with
//!   Top probes timing a reaction's effect on a tag's Top view.

mod reactions;

pub use reactions::{ReactionLoad, ReactionSummary};

use std::collections::HashMap;
use std::io::{IsTerminal, Write};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use bytes::Bytes;
use futures_util::{stream, StreamExt};
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde::Serialize;

use crate::workload::{tag, GeneratedPost, Shape, Workload};
use hashtag_core::extract::distinct_tags;
use hashtag_core::mentions::{mentioned, user_key};

/// What to send, and where.
#[derive(Debug, Clone)]
pub struct LoadConfig {
    /// `host:port` of the server (an `http://` prefix is accepted).
    pub server: String,
    /// Users to register.
    pub users: usize,
    /// Posts to publish.
    pub posts: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// The stream's vocabulary, popularity law and seed.
    pub shape: Shape,
    /// Every n-th post is a freshness probe (0: none).
    pub probe_every: usize,
    /// How long to wait for the counts to match after the last post.
    pub drain_timeout: Duration,
    /// A lag above this many records counts as behind in [`Lag`].
    pub lag_threshold: u64,
    /// Reaction requests to send after the posts (0: none).
    pub reactions: usize,
    /// Top probes during the reactions.
    pub top_probes: usize,
}

/// Percentiles of a set of durations, in milliseconds.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Percentiles {
    /// Samples.
    pub count: usize,
    /// Median.
    pub p50_ms: f64,
    /// 99th percentile.
    pub p99_ms: f64,
    /// Largest.
    pub max_ms: f64,
}

impl Percentiles {
    fn of(mut samples: Vec<Duration>) -> Self {
        samples.sort_unstable();
        let at = |q: f64| {
            samples
                .get(((samples.len() as f64 * q).ceil() as usize).saturating_sub(1))
                .map_or(0.0, |d| d.as_secs_f64() * 1000.0)
        };
        Percentiles {
            count: samples.len(),
            p50_ms: at(0.50),
            p99_ms: at(0.99),
            max_ms: at(1.0),
        }
    }
}

/// What the run did and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Summary {
    /// Users registered.
    pub users: usize,
    /// Posts the server accepted (201).
    pub posts_accepted: usize,
    /// Posts it refused or never answered, by status (`"connection"` when
    /// no answer came after every retry).
    pub posts_failed: HashMap<String, usize>,
    /// Post requests retried, by what the failed attempt got (a 5xx status,
    /// or `"connection"` when no answer came).
    pub retries: HashMap<String, usize>,
    /// Seconds spent publishing posts.
    pub seconds: f64,
    /// Accepted posts per second.
    pub posts_per_second: f64,
    /// Latency of `POST /posts`.
    pub post_latency: Percentiles,
    /// Distinct tags per accepted post, on average.
    pub tags_per_post: f64,
    /// Distinct tags the run's posts carry.
    pub distinct_tags: usize,
    /// From a probe's `201` to its tag's count being visible.
    pub freshness: Percentiles,
    /// Tags whose count was checked against the server's.
    pub tags_checked: usize,
    /// Tags whose server count differs from the expected one after the
    /// drain timeout, with (expected, found); empty when everything matched.
    pub mismatches: Vec<(String, u64, u64)>,
    /// Mention edges (author, mentioned) whose count of posts was checked
    /// (`GET /users/{author}/mentions?with=`), the most mentioned first.
    pub edges_checked: usize,
    /// Edges whose count differs after the drain timeout, with (author,
    /// mentioned, expected, found); empty when everything matched.
    pub edge_mismatches: Vec<(String, String, u64, u64)>,
    /// The author of the most mentioned edge: a user page with mentions.
    pub busiest_author: Option<String>,
    /// The hashtag consumer's lag during the run; `None` when the server
    /// does not report it.
    pub lag: Option<Lag>,
    /// What the reacting clients did and found, if the run reacted.
    pub reactions: Option<ReactionSummary>,
}

/// The hashtag consumer's lag as sampled during a run.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Lag {
    /// Samples read (one per 100 ms).
    pub samples: usize,
    /// The largest lag seen, in records.
    pub max_records: u64,
    /// When it was seen, in seconds from the first post.
    pub max_at_seconds: f64,
    /// 99th percentile of the samples, in records.
    pub p99_records: u64,
    /// The lag above which the consumer counts as behind.
    pub threshold_records: u64,
    /// The longest stretch during which every sample was above the
    /// threshold, in milliseconds.
    pub longest_behind_ms: f64,
    /// Time spent above the threshold in all, in milliseconds.
    pub total_behind_ms: f64,
}

/// How often the lag is sampled.
const LAG_EVERY: Duration = Duration::from_millis(100);
/// The gauge read from `GET /metrics`.
const LAG_GAUGE: &str = "hashtag_consumer_lag_records{consumer=\"hashtag-consumer\"} ";

impl Lag {
    /// The report on `samples`, (time from the first post, lag) in time
    /// order.
    fn of(samples: &[(Duration, u64)], threshold: u64) -> Option<Lag> {
        if samples.is_empty() {
            return None;
        }
        let mut lag = Lag {
            samples: samples.len(),
            threshold_records: threshold,
            ..Lag::default()
        };
        let mut behind_since: Option<Duration> = None;
        for (i, &(at, n)) in samples.iter().enumerate() {
            if n > lag.max_records {
                lag.max_records = n;
                lag.max_at_seconds = at.as_secs_f64();
            }
            if n > threshold {
                let since = *behind_since.get_or_insert(at);
                // A stretch lasts until the next sample, or the last one.
                let until = samples.get(i + 1).map_or(at, |(next, _)| *next);
                let stretch = (until - since).as_secs_f64() * 1000.0;
                lag.longest_behind_ms = lag.longest_behind_ms.max(stretch);
                lag.total_behind_ms += (until - at).as_secs_f64() * 1000.0;
            } else {
                behind_since = None;
            }
        }
        let mut sorted: Vec<u64> = samples.iter().map(|(_, n)| *n).collect();
        sorted.sort_unstable();
        lag.p99_records = sorted[((sorted.len() as f64 * 0.99).ceil() as usize).saturating_sub(1)];
        Some(lag)
    }
}

/// Samples the consumer's lag every [`LAG_EVERY`] until `stop` turns
/// true; none if the server's metrics carry no lag.
async fn sample_lag(
    address: String,
    started: Instant,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> Vec<(Duration, u64)> {
    let mut client = Client::new(&address);
    let mut samples = Vec::new();
    while !*stop.borrow() {
        // A response without the gauge (the lag could not be read) is no
        // sample.
        if let Ok((StatusCode::OK, body)) = client.send(Method::GET, "/metrics", &[], None).await {
            let lag = std::str::from_utf8(&body).ok().and_then(|text| {
                text.lines()
                    .find_map(|l| l.strip_prefix(LAG_GAUGE))
                    .and_then(|n| n.trim().parse().ok())
            });
            samples.extend(lag.map(|n| (started.elapsed(), n)));
        }
        tokio::select! {
            _ = tokio::time::sleep(LAG_EVERY) => {}
            // Stopped, or the run ended without stopping it.
            changed = stop.changed() => if changed.is_err() { break },
        }
    }
    samples
}

/// Why a run could not proceed.
#[derive(Debug)]
pub struct LoadError(pub String);

impl std::fmt::Display for LoadError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for LoadError {}

/// One keep-alive HTTP/1.1 connection, reopened when the server drops it.
struct Client {
    address: String,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Client {
    fn new(address: &str) -> Self {
        Client {
            address: address.to_string(),
            sender: None,
        }
    }

    async fn connect(&self) -> Result<SendRequest<Full<Bytes>>, String> {
        let tcp = tokio::net::TcpStream::connect(&self.address)
            .await
            .map_err(|e| format!("connect {}: {e}", self.address))?;
        tcp.set_nodelay(true).map_err(|e| e.to_string())?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tcp))
            .await
            .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        Ok(sender)
    }

    /// Sends one request; an error means no answer came.
    async fn send(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> Result<(StatusCode, Bytes), String> {
        let mut sender = match self.sender.take() {
            Some(s) if !s.is_closed() => s,
            _ => self.connect().await?,
        };
        sender.ready().await.map_err(|e| e.to_string())?;
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header("host", &self.address)
            .header("accept", "application/json");
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        if body.is_some() {
            req = req.header("content-type", "application/json");
        }
        let req = req
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| e.to_string())?;
        let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = res.status();
        let bytes = res
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        self.sender = Some(sender);
        Ok((status, bytes))
    }

    /// Sends a request up to 4 times while no answer comes or the answer
    /// is a 5xx; returns the last answer and what each retried attempt got.
    async fn send_retrying(
        &mut self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Option<String>,
    ) -> (Result<(StatusCode, Bytes), String>, Vec<String>) {
        let mut retried = Vec::new();
        loop {
            let result = self.send(method.clone(), path, headers, body.clone()).await;
            let failure = match &result {
                Ok((status, _)) if status.is_server_error() => status.as_str().to_string(),
                Ok(_) => return (result, retried),
                Err(_) => "connection".to_string(),
            };
            if retried.len() == 3 {
                return (result, retried);
            }
            retried.push(failure);
            tokio::time::sleep(Duration::from_millis(100 << retried.len())).await;
        }
    }
}

fn json_field(body: &[u8], field: &str) -> Option<serde_json::Value> {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()?
        .get(field)
        .cloned()
}

/// Path of a tag's page.
fn tag_path(key: &str) -> String {
    format!(
        "/tags/{}",
        percent_encoding::utf8_percent_encode(key, percent_encoding::NON_ALPHANUMERIC)
    )
}

/// Path of the edge from `from` to `to` in the mention graph.
fn edge_path(from: &str, to: &str) -> String {
    format!("/users/{from}/mentions?with={to}")
}

/// A count the server shows: `field` of the JSON at `path` (0 when the path
/// is 404: a tag without a page), or no answer.
async fn count_of(client: &mut Client, path: &str, field: &str) -> Result<u64, String> {
    let (status, body) = client.send(Method::GET, path, &[], None).await?;
    match status {
        StatusCode::NOT_FOUND => Ok(0),
        StatusCode::OK => json_field(&body, field)
            .and_then(|v| v.as_u64())
            .ok_or_else(|| format!("{path} answered without {field}")),
        other => Err(format!("GET {path}: {other}")),
    }
}

/// The counts `field` at `paths` on the server, `concurrency` requests at
/// a time, each worker on one keep-alive connection.
async fn counts_of(
    address: &str,
    paths: &[String],
    field: &str,
    concurrency: usize,
) -> Result<Vec<u64>, LoadError> {
    let next = AtomicUsize::new(0);
    let workers = (0..concurrency).map(|_| async {
        let mut client = Client::new(address);
        let mut found = Vec::new();
        loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(path) = paths.get(i) else { break };
            found.push((i, count_of(&mut client, path, field).await?));
        }
        Ok::<_, String>(found)
    });
    let mut counts = vec![0; paths.len()];
    for worker in futures_util::future::join_all(workers).await {
        for (i, n) in worker.map_err(LoadError)? {
            counts[i] = n;
        }
    }
    Ok(counts)
}

/// Prints progress to stderr: one rewritten line on a terminal, a line
/// every 5 s otherwise.
async fn report_progress(done: &AtomicUsize, total: usize, started: Instant) {
    let terminal = std::io::stderr().is_terminal();
    let every = Duration::from_secs(if terminal { 1 } else { 5 });
    loop {
        tokio::time::sleep(every).await;
        let n = done.load(Ordering::Relaxed);
        let rate = n as f64 / started.elapsed().as_secs_f64();
        let eta = (total - n.min(total)) as f64 / rate.max(1.0);
        let bar_len = 30 * n / total.max(1);
        let line = format!(
            "[{}{}] {n}/{total} posts  {rate:.0}/s  eta {eta:.0}s",
            "#".repeat(bar_len),
            " ".repeat(30 - bar_len)
        );
        let mut err = std::io::stderr().lock();
        let _ = match terminal {
            true => write!(err, "\r{line}"),
            false => writeln!(err, "{line}"),
        };
        let _ = err.flush();
    }
}

/// Polls a probe tag's page until it counts one post; the time from
/// `accepted` to then, or none if it never shows within `timeout`.
async fn probe(address: &str, key: &str, accepted: Instant, timeout: Duration) -> Option<Duration> {
    let mut client = Client::new(address);
    while accepted.elapsed() < timeout {
        if count_of(&mut client, &tag_path(key), "total_posts")
            .await
            .is_ok_and(|n| n >= 1)
        {
            return Some(accepted.elapsed());
        }
        // Coarse enough that the probes add little load to the server.
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    None
}

/// What one posting worker sent and saw.
#[derive(Default)]
struct Worker {
    /// (index of the post, its latency or why it failed).
    outcomes: Vec<(usize, Result<Duration, String>)>,
    retries: HashMap<String, usize>,
    freshness: Vec<Duration>,
    /// (index of the post, its id) of the accepted posts.
    post_ids: Vec<(usize, String)>,
}

/// The name of user `i` of the run `run`.
fn username(run: &str, i: usize) -> String {
    format!("lg{run}_{i}")
}

/// Registers `config.users` accounts on `hashtag serve`; the
/// `Authorization` header each one posts with.
async fn register(address: &str, config: &LoadConfig, run: &str) -> Result<Vec<String>, LoadError> {
    let names: Vec<String> = (0..config.users).map(|i| username(run, i)).collect();
    let results: Vec<Result<String, String>> = stream::iter(names)
        .map(|name| async move {
            let mut client = Client::new(address);
            let password = format!("loadgen-{name}");
            let body = serde_json::json!({ "username": name, "password": password }).to_string();
            let (result, _) = client
                .send_retrying(Method::POST, "/users", &[], Some(body))
                .await;
            let (status, body) = result?;
            match (status, json_field(&body, "token")) {
                (StatusCode::CREATED, Some(serde_json::Value::String(token))) => {
                    Ok(format!("Bearer {token}"))
                }
                _ => Err(format!(
                    "register {name}: {status} {}",
                    String::from_utf8_lossy(&body)
                )),
            }
        })
        .buffered(config.concurrency)
        .collect()
        .await;
    results
        .into_iter()
        .collect::<Result<_, _>>()
        .map_err(LoadError)
}

/// A generated post and, for a freshness probe, the tag only it carries.
type StreamPost = (GeneratedPost, Option<String>);

/// The stream of `config`, with a probe tag added to every
/// `probe_every`-th post (unique to the run `run`).
fn stream_of(config: &LoadConfig, run: &str) -> Vec<StreamPost> {
    let mut workload = Workload::new(config.shape, config.users);
    let mut posts = Vec::with_capacity(config.posts);
    for i in 0..config.posts {
        let mut post = workload.next_post();
        let mut probe = None;
        if config.probe_every > 0 && i % config.probe_every == 0 {
            let key = format!("p{run}x{i}");
            if distinct_tags(&post.caption).len() < hashtag_core::domain::MAX_CAPTION_TAGS {
                post.caption.push_str(&format!(" #{key}"));
                probe = Some(key);
            }
        }
        posts.push((post, probe));
    }
    posts
}

/// One worker's share of the stream: takes the next post until none is
/// left, sends it (retrying with its idempotency key), and probes the
/// freshness of the probe posts.
async fn post_worker(
    address: &str,
    run: &str,
    posts: &[StreamPost],
    authors: &[String],
    next: &AtomicUsize,
    done: &AtomicUsize,
) -> Worker {
    let mut client = Client::new(address);
    let mut sent = Worker::default();
    let mut probes = Vec::new();
    loop {
        let i = next.fetch_add(1, Ordering::Relaxed);
        let Some((post, probe_key)) = posts.get(i) else {
            break;
        };
        let body = serde_json::json!({
            "caption": post.caption,
            "image_count": 1,
        })
        .to_string();
        let idempotency = format!("lg-{run}-{i}");
        let at = Instant::now();
        let headers = [
            ("idempotency-key", idempotency.as_str()),
            ("authorization", authors[post.author].as_str()),
        ];
        let (result, retried) = client
            .send_retrying(Method::POST, "/posts", &headers, Some(body))
            .await;
        for why in retried {
            *sent.retries.entry(why).or_default() += 1;
        }
        let outcome = match result {
            Ok((StatusCode::CREATED, body)) => {
                if let Some(serde_json::Value::String(id)) = json_field(&body, "post_id") {
                    sent.post_ids.push((i, id));
                }
                Ok(at.elapsed())
            }
            Ok((status, _)) => Err(status.as_u16().to_string()),
            Err(_) => Err("connection".to_string()),
        };
        if let (Ok(_), Some(key)) = (&outcome, probe_key) {
            let accepted = Instant::now();
            probes.push(tokio::spawn({
                let (address, key) = (address.to_string(), key.clone());
                async move { probe(&address, &key, accepted, Duration::from_secs(60)).await }
            }));
        }
        sent.outcomes.push((i, outcome));
        done.fetch_add(1, Ordering::Relaxed);
    }
    for p in probes {
        sent.freshness.extend(p.await.ok().flatten());
    }
    sent
}

/// Posts per mention edge, by (author, mentioned user key).
type EdgeCounts = HashMap<(String, String), u64>;

/// The summary of what the workers saw, and what the accepted posts add to
/// each tag (probe tags left out).
fn tally(
    posts: &[StreamPost],
    workers: Vec<Worker>,
    users: usize,
    seconds: f64,
    run: &str,
) -> (Summary, HashMap<String, u64>, EdgeCounts) {
    let mut summary = Summary {
        users,
        seconds,
        ..Summary::default()
    };
    let (mut outcomes, mut freshness) = (Vec::with_capacity(posts.len()), Vec::new());
    for worker in workers {
        for (why, n) in worker.retries {
            *summary.retries.entry(why).or_default() += n;
        }
        outcomes.extend(worker.outcomes);
        freshness.extend(worker.freshness);
    }
    summary.freshness = Percentiles::of(freshness);
    let mut added: HashMap<String, u64> = HashMap::new();
    let mut edges = EdgeCounts::new();
    let mut latencies = Vec::new();
    let mut tag_total = 0;
    for (i, outcome) in outcomes {
        let (post, probe) = &posts[i];
        match outcome {
            Ok(latency) => {
                latencies.push(latency);
                let tags = distinct_tags(&post.caption);
                tag_total += tags.len();
                for (key, _) in tags {
                    if probe.as_deref() != Some(key.as_str()) {
                        *added.entry(key).or_default() += 1;
                    }
                }
                let author = username(run, post.author);
                for (to, _) in mentioned(&user_key(&author), &post.caption) {
                    *edges.entry((author.clone(), to)).or_default() += 1;
                }
            }
            Err(why) => *summary.posts_failed.entry(why).or_default() += 1,
        }
    }
    summary.posts_accepted = latencies.len();
    summary.posts_per_second = summary.posts_accepted as f64 / seconds;
    summary.post_latency = Percentiles::of(latencies);
    summary.tags_per_post = tag_total as f64 / summary.posts_accepted.max(1) as f64;
    summary.distinct_tags = added.len();
    (summary, added, edges)
}

/// Mention edges checked per run: the strongest (most mentioned) first.
const EDGES_CHECKED: usize = 500;

/// Runs the load and the checks; see the module documentation.
pub async fn run(config: &LoadConfig) -> Result<Summary, LoadError> {
    let address = config
        .server
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .to_string();
    let address = address.as_str();
    let concurrency = config.concurrency.max(1);
    // A run id keeps usernames, idempotency keys and probe tags unique per run.
    let run = format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_millis()
            % 0xFF_FFFF
    );
    let posts = stream_of(config, &run);
    let mut keys: Vec<String> = (0..config.shape.vocabulary)
        .map(|r| hashtag_core::extract::tag_key(&tag(r)))
        .collect();
    eprintln!("reading the server's counts of {} tags", keys.len());
    let tag_paths: Vec<String> = keys.iter().map(|k| tag_path(k)).collect();
    let before = counts_of(address, &tag_paths, "total_posts", concurrency).await?;

    eprintln!("registering {} users", config.users);
    let users = register(address, config, &run).await?;

    let (next, done) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let started = Instant::now();
    let (stop_sampling, stopped) = tokio::sync::watch::channel(false);
    let sampler = tokio::spawn(sample_lag(address.to_string(), started, stopped));
    let workers =
        (0..concurrency).map(|_| post_worker(address, &run, &posts, &users, &next, &done));
    let mut workers = tokio::select! {
        workers = futures_util::future::join_all(workers) => workers,
        _ = report_progress(&done, config.posts, started) => unreachable!("progress never ends"),
    };
    let seconds = started.elapsed().as_secs_f64();
    eprintln!();
    let mut post_ids: Vec<(usize, String)> = workers
        .iter_mut()
        .flat_map(|w| std::mem::take(&mut w.post_ids))
        .collect();
    post_ids.sort();
    let (mut summary, added, edges) = tally(&posts, workers, users.len(), seconds, &run);
    // The run's authors are new: their edges hold exactly what it sent.
    let mut edges: Vec<((String, String), u64)> = edges.into_iter().collect();
    edges.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    edges.truncate(EDGES_CHECKED);
    let edge_paths: Vec<String> = edges.iter().map(|((a, b), _)| edge_path(a, b)).collect();
    summary.busiest_author = edges.first().map(|((author, _), _)| author.clone());

    // Wait for the pipeline to drain: until every tag shows what it should.
    let expected: HashMap<String, u64> = keys
        .iter()
        .zip(&before)
        .filter_map(|(k, b)| Some((k.clone(), b + added.get(k)?)))
        .collect();
    keys.retain(|k| expected.contains_key(k));
    let tag_paths: Vec<String> = keys.iter().map(|k| tag_path(k)).collect();
    let deadline = Instant::now() + config.drain_timeout;
    loop {
        let found = counts_of(address, &tag_paths, "total_posts", concurrency).await?;
        summary.tags_checked = keys.len();
        summary.mismatches = keys
            .iter()
            .zip(found)
            .filter(|(k, n)| expected[k.as_str()] != *n)
            .map(|(k, n)| (k.clone(), expected[k.as_str()], n))
            .collect();
        if summary.mismatches.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // And every checked mention edge its number of posts.
    loop {
        let found = counts_of(address, &edge_paths, "mentions", concurrency).await?;
        summary.edges_checked = edges.len();
        summary.edge_mismatches = edges
            .iter()
            .zip(found)
            .filter(|((_, want), n)| want != n)
            .map(|(((a, b), want), n)| (a.clone(), b.clone(), *want, n))
            .collect();
        if summary.edge_mismatches.is_empty() || Instant::now() > deadline {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let _ = stop_sampling.send(true);
    let samples = sampler.await.unwrap_or_default();
    summary.lag = Lag::of(&samples, config.lag_threshold);
    if config.reactions > 0 {
        let ids: Vec<String> = post_ids.into_iter().map(|(_, id)| id).collect();
        let load = ReactionLoad {
            reactions: config.reactions,
            concurrency,
            top_probes: config.top_probes,
            seed: config.shape.seed,
        };
        let reacted = reactions::run(address, &run, &users, &ids, &load, config.drain_timeout);
        summary.reactions = Some(reacted.await?);
    }
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(ms: u64) -> Duration {
        Duration::from_millis(ms)
    }

    #[test]
    fn lag_reports_the_peak_and_the_longest_stretch_behind() {
        let samples = [
            (at(1000), 10),
            (at(1100), 2000),
            (at(1200), 5000),
            (at(1300), 1500),
            (at(1400), 20),
            (at(1500), 3000),
            (at(1600), 0),
        ];
        let lag = Lag::of(&samples, 1000).unwrap();
        assert_eq!(lag.samples, 7);
        assert_eq!(lag.max_records, 5000);
        assert!((lag.max_at_seconds - 1.2).abs() < 1e-9);
        assert_eq!(lag.p99_records, 5000);
        // Behind from 1100 until the sample at 1400: 300 ms; then 100 ms.
        assert!((lag.longest_behind_ms - 300.0).abs() < 1e-6, "{lag:?}");
        assert!((lag.total_behind_ms - 400.0).abs() < 1e-6, "{lag:?}");
    }

    #[test]
    fn no_samples_no_lag() {
        assert!(Lag::of(&[], 1000).is_none());
    }
}
