//! Which handler answers which method and path. The single-machine server
//! routes everything through [`route`]; on AWS, API Gateway sends each route
//! to its own function, which calls the handler directly.

use http::{Method, Request, Response};
use lambda_http::Body;

use super::handlers::{
    create_post, get_post, hashtag_summary, home, method_not_allowed, not_found, param_of,
    placeholder_image, register, tag_lookup, tag_page,
};
use super::App;

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
            if let Some(name) = param_of(&req, "/tags/") {
                return match name {
                    Ok(name) => tag_page(app, &req, &name).await,
                    Err(res) => res,
                };
            }
            if let Some(id) = param_of(&req, "/posts/") {
                return match id {
                    Ok(id) => get_post(app, &req, &id).await,
                    Err(res) => res,
                };
            }
            if let Some(file) = param_of(&req, "/images/") {
                return match file {
                    Ok(file) => placeholder_image(&req, &file),
                    Err(res) => res,
                };
            }
            not_found(&req)
        }
    }
}
