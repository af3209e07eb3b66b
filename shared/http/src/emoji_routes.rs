//! The emoji-streaming seed's API: `POST /emoji` records a reaction to the
//! live stream (no post) on the reactions topic, `GET /emoji/windows`
//! answers the reaction consumer's windowed counts, and `GET /health`
//! reports the broker and what waits to be published.

use std::collections::BTreeMap;

use bytes::Bytes as Body;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::account_routes::writer;
use super::handlers::finish;
use super::request::{count_param, query_param, read_body};
use super::response::{json, ApiError};
use super::App;
use hashtag_core::domain::{now_ms, parse_iso8601_ms, rfc3339_ms, Invalid};
use hashtag_core::reactions::{Emoji, LiveReaction, REACTIONS_TOPIC};

/// How far ahead of the server's clock a client's `timestamp` may be.
const MAX_CLOCK_SKEW_MS: i64 = 5 * 60_000;
/// How long a live reaction may take from here to its topic: the consumer
/// judges lateness by the record's Kafka timestamp, a little after now, so
/// the API refuses what would be late by then.
const PUBLISH_MARGIN_MS: i64 = 10_000;
/// Longest wait for the outbox's backlog in `GET /health`.
const HEALTH_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);
/// Windows `GET /emoji/windows` answers unless asked (an hour of them at
/// the default width).
const DEFAULT_WINDOWS: usize = 60;
/// Most windows one request answers (a day at the default width).
const MAX_WINDOWS: usize = 1_440;

/// A live reaction as the seed's clients send it.
#[derive(Deserialize)]
struct EmojiInput {
    /// Optional, as a string or a number: whoever signs the request
    /// reacts; another user's id here is refused (403).
    #[serde(default)]
    user_id: Option<serde_json::Value>,
    emoji_type: String,
    /// ISO 8601; the server's time if absent.
    #[serde(default)]
    timestamp: Option<String>,
}

/// What `POST /emoji` answers, as the seed's API does.
#[derive(Serialize)]
struct Received {
    status: &'static str,
    message_id: String,
}

/// The event time of a live reaction: its `timestamp`, or now. 422 if it
/// is not a time, is more than five minutes ahead, or is so old that its
/// window has closed (it would be counted nowhere).
fn event_time(app: &App, timestamp: Option<&str>, now: i64) -> Result<i64, Invalid> {
    let Some(raw) = timestamp else {
        return Ok(now);
    };
    let at = parse_iso8601_ms(raw).filter(|t| *t >= 0).ok_or_else(|| {
        Invalid::new(
            "invalid_timestamp",
            "timestamp must be an ISO 8601 time, such as 2026-12-04T18:30:00Z",
        )
    })?;
    if at > now + MAX_CLOCK_SKEW_MS {
        return Err(Invalid::new(
            "invalid_timestamp",
            "timestamp is more than five minutes ahead of the server's clock",
        ));
    }
    if !app.windowing.on_time(at, now + PUBLISH_MARGIN_MS) {
        return Err(Invalid::new(
            "late_timestamp",
            format!(
                "timestamp is older than its window's end plus the {} s grace period: it would be counted in no window",
                app.windowing.grace_ms / 1000
            ),
        ));
    }
    Ok(at)
}

/// `POST /emoji` {user_id, emoji_type, timestamp}: publishes a reaction to
/// the live stream as the signed-in user; 202 {status, message_id} once the
/// broker has it.
pub async fn post_emoji(app: &App, req: Request<Body>) -> Response<Body> {
    let result = async {
        let user = writer(app, &req).await?;
        let input: EmojiInput = read_body::<_, EmojiInput, EmojiInput>(&req, app.max_body_bytes)?;
        let named = input.user_id.as_ref().map(|v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        });
        if named.is_some_and(|id| id != user.user_id.to_string()) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "not_your_user_id",
                "user_id is not the signed-in user's: reactions are sent as whoever signs the request",
            ));
        }
        let emoji = Emoji::parse(&input.emoji_type)?;
        let now = now_ms();
        let at_ms = event_time(app, input.timestamp.as_deref(), now)?;
        let publisher = app.stream.as_ref().ok_or_else(no_broker)?;
        let reaction = LiveReaction {
            message_id: app.ids.next_id(),
            user_id: user.user_id.to_string(),
            emoji,
            at_ms,
        };
        let value = serde_json::to_vec(&reaction)
            .map_err(|e| ApiError::from(hashtag_core::ports::StoreError::Backend(e.to_string())))?;
        publisher
            .publish(REACTIONS_TOPIC, reaction.user_id.as_bytes(), &value)
            .await?;
        Ok(json(
            StatusCode::ACCEPTED,
            &Received {
                status: "Emoji received",
                message_id: reaction.message_id.to_string(),
            },
        ))
    }
    .await;
    finish(&req, result)
}

/// 503 where this process has no broker to publish to.
fn no_broker() -> ApiError {
    ApiError::new(
        StatusCode::SERVICE_UNAVAILABLE,
        "no_broker",
        "this deployment has no broker to publish live reactions to (KAFKA_BOOTSTRAP is not set)",
    )
}

/// One window as answered.
#[derive(Serialize)]
struct WindowAnswer {
    start: String,
    end: String,
    total: i64,
    counts: BTreeMap<String, i64>,
}

/// The windows as answered, with their width and grace period.
#[derive(Serialize)]
struct Windows {
    window_seconds: i64,
    grace_seconds: i64,
    windows: Vec<WindowAnswer>,
}

/// `GET /emoji/windows?since=&limit=`: reactions per emoji per window
/// (posts' and the live stream's), oldest first, from the window holding
/// `since` (ISO 8601 or Unix milliseconds; an hour ago if absent). A window
/// still within its grace period may grow; after it, it never changes.
pub async fn emoji_windows(app: &App, req: &Request<Body>) -> Response<Body> {
    let result = async {
        let limit = count_param(req, "limit", "invalid_limit", DEFAULT_WINDOWS, MAX_WINDOWS)?;
        let since = match query_param(req, "since") {
            None => now_ms() - 3_600_000,
            Some(raw) => raw
                .parse::<i64>()
                .ok()
                .or_else(|| parse_iso8601_ms(&raw))
                .filter(|t| *t >= 0)
                .ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_since",
                        "since must be an ISO 8601 time or Unix milliseconds",
                    )
                })?,
        };
        let width = app.windowing.width_ms;
        let windows = app
            .hashtags()?
            .windows(app.windowing.start(since), limit)
            .await?
            .into_iter()
            .map(|w| WindowAnswer {
                start: rfc3339_ms(w.start_ms),
                end: rfc3339_ms(w.start_ms + width),
                total: w.counts.values().sum(),
                counts: w.counts,
            })
            .collect();
        Ok(json(
            StatusCode::OK,
            &Windows {
                window_seconds: width / 1000,
                grace_seconds: app.windowing.grace_ms / 1000,
                windows,
            },
        ))
    }
    .await;
    finish(req, result)
}

/// What `GET /health` answers.
#[derive(Serialize)]
struct Health {
    ok: bool,
    status: &'static str,
    broker_connected: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    broker_error: Option<String>,
    /// Events stored and not yet published (the Aurora outbox; none on one
    /// machine, where an event is appended to the log in its write's
    /// transaction). `None` if it could not be read.
    waiting_to_publish: Option<i64>,
}

/// `GET /health`: 200 when the broker answers, else 503 (the service takes
/// writes, but their events wait); with the outbox's backlog.
pub async fn health(app: &App) -> Response<Body> {
    let broker = match &app.stream {
        Some(publisher) => publisher.connected().await.map_err(|e| e.to_string()),
        None => Err(no_broker().message),
    };
    let waiting = match &app.outbox {
        // Bounded: a health check answers even while the database does not.
        Some(outbox) => tokio::time::timeout(HEALTH_TIMEOUT, outbox.backlog())
            .await
            .ok()
            .and_then(Result::ok),
        None => Some(0),
    };
    let ok = broker.is_ok();
    let status = if ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    json(
        status,
        &Health {
            ok,
            status: if ok { "healthy" } else { "degraded" },
            broker_connected: ok,
            broker_error: broker.err(),
            waiting_to_publish: waiting,
        },
    )
}
