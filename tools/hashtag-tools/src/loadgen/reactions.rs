//! The reacting clients of `hashtag loadgen`, as the emoji-streaming seed
//! simulates many clients each sending many reactions: after the posts,
//! the run's users react to the accepted posts, popularity skewed by a Zipf
//! law (the k-th post k times less reacted to), one emoji in ten taken back
//! again; then the run checks every reacted post's counts
//! (`GET /posts/{id}/reactions`) against what it sent.
//!
//! - A user's reaction with one emoji on one post is a set member, so the
//!   expected counts are the final states of (user, post, emoji): each
//!   user's requests are sent by one worker, in order, so that state is
//!   known. Reacting and taking back are idempotent, so retried requests
//!   are safe; a post with a request that never got an answer is left out
//!   of the check (its state is unknown).
//! - Meanwhile, Top probes measure the time from a reaction to its effect
//!   on a tag's Top view: a tag of its own with two posts, two reactions
//!   to the older one, then its page polled until the older one is first.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde::Serialize;

use super::{json_field, tag_path, Client, LoadError, Percentiles};
use crate::corpus::Rng;

/// The emojis the clients react with, the first the most used.
const EMOJIS: [&str; 6] = ["👍", "❤️", "😂", "🔥", "😮", "👍🏽"];
/// Posts whose counts are checked: the most reacted first.
const POSTS_CHECKED: usize = 1_000;

/// What the reacting clients did and found.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ReactionSummary {
    /// Reaction requests sent (adds and take-backs).
    pub sent: usize,
    /// Answered 2xx.
    pub accepted: usize,
    /// Refused or never answered, by status (`"connection"`).
    pub failed: HashMap<String, usize>,
    /// Seconds from the first reaction to the last answer.
    pub seconds: f64,
    /// Accepted reaction requests per second.
    pub reactions_per_second: f64,
    /// Latency of a reaction request.
    pub latency: Percentiles,
    /// Posts reacted to.
    pub posts_reacted: usize,
    /// Posts whose counts were checked.
    pub posts_checked: usize,
    /// Posts whose counts differ after the drain timeout.
    pub mismatches: Vec<Mismatch>,
    /// From a reaction's 2xx to the reacted post leading its tag's Top view.
    pub to_top: Percentiles,
}

/// A post whose counts differ from what the run sent.
#[derive(Debug, Clone, Serialize)]
pub struct Mismatch {
    /// The post.
    pub post_id: String,
    /// Its counts per emoji as sent.
    pub expected: BTreeMap<String, i64>,
    /// As the server shows them.
    pub found: BTreeMap<String, i64>,
}

/// One request of the plan: who, to which post, with which emoji, adding
/// (true) or taking back.
#[derive(Debug, Clone, Copy)]
struct Planned {
    user: usize,
    post: usize,
    emoji: usize,
    present: bool,
}

/// `count` requests from `users` users over `posts` posts, deterministic
/// for `seed`.
fn plan(count: usize, users: usize, posts: usize, seed: u64) -> Vec<Planned> {
    let mut rng = Rng::new(seed ^ 0x5EAC_7105);
    let mut cdf = Vec::with_capacity(posts);
    let mut total = 0.0;
    for k in 1..=posts.max(1) {
        total += 1.0 / k as f64;
        cdf.push(total);
    }
    let uniform = |rng: &mut Rng| (rng.next_u64() >> 11) as f64 / (1u64 << 53) as f64 * total;
    (0..count)
        .map(|_| {
            let draw = uniform(&mut rng);
            Planned {
                user: rng.below(users.max(1)),
                post: cdf.partition_point(|c| *c < draw).min(posts.max(1) - 1),
                // Two draws, the smaller kept: the first emojis more used.
                emoji: rng.below(EMOJIS.len()).min(rng.below(EMOJIS.len())),
                present: rng.below(10) != 0,
            }
        })
        .collect()
}

/// What one worker saw: each request's outcome (in its order), latencies.
#[derive(Default)]
struct Sent {
    /// (request, answered 2xx).
    outcomes: Vec<(Planned, Result<(), String>)>,
    latencies: Vec<Duration>,
}

/// Sends `requests` (one user's in order) on one connection.
async fn react_worker(
    address: &str,
    users: &[String],
    posts: &[String],
    requests: Vec<Planned>,
) -> Sent {
    let mut client = Client::new(address);
    let mut sent = Sent::default();
    for r in requests {
        let emoji = EMOJIS[r.emoji];
        let auth = [("authorization", users[r.user].as_str())];
        let at = Instant::now();
        let (result, _) = match r.present {
            true => {
                let path = format!("/posts/{}/reactions", posts[r.post]);
                let body = serde_json::json!({ "emoji": emoji }).to_string();
                client
                    .send_retrying(Method::POST, &path, &auth, Some(body))
                    .await
            }
            false => {
                let encoded = percent_encoding::utf8_percent_encode(
                    emoji,
                    percent_encoding::NON_ALPHANUMERIC,
                );
                let path = format!("/posts/{}/reactions/{encoded}", posts[r.post]);
                client
                    .send_retrying(Method::DELETE, &path, &auth, None)
                    .await
            }
        };
        let outcome = match result {
            Ok((status, _)) if status.is_success() => {
                sent.latencies.push(at.elapsed());
                Ok(())
            }
            Ok((status, _)) => Err(status.as_u16().to_string()),
            Err(_) => Err("connection".to_string()),
        };
        sent.outcomes.push((r, outcome));
    }
    sent
}

/// Creates a post as `author`; its id.
async fn create_post(client: &mut Client, author: &str, caption: &str) -> Result<String, String> {
    let body = serde_json::json!({ "caption": caption, "image_count": 1 }).to_string();
    let auth = [("authorization", author)];
    let (result, _) = client
        .send_retrying(Method::POST, "/posts", &auth, Some(body))
        .await;
    match result? {
        (StatusCode::CREATED, body) => json_field(&body, "post_id")
            .and_then(|v| v.as_str().map(String::from))
            .ok_or_else(|| "a created post without post_id".into()),
        (status, body) => Err(format!("{status} {}", String::from_utf8_lossy(&body))),
    }
}

/// The post ids of a tag's Top view, or none if its page does not answer.
async fn top_of(client: &mut Client, key: &str) -> Option<Vec<String>> {
    let (status, body) = client
        .send(Method::GET, &tag_path(key), &[], None)
        .await
        .ok()?;
    (status == StatusCode::OK).then_some(())?;
    let posts = json_field(&body, "top_posts")?;
    posts
        .as_array()?
        .iter()
        .map(|p| p["post_id"].as_str().map(String::from))
        .collect()
}

/// Polls a tag's Top view until `done` holds on it, or `timeout` passes.
async fn wait_for_top(
    client: &mut Client,
    key: &str,
    timeout: Duration,
    done: impl Fn(&[String]) -> bool,
) -> bool {
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if top_of(client, key).await.is_some_and(|top| done(&top)) {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

/// One Top probe (see the module documentation): the time from the second
/// reaction's 2xx to the older post leading, or why there is none.
async fn top_probe(address: &str, users: &[String], key: &str) -> Result<Duration, String> {
    let mut client = Client::new(address);
    let older = create_post(&mut client, &users[0], &format!("probe #{key}")).await?;
    let newer = create_post(
        &mut client,
        &users[1 % users.len()],
        &format!("then #{key}"),
    )
    .await?;
    let listed = |top: &[String]| top.len() == 2 && top[0] == newer;
    if !wait_for_top(&mut client, key, Duration::from_secs(60), listed).await {
        return Err("the probe's posts were not both listed within 60 s".into());
    }
    let path = format!("/posts/{older}/reactions");
    for fan in [2, 3] {
        let auth = [("authorization", users[fan % users.len()].as_str())];
        let body = serde_json::json!({ "emoji": "🔥" }).to_string();
        let (result, _) = client
            .send_retrying(Method::POST, &path, &auth, Some(body))
            .await;
        match result? {
            (status, _) if status.is_success() => {}
            (status, body) => {
                return Err(format!("{status} {}", String::from_utf8_lossy(&body)));
            }
        }
    }
    let reacted = Instant::now();
    let first = |top: &[String]| top.first() == Some(&older);
    match wait_for_top(&mut client, key, Duration::from_secs(60), first).await {
        true => Ok(reacted.elapsed()),
        false => Err("the reacted post did not lead its tag within 60 s".into()),
    }
}

/// The final state of every (post, user, emoji) the accepted requests
/// leave, and the posts whose state is unknown (a request never answered
/// 2xx after it may have been applied).
fn expected_counts(
    outcomes: &[(Planned, Result<(), String>)],
) -> (HashMap<usize, BTreeMap<String, i64>>, HashSet<usize>) {
    let mut state: HashMap<(usize, usize, usize), bool> = HashMap::new();
    let mut unknown = HashSet::new();
    for (r, outcome) in outcomes {
        match outcome {
            Ok(()) => {
                state.insert((r.post, r.user, r.emoji), r.present);
            }
            Err(why) if why == "connection" || why.starts_with('5') => {
                unknown.insert(r.post);
            }
            // Refused (4xx): nothing changed.
            Err(_) => {}
        }
    }
    let mut counts: HashMap<usize, BTreeMap<String, i64>> = HashMap::new();
    for ((post, _, emoji), present) in state {
        let entry = counts.entry(post).or_default();
        if present {
            *entry.entry(EMOJIS[emoji].to_string()).or_default() += 1;
        }
    }
    (counts, unknown)
}

/// A post's counts as the server shows them.
async fn counts_of_post(client: &mut Client, post: &str) -> Result<BTreeMap<String, i64>, String> {
    let path = format!("/posts/{post}/reactions");
    let (status, body) = client.send(Method::GET, &path, &[], None).await?;
    if status != StatusCode::OK {
        return Err(format!("GET {path}: {status}"));
    }
    let counts = json_field(&body, "counts").ok_or("no counts")?;
    serde_json::from_value(counts).map_err(|e| e.to_string())
}

/// The reaction load of a run: `count` requests by `users` (their
/// `Authorization` values) over `posts` (ids, the first the most popular),
/// `concurrency` workers, `probes` Top probes alongside; then the check,
/// waiting up to `drain` for the counts.
pub async fn run(
    address: &str,
    run: &str,
    users: &[String],
    posts: &[String],
    load: &ReactionLoad,
    drain: Duration,
) -> Result<ReactionSummary, LoadError> {
    if users.is_empty() || posts.is_empty() {
        return Err(LoadError("reactions need users and accepted posts".into()));
    }
    let concurrency = load.concurrency.max(1);
    let mut queues = vec![Vec::new(); concurrency];
    for r in plan(load.reactions, users.len(), posts.len(), load.seed) {
        queues[r.user % concurrency].push(r);
    }
    eprintln!(
        "sending {} reactions from {} users to {} posts",
        load.reactions,
        users.len(),
        posts.len()
    );
    let started = Instant::now();
    let workers = queues
        .into_iter()
        .map(|queue| react_worker(address, users, posts, queue));
    let next_probe = AtomicUsize::new(0);
    let probes = async {
        let mut latencies = Vec::new();
        loop {
            let p = next_probe.fetch_add(1, Ordering::Relaxed);
            if p >= load.top_probes {
                return latencies;
            }
            match top_probe(address, users, &format!("t{run}x{p}")).await {
                Ok(latency) => latencies.push(latency),
                Err(why) => eprintln!("top probe {p}: {why}"),
            }
        }
    };
    // The reactions' time ends with the last worker, whatever probe runs.
    let timed = async {
        let workers = futures_util::future::join_all(workers).await;
        (workers, started.elapsed().as_secs_f64())
    };
    let ((workers, seconds), to_top) = futures_util::future::join(timed, probes).await;
    let mut summary = ReactionSummary {
        sent: load.reactions,
        seconds,
        to_top: Percentiles::of(to_top),
        ..ReactionSummary::default()
    };
    let mut outcomes = Vec::with_capacity(load.reactions);
    let mut latencies = Vec::with_capacity(load.reactions);
    for worker in workers {
        latencies.extend(worker.latencies);
        outcomes.extend(worker.outcomes);
    }
    summary.accepted = latencies.len();
    summary.reactions_per_second = summary.accepted as f64 / seconds;
    summary.latency = Percentiles::of(latencies);
    for (_, outcome) in &outcomes {
        if let Err(why) = outcome {
            *summary.failed.entry(why.clone()).or_default() += 1;
        }
    }
    let (expected, unknown) = expected_counts(&outcomes);
    summary.posts_reacted = expected.len();
    let mut checked: Vec<(usize, BTreeMap<String, i64>)> = expected
        .into_iter()
        .filter(|(post, _)| !unknown.contains(post))
        .collect();
    checked.sort_by_key(|(post, counts)| (std::cmp::Reverse(counts.values().sum::<i64>()), *post));
    checked.truncate(POSTS_CHECKED);
    summary.posts_checked = checked.len();
    let deadline = Instant::now() + drain;
    let mut client = Client::new(address);
    loop {
        summary.mismatches.clear();
        for (post, want) in &checked {
            let found = counts_of_post(&mut client, &posts[*post])
                .await
                .map_err(LoadError)?;
            if &found != want {
                summary.mismatches.push(Mismatch {
                    post_id: posts[*post].clone(),
                    expected: want.clone(),
                    found,
                });
            }
        }
        if summary.mismatches.is_empty() || Instant::now() > deadline {
            return Ok(summary);
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
}

/// The reaction load of a run.
#[derive(Debug, Clone)]
pub struct ReactionLoad {
    /// Reaction requests to send.
    pub reactions: usize,
    /// Requests in flight.
    pub concurrency: usize,
    /// Top probes, one at a time during the load.
    pub top_probes: usize,
    /// Seed of the plan.
    pub seed: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_plan_is_skewed_towards_the_first_posts_and_emojis() {
        let plan = plan(20_000, 50, 1_000, 7);
        let first = plan.iter().filter(|r| r.post == 0).count();
        let hundredth = plan.iter().filter(|r| r.post == 99).count();
        assert!(first > 10 * hundredth.max(1), "{first} vs {hundredth}");
        let thumbs = plan.iter().filter(|r| r.emoji == 0).count();
        assert!(thumbs > plan.len() / 5, "{thumbs}");
        let removals = plan.iter().filter(|r| !r.present).count();
        assert!((1_500..2_500).contains(&removals), "{removals}");
    }

    #[test]
    fn expected_counts_follow_each_users_last_answered_request() {
        let r = |user, emoji, present| Planned {
            user,
            post: 0,
            emoji,
            present,
        };
        let outcomes = vec![
            (r(1, 0, true), Ok(())),
            (r(1, 0, true), Ok(())),
            (r(2, 0, true), Ok(())),
            (r(2, 0, false), Ok(())),
            (r(3, 1, true), Err("429".to_string())),
            (r(4, 1, true), Ok(())),
        ];
        let (counts, unknown) = expected_counts(&outcomes);
        assert_eq!(
            counts[&0],
            BTreeMap::from([("👍".to_string(), 1), ("❤️".to_string(), 1)])
        );
        assert!(unknown.is_empty());
        let (_, unknown) = expected_counts(&[(r(5, 2, true), Err("connection".into()))]);
        assert!(unknown.contains(&0));
    }
}
