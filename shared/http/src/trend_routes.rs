//! Trending tags: `GET /trends/tags?limit=` and the home page's list.

use bytes::Bytes as Body;
use http::{Request, Response, StatusCode};
use serde::Serialize;

use super::account_routes::viewer;
use super::handlers::error_response;
use super::pages::{self, Viewer};
use super::request::count_param;
use super::response::{json, ApiError};
use super::App;
use hashtag_core::domain::{now_ms, rfc3339_ms};
use hashtag_core::trends::{trending_tags, TrendingTag, DEFAULT_TRENDS, MAX_TRENDS};

/// `GET /trends/tags`.
#[derive(Serialize)]
struct Trends {
    /// The time the scores are decayed to.
    at: String,
    /// Strongest first.
    tags: Vec<TrendingTag>,
}

/// `GET /trends/tags?limit=`: the trending tags, strongest first, with
/// their scores decayed to now and their last 7 days.
pub async fn trends(app: &App, req: &Request<Body>) -> Response<Body> {
    let result = async {
        let limit = count_param(req, "limit", "invalid_limit", DEFAULT_TRENDS, MAX_TRENDS)?;
        let now = now_ms();
        let tags = trending_tags(app.hashtags()?, now, limit).await?;
        Ok(json(
            StatusCode::OK,
            &Trends {
                at: rfc3339_ms(now),
                tags,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_response(req, e))
}

/// `GET /`: the home page, with the trending tags. The page still answers
/// (without them) if they cannot be read.
pub async fn home(app: &App, req: &Request<Body>) -> Response<Body> {
    let trending = match app.hashtags() {
        Ok(store) => trending_tags(store, now_ms(), DEFAULT_TRENDS)
            .await
            .map_err(ApiError::from),
        Err(e) => Err(e),
    };
    let trending = trending.unwrap_or_else(|e| {
        tracing::warn!(error = %e.message, "home page without trends");
        Vec::new()
    });
    let viewer = viewer(app, req).await.unwrap_or_else(|e| {
        tracing::warn!(error = %e.message, "home page without its viewer");
        Viewer::Unknown
    });
    pages::home(&trending, &viewer)
}
