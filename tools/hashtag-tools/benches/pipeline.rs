//! The counting pipeline on the load generator's stream (`hashtag_tools::workload`:
//! Zipf-distributed tags in several scripts, 0-30 per post): what its
//! writes cost on DynamoDB next to the original design, and how fast the
//! consumer counts.
//!
//! `cargo bench -p hashtag-tools --bench pipeline` generates 100,000 posts from
//! 1,000 authors, keyed by author over 4 partitions as the producer does,
//! and then, for batches of 100, 1,000 and 10,000 records:
//!
//! - write amplification: the hashtag-table writes the DynamoDB adapter
//!   makes per batch (counter updates, recent-post items, post claims,
//!   history days as they grow over the run) and
//!   their write units ([`hashtag_tools::write_cost`]), per post, next to the
//!   original design's one increment per tag per post of a document that
//!   holds the tag's 100 top posts;
//! - consumer throughput: the pure path (extract, normalise, dedupe,
//!   aggregate; then with the base64 and JSON decoding of the MSK event in
//!   front) and the whole handler on the embedded SQLite store,
//!   in posts per second on one core (a current-thread runtime; the SQLite
//!   writes run on a blocking thread while it waits, so one core at a time).
//!
//! Results go to BENCHMARKS.md.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use async_trait::async_trait;
use hashtag_core::aggregate::{aggregate, TagContribution};
use hashtag_core::consumer::{decode_posts, handle_post_batch};
use hashtag_core::domain::{TopPost, POSTS_TOPIC, TOP_POSTS};
use hashtag_core::history::{Day, DayContribution, DayRow};
use hashtag_core::ids::Id;
use hashtag_core::ports::{
    CountOutcome, DeadLetter, DeadLetters, PostClaim, StoreError, TagCounter, TagHistory,
};
use hashtag_core::record::{Batch, LogRecord};
use hashtag_embedded::SqliteHashtagStore;
use hashtag_tools::workload::post_records;
use hashtag_tools::write_cost::{original_increment_units, HistoryModel, WriteCost};

const POSTS: usize = 100_000;
const USERS: usize = 1_000;
const PARTITIONS: u32 = 4;
const BATCHES: [usize; 3] = [100, 1_000, 10_000];
/// The first post id: minted at the run's time, so item sizes are those of
/// production and the posts' day is today (history keeps 30 days).
fn first_id() -> i64 {
    (hashtag_core::domain::now_ms() - hashtag_core::ids::EPOCH_MS as i64) << 22
}

/// Writes and units per post, with the ratio to the original design.
fn write_amplification(records: &[LogRecord], sources: &[String], first_id: i64) {
    let event = Batch::from_log(POSTS_TOPIC, records);
    let events = decode_posts(&event).events;
    // The original design: one increment per distinct tag of each post, of
    // a document holding the tag's top posts (full once the tag has 100).
    // Units depend on the key's length and the posts held: computed once each.
    let full: Vec<TopPost> = (0..TOP_POSTS as i64)
        .map(|i| TopPost {
            post_id: Id(first_id + i),
            image_url: format!("/images/{}.svg", first_id + i),
        })
        .collect();
    let mut units: HashMap<(usize, usize), u64> = HashMap::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let (mut original_writes, mut original_units) = (0u64, 0u64);
    for e in &events {
        for (key, _) in hashtag_core::extract::distinct_tags(&e.event.caption) {
            let held = seen.entry(key.clone()).or_default();
            *held = (*held + 1).min(TOP_POSTS);
            original_writes += 1;
            original_units += *units
                .entry((key.len(), *held))
                .or_insert_with(|| original_increment_units(&key, &full[..*held]));
        }
    }
    let posts = events.len() as f64;
    println!(
        "original design: {:.2} writes/post, {:.2} WCU/post (one increment per tag per post of the tag's document)",
        original_writes as f64 / posts,
        original_units as f64 / posts
    );
    println!(
        "| batch | counter writes/post | counter WCU/post | post-list items/post | post-list requests/post | claims/post | history writes/post | history WCU/post | trend index WCU/post | all requests/post | all WCU/post | counter writes vs original | all WCU vs original |"
    );
    let now = hashtag_core::domain::now_ms();
    for batch in BATCHES {
        let mut history = HistoryModel::default();
        let mut cost = WriteCost::default();
        let mut floor = 0u64;
        for chunk in events.chunks(batch) {
            let contributions = aggregate(chunk);
            let distinct: HashSet<&str> = contributions.iter().map(|c| c.key.as_str()).collect();
            floor += distinct.len() as u64;
            let claims: Vec<PostClaim> = chunk
                .iter()
                .map(|e| PostClaim {
                    post_id: e.event.post_id,
                    source: e.source.to_string(),
                    offset: e.offset,
                })
                .collect();
            cost += WriteCost::of_batch(&contributions, &claims, sources);
            history.apply(&contributions, now, &mut cost);
        }
        assert_eq!(
            cost.counter_writes, floor,
            "one counter write per distinct tag"
        );
        assert_eq!(cost.counter_units, cost.counter_writes, "each costs 1 WCU");
        assert!(
            cost.history_writes <= floor * 2,
            "at most one history write per distinct tag and day (a batch spans two days at most)"
        );
        let per = |n: u64| n as f64 / posts;
        println!(
            "| {batch} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.1}x fewer | {:.1}x fewer |",
            per(cost.counter_writes),
            per(cost.counter_units),
            per(cost.post_items),
            per(cost.post_requests),
            per(cost.claim_writes),
            per(cost.history_writes),
            per(cost.history_units),
            per(cost.trend_index_units),
            per(cost.requests()),
            per(cost.units()),
            original_writes as f64 / cost.counter_writes as f64,
            original_units as f64 / cost.units() as f64,
        );
    }
}

/// The SQLite store with history writes left out: the handler's cost
/// without them, for comparison.
struct WithoutHistory<'a>(&'a SqliteHashtagStore);

#[async_trait]
impl TagCounter for WithoutHistory<'_> {
    async fn apply_counts(&self, batch: &[TagContribution]) -> Result<CountOutcome, StoreError> {
        self.0.apply_counts(batch).await
    }

    async fn claim_posts(&self, claims: &[PostClaim]) -> Result<Vec<Id>, StoreError> {
        self.0.claim_posts(claims).await
    }
}

#[async_trait]
impl TagHistory for WithoutHistory<'_> {
    async fn apply_history(
        &self,
        _days: &[DayContribution],
        _now_ms: i64,
    ) -> Result<usize, StoreError> {
        Ok(0)
    }

    async fn history(&self, key: &str, first: Day, last: Day) -> Result<Vec<DayRow>, StoreError> {
        self.0.history(key, first, last).await
    }

    async fn trending(&self, day: Day, limit: usize) -> Result<Vec<(String, f64)>, StoreError> {
        self.0.trending(day, limit).await
    }
}

#[async_trait]
impl DeadLetters for WithoutHistory<'_> {
    async fn set_aside(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        self.0.set_aside(letters).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.0.dead_letters(limit).await
    }
}

/// Posts per second of the pure path and of the whole handler on SQLite,
/// with and without history.
fn throughput(records: &[LogRecord]) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let dir = std::env::temp_dir().join(format!("hashtag-pipeline-bench-{}", std::process::id()));
    println!(
        "| batch | aggregate posts/s | decode + aggregate posts/s | handler on SQLite posts/s | handler without history posts/s |"
    );
    for batch in BATCHES {
        let events: Vec<_> = records
            .chunks(batch)
            .map(|c| Batch::from_log(POSTS_TOPIC, c))
            .collect();
        let decoded: Vec<_> = events.iter().map(|e| decode_posts(e).events).collect();
        let started = Instant::now();
        let tags: usize = decoded.iter().map(|d| aggregate(d).len()).sum();
        let aggregate_only = started.elapsed().as_secs_f64();
        let started = Instant::now();
        let tags_again: usize = events
            .iter()
            .map(|e| aggregate(&decode_posts(e).events).len())
            .sum();
        let pure = started.elapsed().as_secs_f64();
        assert_eq!(tags, tags_again);

        let handler = |history: bool| {
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).expect("temp dir");
            let store = hashtag_embedded::SqliteHashtagStore::open(&dir.join("hashtags.db"))
                .expect("open the SQLite store");
            let started = Instant::now();
            runtime.block_on(async {
                for event in &events {
                    let counted = match history {
                        true => handle_post_batch(&store, event).await,
                        false => handle_post_batch(&WithoutHistory(&store), event).await,
                    };
                    counted.expect("batch counted");
                }
            });
            started.elapsed().as_secs_f64()
        };
        let (with_history, without) = (handler(true), handler(false));
        let posts = records.len() as f64;
        println!(
            "| {batch} | {:.0} | {:.0} | {:.0} | {:.0} |",
            posts / aggregate_only,
            posts / pure,
            posts / with_history,
            posts / without
        );
    }
    let _ = std::fs::remove_dir_all(&dir);
}

fn main() {
    let first_id = first_id();
    let records = post_records(POSTS, USERS, PARTITIONS, first_id);
    let sources: Vec<String> = (0..PARTITIONS)
        .map(|p| format!("{POSTS_TOPIC}-{p}"))
        .collect();
    let bytes: usize = records.iter().map(|r| r.value.len()).sum();
    println!(
        "stream: {POSTS} posts from {USERS} authors over {PARTITIONS} partitions, {bytes} bytes of events (hashtag_tools::workload, seed 2026, 10,000 tags, Zipf 1.0)"
    );
    write_amplification(&records, &sources, first_id);
    throughput(&records);
}
