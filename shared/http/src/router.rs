//! Which handler answers which method and path. The single-machine server
//! routes everything through [`route`]; on AWS, API Gateway sends each route
//! to its own function, which calls the handler directly.

use bytes::Bytes as Body;
use http::{Method, Request, Response};

use super::handlers::{
    create_post, error_response, get_post, hashtag_summary, home, method_not_allowed, not_found,
    placeholder_image, register, tag_lookup, tag_page,
};
use super::request::path_param;
use super::App;

/// The pages of the read side.
enum Page {
    Home,
    Health,
    Lookup,
    Tag(String),
    Post(String),
    Image(String),
}

/// Builds a page from its decoded path segment.
type SegmentPage = fn(String) -> Page;

/// Pages addressed by one path segment after a prefix.
const SEGMENT_PAGES: [(&str, SegmentPage); 3] = [
    ("/tags/", Page::Tag),
    ("/posts/", Page::Post),
    ("/images/", Page::Image),
];

/// Every route of the service.
pub async fn route(app: &App, req: Request<Body>) -> Response<Body> {
    match req.uri().path() {
        "/users" | "/register" => match *req.method() {
            Method::POST => register(app, req).await,
            _ => method_not_allowed(&req, "POST"),
        },
        "/posts" | "/create_post" => match *req.method() {
            Method::POST => create_post(app, req).await,
            _ => method_not_allowed(&req, "POST"),
        },
        _ => read_routes(app, req).await,
    }
}

/// The read side (the summary function): tag pages, post pages, the home
/// page and placeholder images.
pub async fn read_routes(app: &App, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path();
    let is_read = matches!(*req.method(), Method::GET | Method::HEAD);
    if path == "/hashtag_summary" {
        return match *req.method() {
            Method::POST => hashtag_summary(app, &req).await,
            _ => method_not_allowed(&req, "POST"),
        };
    }
    // None: a known prefix without one valid segment; Some(Err): undecodable.
    let page = match path {
        "/" => Some(Ok(Page::Home)),
        "/health" => Some(Ok(Page::Health)),
        "/tags" => Some(Ok(Page::Lookup)),
        _ => match SEGMENT_PAGES
            .iter()
            .find(|(prefix, _)| path.starts_with(prefix))
        {
            Some((prefix, page)) => path_param(path, prefix).map(|p| p.map(page)),
            None => return not_found(&req),
        },
    };
    if !is_read {
        return method_not_allowed(&req, "GET, HEAD");
    }
    match page {
        Some(Ok(Page::Home)) => home(),
        Some(Ok(Page::Health)) => {
            super::response::json(http::StatusCode::OK, &serde_json::json!({"ok": true}))
        }
        Some(Ok(Page::Lookup)) => tag_lookup(&req),
        Some(Ok(Page::Tag(name))) => tag_page(app, &req, &name).await,
        Some(Ok(Page::Post(id))) => get_post(app, &req, &id).await,
        Some(Ok(Page::Image(file))) => placeholder_image(&req, &file),
        Some(Err(e)) => error_response(&req, e),
        None => not_found(&req),
    }
}
