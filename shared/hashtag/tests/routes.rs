//! The route table (`hashtag_http::ROUTES`) against `template.yaml`: every
//! route the router serves has an HTTP API route in the template to the
//! function that serves it, and every HTTP API route of the template reaches
//! a function that answers it (not with "no route" 404 or 405).

mod common;

use bytes::Bytes;
use common::TempDir;
use hashtag_http::auth::{Auth, GatewayClaims};
use hashtag_http::{route_function, App, Function, ROUTES};
use http::{Request, StatusCode};

/// An HTTP API route as the template declares it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TemplateRoute {
    method: String,
    path: String,
    /// `BuildProperties.Binary` of the function the route invokes.
    binary: String,
    /// The authorizer that guards it, if any.
    authorizer: Option<String>,
}

fn template() -> String {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
    std::fs::read_to_string(path).unwrap()
}

/// The HTTP API routes of a template.
fn routes_of(template: &str) -> Vec<TemplateRoute> {
    let doc: serde_yaml::Value = serde_yaml::from_str(template).unwrap();
    let mut routes = Vec::new();
    for (_, resource) in doc["Resources"].as_mapping().unwrap() {
        let Some(binary) = resource["Metadata"]["BuildProperties"]["Binary"].as_str() else {
            continue;
        };
        let Some(events) = resource["Properties"]["Events"].as_mapping() else {
            continue;
        };
        for (_, event) in events {
            if event["Type"].as_str() == Some("HttpApi") {
                let props = &event["Properties"];
                routes.push(TemplateRoute {
                    method: props["Method"].as_str().unwrap().to_uppercase(),
                    path: props["Path"].as_str().unwrap().to_string(),
                    binary: binary.to_string(),
                    authorizer: props["Auth"]["Authorizer"].as_str().map(String::from),
                });
            }
        }
    }
    routes
}

/// Routes of the table that the template does not send to their function
/// (the server's own routes aside), or does not guard with the JWT
/// authorizer exactly when they need an identity.
fn missing_from(template: &[TemplateRoute]) -> Vec<String> {
    ROUTES
        .iter()
        .filter_map(|r| Some((r, r.function.binary()?)))
        .filter(|(r, binary)| {
            let authorizer = r.signed.then_some("CognitoJwt");
            !template.iter().any(|t| {
                t.method == r.method
                    && t.path == r.path
                    && t.binary == *binary
                    && t.authorizer.as_deref() == authorizer
            })
        })
        .map(|(r, binary)| format!("{} {} -> {binary}", r.method, r.path))
        .collect()
}

fn function_of(binary: &str) -> Option<Function> {
    [
        Function::Register,
        Function::CreatePost,
        Function::Summary,
        Function::ImportMentions,
    ]
    .into_iter()
    .find(|f| f.binary() == Some(binary))
}

/// A request for a template route, with a plausible body and parameters.
fn request_for(route: &TemplateRoute) -> Request<Bytes> {
    let path = route
        .path
        .replace("{name}", "rust")
        .replace("{id}", "1")
        .replace("{file}", "1.svg");
    let (content_type, body) = match route.path.as_str() {
        "/hashtag_summary" => ("application/x-www-form-urlencoded", "hashtag=rust"),
        _ => (
            "application/json",
            r#"{"username":"routes","user_id":"1","caption":"hi"}"#,
        ),
    };
    let mut req = Request::builder()
        .method(route.method.as_str())
        .uri(path)
        .header("content-type", content_type)
        .body(Bytes::from(body))
        .unwrap();
    // As API Gateway passes a verified token's claims.
    let claims = [("sub".to_string(), "routes".to_string())]
        .into_iter()
        .collect();
    req.extensions_mut().insert(GatewayClaims(claims));
    req
}

/// Template routes whose function answers "no route" (404) or 405.
async fn unanswered(app: &App, template: &[TemplateRoute]) -> Vec<String> {
    let mut found = Vec::new();
    // `$default` answers what no route matches: its 404s are its job.
    for route in template.iter().filter(|t| t.path != "$default") {
        let name = format!("{} {} -> {}", route.method, route.path, route.binary);
        let Some(function) = function_of(&route.binary) else {
            found.push(format!("{name}: no such HTTP function"));
            continue;
        };
        let res = route_function(function, app, request_for(route)).await;
        let body: serde_json::Value = serde_json::from_slice(res.body()).unwrap_or_default();
        let no_route = res.status() == StatusCode::NOT_FOUND
            && body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("no route"));
        if no_route || res.status() == StatusCode::METHOD_NOT_ALLOWED {
            found.push(format!("{name}: answered {}", res.status()));
        }
    }
    found
}

fn embedded_app(dir: &TempDir) -> App {
    let stores = hashtag_embedded::open(&dir.0, 1).unwrap();
    App::new(
        stores.posts,
        Some(stores.hashtags),
        1,
        64 * 1024,
        Auth::Gateway,
    )
    .unwrap()
}

#[test]
fn every_route_reaches_its_function_in_the_template() {
    let template = routes_of(&template());
    assert_eq!(missing_from(&template), Vec::<String>::new());
    // What no route matches goes to the summary function, whose router
    // answers the service's own 404 or 405.
    assert!(template
        .iter()
        .any(|t| t.path == "$default" && t.method == "ANY" && t.binary == "summary"));
}

#[tokio::test]
async fn every_template_route_is_answered_by_its_function() {
    let dir = TempDir::new("routes");
    let app = embedded_app(&dir);
    let template = routes_of(&template());
    let deployed = ROUTES.iter().filter(|r| r.function.binary().is_some());
    assert!(template.len() >= deployed.count());
    assert_eq!(unanswered(&app, &template).await, Vec::<String>::new());
}

#[tokio::test]
async fn the_checks_catch_a_route_removed_or_sent_to_the_wrong_function() {
    let mut template = routes_of(&template());
    let images = template
        .iter()
        .position(|t| t.path == "/images/{file}")
        .unwrap();
    let removed = template.remove(images);
    assert_eq!(
        missing_from(&template),
        vec!["GET /images/{file} -> summary".to_string()]
    );
    // The same route sent to another function: missing, and unanswered.
    template.push(TemplateRoute {
        binary: "register".into(),
        ..removed
    });
    assert_eq!(missing_from(&template).len(), 1);
    // A write route left open: anyone could reach the function.
    let mut open = routes_of(&self::template());
    let posts = open
        .iter()
        .position(|t| t.path == "/posts" && t.method == "POST")
        .unwrap();
    open[posts].authorizer = None;
    assert_eq!(
        missing_from(&open),
        vec!["POST /posts -> create-post".to_string()]
    );
    let dir = TempDir::new("routes-wrong");
    assert_eq!(unanswered(&embedded_app(&dir), &template).await.len(), 1);
}
