//! The HTTP side: handlers on `http::Request` values, shared by the Lambda
//! functions (through `lambda_http`) and the single-machine server.

mod handlers;
mod pages;
mod request;
mod response;
mod router;

use std::sync::Arc;

pub use handlers::{create_post, register};
pub use response::ApiError;
pub use router::{read_routes, route};

use crate::ids::IdGenerator;
use crate::ports::{HashtagStore, PostStore};

/// Largest request body accepted by default: a 2,200-character caption in a
/// 4-byte script plus twenty 2 KB image URLs fits comfortably.
pub const DEFAULT_MAX_BODY_BYTES: usize = 64 * 1024;

/// What the handlers work with: the stores behind their ports and the id
/// generator. Built once per process (per Lambda container).
#[derive(Clone)]
pub struct App {
    /// Users, posts, images, and the outbox of post events.
    pub posts: Arc<dyn PostStore>,
    /// Tag counts and top posts.
    pub hashtags: Arc<dyn HashtagStore>,
    /// Snowflake ids for users, posts and images.
    pub ids: Arc<IdGenerator>,
    /// Requests with a larger body get 413.
    pub max_body_bytes: usize,
}
