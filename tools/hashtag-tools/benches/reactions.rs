//! The reaction consumer on a skewed stream: `cargo bench -p hashtag-tools
//! --bench reactions` generates 1,000,000 reaction events (9 in 10 adds)
//! from 100,000 users on 10,000 posts whose popularity follows Zipf's law
//! (the post of rank r draws reactions in proportion to 1/r), over 4
//! partitions keyed by post, and measures
//!
//! - the consumer's aggregation (decode, validate, one contribution per
//!   post), in reactions per second on one core, at batches of 100, 1,000
//!   and 10,000 records;
//! - writes per reaction at those batches: one read and one conditional
//!   write per distinct post of a batch, against one write per reaction;
//!   on DynamoDB the counts item (its size measured here) is billed in 1 KB
//!   write units;
//! - the whole consumer on the embedded SQLite store, reactions per second.
//!
//! Results go to BENCHMARKS.md.

use std::time::Instant;

use hashtag_core::consumer::handle_reaction_batch;
use hashtag_core::ids::Id;
use hashtag_core::reactions::{aggregate_reactions, Emoji, ReactionEvent, REACTIONS_TOPIC};
use hashtag_core::record::{Batch, LogRecord};
use hashtag_core::windows::Windowing;
use hashtag_tools::write_cost::write_units;

const REACTIONS: usize = 1_000_000;
const POSTS: usize = 10_000;
const USERS: u64 = 100_000;
const PARTITIONS: u32 = 4;
const BATCHES: [usize; 3] = [100, 1_000, 10_000];
const EMOJIS: [&str; 6] = ["👍", "❤️", "😂", "😮", "😢", "🔥"];

/// xorshift64*: a reproducible stream.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// The stream's records, in log order per partition (post id keyed).
fn stream() -> Vec<LogRecord> {
    // Zipf over posts: the cumulative weights of 1/r, searched per draw.
    let mut cumulative = Vec::with_capacity(POSTS);
    let mut sum = 0.0;
    for rank in 1..=POSTS {
        sum += 1.0 / rank as f64;
        cumulative.push(sum);
    }
    let emojis: Vec<Emoji> = EMOJIS
        .iter()
        .map(|e| Emoji::parse(e).expect("emoji"))
        .collect();
    let mut rng = Rng(0x2024_1204);
    let mut offsets = vec![0i64; PARTITIONS as usize];
    let mut seqs = vec![0i64; POSTS];
    (0..REACTIONS)
        .map(|_| {
            let draw = rng.unit() * sum;
            let rank = cumulative.partition_point(|c| *c < draw);
            let post_id = Id(1_000_000 + rank as i64);
            seqs[rank] += 1;
            let event = ReactionEvent {
                post_id,
                user_id: Id(1 + (rng.next() % USERS) as i64),
                emoji: emojis[(rng.next() % emojis.len() as u64) as usize].clone(),
                delta: if rng.next().is_multiple_of(10) { -1 } else { 1 },
                seq: seqs[rank],
                at_ms: 0,
                tags: vec![format!("tag{}", rank % 100)],
                cover: format!("https://img.example/{rank}.jpg"),
            };
            let partition = (post_id.0 as u32) % PARTITIONS;
            let offset = offsets[partition as usize];
            offsets[partition as usize] += 1;
            LogRecord {
                partition,
                offset,
                key: Some(post_id.to_string().into_bytes()),
                value: serde_json::to_vec(&event).expect("event"),
                timestamp_ms: 0,
            }
        })
        .collect()
}

/// Aggregation alone, reactions per second on one core.
fn aggregation(records: &[LogRecord]) {
    println!("| batch | aggregation reactions/s (decode + one contribution per post) |");
    for batch in BATCHES {
        let batches: Vec<Batch> = records
            .chunks(batch)
            .map(|c| Batch::from_log(REACTIONS_TOPIC, c))
            .collect();
        let started = Instant::now();
        let mut posts = 0usize;
        for b in &batches {
            let events: Vec<ReactionEvent> = b
                .records
                .iter()
                .filter_map(|r| {
                    let event: ReactionEvent =
                        serde_json::from_slice(r.value.as_ref().ok()?).ok()?;
                    event.validate().ok()?;
                    Some(event)
                })
                .collect();
            posts += aggregate_reactions(&events).len();
        }
        let seconds = started.elapsed().as_secs_f64();
        println!(
            "| {batch} | {:.0} ({posts} contributions) |",
            records.len() as f64 / seconds
        );
    }
}

/// Writes per reaction by batch size, against one write per reaction.
fn write_amplification(records: &[LogRecord]) {
    println!("| batch | post writes/reaction | one write per reaction | writes saved | DynamoDB WCU/reaction |");
    for batch in BATCHES {
        let (mut writes, mut units) = (0usize, 0u64);
        for chunk in records.chunks(batch) {
            let b = Batch::from_log(REACTIONS_TOPIC, chunk);
            let events: Vec<ReactionEvent> = b
                .records
                .iter()
                .map(|r| serde_json::from_slice(r.value.as_ref().expect("value")).expect("event"))
                .collect();
            for post in aggregate_reactions(&events) {
                let state = post.apply(None).unwrap_or_default();
                let item = hashtag_aws::items::reactions_item(post.post_id, &state, 1);
                units += write_units(&item);
                writes += 1;
            }
        }
        let n = records.len() as f64;
        println!(
            "| {batch} | {:.4} | 1 | {:.1}x fewer | {:.4} |",
            writes as f64 / n,
            n / writes as f64,
            units as f64 / n
        );
    }
}

/// The whole consumer on SQLite, reactions per second on one core.
fn throughput(records: &[LogRecord], dir: &std::path::Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("| batch | reaction consumer on SQLite reactions/s |");
    for batch in BATCHES {
        let events: Vec<_> = records
            .chunks(batch)
            .map(|c| Batch::from_log(REACTIONS_TOPIC, c))
            .collect();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("temp dir");
        let store = hashtag_embedded::SqliteHashtagStore::open(&dir.join("hashtags.db"))
            .expect("open the SQLite store");
        let started = Instant::now();
        runtime.block_on(async {
            for event in &events {
                handle_reaction_batch(&store, event, &Windowing::default(), None)
                    .await
                    .expect("batch applied");
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        println!("| {batch} | {:.0} |", records.len() as f64 / seconds);
    }
}

fn main() {
    let records = stream();
    println!(
        "{} reactions on {POSTS} posts (Zipf), {USERS} users, {PARTITIONS} partitions",
        records.len()
    );
    aggregation(&records);
    write_amplification(&records);
    let dir = std::env::temp_dir().join(format!("hashtag-bench-reactions-{}", std::process::id()));
    throughput(&records, &dir);
    let _ = std::fs::remove_dir_all(&dir);
}
