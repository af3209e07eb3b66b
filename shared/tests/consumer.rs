//! The Kafka handlers on the MSK-shaped events in `events/`: malformed
//! records are set aside without failing the batch, duplicates and
//! redeliveries count once.

mod common;

use aws_lambda_events::event::kafka::KafkaEvent;
use common::{total, TempDir};
use shared::consumer::{handle_post_batch, handle_ranking_batch};
use shared::ports::HashtagStore;

fn event(name: &str) -> KafkaEvent {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../events")
        .join(name);
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

#[tokio::test]
async fn a_batch_with_bad_records_and_duplicates_counts_every_good_post_once() {
    let dir = TempDir::new("consumer");
    let stores = shared::embedded::open(&dir.0, 4).unwrap();
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
    let stores = shared::embedded::open(&dir.0, 4).unwrap();
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
