//! The HTTP side: handlers, router and pages on plain `http::Request<Bytes>`
//! and `http::Response<Bytes>` values, shared by the Lambda functions (whose
//! edge converts `lambda_http`'s types) and the single-machine server (which
//! serves them with hyper).

mod account_routes;
pub mod auth;
mod emoji_routes;
mod handlers;
mod history_routes;
mod mention_routes;
mod multipart;
mod pages;
mod reaction_routes;
mod request;
mod response;
mod router;
mod trend_routes;

use std::sync::Arc;

pub use account_routes::register;
pub use handlers::create_post;
pub use response::ApiError;
pub use router::{route, route_function, Function, Route, ROUTES};

use auth::limit::RateLimit;
use auth::Auth;
use hashtag_core::ids::IdGenerator;
use hashtag_core::ports::{EventPublisher, MentionGraph, Outbox, PostStore, ReadModels};
use hashtag_core::windows::Windowing;

/// Largest request body accepted by default: a 2,200-character caption in a
/// 4-byte script plus twenty 2 KB image URLs fits comfortably.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// Largest file `POST /mentions/import` takes in one request: under
/// Lambda's 6 MB request payload. Larger files go through
/// `hashtag import-mentions`, which streams them from disk.
pub const MAX_IMPORT_BYTES: usize = 5 * 1024 * 1024;

/// What the handlers work with: the stores behind their ports and the id
/// generator. Built once per process (per Lambda container).
#[derive(Clone)]
pub struct App {
    /// Users, posts, images, and the outbox of post events.
    pub posts: Arc<dyn PostStore>,
    /// Tag counts, top posts and the mention graph. `None` in the
    /// write-side Lambda functions (register, create-post), which never
    /// read them.
    pub hashtags: Option<Arc<dyn ReadModels>>,
    /// Where imported mentions go (`POST /mentions/import`): the hashtag
    /// table. `None` in the functions that serve no import.
    pub graph: Option<Arc<dyn MentionGraph>>,
    /// Snowflake ids for users, posts and images.
    pub ids: Arc<IdGenerator>,
    /// Requests with a larger body get 413.
    pub max_body_bytes: usize,
    /// How requests prove who sends them.
    pub auth: Auth,
    /// Writes (posts, imports) per account and minute.
    pub writes: Arc<RateLimit>,
    /// The subjects (identities) allowed to import mentions, besides the
    /// members of Cognito's admins group.
    pub admins: Arc<Vec<String>>,
    /// Where live reactions (`POST /emoji`) are published and whose
    /// connection `GET /health` reports: the broker, or the embedded log.
    /// `None` where nothing publishes.
    pub stream: Option<Arc<dyn EventPublisher>>,
    /// The outbox whose backlog `GET /health` reports (Aurora's); `None`
    /// on one machine, where events need none.
    pub outbox: Option<Arc<dyn Outbox>>,
    /// The reaction windows' width and grace (`REACTION_WINDOW_SECONDS`,
    /// `REACTION_GRACE_SECONDS`), as the reaction consumer keeps them.
    pub windowing: Windowing,
}

/// Writes an account may make per minute unless configured
/// (`HASHTAG_WRITES_PER_MINUTE`): a person posting by hand never gets near.
pub const DEFAULT_WRITES_PER_MINUTE: u32 = 120;

impl App {
    /// The handlers' state on these stores, minting ids as `worker_id`,
    /// identifying writers by `auth`. Writes are limited to
    /// [`DEFAULT_WRITES_PER_MINUTE`] per account, and nobody is an admin,
    /// until configured otherwise.
    pub fn new(
        posts: Arc<dyn PostStore>,
        hashtags: Option<Arc<dyn ReadModels>>,
        worker_id: u16,
        max_body_bytes: usize,
        auth: Auth,
    ) -> Result<App, String> {
        Ok(App {
            posts,
            hashtags,
            graph: None,
            ids: Arc::new(IdGenerator::new(worker_id)?),
            max_body_bytes,
            auth,
            writes: Arc::new(RateLimit::new(DEFAULT_WRITES_PER_MINUTE, 60_000)),
            admins: Arc::new(Vec::new()),
            stream: None,
            outbox: None,
            windowing: Windowing::configured()?,
        })
    }

    /// The app, publishing live reactions through `publisher` and
    /// reporting on it and on `outbox` in `GET /health`.
    pub fn with_stream(
        mut self,
        publisher: Arc<dyn EventPublisher>,
        outbox: Option<Arc<dyn Outbox>>,
    ) -> App {
        self.stream = Some(publisher);
        self.outbox = outbox;
        self
    }

    /// The app, allowing `per_minute` writes per account (0: no limit).
    pub fn with_write_limit(mut self, per_minute: u32) -> App {
        self.writes = Arc::new(RateLimit::new(per_minute, 60_000));
        self
    }

    /// The app, with `admins` (a comma-separated list of subjects: the
    /// user ids of `hashtag serve`'s accounts, Cognito `sub`s on AWS)
    /// allowed to import mentions. Subjects, not usernames: a name could be
    /// registered by whoever claims it first.
    pub fn with_admins(mut self, admins: &str) -> App {
        self.admins = Arc::new(
            admins
                .split(',')
                .map(|a| a.trim().to_string())
                .filter(|a| !a.is_empty())
                .collect(),
        );
        self
    }

    /// The app, serving mention imports into `graph`.
    pub fn with_graph(mut self, graph: Arc<dyn MentionGraph>) -> App {
        self.graph = Some(graph);
        self
    }

    /// Largest body accepted on `path`: an imported file may be larger
    /// than any other request (up to [`MAX_IMPORT_BYTES`]).
    pub fn body_limit(&self, path: &str) -> usize {
        if mention_routes::IMPORT_PATHS.contains(&path) {
            self.max_body_bytes.max(MAX_IMPORT_BYTES)
        } else {
            self.max_body_bytes
        }
    }

    /// The hashtag store, or 503 where this process has none (a write-side
    /// function sent a read route: a wiring mistake, not the client's).
    pub fn hashtags(&self) -> Result<&dyn ReadModels, ApiError> {
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
        let app = App::new(
            embedded.posts.clone(),
            None,
            0,
            DEFAULT_MAX_BODY_BYTES,
            Auth::Gateway,
        )
        .unwrap();
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
