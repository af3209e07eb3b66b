//! Crash safety: the server is killed (SIGKILL) while posts are flowing and
//! started again on the same data directory; every stored post must then be
//! counted exactly once, and every acknowledged post must be stored.

mod common;

use std::collections::HashSet;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{request, Server, TempDir};

/// Posts as writer `n` until `stop`, adding each acknowledged post id to `acked`.
fn post_until(
    addr: String,
    user: common::Account,
    stop: Arc<AtomicBool>,
    acked: Arc<Mutex<Vec<String>>>,
    n: usize,
) {
    let mut i = 0;
    while !stop.load(Ordering::Relaxed) {
        let body = serde_json::json!({ "caption": format!("flow {n}-{i} #flow #u{n}x{i}") });
        let body = serde_json::to_vec(&body).unwrap();
        // A connection refused or cut by the crash is simply not acknowledged.
        let res = std::panic::catch_unwind(|| {
            request(
                &addr,
                "POST",
                "/posts",
                &[
                    ("Content-Type", "application/json"),
                    ("Authorization", &format!("Bearer {}", user.token)),
                ],
                &body,
            )
        });
        if let Ok(res) = res {
            if res.status == 201 {
                acked
                    .lock()
                    .unwrap()
                    .push(res.json()["post_id"].as_str().unwrap().to_string());
            }
        }
        i += 1;
    }
}

fn stored_posts(dir: &std::path::Path) -> HashSet<String> {
    let conn = rusqlite::Connection::open(dir.join("posts.db")).unwrap();
    let mut stmt = conn.prepare("SELECT post_id FROM posts").unwrap();
    stmt.query_map([], |r| r.get::<_, i64>(0))
        .unwrap()
        .map(|id| id.unwrap().to_string())
        .collect()
}

#[test]
fn killed_while_posting_then_restarted_counts_every_stored_post_once() {
    let dir = TempDir::new("restart");
    let flags = ["--batch-size", "7", "--writes-per-minute", "0"];
    let mut server = Server::start(&dir.0, &flags);
    let users: Vec<_> = (0..4)
        .map(|i| server.register(&format!("writer{i}")))
        .collect();
    let acked = Arc::new(Mutex::new(Vec::new()));

    for round in 0..3 {
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = users
            .iter()
            .enumerate()
            .map(|(n, user)| {
                let (addr, user, stop, acked) = (
                    server.addr.clone(),
                    user.clone(),
                    stop.clone(),
                    acked.clone(),
                );
                std::thread::spawn(move || post_until(addr, user, stop, acked, round * 10 + n))
            })
            .collect();
        std::thread::sleep(Duration::from_millis(700));
        server.kill(); // mid-flow: requests and batches are in flight
        stop.store(true, Ordering::Relaxed);
        for w in writers {
            w.join().unwrap();
        }
        server = Server::start(&dir.0, &flags);
    }

    let stored = stored_posts(&dir.0);
    let acked: Vec<String> = acked.lock().unwrap().clone();
    assert!(
        acked.len() > 50,
        "too few posts to mean anything: {}",
        acked.len()
    );
    for id in &acked {
        assert!(stored.contains(id), "acknowledged post {id} was lost");
    }
    let total = stored.len() as u64;
    server.wait_for_tag("flow", Duration::from_secs(30), |p| {
        p["total_posts"] == total
    });
    // Counts stay exact after the consumer has caught up: nothing counted twice.
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(server.get("/tags/flow").json()["total_posts"], total);

    // Every stored post's own tag is counted exactly once.
    let conn = rusqlite::Connection::open(dir.0.join("posts.db")).unwrap();
    let captions: Vec<String> = conn
        .prepare("SELECT caption FROM posts")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    for caption in captions.iter().step_by(7) {
        let own = caption
            .split_whitespace()
            .last()
            .unwrap()
            .trim_start_matches('#');
        let page = server.get(&format!("/tags/{own}")).json();
        assert_eq!(page["total_posts"], 1, "{own}: {page}");
    }
}
