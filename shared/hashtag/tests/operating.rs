//! The single-machine server under hostile clients and beside operators'
//! commands, against the real binary: slow and idle connections are cut
//! off at their timeouts while others are answered, the connection cap
//! answers 503 without stopping service, a data directory has one server
//! and one partition count, commands refuse a mistyped directory and take
//! their turn beside a busy server, `reconcile --repair` during traffic
//! counts nothing twice, and look-alike spellings are one tag.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{publish_ranking, Server, TempDir};
use serde_json::json;

/// Runs `hashtag ARGS`, which should exit by itself, within 30 s.
fn hashtag(args: &[&str], data_dir: &Path) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_hashtag"))
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let started = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if started.elapsed() > Duration::from_secs(30) {
            let _ = child.kill();
            panic!("hashtag {args:?} did not exit");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    child.wait_with_output().unwrap()
}

/// Reads until the server closes the connection (or 10 s pass): what it
/// sent, and how long it took.
fn read_until_closed(stream: &mut TcpStream) -> (String, Duration) {
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let started = Instant::now();
    let mut got = Vec::new();
    let _ = stream.read_to_end(&mut got);
    (String::from_utf8_lossy(&got).to_string(), started.elapsed())
}

#[test]
fn slow_and_idle_clients_are_cut_off_while_others_are_answered() {
    let dir = TempDir::new("slow-clients");
    let server = Server::start(
        &dir.0,
        &[
            "--header-timeout-seconds",
            "1",
            "--body-timeout-seconds",
            "1",
        ],
    );
    let mut idle = TcpStream::connect(&server.addr).unwrap();
    let mut slow_headers = TcpStream::connect(&server.addr).unwrap();
    slow_headers
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\n")
        .unwrap();
    let mut short_body = TcpStream::connect(&server.addr).unwrap();
    short_body
        .write_all(b"POST /users HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"user")
        .unwrap();
    // Others are answered meanwhile.
    assert_eq!(server.get("/health").status, 200);

    let (sent, after) = read_until_closed(&mut idle);
    assert!(
        sent.is_empty() && after < Duration::from_secs(5),
        "idle: {sent:?} after {after:?}"
    );
    let (sent, after) = read_until_closed(&mut slow_headers);
    assert!(
        !sent.contains("200 OK") && after < Duration::from_secs(5),
        "slow headers: {sent:?}"
    );
    let (sent, after) = read_until_closed(&mut short_body);
    assert!(sent.starts_with("HTTP/1.1 408"), "short body: {sent:?}");
    assert!(sent.contains("request_timeout") && after < Duration::from_secs(5));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn at_the_connection_cap_new_clients_get_503_and_open_ones_are_served() {
    let dir = TempDir::new("cap");
    let server = Server::start(&dir.0, &["--max-connections", "2"]);
    let mut open: Vec<TcpStream> = (0..2)
        .map(|_| TcpStream::connect(&server.addr).unwrap())
        .collect();
    std::thread::sleep(Duration::from_millis(200));
    let over = server.get("/health");
    over.assert_error(503, "too_many_connections");
    assert_eq!(over.header("retry-after"), Some("1"));
    // A connection within the cap is served.
    open[0]
        .write_all(b"GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        .unwrap();
    let (sent, _) = read_until_closed(&mut open[0]);
    assert!(sent.starts_with("HTTP/1.1 200"), "{sent:?}");
    // Its slot is free again.
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(server.get("/health").status, 200);
}

#[test]
fn a_data_directory_has_one_server_and_one_partition_count() {
    let dir = TempDir::new("one-server");
    let mut first = Server::start(&dir.0, &["--partitions", "4"]);
    let second = hashtag(&["serve", "--listen", "127.0.0.1:0"], &dir.0);
    assert!(!second.status.success());
    let why = String::from_utf8_lossy(&second.stderr);
    assert!(why.contains("in use by another"), "{why}");
    // The first server is unaffected.
    let user = first.register("solo");
    first.create_post(&user, "#alone");
    first.wait_for_tag("alone", Duration::from_secs(10), |p| p["total_posts"] == 1);
    first.kill();

    let other = hashtag(
        &["serve", "--listen", "127.0.0.1:0", "--partitions", "2"],
        &dir.0,
    );
    assert!(!other.status.success());
    let why = String::from_utf8_lossy(&other.stderr);
    assert!(why.contains("has 4 partitions"), "{why}");
    // With the recorded count it serves, and nothing drifted.
    let _again = Server::start(&dir.0, &["--partitions", "4"]);
    let reconcile = hashtag(&["reconcile", "--partitions", "4"], &dir.0);
    assert!(reconcile.status.success(), "{reconcile:?}");
}

#[test]
fn commands_refuse_a_data_directory_that_does_not_exist() {
    let dir = TempDir::new("mistyped");
    let missing = dir.0.join("datq");
    let ranking = dir.0.join("ranking.json");
    std::fs::write(
        &ranking,
        json!({"tag": "x", "generated_at": "2026-12-03T00:00:00Z", "posts": []}).to_string(),
    )
    .unwrap();
    for args in [
        vec!["reconcile"],
        vec!["dead-letters"],
        vec!["publish-ranking", ranking.to_str().unwrap()],
    ] {
        let out = hashtag(&args, &missing);
        assert!(!out.status.success(), "{args:?} succeeded");
        let why = String::from_utf8_lossy(&out.stderr);
        assert!(why.contains("no data directory"), "{args:?}: {why}");
        assert!(!missing.exists(), "{args:?} created the directory");
    }
}

#[test]
fn publish_ranking_takes_its_turn_beside_eight_writers() {
    let dir = TempDir::new("ranking-beside-writers");
    let server = Server::start(&dir.0, &[]);
    let users: Vec<_> = (0..8).map(|i| server.register(&format!("w{i}"))).collect();
    let rankings: Vec<serde_json::Value> = (0..20)
        .map(|i| json!({"tag": format!("ranked{i}"), "generated_at": "2026-12-03T00:00:00Z", "posts": []}))
        .collect();
    let file = dir.0.join("rankings.json");
    std::fs::write(&file, serde_json::to_string(&rankings).unwrap()).unwrap();
    let statuses = std::thread::scope(|s| {
        let writers: Vec<_> = users
            .iter()
            .map(|user| {
                let server = &server;
                s.spawn(move || {
                    (0..60)
                        .map(|i| {
                            server
                                .post_json_as(
                                    user,
                                    "/posts",
                                    &json!({"caption": format!("#busy {i}")}),
                                )
                                .status
                        })
                        .collect::<Vec<u16>>()
                })
            })
            .collect();
        std::thread::sleep(Duration::from_millis(100));
        for _ in 0..3 {
            let out = publish_ranking(&dir.0, &file);
            assert!(
                out.status.success(),
                "{}",
                String::from_utf8_lossy(&out.stderr)
            );
            let published = String::from_utf8_lossy(&out.stdout)
                .lines()
                .filter(|l| l.starts_with("published ranking for #ranked"))
                .count();
            assert_eq!(published, 20);
        }
        writers
            .into_iter()
            .flat_map(|w| w.join().unwrap())
            .collect::<Vec<u16>>()
    });
    assert!(statuses.iter().all(|s| *s == 201), "{statuses:?}");
}

/// `hashtag reconcile FLAGS` on `data_dir`: its JSON report (exit 3 means
/// drift was found, which the caller checks).
fn reconcile(data_dir: &Path, flags: &[&str]) -> serde_json::Value {
    let args: Vec<&str> = ["reconcile"].iter().chain(flags).copied().collect();
    let out = hashtag(&args, data_dir);
    assert!(
        matches!(out.status.code(), Some(0 | 3)),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn repair_during_traffic_counts_nothing_twice() {
    let dir = TempDir::new("repair-during-traffic");
    // Batches only every 300 ms, so posts wait in the pipeline.
    let server = Server::start(
        &dir.0,
        &[
            "--batch-size",
            "10000",
            "--batching-window-ms",
            "300",
            "--writes-per-minute",
            "0",
        ],
    );
    let users: Vec<_> = (0..4).map(|i| server.register(&format!("r{i}"))).collect();
    let in_flight = std::thread::scope(|s| {
        let writers: Vec<_> = users
            .iter()
            .map(|user| {
                let server = &server;
                s.spawn(move || {
                    for i in 0..150 {
                        let caption = format!("#flowing #f{} {i}", i % 7);
                        let res = server.post_json_as(user, "/posts", &json!({"caption": caption}));
                        assert_eq!(res.status, 201, "{}", res.body);
                    }
                })
            })
            .collect();
        let mut in_flight = Vec::new();
        for _ in 0..4 {
            let report = reconcile(&dir.0, &["--repair"]);
            assert_eq!(report["drift"], json!([]), "posts in flight are not drift");
            in_flight.push(report["in_flight"].as_u64().unwrap());
        }
        for w in writers {
            w.join().unwrap();
        }
        in_flight
    });
    assert!(
        in_flight.iter().any(|n| *n > 0),
        "repairs ran with posts in flight: {in_flight:?}"
    );
    let page = server.wait_for_tag("flowing", Duration::from_secs(10), |p| {
        p["total_posts"] == 600
    });
    assert_eq!(page["total_posts"], 600);
    std::thread::sleep(Duration::from_millis(700)); // a double count would show by now
    for flags in [&[][..], &["--drained"]] {
        let report = reconcile(&dir.0, flags);
        assert_eq!(report["drift"], json!([]), "{flags:?}");
        assert_eq!(report["in_flight"], 0);
        assert_eq!(report["posts"], 600);
    }
    assert_eq!(server.get("/tags/flowing").json()["total_posts"], 600);
}

#[test]
fn look_alike_spellings_land_on_one_tag_page_with_a_readable_title() {
    let dir = TempDir::new("look-alike");
    let server = Server::start(&dir.0, &[]);
    let user = server.register("lookalike");
    server.create_post(&user, "#ab\u{200D}c joined");
    server.create_post(&user, "#abc plain");
    let page = server.wait_for_tag("abc", Duration::from_secs(10), |p| p["total_posts"] == 2);
    assert_eq!(page["tag"], "abc");
    // A soft hyphen ends a hashtag, as twitter-text extracts it: #ab.
    server.create_post(&user, "#ab\u{00AD}c soft hyphen");
    server.wait_for_tag("ab", Duration::from_secs(10), |p| p["total_posts"] == 1);
    // The long s first: the page of s reads "s".
    server.create_post(&user, "#\u{17F} first");
    server.create_post(&user, "#s second");
    let page = server.wait_for_tag("s", Duration::from_secs(10), |p| p["total_posts"] == 2);
    assert_eq!(page["tag"], "s");
}
