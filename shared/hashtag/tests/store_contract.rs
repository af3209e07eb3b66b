//! Contract tests of the storage ports. Every adapter set must pass them:
//! the embedded (SQLite) adapters, and the AWS adapters on the local AWS
//! stack (moto for DynamoDB).

mod common;

use common::{total, TempDir};
use hashtag_core::aggregate::{CountedPost, SourcePosts, TagContribution};
use hashtag_core::domain::now_ms;
use hashtag_core::domain::{Image, Post, Ranking, TopPost, Username};
use hashtag_core::history::{Day, DayContribution, DayPost, DaySource, Sketch};
use hashtag_core::ids::Id;
use hashtag_core::mentions::{aggregate_mentions, Decay, Direction, MentionText};
use hashtag_core::popularity::{Candidate, TagCandidates};
use hashtag_core::ports::{DeadLetter, HashtagStore, PostClaim, PostStore, PostText, StoreError};
use hashtag_core::reactions::{
    Emoji, ReactionChange, ReactionContribution, ReactionEvent, ReactionState,
};
use hashtag_core::trends::{score, trending_tags, Moderation, HALF_LIFE_HOURS};
use hashtag_core::windows::{aggregate_windows, WindowCounts, Windowed, Windowing};
use std::collections::BTreeMap;

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
                    author: Id(o % 3 + 1),
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
    let user = store.create_user(Id(1), &alice, "sub-1").await.unwrap();
    assert_eq!(user.username, "Alice");
    let again = store
        .create_user(Id(2), &Username::parse("ALICE").unwrap(), "sub-2")
        .await;
    assert!(matches!(again, Err(StoreError::Conflict(_))), "{again:?}");
    // Found by the identity it was registered for; one name per identity.
    assert_eq!(
        store.user_by_subject("sub-1").await.unwrap(),
        Some(user.clone())
    );
    assert_eq!(store.user_by_subject("sub-2").await.unwrap(), None);
    let second = store
        .create_user(Id(3), &Username::parse("carol").unwrap(), "sub-1")
        .await;
    assert!(matches!(second, Err(StoreError::Conflict(_))), "{second:?}");
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

/// A user's reaction with one emoji on one post is a set member: reacting
/// twice is once, removing is idempotent, a post must exist. Needs the
/// post of [`posts_round_trip_and_need_an_author`]; makes 4 changes.
async fn reactions_are_a_set_per_user(store: &dyn PostStore) {
    let post = Id(i64::MAX - 1);
    let (thumbs, fire) = (Emoji::parse("👍").unwrap(), Emoji::parse("🔥").unwrap());
    let react = |user: i64, emoji: &Emoji, present: bool| {
        let emoji = emoji.clone();
        async move {
            store
                .react(post, Id(user), &emoji, present)
                .await
                .unwrap()
                .changed
        }
    };
    assert!(react(1, &thumbs, true).await);
    assert!(!react(1, &thumbs, true).await, "reacting twice is once");
    assert!(react(2, &thumbs, true).await);
    assert!(react(1, &fire, true).await);
    assert!(react(2, &thumbs, false).await);
    assert!(!react(2, &thumbs, false).await, "removing is idempotent");
    assert!(matches!(
        store.react(Id(12345), Id(1), &thumbs, true).await,
        Err(StoreError::Missing(_))
    ));
    let mut mine = store.reactions_by(post, Id(1)).await.unwrap();
    mine.sort();
    assert_eq!(mine, vec!["👍".to_string(), "🔥".to_string()]);
    assert_eq!(
        store.reaction_counts_after(Id(0), 10).await.unwrap(),
        vec![(
            post,
            BTreeMap::from([("👍".to_string(), 1), ("🔥".to_string(), 1)])
        )]
    );
    assert!(store
        .reaction_counts_after(post, 10)
        .await
        .unwrap()
        .is_empty());
}

/// A post's reaction contribution: its changes as (number, emoji, delta).
fn reaction_contribution(post: i64, changes: &[(i64, &str, i64)]) -> ReactionContribution {
    ReactionContribution {
        post_id: Id(post),
        changes: changes
            .iter()
            .map(|(seq, emoji, delta)| ReactionChange {
                seq: *seq,
                emoji: emoji.to_string(),
                delta: *delta,
            })
            .collect(),
    }
}

async fn reaction_counts_are_exact_under_redelivery(store: &dyn HashtagStore) {
    let first = reaction_contribution(77, &[(1, "👍", 1), (2, "👍", 1), (3, "🔥", 1)]);
    assert_eq!(
        store
            .apply_reactions(std::slice::from_ref(&first))
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        store.apply_reactions(&[first]).await.unwrap(),
        0,
        "a redelivered batch writes nothing"
    );
    // Change 3 published again, and 5 before 4: the store keeps which
    // numbers above 3 it holds.
    let overlapping = reaction_contribution(77, &[(3, "🔥", 1), (5, "🔥", -1)]);
    let other = reaction_contribution(78, &[(1, "😂", 1)]);
    assert_eq!(
        store.apply_reactions(&[overlapping, other]).await.unwrap(),
        2
    );
    let state = store.reactions(Id(77)).await.unwrap();
    assert_eq!(
        state.counts,
        BTreeMap::from([("👍".to_string(), 2)]),
        "🔥 nets to 0"
    );
    assert_eq!((state.through, state.above), (3, vec![5]));
    let late = reaction_contribution(77, &[(5, "🔥", -1), (4, "🔥", 1)]);
    assert_eq!(store.apply_reactions(&[late]).await.unwrap(), 1);
    let state = store.reactions(Id(77)).await.unwrap();
    assert_eq!(
        state.counts,
        BTreeMap::from([("👍".to_string(), 2), ("🔥".to_string(), 1)])
    );
    assert_eq!((state.through, state.above), (5, vec![]));
    assert_eq!(
        store.reactions(Id(79)).await.unwrap(),
        ReactionState::default()
    );
    assert_eq!(
        store
            .reaction_totals(&[Id(78), Id(77), Id(79), Id(77)])
            .await
            .unwrap(),
        vec![(Id(77), 3), (Id(78), 1)],
        "each post once, none for a post without reactions"
    );
    let all: Vec<(Id, BTreeMap<String, i64>)> = store
        .all_reactions()
        .await
        .unwrap()
        .into_iter()
        .map(|(post, state)| (post, state.counts))
        .collect();
    assert_eq!(
        all,
        vec![
            (
                Id(77),
                BTreeMap::from([("👍".to_string(), 2), ("🔥".to_string(), 1)])
            ),
            (Id(78), BTreeMap::from([("😂".to_string(), 1)]))
        ]
    );
}

async fn windows_count_each_record_once(store: &dyn HashtagStore) {
    let w = Windowing::default();
    let start = w.start(now_ms());
    let r = |source, offset, emoji, delta, event_ms| Windowed {
        source,
        offset,
        emoji,
        delta,
        event_ms,
        arrived_ms: event_ms,
    };
    let first = [
        r("reactions-0", 0, "👍", 1, start),
        r("reactions-0", 1, "👍", 1, start + 1),
        r("reactions-1", 0, "🔥", 1, start + 2),
        r("reactions-0", 2, "😂", 1, start - 1),
    ];
    let (windows, _) = aggregate_windows(&first, &w);
    assert_eq!(store.apply_windows(&windows).await.unwrap(), 2);
    assert_eq!(
        store.apply_windows(&windows).await.unwrap(),
        0,
        "a redelivered batch writes nothing"
    );
    // Overlapping the first: offset 1 again, then two new ones.
    let more = [
        r("reactions-0", 1, "👍", 1, start + 1),
        r("reactions-0", 3, "👍", -1, start + 3),
        r("reactions-0", 4, "🎉", 1, start + 4),
    ];
    let (windows, _) = aggregate_windows(&more, &w);
    assert_eq!(store.apply_windows(&windows).await.unwrap(), 1);
    let counts = |pairs: &[(&str, i64)]| {
        pairs
            .iter()
            .map(|(e, n)| (e.to_string(), *n))
            .collect::<BTreeMap<_, _>>()
    };
    assert_eq!(
        store.windows(start - w.width_ms, 10).await.unwrap(),
        vec![
            WindowCounts {
                start_ms: start - w.width_ms,
                counts: counts(&[("😂", 1)]),
            },
            WindowCounts {
                start_ms: start,
                counts: counts(&[("👍", 1), ("🔥", 1), ("🎉", 1)]),
            },
        ]
    );
    assert_eq!(store.windows(start, 10).await.unwrap().len(), 1);
    assert_eq!(
        store.windows(start - w.width_ms, 1).await.unwrap().len(),
        1,
        "at most the limit"
    );
}

async fn the_rankers_record_is_written_only_over_the_version_read(store: &dyn HashtagStore) {
    let c = |post: i64, reactions: i64| Candidate {
        post_id: Id(post),
        image_url: format!("/images/{post}.svg"),
        reactions,
    };
    let none = store.candidates("rising").await.unwrap();
    assert_eq!(none, TagCandidates::default());
    assert!(store
        .put_candidates("rising", &[c(1, 3)], &none, 100)
        .await
        .unwrap());
    let first = store.candidates("rising").await.unwrap();
    assert_eq!(
        (first.posts.clone(), first.version, first.generated_ms),
        (vec![c(1, 3)], 1, 100)
    );
    assert!(
        !store
            .put_candidates("rising", &[c(2, 1)], &none, 101)
            .await
            .unwrap(),
        "a writer that read nothing lost to the first"
    );
    assert!(store
        .put_candidates("rising", &[c(1, 3), c(2, 1)], &first, 101)
        .await
        .unwrap());
    assert!(
        !store
            .put_candidates("rising", &[c(3, 1)], &first, 102)
            .await
            .unwrap(),
        "a writer that read version 1 lost to the second"
    );
    let second = store.candidates("rising").await.unwrap();
    assert_eq!((second.posts.len(), second.version), (2, 2));
    assert_eq!(
        store.candidates("other").await.unwrap(),
        TagCandidates::default()
    );
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
        .create_user(Id(2), &Username::parse("bob").unwrap(), "sub-2")
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
    let text = |id, author: &str| PostText {
        post_id: Id(id),
        author: author.into(),
        caption: "once #idem".into(),
    };
    assert_eq!(captions, vec![text(100, "Alice"), text(400, "bob")]);
    assert_eq!(store.captions_after(Id(100), 1).await.unwrap().len(), 1);
    // A user's newest posts, with their covers.
    let ids = |posts: Vec<TopPost>| posts.into_iter().map(|p| p.post_id).collect::<Vec<_>>();
    let alices = store.recent_posts_by(Id(1), 10).await.unwrap();
    assert_eq!(ids(alices.clone()), vec![Id(i64::MAX - 1), Id(100)]);
    assert_eq!(alices[1].image_url, "https://img/k");
    assert_eq!(
        ids(store.recent_posts_by(Id(1), 1).await.unwrap()),
        vec![Id(i64::MAX - 1)]
    );
    assert_eq!(
        ids(store.recent_posts_by(Id(2), 10).await.unwrap()),
        vec![Id(400)]
    );
    assert!(store.recent_posts_by(Id(3), 10).await.unwrap().is_empty());
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
        .map(|p| p.post_id)
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

/// Mentions by `author` of each of `to`, one text per offset from
/// `first`, written `age_days` ago.
fn mention_texts<'a>(
    author: &'a str,
    to: &'a [&'a str],
    first: i64,
    age_days: i64,
) -> Vec<MentionText<'a>> {
    let at_ms = now_ms() - age_days * 86_400_000;
    to.iter()
        .enumerate()
        .map(|(i, text)| MentionText {
            source: "posts-1",
            offset: first + i as i64,
            author,
            text,
            at_ms,
        })
        .collect()
}

async fn the_mention_graph_is_exact_and_ordered(store: &dyn HashtagStore) {
    let decay = Decay::configured();
    // ann: bob 3 times (a day ago), carl once (now), dora twice (5 days
    // ago), eve once 60 days ago (decayed below the minimum); bob: ann.
    let mut texts = mention_texts("Ann", &["@bob @Bob", "@bob", "@dora", "@dora"], 0, 5);
    texts.extend(mention_texts("Ann", &["@bob hi", "@eve"], 10, 1));
    texts[5].at_ms -= 59 * 86_400_000;
    texts.extend(mention_texts("Ann", &["@Carl"], 20, 0));
    texts.extend(mention_texts("bob", &["@ann"], 30, 0));
    let edges = aggregate_mentions(&texts, &decay);
    assert_eq!(
        store.apply_mentions(&edges).await.unwrap(),
        4,
        "one write per edge; none for eve's, decayed away already"
    );
    assert_eq!(
        store.apply_mentions(&edges).await.unwrap(),
        0,
        "a redelivered batch writes nothing"
    );
    let floor = decay.min_log_weight(now_ms());
    let out = store
        .strongest("ann", Direction::Out, 10, floor)
        .await
        .unwrap();
    let listed: Vec<(&str, u64)> = out
        .iter()
        .map(|e| (e.to_name.as_str(), e.state.mentions))
        .collect();
    // bob: 2 mentions 5 days ago, 1 a day ago; dora: 2, 5 days ago; Carl:
    // 1 now. Decayed: bob 2·2^(-5/7) + 2^(-1/7) = 2.13, dora 1.22, Carl 1.
    assert_eq!(listed, vec![("bob", 3), ("dora", 2), ("Carl", 1)]);
    let mut by_weight = out.clone();
    by_weight.sort_by(|a, b| {
        let now = now_ms();
        decay
            .weight_at(b.state.log_weight, now)
            .total_cmp(&decay.weight_at(a.state.log_weight, now))
    });
    assert_eq!(out, by_weight, "index order is decayed-weight order");
    let bob = decay.weight_at(out[0].state.log_weight, now_ms());
    let expected = 2.0 * 0.5f64.powf(5.0 / 7.0) + 0.5f64.powf(1.0 / 7.0);
    assert!((bob - expected).abs() < 1e-3, "{bob} vs {expected}");
    let top = store
        .strongest("ann", Direction::Out, 1, floor)
        .await
        .unwrap();
    assert_eq!(top.len(), 1);
    let into_ann = store
        .strongest("ann", Direction::In, 10, floor)
        .await
        .unwrap();
    assert_eq!(into_ann.len(), 1);
    assert_eq!(
        (into_ann[0].from_name.as_str(), into_ann[0].state.mentions),
        ("bob", 1)
    );
    // A later batch adds only what is above the marks.
    let more = mention_texts("Ann", &["@bob", "@bob"], 10, 0);
    let written = store
        .apply_mentions(&aggregate_mentions(&more, &decay))
        .await
        .unwrap();
    assert_eq!(written, 1);
    let edge = store.edge("ann", "bob").await.unwrap().unwrap();
    assert_eq!(
        edge.state.mentions, 4,
        "offset 10 was applied before, 11 is new"
    );
    assert_eq!(store.edge("bob", "carl").await.unwrap(), None);
    let audit = store.mention_edges().await.unwrap();
    let bob_edge = audit.iter().find(|e| e.to == "bob").unwrap();
    assert_eq!(bob_edge.state.marks, vec![("posts-1".to_string(), 11)]);
}

/// A day's contribution: posts at `offsets` of `source`, authors
/// `offset % authors`, each post also carrying `#with`.
fn day_of(
    key: &str,
    day: Day,
    source: &str,
    offsets: std::ops::Range<i64>,
    authors: i64,
) -> DayContribution {
    let tags: std::sync::Arc<[String]> = [key.to_string(), "with".to_string()].into();
    DayContribution {
        key: key.into(),
        day,
        sources: vec![DaySource {
            source: source.into(),
            posts: offsets
                .map(|offset| DayPost {
                    offset,
                    author: Id(offset % authors + 1),
                    tags: tags.clone(),
                })
                .collect(),
        }],
    }
}

async fn history_counts_each_post_once_per_day(store: &dyn HashtagStore) {
    let today = Day::of_ms(now_ms());
    let yesterday = Day(today.0 - 1);
    let batch = vec![
        day_of("hist", today, "posts-0", 0..40, 25),
        day_of("hist", yesterday, "posts-0", 40..45, 5),
        day_of("other", today, "posts-1", 0..3, 3),
    ];
    let now = now_ms();
    assert_eq!(store.apply_history(&batch, now).await.unwrap(), 3);
    assert_eq!(
        store.apply_history(&batch, now).await.unwrap(),
        0,
        "a redelivery writes nothing"
    );
    // Overlapping boundaries and another partition.
    let mut more = day_of("hist", today, "posts-0", 30..50, 25);
    more.sources
        .extend(day_of("hist", today, "posts-2", 0..10, 100).sources);
    let more = vec![more];
    assert_eq!(
        store.apply_history(&more, now).await.unwrap(),
        1,
        "one write per (tag, day)"
    );
    let rows = store
        .history("hist", Day(today.0 - 6), today)
        .await
        .unwrap();
    let mut days: Vec<(Day, u64, u64)> = rows.iter().map(|r| (r.day, r.uses, r.accounts)).collect();
    days.sort();
    let today_row = rows.iter().find(|r| r.day == today).unwrap();
    assert_eq!(
        today_row.related,
        vec![("with".to_string(), 60)],
        "counted once per post"
    );
    // Today's authors: 1 to 25 from posts-0, 1 to 10 again from posts-2.
    let sketch_of = |n: i64| {
        let mut sketch = Sketch::default();
        (1..=n).for_each(|a| sketch.insert(Id(a)));
        sketch.estimate()
    };
    assert_eq!(
        days,
        vec![(yesterday, 5, sketch_of(5)), (today, 60, sketch_of(25))]
    );
    assert!((24..=26).contains(&sketch_of(25)));
    assert!(
        store
            .history("hist", Day(today.0 - 30), Day(today.0 - 2))
            .await
            .unwrap()
            .is_empty(),
        "only the days asked for"
    );
    assert!(store
        .history("nothing", today, today)
        .await
        .unwrap()
        .is_empty());
}

/// A tag that jumps from 1 author yesterday to 50 today tops the trends,
/// and its peak halves every half-life (injected clock); hidden and banned
/// tags are left out.
async fn a_jump_in_authors_trends_and_decays(store: &dyn HashtagStore) {
    let now = now_ms();
    let today = Day::of_ms(now);
    let yesterday = Day(today.0 - 1);
    let days = vec![
        day_of("jump", yesterday, "posts-0", 1000..1001, 1),
        day_of("steady", yesterday, "posts-0", 1001..1021, 20),
        day_of("small", yesterday, "posts-0", 1021..1022, 1),
    ];
    store.apply_history(&days, now).await.unwrap();
    let days = vec![
        day_of("jump", today, "posts-0", 2000..2050, 50),
        day_of("steady", today, "posts-0", 2050..2075, 25),
        day_of("small", today, "posts-0", 2075..2079, 4),
    ];
    store.apply_history(&days, now).await.unwrap();
    let listed = trending_tags(store, now, 10).await.unwrap();
    let tags: Vec<&str> = listed.iter().map(|t| t.tag.as_str()).collect();
    assert_eq!(tags[0], "jump", "{listed:?}");
    assert!(
        !tags.contains(&"small"),
        "4 authors do not trend: {listed:?}"
    );
    let jump = &listed[0];
    let expected = score(jump.history[0].accounts, jump.history[1].accounts);
    assert!((jump.score - expected).abs() < 1e-6 * expected, "{jump:?}");
    assert_eq!(jump.history[0].uses, 50);
    // Two hours later, without new posts: half.
    let later = now + (HALF_LIFE_HOURS * 3_600_000.0) as i64;
    let decayed = trending_tags(store, later, 10).await.unwrap();
    let jump_later = decayed.iter().find(|t| t.tag == "jump").unwrap();
    assert!((jump_later.score - expected / 2.0).abs() < 1e-6 * expected);
    // Moderation.
    store
        .set_moderation("jump", Moderation::Hidden)
        .await
        .unwrap();
    store
        .set_moderation("steady", Moderation::Banned)
        .await
        .unwrap();
    let listed = trending_tags(store, now, 10).await.unwrap();
    assert!(
        listed.iter().all(|t| t.tag != "jump" && t.tag != "steady"),
        "{listed:?}"
    );
    let keys = [
        "jump".to_string(),
        "steady".to_string(),
        "small".to_string(),
    ];
    let mut moderated = store.moderated(&keys).await.unwrap();
    moderated.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        moderated,
        vec![
            ("jump".to_string(), Moderation::Hidden),
            ("steady".to_string(), Moderation::Banned)
        ]
    );
    store
        .set_moderation("jump", Moderation::Listed)
        .await
        .unwrap();
    store
        .set_moderation("steady", Moderation::Listed)
        .await
        .unwrap();
    assert_eq!(store.moderated(&keys).await.unwrap(), vec![]);
    assert_eq!(trending_tags(store, now, 10).await.unwrap()[0].tag, "jump");
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
    the_mention_graph_is_exact_and_ordered(stores.hashtags.as_ref()).await;
    history_counts_each_post_once_per_day(stores.hashtags.as_ref()).await;
    a_jump_in_authors_trends_and_decays(stores.hashtags.as_ref()).await;
    reaction_counts_are_exact_under_redelivery(stores.hashtags.as_ref()).await;
    windows_count_each_record_once(stores.hashtags.as_ref()).await;
    the_rankers_record_is_written_only_over_the_version_read(stores.hashtags.as_ref()).await;
    // The stored post's event is in the log, keyed by its author and
    // naming them.
    let records = stores.log.fetch("contract", "posts", 10).await.unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0].key.as_deref(), Some(&b"1"[..]));
    let event: hashtag_core::domain::PostEvent = serde_json::from_slice(&records[0].value).unwrap();
    assert_eq!(event.author, "Alice");
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
    reactions_are_a_set_per_user(stores.posts.as_ref()).await;
    let records = stores.log.fetch("contract", "reactions", 10).await.unwrap();
    assert_eq!(records.len(), 4, "one event per change of the sets");
    let event: ReactionEvent = serde_json::from_slice(&records[3].value).unwrap();
    assert_eq!((event.user_id, event.delta), (Id(2), -1));
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
    the_mention_graph_is_exact_and_ordered(&store).await;
    history_counts_each_post_once_per_day(&store).await;
    a_jump_in_authors_trends_and_decays(&store).await;
    reaction_counts_are_exact_under_redelivery(&store).await;
    windows_count_each_record_once(&store).await;
    the_rankers_record_is_written_only_over_the_version_read(&store).await;
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
    assert_eq!(event.author, "Alice", "the event names its author");
    idempotency_keys_replay_the_first_post(&store).await;
    assert_eq!(
        store.unpublished(10).await.unwrap().len(),
        3,
        "one event per stored post, none for the retry"
    );
    let stored = concurrent_creates_keep_the_rules(&store).await;
    assert_eq!(store.unpublished(100).await.unwrap().len(), 3 + stored);
    reactions_are_a_set_per_user(&store).await;
    let events = store.unpublished(1_000).await.unwrap();
    let reactions: Vec<_> = events.iter().filter(|e| e.topic == "reactions").collect();
    assert_eq!(reactions.len(), 4, "one event per change of the sets");
    assert_eq!(
        reactions[0].key,
        (i64::MAX - 1).to_string(),
        "keyed by post"
    );
}
