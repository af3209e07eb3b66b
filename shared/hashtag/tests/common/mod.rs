//! Test helpers: a real `hashtag serve` process on a free port with SQLite
//! on disk, and a minimal HTTP/1.1 client.
#![allow(dead_code)] // each test binary uses a different subset

#[cfg(feature = "aws-stack")]
pub mod aws;
pub mod cognito;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A small deterministic generator (xorshift64*), so generated tests
/// reproduce.
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform in `0..n`.
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }

    /// True once in `one_in` on average.
    pub fn chance(&mut self, one_in: usize) -> bool {
        self.below(one_in) == 0
    }
}

/// A tag's post count in a hashtag store (0 if it has no page).
pub async fn total(store: &dyn hashtag_core::ports::HashtagStore, key: &str) -> u64 {
    store.page(key).await.unwrap().map_or(0, |p| p.total_posts)
}

/// Runs a `hashtag` command (`args`) on a data directory, or, when the
/// server runs through the local API Gateway, on its local AWS stack.
pub fn hashtag_cli<S: AsRef<std::ffi::OsStr>>(data_dir: &Path, args: &[S]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_hashtag"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .envs(local_aws_env(data_dir))
        .output()
        .expect("run hashtag")
}

/// Runs `hashtag publish-ranking FILE`, as [`hashtag_cli`].
pub fn publish_ranking(data_dir: &Path, file: &Path) -> std::process::Output {
    hashtag_cli(
        data_dir,
        &[std::ffi::OsStr::new("publish-ranking"), file.as_os_str()],
    )
}

/// Whether the HTTP tests run through the local API Gateway
/// (`scripts/local-api`, the deployed shape) instead of `hashtag serve`:
/// `HASHTAG_TEST_LOCAL_API=1`, which the README's test command sets for a
/// second run of the HTTP API suite.
pub fn through_local_api() -> bool {
    std::env::var_os("HASHTAG_TEST_LOCAL_API").is_some()
}

/// The variables of the local AWS stack that `scripts/local-api` started
/// for `data_dir` (none when the tests run on `hashtag serve`).
fn local_aws_env(data_dir: &Path) -> Vec<(String, String)> {
    let text = std::fs::read_to_string(data_dir.join("aws/env")).unwrap_or_default();
    text.split_whitespace()
        .filter_map(|w| w.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// A fresh directory under the system temp dir, removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "hashtag-test-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The address a server prints on its first line (`listening on http://...`).
fn listening_address(child: &mut Child) -> String {
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    line.trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
        .to_string()
}

/// A registered user and the bearer token it writes with.
#[derive(Debug, Clone)]
pub struct Account {
    /// The user id.
    pub id: String,
    /// `Authorization: Bearer` value's token.
    pub token: String,
}

/// The password of a test account (the pools' policies accept it).
pub fn password_of(username: &str) -> String {
    format!("Pw-{username}-2026!")
}

/// A running server; killed on drop.
pub struct Server {
    pub child: Child,
    pub addr: String,
    /// Whether `child` leads a process group (`scripts/local-api`).
    group: bool,
    /// The local AWS stack's variables (through the local API only).
    env: Vec<(String, String)>,
}

impl Server {
    /// Starts `hashtag serve` on 127.0.0.1 and a free port over `data_dir`.
    pub fn start(data_dir: &Path, extra: &[&str]) -> Server {
        Server::start_with_env(data_dir, extra, &[])
    }

    /// [`Server::start`] with extra environment variables.
    pub fn start_with_env(data_dir: &Path, extra: &[&str], env: &[(&str, String)]) -> Server {
        if through_local_api() {
            return Server::start_local_api(data_dir, extra);
        }
        let window: &[&str] = if extra.contains(&"--batching-window-ms") {
            &[]
        } else {
            &["--batching-window-ms", "100"]
        };
        let mut child = Command::new(env!("CARGO_BIN_EXE_hashtag"))
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(window)
            .arg("--data-dir")
            .arg(data_dir)
            .args(extra)
            .env("RUST_LOG", "warn")
            .envs(env.iter().map(|(k, v)| (k, v)))
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start hashtag serve");
        let addr = listening_address(&mut child);
        Server {
            child,
            addr,
            group: false,
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        }
    }

    /// The same API in its deployed shape: `scripts/local-api` (the
    /// template's HTTP API in front of the functions on the Lambda runtime
    /// API, the MSK triggers) on a fresh local AWS stack under `data_dir`.
    /// `--max-body-bytes` and `--batching-window-ms` become the functions'
    /// and the triggers' settings.
    fn start_local_api(data_dir: &Path, extra: &[&str]) -> Server {
        use std::os::unix::process::CommandExt;
        let flag = |name: &str| {
            let at = extra.iter().position(|a| *a == name)?;
            extra.get(at + 1).copied()
        };
        let env: Vec<String> = [
            ("--max-body-bytes", "HASHTAG_MAX_BODY_BYTES"),
            ("--admins", "HASHTAG_ADMINS"),
            ("--writes-per-minute", "HASHTAG_WRITES_PER_MINUTE"),
        ]
        .iter()
        .filter_map(|(flag_name, var)| flag(flag_name).map(|v| format!("{var}={v}")))
        .collect();
        let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        let mut child = Command::new(repo.join("scripts/local-api"))
            .current_dir(&repo)
            .env("LOCAL_AWS_STATE", data_dir.join("aws"))
            .env("LOCAL_API_ENV", env.join(" "))
            .env(
                "LOCAL_API_BATCHING_WINDOW_MS",
                flag("--batching-window-ms").unwrap_or("100"),
            )
            .process_group(0)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start scripts/local-api");
        let addr = listening_address(&mut child);
        let server = Server {
            child,
            addr,
            group: true,
            env: local_aws_env(data_dir),
        };
        // The first request of each function starts its process: requests
        // with a valid token (the gateway lets them through) that the
        // functions refuse, so that no user is registered.
        let token = cognito::id_token(&server.env, "warmup", &password_of("warmup"));
        let auth = format!("Bearer {token}");
        server.get("/health");
        for path in ["/users", "/posts"] {
            server.send(
                "POST",
                path,
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", &auth),
                ],
                b"{",
            );
        }
        server
    }

    /// Stops the server the hard way (SIGKILL), as a crash would; the local
    /// API Gateway and its stack with SIGTERM, which they clean up after.
    pub fn kill(&mut self) {
        if self.group {
            let _ = Command::new("kill")
                .args(["-TERM", "--", &format!("-{}", self.child.id())])
                .status();
        } else {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }

    pub fn get(&self, path: &str) -> Response {
        request(&self.addr, "GET", path, &[], b"")
    }

    pub fn get_html(&self, path: &str) -> Response {
        request(&self.addr, "GET", path, &[("Accept", "text/html")], b"")
    }

    pub fn post_json(&self, path: &str, body: &serde_json::Value) -> Response {
        let body = serde_json::to_vec(body).unwrap();
        request(
            &self.addr,
            "POST",
            path,
            &[("Content-Type", "application/json")],
            &body,
        )
    }

    pub fn post_form(&self, path: &str, body: &str) -> Response {
        request(
            &self.addr,
            "POST",
            path,
            &[("Content-Type", "application/x-www-form-urlencoded")],
            body.as_bytes(),
        )
    }

    /// The local AWS stack's variables (none on `hashtag serve`'s own).
    pub fn env(&self) -> &[(String, String)] {
        &self.env
    }

    /// Sends a request to the server.
    pub fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Response {
        request(&self.addr, method, path, headers, body)
    }

    /// A bearer token for `username`: from the local stack's Cognito user
    /// pool when the server runs on the AWS adapters (as on AWS), else a
    /// new account's on `hashtag serve`, which is then registered already.
    pub fn token(&self, username: &str) -> (String, Option<Response>) {
        if self.env.iter().any(|(k, _)| k == "COGNITO_CLIENT_ID") {
            return (
                cognito::id_token(&self.env, username, &password_of(username)),
                None,
            );
        }
        let res = self.post_json(
            "/users",
            &serde_json::json!({ "username": username, "password": password_of(username) }),
        );
        let token = res.json()["token"].as_str().unwrap_or_default().to_string();
        (token, Some(res))
    }

    /// Registers a user (signing it up to Cognito first through the local
    /// API) and returns its id and token.
    pub fn register(&self, username: &str) -> Account {
        let (token, res) = match self.token(username) {
            (token, Some(res)) => (token, res),
            (token, None) => {
                let body = serde_json::json!({ "username": username });
                let res = self.post_json_with(&token, "/users", &body);
                (token, res)
            }
        };
        assert_eq!(res.status, 201, "{}", res.body);
        Account {
            id: res.json()["user_id"].as_str().unwrap().to_string(),
            token,
        }
    }

    /// A JSON POST with `account`'s bearer token.
    pub fn post_json_as(
        &self,
        account: &Account,
        path: &str,
        body: &serde_json::Value,
    ) -> Response {
        self.post_json_with(&account.token, path, body)
    }

    /// A JSON POST with the bearer token `token`.
    pub fn post_json_with(&self, token: &str, path: &str, body: &serde_json::Value) -> Response {
        let body = serde_json::to_vec(body).unwrap();
        let auth = format!("Bearer {token}");
        self.send(
            "POST",
            path,
            &[
                ("Content-Type", "application/json"),
                ("Authorization", &auth),
            ],
            &body,
        )
    }

    /// Creates a post as `account` and returns its id.
    pub fn create_post(&self, account: &Account, caption: &str) -> String {
        let res = self.post_json_as(
            account,
            "/posts",
            &serde_json::json!({ "caption": caption }),
        );
        assert_eq!(res.status, 201, "{}", res.body);
        res.json()["post_id"].as_str().unwrap().to_string()
    }

    /// Polls a tag page until `check` holds or `timeout` passes.
    /// Polls `path` until `ready` holds on its JSON, for up to 30 seconds
    /// (the consumers are asynchronous; through the deployed shape a
    /// consumer's first batch waits for its cold start); returns the last
    /// answer.
    pub fn wait_for_json(
        &self,
        path: &str,
        ready: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let body = self.get(path).json();
            if ready(&body) || Instant::now() > deadline {
                return body;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    pub fn wait_for_tag(
        &self,
        tag: &str,
        timeout: Duration,
        check: impl Fn(&serde_json::Value) -> bool,
    ) -> serde_json::Value {
        let start = Instant::now();
        loop {
            let res = self.get(&format!("/tags/{tag}"));
            if res.status == 200 {
                let page = res.json();
                if check(&page) {
                    return page;
                }
            }
            assert!(
                start.elapsed() < timeout,
                "tag {tag} not as expected after {timeout:?}: {} {}",
                res.status,
                res.body
            );
            std::thread::sleep(Duration::from_millis(25));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// An HTTP response.
#[derive(Debug)]
pub struct Response {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

impl Response {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Asserts an error response of the documented shape.
    pub fn assert_error(&self, status: u16, code: &str) {
        assert_eq!(self.status, status, "{}", self.body);
        let v = self.json();
        assert_eq!(v["error"]["code"], code, "{}", self.body);
        assert!(v["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()));
    }
}

/// Sends one request on a new connection (`Connection: close`) and reads the
/// whole response.
pub fn request(
    addr: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Response {
    let mut stream = TcpStream::connect(addr).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in headers {
        head.push_str(&format!("{k}: {v}\r\n"));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).unwrap();
    let _ = stream.write_all(body); // the server may answer 413 before reading it all
    let mut raw = Vec::new();
    let _ = stream.read_to_end(&mut raw);
    parse_response(&raw)
}

fn parse_response(raw: &[u8]) -> Response {
    let split = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .unwrap_or_else(|| panic!("no header end in {:?}", String::from_utf8_lossy(raw)));
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let mut lines = head.split("\r\n");
    let status: u16 = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    let mut body = raw[split + 4..].to_vec();
    let chunked = headers
        .iter()
        .any(|(k, v)| k.eq_ignore_ascii_case("transfer-encoding") && v.contains("chunked"));
    if chunked {
        body = dechunk(&body);
    }
    Response {
        status,
        headers,
        body: String::from_utf8_lossy(&body).to_string(),
    }
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size =
            usize::from_str_radix(std::str::from_utf8(&data[..eol]).unwrap().trim(), 16).unwrap();
        if size == 0 {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[eol + 2 + size + 2..];
    }
    out
}
