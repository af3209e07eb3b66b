//! The route table, and the router that serves it. The single-machine
//! server routes every request through [`route`]; on AWS, API Gateway sends
//! each route to the function the table names, which serves only its own
//! routes ([`route_function`]). `template.yaml` is checked against the same
//! table (`shared/hashtag/tests/routes.rs`).

use http::{header, Method, Request, Response};

use super::account_routes::{me, register, sign_in, sign_in_page, sign_out};
use super::emoji_routes::{emoji_windows, health, post_emoji};
use super::handlers::{
    create_post, error_response, favicon, get_post, hashtag_summary, not_found, placeholder_image,
    tag_lookup, tag_page, user_page,
};
use super::history_routes::tag_history;
use super::mention_routes::{import_mentions, user_mentions};
use super::reaction_routes::{post_reactions, react, unreact};
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
    /// `functions/create-post`: the one HTTP function that publishes
    /// (posts and reactions), and so reports on the broker (`/health`).
    CreatePost,
    /// `functions/summary`: the read side.
    Summary,
    /// `functions/import-mentions`: CSV imports into the mention graph,
    /// apart so that create-post's bootstrap carries no DynamoDB client.
    ImportMentions,
    /// None: served by `hashtag serve` only (signing in and out of its own
    /// accounts, which Cognito's user pool provides on AWS).
    ServerOnly,
}

impl Function {
    /// The function's binary, as `template.yaml` names it
    /// (`BuildProperties.Binary`); `None` for routes not deployed.
    pub fn binary(self) -> Option<&'static str> {
        match self {
            Function::Register => Some("register"),
            Function::CreatePost => Some("create-post"),
            Function::Summary => Some("summary"),
            Function::ImportMentions => Some("import-mentions"),
            Function::ServerOnly => None,
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
    SignInPage,
    SignIn,
    SignOut,
    Me,
    React,
    Unreact,
    Reactions,
    Emoji,
    EmojiWindows,
}

/// One route: a method and a path in API Gateway's syntax (`{name}` for
/// one whole path segment).
#[derive(Debug, Clone, Copy)]
pub struct Route {
    /// The method (a `GET` route answers `HEAD` too).
    pub method: &'static str,
    /// The path.
    pub path: &'static str,
    /// The function that serves it on AWS.
    pub function: Function,
    /// Whether it needs a verified identity: on AWS, the HTTP API's JWT
    /// authorizer guards it (and answers 401 without invoking the
    /// function).
    pub signed: bool,
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
        signed: false,
        handler,
    }
}

/// A route that needs a verified identity.
const fn signed(route: Route) -> Route {
    Route {
        signed: true,
        ..route
    }
}

/// Every route of the service (but the single-machine server's `/metrics`).
pub const ROUTES: &[Route] = &[
    signed(route_of(
        "POST",
        "/users",
        Function::Register,
        Handler::Register,
    )),
    signed(route_of(
        "POST",
        "/register",
        Function::Register,
        Handler::Register,
    )),
    signed(route_of(
        "POST",
        "/posts",
        Function::CreatePost,
        Handler::CreatePost,
    )),
    signed(route_of(
        "POST",
        "/create_post",
        Function::CreatePost,
        Handler::CreatePost,
    )),
    signed(route_of("GET", "/me", Function::Summary, Handler::Me)),
    route_of("GET", "/signin", Function::ServerOnly, Handler::SignInPage),
    route_of("POST", "/session", Function::ServerOnly, Handler::SignIn),
    route_of("POST", "/signout", Function::ServerOnly, Handler::SignOut),
    route_of("GET", "/", Function::Summary, Handler::Home),
    route_of("GET", "/trends/tags", Function::Summary, Handler::Trends),
    route_of("GET", "/health", Function::CreatePost, Handler::Health),
    signed(route_of(
        "POST",
        "/emoji",
        Function::CreatePost,
        Handler::Emoji,
    )),
    route_of(
        "GET",
        "/emoji/windows",
        Function::Summary,
        Handler::EmojiWindows,
    ),
    route_of("GET", "/tags", Function::Summary, Handler::Lookup),
    route_of("GET", "/tags/{name}", Function::Summary, Handler::Tag),
    route_of(
        "GET",
        "/tags/{name}/history",
        Function::Summary,
        Handler::TagHistory,
    ),
    route_of("GET", "/posts/{id}", Function::Summary, Handler::Post),
    route_of(
        "GET",
        "/posts/{id}/reactions",
        Function::Summary,
        Handler::Reactions,
    ),
    signed(route_of(
        "POST",
        "/posts/{id}/reactions",
        Function::CreatePost,
        Handler::React,
    )),
    signed(route_of(
        "DELETE",
        "/posts/{id}/reactions/{emoji}",
        Function::CreatePost,
        Handler::Unreact,
    )),
    route_of("GET", "/users/{name}", Function::Summary, Handler::User),
    route_of(
        "GET",
        "/users/{name}/mentions",
        Function::Summary,
        Handler::UserMentions,
    ),
    signed(route_of(
        "POST",
        "/mentions/import",
        Function::ImportMentions,
        Handler::ImportMentions,
    )),
    signed(route_of(
        "POST",
        "/upload_csv",
        Function::ImportMentions,
        Handler::ImportMentions,
    )),
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
    /// The raw segments of `path` in this route's parameters, in order,
    /// if `path` is this route's.
    fn matches<'p>(&self, path: &'p str) -> Option<Vec<&'p str>> {
        let (mut pattern, mut actual) = (self.path.split('/'), path.split('/'));
        let mut params = Vec::new();
        loop {
            match (pattern.next(), actual.next()) {
                (None, None) => return Some(params),
                (Some(p), Some(a)) if p.starts_with('{') && p.ends_with('}') => {
                    if a.is_empty() {
                        return None;
                    }
                    params.push(a);
                }
                (Some(p), Some(a)) if p == a => {}
                _ => return None,
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
    let matching: Vec<(&Route, Vec<&str>)> = ROUTES
        .iter()
        .filter_map(|r| r.matches(&path).map(|segments| (r, segments)))
        .collect();
    let Some((found, segments)) = matching.iter().find(|(r, _)| r.accepts(req.method())) else {
        return match matching.is_empty() {
            true => not_found(&req),
            false => method_not_allowed(&req, matching.iter().map(|(r, _)| r.method)),
        };
    };
    if only.is_some_and(|f| f != found.function) {
        return not_found(&req);
    }
    let params = match segments
        .iter()
        .map(|s| path_param(s))
        .collect::<Result<Vec<_>, _>>()
    {
        Ok(params) => params,
        Err(e) => return error_response(&req, e),
    };
    let param = params.first().cloned().unwrap_or_default();
    match found.handler {
        Handler::Register => register(app, req).await,
        Handler::CreatePost => create_post(app, req).await,
        Handler::Home => home(app, &req).await,
        Handler::Trends => trends(app, &req).await,
        Handler::Health => health(app).await,
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
        Handler::SignInPage => sign_in_page(app, &req).await,
        Handler::SignIn => sign_in(app, req).await,
        Handler::SignOut => sign_out(app, req).await,
        Handler::Me => me(app, &req).await,
        Handler::React => react(app, req, &param).await,
        Handler::Unreact => {
            unreact(app, req, &param, params.get(1).map_or("", String::as_str)).await
        }
        Handler::Reactions => post_reactions(app, &req, &param).await,
        Handler::Emoji => post_emoji(app, req).await,
        Handler::EmojiWindows => emoji_windows(app, &req).await,
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
