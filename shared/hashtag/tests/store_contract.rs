//! Contract tests of the storage ports. Every adapter set must pass them:
//! the embedded (SQLite) adapters, and the AWS adapters on the local AWS
//! stack (moto for DynamoDB).

mod common;

use common::{total, TempDir};
use hashtag_core::aggregate::{CountedPost, SourcePosts, TagContribution};
use hashtag_core::domain::{Image, Post, Ranking, TopPost, Username};
use hashtag_core::ids::Id;
use hashtag_core::ports::{DeadLetter, HashtagStore, PostClaim, PostStore, StoreError};

fn contribution(key: &str, source: &str, offsets: std::ops::Range<i64>) -> TagContribution {
    TagContribution {
        key: key.into(),
        display: key.to_uppercase(),
        sources: vec![SourcePosts {
            source: source.into(),
            posts: offsets
                .map(|o| CountedPost {
                    offset: o,
                    post_id: Id(1000 + o),
                    image_url: format!("https://img/{o}").into(),
                })
                .collect(),
        }],
    }
}

async fn redelivery_counts_nothing_twice(store: &dyn HashtagStore) {
    let batch = vec![
        contribution("a", "posts-0", 0..10),
        contribution("b", "posts-1", 0..3),
    ];
    store.apply_counts(&batch).await.unwrap();
    store.apply_counts(&batch).await.unwrap(); // the same batch again
    assert_eq!(total(store, "a").await, 10);
    assert_eq!(total(store, "b").await, 3);
    // A redelivery with other boundaries overlapping the last one.
    store
        .apply_counts(&[contribution("a", "posts-0", 5..15)])
        .await
        .unwrap();
    assert_eq!(total(store, "a").await, 15);
    // Another partition's offsets are independent.
    store
        .apply_counts(&[contribution("a", "posts-2", 0..2)])
        .await
        .unwrap();
    assert_eq!(total(store, "a").await, 17);
    let page = store.page("a").await.unwrap().unwrap();
    assert_eq!(page.tag, "A");
    assert_eq!(page.top_posts[0].post_id, Id(1014)); // newest first
}

async fn recent_posts_are_capped_at_100(store: &dyn HashtagStore) {
    for chunk in 0..3 {
        store
            .apply_counts(&[contribution("cap", "posts-0", chunk * 50..chunk * 50 + 50)])
            .await
            .unwrap();
    }
    let page = store.page("cap").await.unwrap().unwrap();
    assert_eq!(page.total_posts, 150);
    assert_eq!(page.top_posts.len(), 100);
    assert_eq!(page.top_posts[0].post_id, Id(1149));
    assert_eq!(page.top_posts[99].post_id, Id(1050));
}

async fn rankings_replace_only_older_rankings(store: &dyn HashtagStore) {
    let ranking = |at: &str, id: i64| Ranking {
        tag: "#Ranked".into(),
        generated_at: at.into(),
        posts: vec![TopPost {
            post_id: Id(id),
            image_url: "https://img/r".into(),
        }],
    };
    assert!(store
        .apply_ranking(&ranking("2026-05-01T00:00:00Z", 1))
        .await
        .unwrap());
    assert!(!store
        .apply_ranking(&ranking("2026-04-01T00:00:00Z", 2))
        .await
        .unwrap());
    assert!(!store
        .apply_ranking(&ranking("2026-05-01T00:00:00Z", 3))
        .await
        .unwrap());
    let page = store.page("ranked").await.unwrap().unwrap();
    assert_eq!(page.top_posts[0].post_id, Id(1));
    assert_eq!(page.total_posts, 0); // ranked before any post was counted
    assert!(store
        .apply_ranking(&ranking("2026-06-01T00:00:00Z", 4))
        .await
        .unwrap());
    assert_eq!(
        store.page("ranked").await.unwrap().unwrap().top_posts[0].post_id,
        Id(4)
    );
    assert!(store.page("unknown").await.unwrap().is_none());
}

async fn users_are_unique_ignoring_case(store: &dyn PostStore) {
    let alice = Username::parse("Alice").unwrap();
    let user = store.create_user(Id(1), &alice).await.unwrap();
    assert_eq!(user.username, "Alice");
    let again = store
        .create_user(Id(2), &Username::parse("ALICE").unwrap())
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    // Found by id, and by name in any casing.
    assert_eq!(store.user_by_id(Id(1)).await.unwrap(), Some(user.clone()));
    assert_eq!(
        store
            .user_by_name(&Username::parse("aLiCe").unwrap())
            .await
            .unwrap(),
        Some(user)
    );
    assert_eq!(store.user_by_id(Id(2)).await.unwrap(), None);
    assert_eq!(
        store
            .user_by_name(&Username::parse("bob").unwrap())
            .await
            .unwrap(),
        None
    );
}

async fn posts_round_trip_and_need_an_author(store: &dyn PostStore) {
    let post = Post {
        post_id: Id(i64::MAX - 1), // 64-bit ids survive the store
        user_id: Id(1),
        caption: "hello #world".into(),
        images: vec![
            Image {
                image_id: Id(10),
                url: "https://img/10".into(),
            },
            Image {
                image_id: Id(11),
                url: "https://img/11".into(),
            },
        ],
        created_at: "2026-01-01T00:00:00.000Z".into(),
    };
    store.create_post(&post, None).await.unwrap();
    assert_eq!(
        store.get_post(post.post_id).await.unwrap(),
        Some(post.clone())
    );
    let orphan = Post {
        post_id: Id(5),
        user_id: Id(999),
        ..post
    };
    assert!(matches!(
        store.create_post(&orphan, None).await,
        Err(StoreError::Missing(_))
    ));
    assert_eq!(store.get_post(Id(5)).await.unwrap(), None);
}

/// Post `id` by `user` with one image (id `id + 1`).
fn post(id: i64, user: i64, caption: &str) -> Post {
    Post {
        post_id: Id(id),
        user_id: Id(user),
        caption: caption.into(),
        images: vec![Image {
            image_id: Id(id + 1),
            url: "https://img/k".into(),
        }],
        created_at: "2026-01-02T00:00:00.000Z".into(),
    }
}

async fn idempotency_keys_replay_the_first_post(store: &dyn PostStore) {
    store
        .create_user(Id(2), &Username::parse("bob").unwrap())
        .await
        .unwrap();
    let first = store
        .create_post(&post(100, 1, "once #idem"), Some("key-1"))
        .await
        .unwrap();
    assert!(!first.replayed);
    let retry = store
        .create_post(&post(200, 1, "once #idem"), Some("key-1"))
        .await
        .unwrap();
    assert!(retry.replayed);
    assert_eq!(retry.post, first.post, "the retry answers the first post");
    assert_eq!(
        store.get_post(Id(200)).await.unwrap(),
        None,
        "and stores nothing"
    );
    assert!(matches!(
        store
            .create_post(&post(300, 1, "another caption"), Some("key-1"))
            .await,
        Err(StoreError::Conflict(_))
    ));
    // Keys are per author.
    let bobs = store
        .create_post(&post(400, 2, "once #idem"), Some("key-1"))
        .await
        .unwrap();
    assert!(!bobs.replayed);
    let captions = store.captions_after(Id(99), 2).await.unwrap();
    assert_eq!(
        captions,
        vec![
            (Id(100), "once #idem".into()),
            (Id(400), "once #idem".into())
        ]
    );
    assert_eq!(store.captions_after(Id(100), 1).await.unwrap().len(), 1);
}

/// Creates arriving together (which the embedded store commits as one
/// group) keep every rule: one post per idempotency key, a missing author
/// fails alone, and the others are stored. Returns the posts stored.
async fn concurrent_creates_keep_the_rules(store: &dyn PostStore) -> usize {
    let same_key = (0..24).map(|i| post(1000 + i, 1, "raced #together"));
    let orphans = (0..24).map(|i| post(2000 + i, 999, "nobody #wrote"));
    let distinct = (0..24).map(|i| post(3000 + i, 2, &format!("post {i} #apart")));
    let keyed = futures_util::future::join_all(
        same_key
            .clone()
            .map(|p| async move { store.create_post(&p, Some("race")).await }),
    );
    let unkeyed = futures_util::future::join_all(
        orphans
            .chain(distinct)
            .map(|p| async move { (p.user_id, store.create_post(&p, None).await) }),
    );
    let (keyed, unkeyed) = futures_util::join!(keyed, unkeyed);
    let keyed: Vec<_> = keyed.into_iter().map(Result::unwrap).collect();
    assert_eq!(
        keyed.iter().filter(|c| !c.replayed).count(),
        1,
        "one request with the key stores its post"
    );
    assert!(
        keyed.iter().all(|c| c.post == keyed[0].post),
        "the others answer it"
    );
    for (author, created) in unkeyed {
        match author {
            Id(999) => assert!(
                matches!(created, Err(StoreError::Missing(_))),
                "{created:?}"
            ),
            _ => assert!(!created.unwrap().replayed),
        }
    }
    let stored: Vec<Id> = store
        .captions_after(Id(999), 100)
        .await
        .unwrap()
        .into_iter()
        .map(|(id, _)| id)
        .filter(|id| id.0 < 4000)
        .collect();
    let mut expected = vec![keyed[0].post.post_id];
    expected.extend((0..24).map(|i| Id(3000 + i)));
    assert_eq!(
        stored, expected,
        "only the keyed post and the distinct ones"
    );
    expected.len()
}

async fn the_first_record_of_a_post_counts_it(store: &dyn HashtagStore) {
    let claim = |post: i64, offset: i64| PostClaim {
        post_id: Id(post),
        source: "posts-0".into(),
        offset,
    };
    assert!(store
        .claim_posts(&[claim(1, 5), claim(2, 6)])
        .await
        .unwrap()
        .is_empty());
    // A redelivery of the same records wins again.
    assert!(store
        .claim_posts(&[claim(1, 5), claim(2, 6)])
        .await
        .unwrap()
        .is_empty());
    // The same post published again, at a later offset, loses.
    assert_eq!(
        store
            .claim_posts(&[claim(1, 9), claim(3, 10)])
            .await
            .unwrap(),
        vec![Id(1)]
    );
}

async fn dead_letters_are_kept_once(store: &dyn HashtagStore) {
    let letter = |offset: i64, at: &str| DeadLetter {
        source: "posts-1".into(),
        offset,
        reason: "value is not base64".into(),
        value: "!!".into(),
        set_aside_at: at.into(),
    };
    let batch = [
        letter(3, "2026-01-01T00:00:00.000Z"),
        letter(4, "2026-01-01T00:00:01.000Z"),
    ];
    store.set_aside(&batch).await.unwrap();
    store.set_aside(&batch).await.unwrap(); // redelivered
    let kept = store.dead_letters(10).await.unwrap();
    assert_eq!(
        kept,
        vec![batch[1].clone(), batch[0].clone()],
        "newest first"
    );
    assert_eq!(store.dead_letters(1).await.unwrap().len(), 1);
}

async fn counts_are_listed_and_repaired_only_if_unchanged(store: &dyn HashtagStore) {
    store
        .apply_counts(&[contribution("fix", "posts-3", 0..4)])
        .await
        .unwrap();
    let counts = store.tag_counts().await.unwrap();
    let fix = counts.iter().find(|c| c.key == "fix").unwrap();
    assert_eq!((fix.display.as_str(), fix.total_posts), ("FIX", 4));
    assert!(
        !store.repair_count("fix", "FIX", Some(3), 7).await.unwrap(),
        "count moved"
    );
    assert!(store.repair_count("fix", "FIX", Some(4), 7).await.unwrap());
    assert_eq!(total(store, "fix").await, 7);
    assert!(store.repair_count("new", "New", None, 2).await.unwrap());
    assert!(
        !store.repair_count("new", "New", None, 2).await.unwrap(),
        "exists now"
    );
    assert_eq!(total(store, "new").await, 2);
    // Increments after a repair still land.
    store
        .apply_counts(&[contribution("fix", "posts-3", 4..5)])
        .await
        .unwrap();
    assert_eq!(total(store, "fix").await, 8);
}

#[tokio::test]
async fn embedded_adapters_meet_the_contract() {
    let dir = TempDir::new("contract");
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    redelivery_counts_nothing_twice(stores.hashtags.as_ref()).await;
    recent_posts_are_capped_at_100(stores.hashtags.as_ref()).await;
    rankings_replace_only_older_rankings(stores.hashtags.as_ref()).await;
    users_are_unique_ignoring_case(stores.posts.as_ref()).await;
    posts_round_trip_and_need_an_author(stores.posts.as_ref()).await;
    the_first_record_of_a_post_counts_it(stores.hashtags.as_ref()).await;
    dead_letters_are_kept_once(stores.hashtags.as_ref()).await;
    counts_are_listed_and_repaired_only_if_unchanged(stores.hashtags.as_ref()).await;
    // The stored post's event is in the log, keyed by its author.
    let records = stores.log.fetch("contract", "posts", 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key.as_deref(), Some(&b"1"[..]));
    idempotency_keys_replay_the_first_post(stores.posts.as_ref()).await;
    let records = stores.log.fetch("contract", "posts", 10).await.unwrap();
    assert_eq!(
        records.len(),
        3,
        "one event per stored post, none for the retry"
    );
    let stored = concurrent_creates_keep_the_rules(stores.posts.as_ref()).await;
    let records = stores.log.fetch("contract", "posts", 100).await.unwrap();
    assert_eq!(
        records.len(),
        3 + stored,
        "and one event per post stored together"
    );
}

#[cfg(feature = "aws-stack")]
#[tokio::test]
async fn dynamodb_hashtag_store_meets_the_contract() {
    let moto = common::aws::Moto::start();
    let store = hashtag_aws::DynamoHashtagStore::new(moto.dynamodb(), "hashtags");
    store.create_table().await.unwrap();
    store.create_table().await.unwrap(); // a second run finds it
    redelivery_counts_nothing_twice(&store).await;
    recent_posts_are_capped_at_100(&store).await;
    rankings_replace_only_older_rankings(&store).await;
    the_first_record_of_a_post_counts_it(&store).await;
    dead_letters_are_kept_once(&store).await;
    counts_are_listed_and_repaired_only_if_unchanged(&store).await;
}

#[cfg(feature = "aws-stack")]
#[tokio::test]
async fn aurora_post_store_meets_the_contract() {
    let postgres = common::aws::Postgres::start();
    let api = common::aws::DataApiLocal::start(&postgres);
    let store =
        hashtag_aws::AuroraPostStore::new(api.client(), common::aws::DataApiLocal::target());
    // PostgreSQL may still be starting: the first migration retries a while.
    let mut applied = store.migrate().await;
    for _ in 0..50 {
        if applied.is_ok() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        applied = store.migrate().await;
    }
    assert!(applied.unwrap() > 0);
    assert_eq!(
        store.migrate().await.unwrap(),
        0,
        "a second run applies nothing"
    );
    users_are_unique_ignoring_case(&store).await;
    posts_round_trip_and_need_an_author(&store).await;
    // The stored post's event is in the outbox, keyed by its author.
    let events = store.unpublished(10).await.unwrap();
    assert_eq!(events.len(), 1);
    assert_eq!(
        (events[0].topic.as_str(), events[0].key.as_str()),
        ("posts", "1")
    );
    let event: hashtag_core::domain::PostEvent = serde_json::from_str(&events[0].value).unwrap();
    assert_eq!(event.post_id, Id(i64::MAX - 1));
    idempotency_keys_replay_the_first_post(&store).await;
    assert_eq!(
        store.unpublished(10).await.unwrap().len(),
        3,
        "one event per stored post, none for the retry"
    );
    let stored = concurrent_creates_keep_the_rules(&store).await;
    assert_eq!(store.unpublished(100).await.unwrap().len(), 3 + stored);
}
