//! `hashtag serve`'s own accounts, against the real server binary: a
//! browser's sign-up, post and sign-out with the session cookie and CSRF
//! tokens, stolen cookies and tokens after sign-out, login and write limits,
//! and what the database keeps of a password. (Through the local API
//! Gateway, Cognito keeps accounts: `http_api.rs` covers that path.)

mod common;

use common::{password_of, Response, Server, TempDir};
use serde_json::json;

/// A browser: the cookies it was given, sent back on every request.
struct Browser<'s> {
    server: &'s Server,
    cookies: Vec<(String, String)>,
}

impl<'s> Browser<'s> {
    fn new(server: &'s Server) -> Self {
        Browser {
            server,
            cookies: Vec::new(),
        }
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    fn keep_cookies(&mut self, res: &Response) {
        for (name, value) in &res.headers {
            if !name.eq_ignore_ascii_case("set-cookie") {
                continue;
            }
            let pair = value.split(';').next().unwrap();
            let (k, v) = pair.split_once('=').unwrap();
            self.cookies.retain(|(name, _)| name != k);
            if !v.is_empty() {
                self.cookies.push((k.to_string(), v.to_string()));
            }
        }
    }

    fn get(&mut self, path: &str) -> Response {
        let cookie = self.cookie_header();
        let res = self.server.send(
            "GET",
            path,
            &[("Accept", "text/html"), ("Cookie", &cookie)],
            b"",
        );
        self.keep_cookies(&res);
        res
    }

    /// Sends a form as the browser does: urlencoded, with its cookies.
    fn submit(&mut self, path: &str, fields: &[(&str, &str)]) -> Response {
        let cookie = self.cookie_header();
        let body = serde_urlencoded::to_string(fields).unwrap();
        let res = self.server.send(
            "POST",
            path,
            &[
                ("Accept", "text/html"),
                ("Content-Type", "application/x-www-form-urlencoded"),
                ("Cookie", &cookie),
            ],
            body.as_bytes(),
        );
        self.keep_cookies(&res);
        res
    }
}

/// The CSRF token of the page's forms.
fn csrf_of(page: &Response) -> String {
    let (_, rest) = page
        .body
        .split_once("name=\"csrf\" value=\"")
        .unwrap_or_else(|| panic!("no CSRF token in {}", page.body));
    rest.split('"').next().unwrap().to_string()
}

#[test]
fn a_browser_registers_posts_as_itself_and_signs_out() {
    let dir = TempDir::new("browser");
    let server = Server::start(&dir.0, &[]);
    let mut browser = Browser::new(&server);

    let signin = browser.get("/signin");
    assert_eq!(signin.status, 200, "{}", signin.body);
    let csrf = csrf_of(&signin);
    // A form without its token (another site's) is refused.
    let forged = browser.submit(
        "/register",
        &[("username", "bea"), ("password", "longenough")],
    );
    assert_eq!(forged.status, 403, "{}", forged.body);
    assert!(forged.body.contains("reload the page"), "{}", forged.body);

    let res = browser.submit(
        "/register",
        &[
            ("username", "Bea"),
            ("password", "longenough"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(res.status, 303, "{}", res.body);
    assert_eq!(res.header("location"), Some("/"));
    let set_cookie = res.header("set-cookie").unwrap();
    assert!(
        set_cookie.contains("HttpOnly") && set_cookie.contains("SameSite=Lax"),
        "{set_cookie}"
    );
    let home = browser.get("/");
    assert!(
        home.body
            .contains("Signed in as <a href=\"/users/Bea\">@Bea</a>"),
        "{}",
        home.body
    );
    let csrf = csrf_of(&home);

    // The post form needs no id; the author is whoever is signed in.
    let no_token = browser.submit("/create_post", &[("caption", "no token #forms")]);
    assert_eq!(no_token.status, 403, "{}", no_token.body);
    let res = browser.submit(
        "/create_post",
        &[("caption", "hello @carl #Forms"), ("csrf", &csrf)],
    );
    assert_eq!(res.status, 303, "{}", res.body);
    let location = res.header("location").unwrap().to_string();
    assert!(location.starts_with("/posts/"), "{location}");
    let post = browser.get(&location);
    assert!(
        post.body.contains("By <a href=\"/users/Bea\">@Bea</a>"),
        "{}",
        post.body
    );
    assert!(post.body.contains("<a href=\"/users/carl\">@carl</a>"));
    assert!(
        post.body.contains(" UTC</time>"),
        "a readable time: {}",
        post.body
    );

    // Signing out ends the session: the old cookie, replayed, is refused.
    let stolen = browser.cookie_header();
    let res = browser.submit("/signout", &[("csrf", &csrf)]);
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(res.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert!(browser.get("/").body.contains("href=\"/signin\""));
    let body =
        serde_urlencoded::to_string([("caption", "replayed #forms"), ("csrf", &csrf)]).unwrap();
    let replay = server.send(
        "POST",
        "/create_post",
        &[
            ("Content-Type", "application/x-www-form-urlencoded"),
            ("Cookie", &stolen),
        ],
        body.as_bytes(),
    );
    replay.assert_error(401, "unauthenticated");

    // Signing in again through the form.
    let csrf = csrf_of(&browser.get("/signin"));
    let res = browser.submit(
        "/session",
        &[
            ("username", "bea"),
            ("password", "longenough"),
            ("csrf", &csrf),
        ],
    );
    assert_eq!(res.status, 303, "{}", res.body);
    assert!(browser.get("/").body.contains("Signed in as"));
}

#[test]
fn a_token_stops_working_at_sign_out() {
    let dir = TempDir::new("token");
    let server = Server::start(&dir.0, &[]);
    let ann = server.register("ann");
    let auth = format!("Bearer {}", ann.token);
    let me = || server.send("GET", "/me", &[("Authorization", &auth)], b"");
    assert_eq!(me().status, 200);
    let signed_in = server.post_json(
        "/session",
        &json!({ "username": "ANN", "password": password_of("ann") }),
    );
    assert_eq!(signed_in.status, 200, "{}", signed_in.body);
    let second = signed_in.json()["token"].as_str().unwrap().to_string();
    let out = server.send("POST", "/signout", &[("Authorization", &auth)], b"");
    assert_eq!(out.status, 204, "{}", out.body);
    me().assert_error(401, "unauthenticated");
    server
        .post_json_as(&ann, "/posts", &json!({ "caption": "#late" }))
        .assert_error(401, "unauthenticated");
    // Another session of the same account lives on.
    let res = server.post_json_with(&second, "/posts", &json!({ "caption": "#still" }));
    assert_eq!(res.status, 201, "{}", res.body);
}

#[test]
fn the_eleventh_bad_password_in_a_minute_is_429() {
    let dir = TempDir::new("logins");
    let server = Server::start(&dir.0, &[]);
    server.register("cat");
    let attempt = |password: &str| {
        server.post_json(
            "/session",
            &json!({ "username": "cat", "password": password }),
        )
    };
    for _ in 0..10 {
        attempt("wrong password").assert_error(401, "invalid_credentials");
    }
    let limited = attempt("wrong password");
    limited.assert_error(429, "rate_limited");
    let wait: u64 = limited.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // Not even the right password is checked until the window ends.
    attempt(&password_of("cat")).assert_error(429, "rate_limited");
    // An unknown name is refused like a wrong password.
    server
        .post_json(
            "/session",
            &json!({ "username": "nobody", "password": "whatever1" }),
        )
        .assert_error(401, "invalid_credentials");
}

#[test]
fn writes_beyond_the_account_limit_are_429() {
    let dir = TempDir::new("writes");
    let server = Server::start(&dir.0, &["--writes-per-minute", "3"]);
    let dan = server.register("dan");
    for i in 0..3 {
        server.create_post(&dan, &format!("post {i} #busy"));
    }
    let res = server.post_json_as(&dan, "/posts", &json!({ "caption": "one more #busy" }));
    res.assert_error(429, "rate_limited");
    assert!(res.header("retry-after").is_some());
    // Other accounts are not held back.
    let eve = server.register("eve");
    server.create_post(&eve, "#busy too");
}

#[test]
fn passwords_are_stored_only_as_argon2id_hashes() {
    let dir = TempDir::new("hashes");
    let password = "a very particular passphrase";
    {
        let server = Server::start(&dir.0, &[]);
        let res = server.post_json(
            "/users",
            &json!({ "username": "fay", "password": password }),
        );
        assert_eq!(res.status, 201, "{}", res.body);
        server
            .post_json("/users", &json!({ "username": "gus", "password": "short" }))
            .assert_error(400, "invalid_password");
    }
    let db = rusqlite::Connection::open(dir.0.join("posts.db")).unwrap();
    let hash: String = db
        .query_row(
            "SELECT password_hash FROM credentials JOIN users USING (user_id) WHERE username = 'fay'",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert!(
        hash.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
        "{hash}"
    );
    for file in ["posts.db", "posts.db-wal"] {
        let bytes = std::fs::read(dir.0.join(file)).unwrap_or_default();
        assert!(
            !bytes
                .windows(password.len())
                .any(|w| w == password.as_bytes()),
            "{file} holds the password in clear"
        );
    }
}
