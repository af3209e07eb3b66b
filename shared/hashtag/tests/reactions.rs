//! Reaction counts stay exact under the deliveries Kafka and MSK make:
//! every batch twice, a replay of the whole topic from offset 0, a
//! consumer killed mid-stream whose successor starts again from an older
//! committed offset, and every event published a second time, out of
//! order, as an at-least-once outbox may. Reactions are made through the post store (adds and
//! removals, skewed towards a few posts, so the consumer's per-post
//! aggregation is exercised), read back from the embedded event log, and
//! each scenario ends with `reconcile --reactions` at zero drift: the
//! counts equal a recount of the reaction sets. Then the windows (a late
//! reaction inside the grace lands in its window) and the ranker (a
//! reacted post is ranked first), on both adapter sets.

mod common;

use std::collections::BTreeMap;

use common::{Rng, TempDir};
use hashtag_core::consumer::{handle_post_batch, handle_ranking_batch, handle_reaction_batch};
use hashtag_core::domain::{now_ms, Image, Post, Username, TOP_POSTS_TOPIC};
use hashtag_core::ids::Id;
use hashtag_core::ports::{EventPublisher, HashtagStore, PostStore};
use hashtag_core::reactions::{Emoji, LiveReaction, REACTIONS_TOPIC};
use hashtag_core::reconcile::reconcile_reactions;
use hashtag_core::record::{Batch, LogRecord};
use hashtag_core::windows::{WindowCounts, Windowing};

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
            handle_reaction_batch(store, &batch, &Windowing::default(), None)
                .await
                .unwrap();
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
    let report = handle_reaction_batch(store, &batch, &Windowing::default(), None)
        .await
        .unwrap();
    assert_eq!(report.writes, 0, "a replay writes nothing: {report:?}");
    assert_exact(posts, store, "replayed from offset 0").await;
    // The outbox published every event again (create-post could not mark
    // them published, then the relay did), under new offsets and in
    // reverse order: each change's number is counted once.
    let again = republished(records);
    let report = handle_reaction_batch(
        store,
        &Batch::from_log(REACTIONS_TOPIC, &again),
        &Windowing::default(),
        None,
    )
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

/// Live reactions as the reactions topic carries them: (offset, emoji,
/// event time, time the record entered the topic).
fn live_records(rows: &[(i64, &str, i64, i64)]) -> Vec<LogRecord> {
    rows.iter()
        .map(|(offset, emoji, at_ms, arrived_ms)| LogRecord {
            partition: 0,
            offset: *offset,
            key: Some(b"7".to_vec()),
            value: serde_json::to_vec(&LiveReaction {
                message_id: Id(100 + offset),
                user_id: "7".into(),
                emoji: Emoji::parse(emoji).unwrap(),
                at_ms: *at_ms,
            })
            .unwrap(),
            timestamp_ms: *arrived_ms,
        })
        .collect()
}

/// A reaction that reaches the topic within its window's grace lands in
/// the window; one after the grace lands in none; a redelivery adds
/// nothing.
async fn late_reactions_inside_the_grace_land_in_their_window(store: &dyn HashtagStore) {
    let w = Windowing {
        width_ms: 60_000,
        grace_ms: 120_000,
    };
    let start = w.start(now_ms()) - 5 * 60_000;
    let records = live_records(&[
        (0, "🎉", start + 1_000, start + 2_000),
        // Two minutes after the window's end, within its grace.
        (1, "🎉", start + 2_000, start + 179_999),
        // After the grace: counted in no window.
        (2, "👏", start + 3_000, start + 180_001),
        (3, "👏", start + 61_000, start + 180_001),
    ]);
    let batch = Batch::from_log(REACTIONS_TOPIC, &records);
    let report = handle_reaction_batch(store, &batch, &w, None)
        .await
        .unwrap();
    assert_eq!(
        (report.processed, report.late, report.malformed),
        (4, 1, 0),
        "{report:?}"
    );
    handle_reaction_batch(store, &batch, &w, None)
        .await
        .unwrap();
    let expected = vec![
        WindowCounts {
            start_ms: start,
            counts: BTreeMap::from([("🎉".to_string(), 2)]),
        },
        WindowCounts {
            start_ms: start + 60_000,
            counts: BTreeMap::from([("👏".to_string(), 1)]),
        },
    ];
    assert_eq!(store.windows(start, 10).await.unwrap(), expected);
}

/// A post that gets reactions rises above newer posts in its tag's Top
/// view: the reaction consumer's ranker publishes the ranking on the
/// top-posts topic, and the ranking consumer applies it.
async fn a_reacted_post_is_ranked_first(store: &dyn HashtagStore) {
    let dir = TempDir::new("rising-posts");
    let stores = hashtag_embedded::open(&dir.0, 2).unwrap();
    let (posts, log) = (stores.posts.as_ref(), &stores.log);
    let ids = hashtag_core::ids::IdGenerator::new(3).unwrap();
    for u in 1..=3 {
        let name = Username::parse(&format!("riser{u}")).unwrap();
        posts
            .create_user(Id(u), &name, &u.to_string())
            .await
            .unwrap();
    }
    let mut made = Vec::new();
    for i in 0..4 {
        let post = Post {
            post_id: ids.next_id(),
            user_id: Id(1),
            caption: format!("post {i} #Rising"),
            images: vec![Image {
                image_id: ids.next_id(),
                url: format!("/images/{i}.svg"),
            }],
            created_at: "2026-12-04T00:00:00.000Z".into(),
        };
        posts.create_post(&post, None).await.unwrap();
        made.push(post.post_id);
    }
    let posted = log.fetch("test", "posts", 100).await.unwrap();
    handle_post_batch(store, &Batch::from_log("posts", &posted))
        .await
        .unwrap();
    let oldest = made[0];
    for user in 2..=3 {
        for emoji in ["👍", "🔥"] {
            let emoji = Emoji::parse(emoji).unwrap();
            posts.react(oldest, Id(user), &emoji, true).await.unwrap();
        }
    }
    let reactions = log.fetch("test", REACTIONS_TOPIC, 100).await.unwrap();
    let batch = Batch::from_log(REACTIONS_TOPIC, &reactions);
    let w = Windowing::default();
    let publisher: &dyn EventPublisher = log;
    let report = handle_reaction_batch(store, &batch, &w, Some(publisher))
        .await
        .unwrap();
    assert_eq!(report.rankings, 1, "{report:?}");
    let rankings = log.fetch("test", TOP_POSTS_TOPIC, 10).await.unwrap();
    handle_ranking_batch(store, &Batch::from_log(TOP_POSTS_TOPIC, &rankings))
        .await
        .unwrap();
    let page = store.page("rising").await.unwrap().unwrap();
    let order: Vec<Id> = page.top_posts.iter().map(|p| p.post_id).collect();
    assert_eq!(order, [made[0], made[3], made[2], made[1]]);
    assert_eq!(page.top_posts[0].image_url, "/images/0.svg");
    // Delivered again: the ranking is the page's already.
    let again = handle_reaction_batch(store, &batch, &w, Some(publisher))
        .await
        .unwrap();
    assert_eq!(again.rankings, 0, "{again:?}");
}

#[tokio::test]
async fn windows_and_rankings_on_the_embedded_store() {
    let dir = TempDir::new("windows");
    let stores = hashtag_embedded::open(&dir.0, 2).unwrap();
    late_reactions_inside_the_grace_land_in_their_window(stores.hashtags.as_ref()).await;
    let other = TempDir::new("rising");
    let store = hashtag_embedded::SqliteHashtagStore::open(&other.0.join("hashtags.db")).unwrap();
    a_reacted_post_is_ranked_first(&store).await;
}

#[cfg(feature = "aws-stack")]
#[tokio::test]
async fn windows_and_rankings_on_dynamodb() {
    let moto = common::aws::Moto::start();
    let store = hashtag_aws::DynamoHashtagStore::new(moto.dynamodb(), "hashtags");
    store.create_table().await.unwrap();
    late_reactions_inside_the_grace_land_in_their_window(&store).await;
    a_reacted_post_is_ranked_first(&store).await;
}
