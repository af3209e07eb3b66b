//! Which handler answers which method and path. The single-machine server
//! routes everything through [`route`]; on AWS, API Gateway sends each route
//! to its own function, which calls the handler directly.

use http::{Method, Request, Response};
use lambda_http::Body;

use super::handlers::{
    create_post, error_response, get_post, hashtag_summary, home, method_not_allowed, not_found,
    placeholder_image, register, tag_lookup, tag_page,
};
use super::request::path_param;
use super::App;

/// Pages addressed by one path segment.
enum Page {
    Tag,
    Post,
    Image,
}

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
    let known = path == "/"
        || path == "/health"
        || path == "/tags"
        || path.starts_with("/tags/")
        || path.starts_with("/posts/")
        || path.starts_with("/images/");
    if !known {
        return not_found(&req);
    }
    if !is_read {
        return method_not_allowed(&req, "GET, HEAD");
    }
    match path {
        "/" => home(),
        "/health" => super::response::json(http::StatusCode::OK, &serde_json::json!({"ok": true})),
        "/tags" => tag_lookup(&req),
        _ => {
            let param = |prefix| path_param(path, prefix);
            let res = if let Some(name) = param("/tags/") {
                name.map(|name| (Page::Tag, name))
            } else if let Some(id) = param("/posts/") {
                id.map(|id| (Page::Post, id))
            } else if let Some(file) = param("/images/") {
                file.map(|file| (Page::Image, file))
            } else {
                return not_found(&req);
            };
            match res {
                Ok((Page::Tag, name)) => tag_page(app, &req, &name).await,
                Ok((Page::Post, id)) => get_post(app, &req, &id).await,
                Ok((Page::Image, file)) => placeholder_image(&req, &file),
                Err(e) => error_response(&req, e),
            }
        }
    }
}
