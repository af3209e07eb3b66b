//! The route table, and the router that serves it. The single-machine
//! server routes every request through [`route`]; on AWS, API Gateway sends
//! each route to the function the table names, which serves only its own
//! routes ([`route_function`]). `template.yaml` is checked against the same
//! table (`shared/hashtag/tests/routes.rs`).

use http::{header, Method, Request, Response};

use super::handlers::{
    create_post, error_response, favicon, get_post, hashtag_summary, health, not_found,
    placeholder_image, register, tag_lookup, tag_page, user_page,
};
use super::history_routes::tag_history;
use super::mention_routes::{import_mentions, user_mentions};
use super::request::path_param;
use super::response::ApiError;
use super::trend_routes::{home, trends};
use super::App;
use bytes::Bytes as Body;

/// The Lambda function that serves a route on AWS.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Function {
    /// `functions/register`.
    Register,
    /// `functions/create-post`: the one HTTP function that publishes.
    CreatePost,
    /// `functions/summary`: the read side.
    Summary,
    /// `functions/import-mentions`: CSV imports into the mention graph,
    /// apart so that create-post's bootstrap carries no DynamoDB client.
    ImportMentions,
}

impl Function {
    /// The function's binary, as `template.yaml` names it
    /// (`BuildProperties.Binary`).
    pub fn binary(self) -> &'static str {
        match self {
            Function::Register => "register",
            Function::CreatePost => "create-post",
            Function::Summary => "summary",
            Function::ImportMentions => "import-mentions",
        }
    }
}

/// What answers a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Handler {
    Register,
    CreatePost,
    Home,
    Trends,
    Health,
    Lookup,
    Tag,
    TagHistory,
    Post,
    User,
    UserMentions,
    ImportMentions,
    Image,
    Favicon,
    HashtagSummary,
}

/// One route: a method and a path in API Gateway's syntax (`{name}` for
/// one path segment, at most one per path).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The method (a `GET` route answers `HEAD` too).
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// The function that serves it on AWS.
    pub function: Function,
    handler: Handler,
}

const fn route_of(
    method: &'static str,
    path: &'static str,
    function: Function,
    handler: Handler,
) -> Route {
    Route {
        method,
        path,
        function,
        handler,
    }
}

/// Every route of the service (but the single-machine server's `/metrics`).
pub const ROUTES: &[Route] = &[
    route_of("POST", "/users", Function::Register, Handler::Register),
    route_of("POST", "/register", Function::Register, Handler::Register),
    route_of("POST", "/posts", Function::CreatePost, Handler::CreatePost),
    route_of(
        "POST",
        "/create_post",
        Function::CreatePost,
        Handler::CreatePost,
    ),
    route_of("GET", "/", Function::Summary, Handler::Home),
    route_of("GET", "/trends/tags", Function::Summary, Handler::Trends),
    route_of("GET", "/health", Function::Summary, Handler::Health),
    route_of("GET", "/tags", Function::Summary, Handler::Lookup),
    route_of("GET", "/tags/{name}", Function::Summary, Handler::Tag),
    route_of(
        "GET",
        "/tags/{name}/history",
        Function::Summary,
        Handler::TagHistory,
    ),
    route_of("GET", "/posts/{id}", Function::Summary, Handler::Post),
    route_of("GET", "/users/{name}", Function::Summary, Handler::User),
    route_of(
        "GET",
        "/users/{name}/mentions",
        Function::Summary,
        Handler::UserMentions,
    ),
    route_of(
        "POST",
        "/mentions/import",
        Function::ImportMentions,
        Handler::ImportMentions,
    ),
    route_of(
        "POST",
        "/upload_csv",
        Function::ImportMentions,
        Handler::ImportMentions,
    ),
    route_of("GET", "/images/{file}", Function::Summary, Handler::Image),
    route_of("GET", "/favicon.ico", Function::Summary, Handler::Favicon),
    route_of(
        "POST",
        "/hashtag_summary",
        Function::Summary,
        Handler::HashtagSummary,
    ),
];

impl Route {
    /// Whether `path` is this route's: `Some(None)` for a path without a
    /// parameter, `Some(Some(segment))` with the raw segment.
    fn matches<'p>(&self, path: &'p str) -> Option<Option<&'p str>> {
        match self.path.split_once('{') {
            None => (self.path == path).then_some(None),
            Some((prefix, rest)) => {
                let suffix = rest.split_once('}').map_or("", |(_, s)| s);
                let segment = path.strip_prefix(prefix)?.strip_suffix(suffix)?;
                (!segment.is_empty() && !segment.contains('/')).then_some(Some(segment))
            }
        }
    }

    /// Whether a request with `method` is this route's.
    fn accepts(&self, method: &Method) -> bool {
        method.as_str() == self.method || (self.method == "GET" && method == Method::HEAD)
    }
}

/// Every route of the service.
pub async fn route(app: &App, req: Request<Body>) -> Response<Body> {
    serve(None, app, req).await
}

/// The routes of one function, as it serves them on Lambda. A path of the
/// table with another method is 405 with `Allow` (the summary function
/// also serves API Gateway's `$default` route, so that every request the
/// API has no route for gets the service's own JSON 404 or 405); another
/// function's route is a wiring mistake of the API, answered 404.
pub async fn route_function(function: Function, app: &App, req: Request<Body>) -> Response<Body> {
    serve(Some(function), app, req).await
}

async fn serve(only: Option<Function>, app: &App, req: Request<Body>) -> Response<Body> {
    let path = req.uri().path().to_string();
    let matching: Vec<(&Route, Option<&str>)> = ROUTES
        .iter()
        .filter_map(|r| r.matches(&path).map(|segment| (r, segment)))
        .collect();
    let Some(&(found, segment)) = matching.iter().find(|(r, _)| r.accepts(req.method())) else {
        return match matching.is_empty() {
            true => not_found(&req),
            false => method_not_allowed(&req, matching.iter().map(|(r, _)| r.method)),
        };
    };
    if only.is_some_and(|f| f != found.function) {
        return not_found(&req);
    }
    let param = match segment.map(path_param) {
        Some(Err(e)) => return error_response(&req, e),
        Some(Ok(p)) => p,
        None => String::new(),
    };
    match found.handler {
        Handler::Register => register(app, req).await,
        Handler::CreatePost => create_post(app, req).await,
        Handler::Home => home(app).await,
        Handler::Trends => trends(app, &req).await,
        Handler::Health => health(),
        Handler::Lookup => tag_lookup(&req),
        Handler::Tag => tag_page(app, &req, &param).await,
        Handler::TagHistory => tag_history(app, &req, &param).await,
        Handler::Post => get_post(app, &req, &param).await,
        Handler::Image => placeholder_image(&req, &param),
        Handler::Favicon => favicon(),
        Handler::User => user_page(app, &req, &param).await,
        Handler::UserMentions => user_mentions(app, &req, &param).await,
        Handler::ImportMentions => import_mentions(app, &req).await,
        Handler::HashtagSummary => hashtag_summary(app, &req).await,
    }
}

/// The path exists, but not with this method: 405 with `Allow`.
fn method_not_allowed<'m>(
    req: &Request<Body>,
    methods: impl Iterator<Item = &'m str>,
) -> Response<Body> {
    let mut allow: Vec<&str> = Vec::new();
    for m in methods {
        allow.push(m);
        if m == "GET" {
            allow.push("HEAD");
        }
    }
    let allow = allow.join(", ");
    let mut res = error_response(
        req,
        ApiError::new(
            http::StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            format!("this route accepts {allow}"),
        ),
    );
    if let Ok(v) = header::HeaderValue::from_str(&allow) {
        res.headers_mut().insert(header::ALLOW, v);
    }
    res
}
