//! Generated requests against the HTTP API: random methods, paths, headers
//! and bodies (random bytes, random JSON, and near-valid posts and users
//! with one field mutated). No answer may be a 5xx or a panic, and every
//! error answered as JSON must have the documented shape. Runs the
//! handlers in-process for volume, then a share of the cases through a
//! real `hashtag serve` over TCP.

mod common;

use bytes::Bytes as Body;
use common::{Rng, TempDir};
use hashtag_http::auth::{Auth, GatewayClaims};
use hashtag_http::{route, DEFAULT_MAX_BODY_BYTES};
use http::{Method, Request};
use serde_json::{json, Value};

const IN_PROCESS_CASES: usize = 20_000;
const OVER_TCP_CASES: usize = 1_000;

const SEGMENTS: &[&str] = &[
    "rust",
    "Rust",
    "%",
    "%ZZ",
    "%F0%9F%A6%80",
    "..",
    "%2e%2e",
    "%00",
    "%C3%BC",
    "123",
    "-1",
    "99999999999999999999999",
    "%23rust",
    "",
    "a%20b",
    "1.svg",
    "x.svg",
    "%FF%FE",
    "caf%C3%A9",
    "%E6%9D%B1%E4%BA%AC",
    "<script>",
    "%3Cscript%3E",
    "' OR 1=1 --",
    "null",
];
const PATHS: &[&str] = &[
    "/",
    "/me",
    "/signin",
    "/session",
    "/signout",
    "/users",
    "/register",
    "/posts",
    "/create_post",
    "/tags/{}",
    "/tags",
    "/tags?name={}",
    "/posts/{}",
    "/images/{}",
    "/hashtag_summary",
    "/health",
    "/emoji",
    "/emoji/windows?since={}",
    "/{}",
    "/tags/{}/{}",
    "/posts/{}.svg",
    "/metrics",
];
const CONTENT_TYPES: &[&str] = &[
    "application/json",
    "application/x-www-form-urlencoded",
    "text/plain",
    "application/json; charset=utf-8",
    "multipart/form-data; boundary=x",
    "APPLICATION/JSON",
    ";;",
];

fn text(rng: &mut Rng) -> String {
    let pieces = [
        "#rust",
        "#Rust",
        "@alice",
        " ",
        "#",
        "##",
        "#東京",
        "ü",
        "🦀",
        "\u{0}",
        "\"",
        "<b>",
        "&amp;",
        "http://a.com/#x",
        "#a_b",
        "\n",
        "%",
        "'; DROP TABLE posts; --",
        "#123",
    ];
    let mut s = String::new();
    for _ in 0..rng.below(12) {
        let piece: &&str = rng.pick(&pieces);
        s.push_str(piece);
    }
    if rng.chance(20) {
        s.push_str(&"#t ".repeat(40)); // too many tags
    }
    if rng.chance(20) {
        s.push_str(&"x".repeat(2_300)); // too long
    }
    s
}

fn random_json(rng: &mut Rng, depth: usize) -> Value {
    match rng.below(if depth > 2 { 5 } else { 7 }) {
        0 => Value::Null,
        1 => json!(rng.chance(2)),
        2 => json!(rng.next() as i64),
        3 => json!(rng.next() as f64 / 7.0),
        4 => json!(text(rng)),
        5 => Value::Array(
            (0..rng.below(4))
                .map(|_| random_json(rng, depth + 1))
                .collect(),
        ),
        _ => {
            let keys = [
                "user_id",
                "caption",
                "images",
                "image_count",
                "username",
                "hashtag",
                "emoji_type",
                "timestamp",
                "x",
            ];
            Value::Object(
                (0..rng.below(5))
                    .map(|_| (rng.pick(&keys).to_string(), random_json(rng, depth + 1)))
                    .collect(),
            )
        }
    }
}

/// A body that is right for `POST /users` or `POST /posts` (which the
/// path says), or almost: half the time one part is replaced.
fn near_valid(rng: &mut Rng, user_id: &str) -> (&'static str, Value) {
    let register = rng.chance(2);
    let mut v = if register {
        json!({ "username": format!("u{}", rng.next() % 100_000) })
    } else {
        json!({ "user_id": user_id, "caption": text(rng), "image_count": 1 })
    };
    let path = if register { "/users" } else { "/posts" };
    if rng.chance(2) {
        return (path, v);
    }
    let obj = v.as_object_mut().unwrap();
    let keys: Vec<String> = obj.keys().cloned().collect();
    let key = rng.pick(&keys).clone();
    let replacement = match rng.below(6) {
        0 => json!(-1),
        1 => json!("99999999999999999999999"),
        2 => json!([text(rng), "javascript:alert(1)", "//evil", "/ok.svg"]),
        3 => json!(21),
        4 => Value::Null,
        _ => random_json(rng, 1),
    };
    obj.insert(key, replacement);
    if rng.chance(3) {
        obj.insert("images".into(), json!(["https://cdn.example.com/a.jpg"]));
    }
    (path, v)
}

/// One generated request: method, path, headers, body.
struct Case {
    method: Method,
    path: String,
    headers: Vec<(&'static str, Vec<u8>)>,
    body: Vec<u8>,
}

fn case(rng: &mut Rng, user_id: &str) -> Case {
    let methods = [
        Method::GET,
        Method::POST,
        Method::POST,
        Method::PUT,
        Method::DELETE,
        Method::HEAD,
        Method::PATCH,
    ];
    let method = rng.pick(&methods).clone();
    let mut path = rng.pick(PATHS).to_string();
    while path.contains("{}") {
        let seg = if rng.chance(30) {
            "a".repeat(5_000)
        } else {
            rng.pick(SEGMENTS).to_string()
        };
        path = path.replacen("{}", &seg, 1);
    }
    let mut headers = Vec::new();
    if !rng.chance(5) {
        headers.push(("content-type", rng.pick(CONTENT_TYPES).as_bytes().to_vec()));
    }
    if rng.chance(3) {
        headers.push((
            "accept",
            rng.pick(&["text/html", "*/*", "application/json"])
                .as_bytes()
                .to_vec(),
        ));
    }
    if rng.chance(4) {
        let key: Vec<u8> = match rng.below(4) {
            0 => b"key-1".to_vec(),
            1 => vec![b'k'; 300],
            2 => vec![0xC3, 0xBC], // not ASCII
            _ => format!("k{}", rng.next() % 50).into_bytes(),
        };
        headers.push(("idempotency-key", key));
    }
    let value = if rng.chance(2) {
        let (target, value) = near_valid(rng, user_id);
        if rng.chance(2) {
            // Aimed at its route, as a client would send it.
            path = target.to_string();
            headers.retain(|(k, _)| *k != "content-type");
            headers.push(("content-type", b"application/json".to_vec()));
            return Case {
                method: Method::POST,
                path,
                headers,
                body: value.to_string().into_bytes(),
            };
        }
        value
    } else {
        random_json(rng, 0)
    };
    let body = match rng.below(6) {
        0 => Vec::new(),
        1 => (0..rng.below(300)).map(|_| rng.next() as u8).collect(),
        2 => {
            // Form-encode the object's scalar fields.
            let pairs: Vec<(String, String)> = value
                .as_object()
                .map(|o| {
                    o.iter()
                        .map(|(k, v)| (k.clone(), v.as_str().map_or(v.to_string(), String::from)))
                        .collect()
                })
                .unwrap_or_default();
            serde_urlencoded::to_string(pairs).unwrap().into_bytes()
        }
        3 if rng.chance(10) => vec![b'{'; DEFAULT_MAX_BODY_BYTES + 1],
        _ => value.to_string().into_bytes(),
    };
    Case {
        method,
        path,
        headers,
        body,
    }
}

/// Checks an answer: never a 5xx, and JSON errors have the documented shape.
fn check(case: &Case, status: u16, content_type: Option<&str>, body: &[u8]) {
    let what = || {
        format!(
            "{} {} {:?} -> {status}: {}",
            case.method,
            case.path,
            case.headers
                .iter()
                .map(|(k, v)| (k, String::from_utf8_lossy(v)))
                .collect::<Vec<_>>(),
            String::from_utf8_lossy(&body[..body.len().min(300)])
        )
    };
    assert!(status < 500, "server error for {}", what());
    let has_body = case.method != Method::HEAD; // HEAD answers carry no body over HTTP
    if has_body && status >= 400 && content_type.is_some_and(|t| t.starts_with("application/json"))
    {
        let v: Value = serde_json::from_slice(body).unwrap_or_else(|e| panic!("{e}: {}", what()));
        assert!(
            v["error"]["code"].is_string() && v["error"]["message"].is_string(),
            "{}",
            what()
        );
    }
}

/// The identity API Gateway verified for in-process requests: one per
/// registration (each identity registers once), the fuzzer's otherwise.
fn claims_for(path: &str, n: usize) -> GatewayClaims {
    let sub = match path.starts_with("/users") || path.starts_with("/register") {
        true => format!("newcomer-{n}"),
        false => "fuzzer".to_string(),
    };
    GatewayClaims([("sub".to_string(), sub)].into_iter().collect())
}

async fn registered_user(app: &hashtag_http::App) -> String {
    let mut req = Request::post("/users")
        .header("content-type", "application/json")
        .body(Body::from(r#"{"username":"fuzzer"}"#))
        .unwrap();
    req.extensions_mut().insert(claims_for("/posts", 0));
    let res = route(app, req).await;
    let v: Value = serde_json::from_slice(res.body().as_ref()).unwrap();
    v["user_id"].as_str().unwrap().to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_requests_never_get_a_server_error() {
    let dir = TempDir::new("fuzz");
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    let app = std::sync::Arc::new(
        hashtag_http::App::new(
            stores.posts.clone(),
            Some(stores.hashtags.clone()),
            1,
            DEFAULT_MAX_BODY_BYTES,
            Auth::Gateway,
        )
        .unwrap()
        .with_write_limit(0)
        .with_stream(std::sync::Arc::new(stores.log.clone()), None),
    );
    let user_id = registered_user(&app).await;
    let mut rng = Rng(0xF022_2026);
    let (mut ran, mut created) = (0, 0);
    for _ in 0..IN_PROCESS_CASES {
        let case = case(&mut rng, &user_id);
        let mut req = Request::builder()
            .method(case.method.clone())
            .uri(case.path.as_str());
        for (k, v) in &case.headers {
            req = req.header(*k, http::HeaderValue::from_bytes(v).unwrap());
        }
        let Ok(mut req) = req.body(Body::from(case.body.clone())) else {
            continue; // a URI that hyper would not have accepted either
        };
        req.extensions_mut().insert(claims_for(&case.path, ran));
        let app = app.clone();
        // A panic surfaces as a JoinError here.
        let res = tokio::spawn(async move { route(&app, req).await })
            .await
            .expect("handler panicked");
        let content_type = res
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok());
        check(
            &case,
            res.status().as_u16(),
            content_type,
            res.body().as_ref(),
        );
        ran += 1;
        created += usize::from(res.status() == http::StatusCode::CREATED);
    }
    eprintln!("{ran} generated requests in-process, {created} of them created something");
    assert!(ran > IN_PROCESS_CASES * 9 / 10);
    assert!(
        created > 100,
        "the generator should reach the success paths too"
    );

    // The same kind of cases through a real server over TCP.
    drop(app);
    drop(stores);
    let server = common::Server::start(&dir.0, &[]);
    let account = server.register("tcpfuzzer");
    for n in 0..OVER_TCP_CASES {
        let case = case(&mut rng, &account.id);
        let mut headers: Vec<(&str, String)> = case
            .headers
            .iter()
            .map(|(k, v)| (*k, String::from_utf8_lossy(v).to_string()))
            .collect();
        if n % 2 == 0 {
            headers.push(("Authorization", format!("Bearer {}", account.token)));
        }
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let path = case.path.replace(' ', "%20");
        let res = common::request(
            &server.addr,
            case.method.as_str(),
            &path,
            &headers,
            &case.body,
        );
        check(
            &case,
            res.status,
            res.header("content-type"),
            res.body.as_bytes(),
        );
    }
    assert_eq!(server.get("/health").status, 200, "the server is still up");
    eprintln!("{OVER_TCP_CASES} generated requests over TCP");
}
