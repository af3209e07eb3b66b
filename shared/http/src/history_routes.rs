//! A tag's history: uses and distinct authors per UTC day, on the tag page
//! (the last 7 days) and at `GET /tags/{name}/history?days=`.

use bytes::Bytes as Body;
use http::{Request, Response, StatusCode};
use serde::Serialize;

use super::handlers::{error_response, unless_banned, valid_tag_key};
use super::request::count_param;
use super::response::{json, ApiError};
use super::App;
use hashtag_core::domain::now_ms;
use hashtag_core::history::{
    history_days, Day, DayCount, DayRow, HISTORY_RETENTION_DAYS, PAGE_HISTORY_DAYS,
};
use hashtag_core::ports::ReadModels;

/// The last days of a tag up to today (UTC).
pub(crate) struct RecentDays {
    /// Newest first, days without posts as zero.
    pub days: Vec<DayCount>,
    /// The days stored.
    pub rows: Vec<DayRow>,
}

/// The last `days` days of tag `key`'s history: one read of a range of
/// days.
pub(crate) async fn recent_history(
    store: &dyn ReadModels,
    key: &str,
    days: i64,
) -> Result<RecentDays, ApiError> {
    let today = Day::of_ms(now_ms());
    let rows = store.history(key, Day(today.0 - days + 1), today).await?;
    Ok(RecentDays {
        days: history_days(&rows, today, days),
        rows,
    })
}

/// `GET /tags/{name}/history`.
#[derive(Serialize)]
struct TagHistoryJson {
    tag: String,
    /// Newest first.
    days: Vec<DayCount>,
}

/// `GET /tags/{name}/history?days=`: the tag's uses and distinct authors
/// per day, newest first (a tag nobody used answers zeros: history is a
/// question about days, not about whether the tag exists).
pub async fn tag_history(app: &App, req: &Request<Body>, name: &str) -> Response<Body> {
    let result = async {
        let key = valid_tag_key(name)?;
        let days = count_param(
            req,
            "days",
            "invalid_days",
            PAGE_HISTORY_DAYS,
            HISTORY_RETENTION_DAYS,
        )?;
        let store = app.hashtags()?;
        unless_banned(store, &key).await?;
        let days = recent_history(store, &key, days).await?.days;
        Ok(json(StatusCode::OK, &TagHistoryJson { tag: key, days }))
    }
    .await;
    result.unwrap_or_else(|e| error_response(req, e))
}
