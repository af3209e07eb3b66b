//! The HTTP side: handlers, router and pages on plain `http::Request<Bytes>`
//! and `http::Response<Bytes>` values, shared by the Lambda functions (whose
//! edge converts `lambda_http`'s types) and the single-machine server (which
//! serves them with hyper).

mod handlers;
mod pages;
mod request;
mod response;
mod router;

use std::sync::Arc;

pub use handlers::{create_post, register};
pub use response::ApiError;
pub use router::{route, route_function, Function, Route, ROUTES};

use hashtag_core::ids::IdGenerator;
use hashtag_core::ports::{PostStore, TagPages};

/// Largest request body accepted by default: a 2,200-character caption in a
/// 4-byte script plus twenty 2 KB image URLs fits comfortably.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers work with: the stores behind their ports and the id
/// generator. Built once per process (per Lambda container).
#[derive(Clone)]
pub struct App {
    /// Users, posts, images, and the outbox of post events.
    pub posts: Arc<dyn PostStore>,
    /// Tag counts and top posts. `None` in the write-side Lambda functions
    /// (register, create-post), which never read tags: their bootstraps
    /// then do not link the DynamoDB client.
    pub hashtags: Option<Arc<dyn TagPages>>,
    /// Snowflake ids for users, posts and images.
    pub ids: Arc<IdGenerator>,
    /// Requests with a larger body get 413.
    pub max_body_bytes: usize,
}

impl App {
    /// The handlers' state on these stores, minting ids as `worker_id`.
    pub fn new(
        posts: Arc<dyn PostStore>,
        hashtags: Option<Arc<dyn TagPages>>,
        worker_id: u16,
        max_body_bytes: usize,
    ) -> Result<App, String> {
        Ok(App {
            posts,
            hashtags,
            ids: Arc::new(IdGenerator::new(worker_id)?),
            max_body_bytes,
        })
    }

    /// The hashtag store, or 503 where this process has none (a write-side
    /// function sent a read route: a wiring mistake, not the client's).
    pub fn hashtags(&self) -> Result<&dyn TagPages, ApiError> {
        self.hashtags.as_deref().ok_or_else(|| {
            ApiError::new(
                http::StatusCode::SERVICE_UNAVAILABLE,
                "no_hashtag_store",
                "this function does not serve tag pages",
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_read_route_without_a_hashtag_store_answers_503() {
        let dir = std::env::temp_dir().join(format!("hashtag-no-store-{}", std::process::id()));
        let embedded = hashtag_embedded::open(&dir, 1).unwrap();
        let app = App::new(embedded.posts.clone(), None, 0, DEFAULT_MAX_BODY_BYTES).unwrap();
        let req = http::Request::get("/tags/rust")
            .body(bytes::Bytes::new())
            .unwrap();
        let res = route_function(Function::Summary, &app, req).await;
        assert_eq!(res.status(), http::StatusCode::SERVICE_UNAVAILABLE);
        let body: serde_json::Value = serde_json::from_slice(res.body().as_ref()).unwrap();
        assert_eq!(body["error"]["code"], "no_hashtag_store", "{body}");
        drop(embedded);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
