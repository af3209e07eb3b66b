//! Reaction counts stay exact under the deliveries Kafka and MSK make:
//! every batch twice, a replay of the whole topic from offset 0, a
//! consumer killed mid-stream whose successor starts again from an older
//! committed offset, and every event published a second time, out of
//! order, as an at-least-once outbox may. Reactions are made through the post store (adds and
//! removals, skewed towards a few posts, so the consumer's per-post
//! aggregation is exercised), read back from the embedded event log, and
//! each scenario ends with `reconcile --reactions` at zero drift: the
//! counts equal a recount of the reaction sets.

mod common;

use common::{Rng, TempDir};
use hashtag_core::consumer::handle_reaction_batch;
use hashtag_core::domain::{Image, Post, Username};
use hashtag_core::ids::Id;
use hashtag_core::ports::{HashtagStore, PostStore};
use hashtag_core::reactions::{Emoji, REACTIONS_TOPIC};
use hashtag_core::reconcile::reconcile_reactions;
use hashtag_core::record::{Batch, LogRecord};

const POSTS: i64 = 40;
const USERS: i64 = 30;
const CHANGES: usize = 3_000;
const EMOJIS: [&str; 5] = ["👍", "❤️", "😂", "🔥", "👍🏽"];

/// Posts and reactions in the embedded stores of `dir`; the reaction
/// events as the log holds them.
async fn reacted(dir: &TempDir) -> (hashtag_embedded::Embedded, Vec<LogRecord>) {
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    let posts = stores.posts.as_ref();
    for u in 1..=USERS {
        let name = Username::parse(&format!("r{u}")).unwrap();
        posts
            .create_user(Id(u), &name, &u.to_string())
            .await
            .unwrap();
    }
    for p in 1..=POSTS {
        let post = Post {
            post_id: Id(1_000 + p),
            user_id: Id(1 + p % USERS),
            caption: format!("post {p} #reacted"),
            images: vec![Image {
                image_id: Id(10_000 + p),
                url: format!("/images/{p}.svg"),
            }],
            created_at: "2026-12-04T00:00:00.000Z".into(),
        };
        posts.create_post(&post, None).await.unwrap();
    }
    let emojis: Vec<Emoji> = EMOJIS.iter().map(|e| Emoji::parse(e).unwrap()).collect();
    let mut rng = Rng(0x5EAC_7105);
    for _ in 0..CHANGES {
        // Skewed: half the reactions go to the first four posts.
        let post = match rng.chance(2) {
            true => 1 + rng.below(4) as i64,
            false => 1 + rng.below(POSTS as usize) as i64,
        };
        let user = 1 + rng.below(USERS as usize) as i64;
        let emoji = rng.pick(&emojis);
        let present = !rng.chance(4);
        posts
            .react(Id(1_000 + post), Id(user), emoji, present)
            .await
            .unwrap();
    }
    let records = stores
        .log
        .fetch("test-reader", REACTIONS_TOPIC, 1_000_000)
        .await
        .unwrap();
    assert!(records.len() > CHANGES / 2, "{} changes", records.len());
    (stores, records)
}

/// Delivers `records[range]` in batches of `size`, each `times` times.
async fn deliver(store: &dyn HashtagStore, records: &[LogRecord], size: usize, times: usize) {
    for chunk in records.chunks(size) {
        let batch = Batch::from_log(REACTIONS_TOPIC, chunk);
        for _ in 0..times {
            handle_reaction_batch(store, &batch).await.unwrap();
        }
    }
}

/// No post's counts drift from its reaction set.
async fn assert_exact(posts: &dyn PostStore, store: &dyn HashtagStore, scenario: &str) {
    let report = reconcile_reactions(posts, store).await.unwrap();
    assert!(report.posts > 0 && report.reactions > 0, "{report:?}");
    assert_eq!(report.drift, Vec::new(), "{scenario}");
    eprintln!(
        "{scenario}: {} posts, {} reactions, zero drift",
        report.posts, report.reactions
    );
}

/// The three deliveries against `store`, a hashtag store with no reaction
/// counts yet.
async fn deliveries_stay_exact(
    posts: &dyn PostStore,
    records: &[LogRecord],
    store: &dyn HashtagStore,
) {
    deliver(store, records, 100, 2).await;
    assert_exact(posts, store, "every batch delivered twice").await;
    // The whole topic again from offset 0: every record is a redelivery.
    let batch = Batch::from_log(REACTIONS_TOPIC, records);
    let report = handle_reaction_batch(store, &batch).await.unwrap();
    assert_eq!(report.writes, 0, "a replay writes nothing: {report:?}");
    assert_exact(posts, store, "replayed from offset 0").await;
    // The outbox published every event again (create-post could not mark
    // them published, then the relay did), under new offsets and in
    // reverse order: each change's number is counted once.
    let again = republished(records);
    let report = handle_reaction_batch(store, &Batch::from_log(REACTIONS_TOPIC, &again))
        .await
        .unwrap();
    assert_eq!(
        report.writes, 0,
        "a republication writes nothing: {report:?}"
    );
    assert_exact(posts, store, "published twice").await;
}

/// `records` published again after them, newest first: what an outbox
/// that publishes at least once, in no set order, may add to the topic.
fn republished(records: &[LogRecord]) -> Vec<LogRecord> {
    let end = records.iter().map(|r| r.offset).max().unwrap_or(0) + 1;
    records
        .iter()
        .rev()
        .enumerate()
        .map(|(i, r)| LogRecord {
            offset: end + i as i64,
            ..r.clone()
        })
        .collect()
}

#[tokio::test]
async fn reaction_counts_stay_exact_under_redelivery_replay_and_a_killed_consumer() {
    let dir = TempDir::new("reactions");
    let (stores, records) = reacted(&dir).await;
    let posts = stores.posts.as_ref();
    deliveries_stay_exact(posts, &records, stores.hashtags.as_ref()).await;

    // A consumer killed after 60% of the topic, whose last commit was at
    // 30%: its successor delivers from there again, in other batch sizes.
    let other = TempDir::new("reactions-killed");
    let fresh = hashtag_embedded::SqliteHashtagStore::open(&other.0.join("hashtags.db")).unwrap();
    let (killed_at, committed) = (records.len() * 6 / 10, records.len() * 3 / 10);
    deliver(&fresh, &records[..killed_at], 77, 1).await;
    deliver(&fresh, &records[committed..], 131, 1).await;
    assert_exact(posts, &fresh, "killed at 60%, restarted from 30%").await;

    // A consumer that reads every post's changes in reverse order (removals
    // before the additions they take back) ends exact all the same.
    let reversed = TempDir::new("reactions-reversed");
    let fresh =
        hashtag_embedded::SqliteHashtagStore::open(&reversed.0.join("hashtags.db")).unwrap();
    deliver(&fresh, &republished(&records), 500, 1).await;
    assert_exact(posts, &fresh, "every change out of order").await;
}

#[cfg(feature = "aws-stack")]
#[tokio::test]
async fn reaction_counts_stay_exact_on_dynamodb() {
    let dir = TempDir::new("reactions-dynamo");
    let (stores, records) = reacted(&dir).await;
    let moto = common::aws::Moto::start();
    let store = hashtag_aws::DynamoHashtagStore::new(moto.dynamodb(), "hashtags");
    store.create_table().await.unwrap();
    deliveries_stay_exact(stores.posts.as_ref(), &records, &store).await;
}
