//! The Kafka handlers on the MSK-shaped events in `events/`: malformed
//! records are set aside without failing the batch, duplicates and
//! redeliveries count once.

mod common;

use aws_lambda_events::event::kafka::KafkaEvent;
use common::{total, TempDir};
use hashtag_core::consumer::{handle_post_batch, handle_ranking_batch};
use hashtag_core::ports::{HashtagStore, TagPages};
use hashtag_core::record::{Batch, LogRecord};

/// A sample MSK event of `events/`, as the Lambda edge hands it to the consumers.
fn event(name: &str) -> Batch {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../events")
        .join(name);
    let event: KafkaEvent = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    hashtag_lambda::msk::batch(&event)
}

#[tokio::test]
async fn a_batch_with_bad_records_and_duplicates_counts_every_good_post_once() {
    let dir = TempDir::new("consumer");
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    let store = stores.hashtags.as_ref();
    let batch = event("hashtag-consumer.json");

    let report = handle_post_batch(store, &batch).await.unwrap();
    assert_eq!(report.records, 8);
    assert_eq!(report.duplicates, 1);
    assert_eq!(report.malformed, 4);
    assert_eq!(report.processed, 3);
    assert_eq!(report.writes, 3); // rust, aws, running: one write each

    // MSK redelivers the whole batch: nothing changes.
    handle_post_batch(store, &batch).await.unwrap();
    assert_eq!(total(store, "rust").await, 2);
    assert_eq!(total(store, "aws").await, 2);
    assert_eq!(total(store, "running").await, 1);
    assert_eq!(store.page("rust").await.unwrap().unwrap().tag, "Rust");
}

#[tokio::test]
async fn ranking_batch_applies_valid_rankings_and_sets_bad_ones_aside() {
    let dir = TempDir::new("ranking");
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    let store = stores.hashtags.as_ref();
    let report = handle_ranking_batch(store, &event("top-posts-consumer.json"))
        .await
        .unwrap();
    assert_eq!(
        (report.processed, report.malformed, report.writes),
        (1, 1, 1)
    );
    let page = store.page("rust").await.unwrap().unwrap();
    let ids: Vec<String> = page
        .top_posts
        .iter()
        .map(|p| p.post_id.to_string())
        .collect();
    assert_eq!(ids, ["102", "101"]);
}

/// A batch of 200 good post records with one of every kind of bad record
/// between them, repeated: every good one is counted, every bad one
/// dead-lettered with its reason, and the batch succeeds.
async fn mixed_batch_counts_good_and_dead_letters_bad(store: &dyn HashtagStore) {
    use base64::Engine;
    let b64 = |bytes: &[u8]| base64::engine::general_purpose::STANDARD.encode(bytes);
    let good = |i: i64| {
        let event = serde_json::json!({
            "post_id": (1000 + i).to_string(), "user_id": "7",
            "caption": format!("good {i} #Mixed #batch{}", i % 3),
            "image_url": format!("/images/{i}.svg"), "created_at": "2026-11-23T00:00:00.000Z",
        });
        Some(b64(event.to_string().as_bytes()))
    };
    let json = |v: serde_json::Value| Some(b64(v.to_string().as_bytes()));
    let bad: Vec<(&str, Option<String>)> = vec![
        ("not base64", Some("!!not base64!!".into())),
        ("not JSON", Some(b64(b"{\"post_id\": "))),
        (
            "invalid UTF-8",
            Some(b64(b"{\"post_id\":\"1\",\"user_id\":\"1\",\"caption\":\"\xff\xfe\",\"image_url\":\"/i.svg\",\"created_at\":\"x\"}")),
        ),
        ("missing fields", json(serde_json::json!({"post_id": "5"}))),
        (
            "oversized caption",
            json(serde_json::json!({"post_id": "6", "user_id": "1", "caption": "x".repeat(2_201),
                "image_url": "/i.svg", "created_at": "2026-11-23T00:00:00.000Z"})),
        ),
        (
            "script image URL",
            json(serde_json::json!({"post_id": "8", "user_id": "1", "caption": "#Mixed",
                "image_url": "javascript:alert(1)", "created_at": "2026-11-23T00:00:00.000Z"})),
        ),
        ("tombstone", None),
    ];
    let mut records = Vec::new();
    let mut bad_offsets = Vec::new();
    let mut offset = 0;
    for i in 0..200 {
        records.push((offset, good(i)));
        offset += 1;
        if i % 25 == 0 {
            let (_, value) = &bad[(i / 25) as usize % bad.len()];
            bad_offsets.push(offset);
            records.push((offset, value.clone()));
            offset += 1;
        }
    }
    let mut event = KafkaEvent::default();
    event.records.insert(
        "posts-3".into(),
        records
            .into_iter()
            .map(|(offset, value)| {
                let mut r = aws_lambda_events::event::kafka::KafkaRecord::default();
                r.topic = Some("posts".into());
                r.partition = 3;
                r.offset = offset;
                r.value = value;
                r
            })
            .collect(),
    );
    let event = hashtag_lambda::msk::batch(&event);
    let report = handle_post_batch(store, &event).await.unwrap();
    assert_eq!(
        (report.processed, report.malformed),
        (200, bad_offsets.len())
    );
    assert_eq!(total(store, "mixed").await, 200);
    assert_eq!(
        total(store, "batch0").await + total(store, "batch1").await + total(store, "batch2").await,
        200
    );
    let letters = store.dead_letters(100).await.unwrap();
    let mut offsets: Vec<i64> = letters.iter().map(|l| l.offset).collect();
    offsets.sort();
    assert_eq!(offsets, bad_offsets, "every bad record is dead-lettered");
    for (l, expect) in [
        ("not base64", "not base64"),
        ("not JSON", "not the expected JSON"),
        ("invalid UTF-8", "not the expected JSON"),
        ("missing fields", "missing field"),
        ("oversized caption", "2201 characters"),
        ("script image URL", "image URLs"),
        ("tombstone", "tombstone"),
    ] {
        let at = bad_offsets[bad.iter().position(|(n, _)| *n == l).unwrap()];
        let letter = letters.iter().find(|d| d.offset == at).unwrap();
        assert!(letter.reason.contains(expect), "{l}: {}", letter.reason);
        assert_eq!(letter.source, "posts-3");
    }
    // Delivered again: nothing counted twice, no dead letter duplicated.
    handle_post_batch(store, &event).await.unwrap();
    assert_eq!(total(store, "mixed").await, 200);
    assert_eq!(
        store.dead_letters(100).await.unwrap().len(),
        bad_offsets.len()
    );
}

/// A batch whose middle record carries a 2,100-letter tag (as a producer
/// other than the API could publish), then the next batch of the same
/// partition: the long record is dead-lettered, every other one counted.
async fn a_tag_over_the_limit_never_blocks_its_partition(store: &dyn HashtagStore) {
    let record = |offset: i64, caption: String| LogRecord {
        partition: 2,
        offset,
        key: None,
        value: serde_json::json!({
            "post_id": (500 + offset).to_string(), "user_id": "9", "caption": caption,
            "image_url": "/images/1.svg", "created_at": "2026-12-03T00:00:00.000Z",
        })
        .to_string()
        .into_bytes(),
        timestamp_ms: 0,
    };
    let long = "a".repeat(2_100);
    let first = [
        record(0, "#Limit one".into()),
        record(1, format!("#Limit #{long}")),
        record(2, "#limit three".into()),
    ];
    let report = handle_post_batch(store, &Batch::from_log("posts", &first))
        .await
        .unwrap();
    assert_eq!((report.processed, report.malformed), (2, 1));
    let letters = store.dead_letters(10).await.unwrap();
    assert_eq!(letters.len(), 1);
    assert_eq!(
        (letters[0].source.as_str(), letters[0].offset),
        ("posts-2", 1)
    );
    assert!(
        letters[0].reason.contains("longer than"),
        "{}",
        letters[0].reason
    );
    let next = [record(3, "#limit four".into())];
    handle_post_batch(store, &Batch::from_log("posts", &next))
        .await
        .unwrap();
    assert_eq!(total(store, "limit").await, 3);
}

#[tokio::test]
async fn embedded_tag_over_the_limit_is_dead_lettered() {
    let dir = TempDir::new("long-tag");
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    a_tag_over_the_limit_never_blocks_its_partition(stores.hashtags.as_ref()).await;
}

#[cfg(feature = "aws-stack")]
#[tokio::test]
async fn dynamodb_tag_over_the_limit_is_dead_lettered() {
    let moto = common::aws::Moto::start();
    let store = hashtag_aws::DynamoHashtagStore::new(moto.dynamodb(), "hashtags");
    store.create_table().await.unwrap();
    a_tag_over_the_limit_never_blocks_its_partition(&store).await;
}

#[tokio::test]
async fn embedded_mixed_batch_dead_letters_every_bad_record() {
    let dir = TempDir::new("mixed");
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    mixed_batch_counts_good_and_dead_letters_bad(stores.hashtags.as_ref()).await;
}

#[cfg(feature = "aws-stack")]
#[tokio::test]
async fn dynamodb_mixed_batch_dead_letters_every_bad_record() {
    let moto = common::aws::Moto::start();
    let store = hashtag_aws::DynamoHashtagStore::new(moto.dynamodb(), "hashtags");
    store.create_table().await.unwrap();
    mixed_batch_counts_good_and_dead_letters_bad(&store).await;
}
