//! The mention graph on the load generator's stream (one post in four
//! mentions a friend from its author's circle of 20, most often the first
//! few): `cargo bench -p hashtag-tools --bench mentions` generates 100,000
//! posts from 1,000 authors over 4 partitions and measures
//!
//! - edge writes per post at batches of 100, 1,000 and 10,000 records: one
//!   read and one conditional write per distinct (author, mentioned) edge of
//!   a batch, against the seed's one upsert per mention; on DynamoDB an edge
//!   write is billed 3 write units (the item and its two index entries,
//!   each under 1 KB) and its consistent read 1 read unit;
//! - the mention consumer's throughput on the embedded SQLite store, in
//!   posts per second on one core;
//! - CSV import, rows per second, of the same stream as the seed's CSV
//!   (text, timestamp, username), through `import_mentions` on SQLite,
//!   against the seed's approach run on SQLite too: per chunk of 10,000
//!   rows one exclusive (table-locking) transaction with one upsert per
//!   user and one per mention.
//!
//! Results go to BENCHMARKS.md.

use std::collections::HashSet;
use std::time::Instant;

use hashtag_core::consumer::{decode_posts, handle_mention_batch};
use hashtag_core::domain::{now_ms, POSTS_TOPIC};
use hashtag_core::ids::{id_time_ms, EPOCH_MS};
use hashtag_core::mention_import::{import_mentions, ImportSource, IMPORT_CHUNK_ROWS};
use hashtag_core::mentions::{aggregate_mentions, mentioned, user_key, Decay, MentionText};
use hashtag_core::record::{Batch, LogRecord};
use hashtag_tools::workload::post_records;

const POSTS: usize = 100_000;
const USERS: usize = 1_000;
const PARTITIONS: u32 = 4;
const BATCHES: [usize; 3] = [100, 1_000, 10_000];

/// The decoded stream's texts, as the consumer aggregates them.
fn texts(records: &[LogRecord]) -> Vec<(String, i64, String, String, i64)> {
    let batch = Batch::from_log(POSTS_TOPIC, records);
    decode_posts(&batch)
        .events
        .into_iter()
        .map(|e| {
            let at = id_time_ms(e.event.post_id) as i64;
            (
                e.source.to_string(),
                e.offset,
                e.event.author,
                e.event.caption,
                at,
            )
        })
        .collect()
}

/// Edge writes per post by batch size, against one write per mention.
fn write_amplification(records: &[LogRecord], decay: &Decay) {
    let texts = texts(records);
    let mentions: usize = texts
        .iter()
        .map(|(_, _, author, caption, _)| mentioned(&user_key(author), caption).len())
        .sum();
    let distinct: HashSet<(String, String)> = texts
        .iter()
        .flat_map(|(_, _, author, caption, _)| {
            let from = user_key(author);
            mentioned(&from, caption)
                .into_iter()
                .map(move |(to, _)| (from.clone(), to))
        })
        .collect();
    let posts = texts.len() as f64;
    println!(
        "{} posts, {} mentions ({:.3} per post), {} distinct edges",
        texts.len(),
        mentions,
        mentions as f64 / posts,
        distinct.len()
    );
    println!("| batch | edge writes/post | one write per mention/post | writes saved | DynamoDB WCU/post | RCU/post |");
    for batch in BATCHES {
        let mut writes = 0usize;
        for chunk in texts.chunks(batch) {
            let chunk: Vec<MentionText<'_>> = chunk
                .iter()
                .map(|(source, offset, author, text, at_ms)| MentionText {
                    source,
                    offset: *offset,
                    author,
                    text,
                    at_ms: *at_ms,
                })
                .collect();
            writes += aggregate_mentions(&chunk, decay).len();
        }
        println!(
            "| {batch} | {:.4} | {:.4} | {:.1}x fewer | {:.4} | {:.4} |",
            writes as f64 / posts,
            mentions as f64 / posts,
            mentions as f64 / writes as f64,
            3.0 * writes as f64 / posts,
            writes as f64 / posts,
        );
    }
}

/// The mention consumer on SQLite, posts per second on one core.
fn throughput(records: &[LogRecord], dir: &std::path::Path) {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    println!("| batch | mention consumer on SQLite posts/s |");
    for batch in BATCHES {
        let events: Vec<_> = records
            .chunks(batch)
            .map(|c| Batch::from_log(POSTS_TOPIC, c))
            .collect();
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir).expect("temp dir");
        let store = hashtag_embedded::SqliteHashtagStore::open(&dir.join("hashtags.db"))
            .expect("open the SQLite store");
        let started = Instant::now();
        runtime.block_on(async {
            for event in &events {
                handle_mention_batch(&store, event, Decay::configured())
                    .await
                    .expect("batch applied");
            }
        });
        let seconds = started.elapsed().as_secs_f64();
        println!("| {batch} | {:.0} |", records.len() as f64 / seconds);
    }
}

/// The stream as the seed's CSV: text, timestamp (Unix seconds), username.
fn csv_file(records: &[LogRecord]) -> Vec<u8> {
    let mut out = b"text,timestamp,username\n".to_vec();
    for (_, _, author, caption, at_ms) in texts(records) {
        let text = caption.replace('"', "\"\"");
        out.extend(format!("\"{text}\",{},{author}\n", at_ms / 1000).as_bytes());
    }
    out
}

/// The seed's import on SQLite: per chunk one exclusive transaction, one
/// upsert per user (nodes) and per mention (edges, weight + 1).
fn seed_import(file: &[u8], path: &std::path::Path) -> usize {
    let mut conn = rusqlite::Connection::open(path).expect("open");
    conn.execute_batch(
        "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;
         CREATE TABLE nodes (id INTEGER PRIMARY KEY, username TEXT UNIQUE NOT NULL);
         CREATE TABLE edges (src INTEGER NOT NULL, dst INTEGER NOT NULL, weight REAL NOT NULL,
                             updated_ms INTEGER NOT NULL, PRIMARY KEY (src, dst));",
    )
    .expect("schema");
    // Rows as (text, timestamp, username), the header skipped.
    let rows: Vec<csv::StringRecord> = csv::Reader::from_reader(file)
        .records()
        .collect::<Result<_, _>>()
        .expect("the file parses");
    let now = now_ms();
    for chunk in rows.chunks(IMPORT_CHUNK_ROWS) {
        let tx = conn
            .transaction_with_behavior(rusqlite::TransactionBehavior::Exclusive)
            .expect("lock");
        for row in chunk {
            let from = user_key(&row[2]);
            for (to, _) in mentioned(&from, &row[0]) {
                for name in [&from, &to] {
                    tx.execute(
                        "INSERT INTO nodes (username) VALUES (?1) ON CONFLICT DO NOTHING",
                        [name],
                    )
                    .expect("node");
                }
                tx.execute(
                    "INSERT INTO edges (src, dst, weight, updated_ms)
                     SELECT a.id, b.id, 1, ?3 FROM nodes a, nodes b WHERE a.username = ?1 AND b.username = ?2
                     ON CONFLICT (src, dst) DO UPDATE SET weight = weight + 1, updated_ms = ?3",
                    rusqlite::params![from, to, now],
                )
                .expect("edge");
            }
        }
        tx.commit().expect("commit");
    }
    rows.len()
}

/// Rows per second of both imports.
fn import(records: &[LogRecord], dir: &std::path::Path, decay: &Decay) {
    let file = csv_file(records);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let _ = std::fs::remove_dir_all(dir);
    std::fs::create_dir_all(dir).expect("temp dir");
    let store = hashtag_embedded::SqliteHashtagStore::open(&dir.join("hashtags.db"))
        .expect("open the SQLite store");
    let started = Instant::now();
    let source = ImportSource::of(&file);
    let report = runtime
        .block_on(import_mentions(&store, &source, &file[..], decay, now_ms()))
        .expect("imported");
    let ours = started.elapsed().as_secs_f64();
    assert_eq!(report.rejected, 0, "{:?}", &report.rejections[..1]);
    let started = Instant::now();
    let again = runtime
        .block_on(import_mentions(&store, &source, &file[..], decay, now_ms()))
        .expect("imported again");
    let second = started.elapsed().as_secs_f64();
    assert_eq!(again.edges_written, 0, "a second import writes nothing");
    let started = Instant::now();
    let rows = seed_import(&file, &dir.join("seed.db"));
    let seed = started.elapsed().as_secs_f64();
    let mb = file.len() as f64 / 1e6;
    println!("CSV of {rows} rows, {mb:.1} MB; chunks of {IMPORT_CHUNK_ROWS} rows");
    println!("| import | rows/s | edge writes | seconds |");
    println!(
        "| import_mentions (aggregated per chunk, marks, no lock) | {:.0} | {} | {ours:.2} |",
        report.rows as f64 / ours,
        report.edges_written
    );
    println!(
        "| the same file again (nothing written) | {:.0} | 0 | {second:.2} |",
        report.rows as f64 / second
    );
    println!(
        "| the seed's approach (exclusive tx per chunk, upsert per user and mention) | {:.0} | - | {seed:.2} |",
        rows as f64 / seed
    );
}

fn main() {
    // Ids minted now: a mention weighs from its post's time, and edges
    // decayed away are not written.
    let first_id = ((now_ms() as u64 - EPOCH_MS) << 22) as i64;
    let records = post_records(POSTS, USERS, PARTITIONS, first_id);
    let decay = Decay::configured();
    let dir = std::env::temp_dir().join(format!("hashtag-mentions-bench-{}", std::process::id()));
    write_amplification(&records, &decay);
    throughput(&records, &dir);
    import(&records, &dir, &decay);
    let _ = std::fs::remove_dir_all(&dir);
}
