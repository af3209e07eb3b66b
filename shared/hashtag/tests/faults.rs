//! Lose nothing, count once: the post-to-count pipeline under faults, on the
//! embedded adapters and on the AWS adapters (moto, PostgreSQL behind
//! data-api-local, tansu). Each adapter set stores 20,000 generated posts,
//! then every scenario counts the same record stream into a fresh hashtag
//! table; afterwards `reconcile` must find zero drift and every accepted
//! post must be in the post store.
//!
//! Every batch goes to both consumers of the posts topic, and the mention
//! graph must match its recount from the post store too.
//!
//! Scenarios: every batch delivered twice; a partition replayed from offset
//! 0; the consumer killed in the middle of batches and restarted; storage
//! errors injected before and after a fraction of writes; and, on AWS, the
//! broker killed and restarted while the posts are created.

mod common;

use std::collections::{HashMap, HashSet};
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use common::{Rng, TempDir};
use futures_util::{stream, StreamExt};
use hashtag_core::aggregate::TagContribution;
use hashtag_core::consumer::{handle_mention_batch, handle_post_batch};
use hashtag_core::domain::{Image, Post, Ranking, TagPage, Username, POSTS_TOPIC};
use hashtag_core::extract::distinct_tags;
use hashtag_core::history::{Day, DayContribution, DayRow, HISTORY_RETENTION_DAYS};
use hashtag_core::ids::{Id, IdGenerator};
use hashtag_core::mentions::{Decay, Direction, EdgeContribution, StoredEdge};
use hashtag_core::popularity::{Candidate, TagCandidates};
use hashtag_core::ports::{
    CountOutcome, DeadLetter, DeadLetters, HashtagStore, MentionAudit, MentionGraph, MentionReads,
    PostClaim, PostStore, RankerState, Rankings, ReactionCounts, ReactionWindows, StoreError,
    TagAudit, TagCount, TagCounter, TagHistory, TagModeration, TagPages,
};
use hashtag_core::reactions::{ReactionContribution, ReactionState};
use hashtag_core::reconcile::{reconcile, reconcile_mentions, Recount};
use hashtag_core::record::{Batch, LogRecord};
use hashtag_core::trends::Moderation;
use hashtag_core::windows::{WindowContribution, WindowCounts};

const POSTS: usize = 20_000;
const USERS: i64 = 200;
/// Records per delivered batch (MSK allows up to 10,000).
const BATCH: usize = 1_000;

/// Tags in several scripts and casings; popularity falls off steeply.
const TAGS: [&str; 40] = [
    "rust",
    "Rust",
    "aws",
    "AWS",
    "sunset",
    "café",
    "Café",
    "東京",
    "ramen",
    "Москва",
    "straße",
    "ñandú",
    "travel",
    "food",
    "dog",
    "cat",
    "music",
    "art",
    "summer",
    "winter",
    "naïve",
    "über",
    "København",
    "서울",
    "नमस्ते",
    "photo",
    "beach",
    "mountain",
    "coffee",
    "tea",
    "run",
    "bike",
    "book",
    "film",
    "code",
    "data",
    "cloud",
    "kafka",
    "lambda",
    "dynamo",
];

fn caption(rng: &mut Rng, i: usize) -> String {
    let mut caption = format!("post {i}");
    for _ in 0..rng.below(6) {
        // Cubing a uniform number skews the choice towards the first tags.
        let u = (rng.below(1_000) as f64) / 1_000.0;
        let tag = TAGS[(u * u * u * TAGS.len() as f64) as usize];
        caption.push_str(&format!(" #{tag}"));
    }
    // One post in twenty mentions someone: a registered user, or a name
    // nobody registered (the graph keeps it), sometimes twice.
    if rng.below(20) == 0 {
        let user = 1 + rng.below(USERS as usize + 20);
        let name = if user as i64 <= USERS {
            "user"
        } else {
            "ghost"
        };
        for _ in 0..1 + rng.below(2) {
            caption.push_str(&format!(" @{name}{user}"));
        }
    }
    caption
}

/// Registers the users and stores the posts, `concurrency` at a time;
/// `during(i)` runs before post i is created (the broker outage hooks in
/// there). Returns the ids of the accepted posts.
async fn create_posts<F, Fut>(store: &dyn PostStore, concurrency: usize, during: F) -> Vec<Id>
where
    F: Fn(usize) -> Fut,
    Fut: Future<Output = ()>,
{
    let ids = IdGenerator::new(7).unwrap();
    for u in 1..=USERS {
        store
            .create_user(
                Id(u),
                &Username::parse(&format!("user{u}")).unwrap(),
                &format!("sub-{u}"),
            )
            .await
            .unwrap();
    }
    let mut rng = Rng(0x5EED_2026);
    let mut accepted = Vec::with_capacity(POSTS);
    for chunk_start in (0..POSTS).step_by(500) {
        during(chunk_start).await;
        let posts: Vec<Post> = (chunk_start..(chunk_start + 500).min(POSTS))
            .map(|i| {
                let post_id = ids.next_id();
                Post {
                    post_id,
                    user_id: Id(1 + rng.below(USERS as usize) as i64),
                    caption: caption(&mut rng, i),
                    images: vec![Image {
                        image_id: ids.next_id(),
                        url: format!("/images/{post_id}.svg"),
                    }],
                    created_at: "2026-11-23T00:00:00.000Z".into(),
                }
            })
            .collect();
        let stored: Vec<Id> = stream::iter(&posts)
            .map(|p| async move {
                store.create_post(p, None).await.unwrap();
                p.post_id
            })
            .buffer_unordered(concurrency)
            .collect()
            .await;
        accepted.extend(stored);
    }
    accepted
}

/// The stream in delivery order: partitions interleaved, each in offset
/// order, cut into batches.
fn batches(mut records: Vec<LogRecord>) -> Vec<Vec<LogRecord>> {
    records.sort_by_key(|r| (r.offset, r.partition));
    records.chunks(BATCH).map(<[LogRecord]>::to_vec).collect()
}

/// Delivers a batch to both consumers of the posts topic, the counter and
/// the mention graph, as their event source mappings do.
async fn deliver(store: &dyn HashtagStore, batch: &[LogRecord]) -> Result<(), StoreError> {
    let batch = Batch::from_log(POSTS_TOPIC, batch);
    handle_post_batch(store, &batch).await?;
    handle_mention_batch(store, &batch, Decay::configured()).await?;
    Ok(())
}

/// Reconciles and checks that every accepted post is stored.
async fn assert_exact(
    posts: &dyn PostStore,
    hashtags: &dyn HashtagStore,
    accepted: &[Id],
    scenario: &str,
) {
    let report = reconcile(posts, hashtags, Recount::Reached, false)
        .await
        .unwrap();
    assert!(report.tags > 30, "{scenario}: only {} tags", report.tags);
    assert_eq!(report.in_flight, 0, "{scenario}: posts never counted");
    assert!(
        report.drift.is_empty(),
        "{scenario}: {} tags drift, e.g. {:?}",
        report.drift.len(),
        &report.drift[..report.drift.len().min(3)]
    );
    let graph = reconcile_mentions(posts, hashtags, &Decay::configured())
        .await
        .unwrap();
    assert!(graph.edges > 300, "{scenario}: only {} edges", graph.edges);
    assert!(
        graph.drift.is_empty(),
        "{scenario}: {} edges drift, e.g. {:?}",
        graph.drift.len(),
        &graph.drift[..graph.drift.len().min(3)]
    );
    let mut stored = HashSet::new();
    let mut after = Id(0);
    loop {
        let page = posts.captions_after(after, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.post_id;
        stored.extend(page.into_iter().map(|p| p.post_id));
    }
    assert_history_exact(posts, hashtags, scenario).await;
    let missing = accepted.iter().filter(|id| !stored.contains(id)).count();
    assert_eq!(
        missing, 0,
        "{scenario}: accepted posts missing from the post store"
    );
    assert_eq!(
        report.posts,
        accepted.len() as u64,
        "{scenario}: posts stored"
    );
    eprintln!(
        "{scenario}: {} posts, {} tags, {} mention edges, zero drift",
        report.posts, report.tags, graph.edges
    );
}

/// Checks every tag's uses per day against a recount from the post store
/// (each stored post once, on the day its id says).
async fn assert_history_exact(posts: &dyn PostStore, hashtags: &dyn HashtagStore, scenario: &str) {
    let mut expected: HashMap<(String, Day), u64> = HashMap::new();
    let mut after = Id(0);
    loop {
        let page = posts.captions_after(after, 5_000).await.unwrap();
        let Some(last) = page.last() else { break };
        after = last.post_id;
        for post in &page {
            for (key, _) in distinct_tags(&post.caption) {
                *expected
                    .entry((key, Day::of_post(post.post_id)))
                    .or_default() += 1;
            }
        }
    }
    let today = Day::of_ms(hashtag_core::domain::now_ms());
    let first = Day(today.0 - HISTORY_RETENTION_DAYS + 1);
    let tags: HashSet<&String> = expected.keys().map(|(key, _)| key).collect();
    let mut found: HashMap<(String, Day), u64> = HashMap::new();
    for key in tags {
        for DayRow {
            day,
            uses,
            accounts,
            ..
        } in hashtags.history(key, first, today).await.unwrap()
        {
            // At most USERS authors, estimated within a few percent.
            let most = uses.min(USERS as u64) as f64 * 1.1 + 2.0;
            assert!(
                accounts >= 1 && accounts as f64 <= most,
                "{scenario}: {key} {day:?}: {accounts} authors of {uses} posts"
            );
            found.insert((key.clone(), day), uses);
        }
    }
    assert_eq!(found, expected, "{scenario}: uses per tag and day");
}

/// A hashtag store that fails a fraction of its writes, half of them before
/// the write (nothing written) and half after it (written, but the caller
/// sees an error): what throttling, timeouts and lost responses look like.
struct Faulty {
    inner: Arc<dyn HashtagStore>,
    rng: AtomicU64,
    injected: AtomicUsize,
}

impl Faulty {
    /// One in five writes fails.
    fn roll(&self) -> Option<bool> {
        let mut x = self.rng.fetch_add(0x9E37_79B9_7F4A_7C15, Ordering::Relaxed);
        x = (x ^ (x >> 31)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        match x % 10 {
            0 => Some(true),
            1 => Some(false),
            _ => None,
        }
    }

    async fn write<T>(
        &self,
        call: impl Future<Output = Result<T, StoreError>>,
    ) -> Result<T, StoreError> {
        let fault = self.roll();
        if fault == Some(true) {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Backend("injected: before the write".into()));
        }
        let result = call.await?;
        if fault == Some(false) {
            self.injected.fetch_add(1, Ordering::Relaxed);
            return Err(StoreError::Backend("injected: after the write".into()));
        }
        Ok(result)
    }
}

#[async_trait]
impl TagPages for Faulty {
    async fn page(&self, key: &str) -> Result<Option<TagPage>, StoreError> {
        self.inner.page(key).await
    }
}

#[async_trait]
impl TagCounter for Faulty {
    async fn apply_counts(&self, batch: &[TagContribution]) -> Result<CountOutcome, StoreError> {
        self.write(self.inner.apply_counts(batch)).await
    }

    async fn claim_posts(&self, claims: &[PostClaim]) -> Result<Vec<Id>, StoreError> {
        self.write(self.inner.claim_posts(claims)).await
    }
}

#[async_trait]
impl TagHistory for Faulty {
    async fn apply_history(
        &self,
        days: &[DayContribution],
        now_ms: i64,
    ) -> Result<usize, StoreError> {
        self.write(self.inner.apply_history(days, now_ms)).await
    }

    async fn history(&self, key: &str, first: Day, last: Day) -> Result<Vec<DayRow>, StoreError> {
        self.inner.history(key, first, last).await
    }

    async fn trending(&self, day: Day, limit: usize) -> Result<Vec<(String, f64)>, StoreError> {
        self.inner.trending(day, limit).await
    }
}

#[async_trait]
impl TagModeration for Faulty {
    async fn set_moderation(&self, key: &str, status: Moderation) -> Result<(), StoreError> {
        self.write(self.inner.set_moderation(key, status)).await
    }

    async fn moderated(&self, keys: &[String]) -> Result<Vec<(String, Moderation)>, StoreError> {
        self.inner.moderated(keys).await
    }
}

#[async_trait]
impl DeadLetters for Faulty {
    async fn set_aside(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        self.write(self.inner.set_aside(letters)).await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        self.inner.dead_letters(limit).await
    }
}

#[async_trait]
impl TagAudit for Faulty {
    async fn tag_counts(&self) -> Result<Vec<TagCount>, StoreError> {
        self.inner.tag_counts().await
    }

    async fn claims(&self, posts: &[Id]) -> Result<Vec<PostClaim>, StoreError> {
        self.inner.claims(posts).await
    }

    async fn repair_count(
        &self,
        key: &str,
        display: &str,
        expected: Option<u64>,
        total: u64,
    ) -> Result<bool, StoreError> {
        self.inner.repair_count(key, display, expected, total).await
    }
}

#[async_trait]
impl MentionGraph for Faulty {
    async fn apply_mentions(&self, edges: &[EdgeContribution]) -> Result<usize, StoreError> {
        self.write(self.inner.apply_mentions(edges)).await
    }
}

#[async_trait]
impl MentionReads for Faulty {
    async fn strongest(
        &self,
        user: &str,
        direction: Direction,
        limit: usize,
        min_log_weight: f64,
    ) -> Result<Vec<StoredEdge>, StoreError> {
        self.inner
            .strongest(user, direction, limit, min_log_weight)
            .await
    }

    async fn edge(&self, from: &str, to: &str) -> Result<Option<StoredEdge>, StoreError> {
        self.inner.edge(from, to).await
    }
}

#[async_trait]
impl MentionAudit for Faulty {
    async fn mention_edges(&self) -> Result<Vec<StoredEdge>, StoreError> {
        self.inner.mention_edges().await
    }
}

#[async_trait]
impl ReactionCounts for Faulty {
    async fn apply_reactions(&self, posts: &[ReactionContribution]) -> Result<usize, StoreError> {
        self.write(self.inner.apply_reactions(posts)).await
    }

    async fn reactions(&self, post_id: Id) -> Result<ReactionState, StoreError> {
        self.inner.reactions(post_id).await
    }

    async fn reaction_totals(&self, posts: &[Id]) -> Result<Vec<(Id, i64)>, StoreError> {
        self.inner.reaction_totals(posts).await
    }

    async fn all_reactions(&self) -> Result<Vec<(Id, ReactionState)>, StoreError> {
        self.inner.all_reactions().await
    }
}

#[async_trait]
impl RankerState for Faulty {
    async fn candidates(&self, key: &str) -> Result<TagCandidates, StoreError> {
        self.inner.candidates(key).await
    }

    async fn put_candidates(
        &self,
        key: &str,
        posts: &[Candidate],
        read: &TagCandidates,
        generated_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write(self.inner.put_candidates(key, posts, read, generated_ms))
            .await
    }
}

#[async_trait]
impl ReactionWindows for Faulty {
    async fn apply_windows(&self, windows: &[WindowContribution]) -> Result<usize, StoreError> {
        self.write(self.inner.apply_windows(windows)).await
    }

    async fn windows(&self, since_ms: i64, limit: usize) -> Result<Vec<WindowCounts>, StoreError> {
        self.inner.windows(since_ms, limit).await
    }
}

#[async_trait]
impl Rankings for Faulty {
    async fn apply_ranking(&self, ranking: &Ranking) -> Result<bool, StoreError> {
        self.write(self.inner.apply_ranking(ranking)).await
    }
}

/// Opens a hashtag store by name: a new name is a fresh, empty table; the
/// same name again is the same table (a restarted consumer).
type OpenStore<'a> = &'a dyn Fn(&str) -> Arc<dyn HashtagStore>;

/// Runs the consumer-side scenarios on `records`.
async fn consumer_scenarios(
    posts: &dyn PostStore,
    open: OpenStore<'_>,
    records: Vec<LogRecord>,
    accepted: &[Id],
) {
    assert!(
        records.len() > accepted.len(),
        "the stream republishes some posts"
    );
    let batches = batches(records);
    let batches = &batches;
    // Independent tables, so the scenarios run side by side.
    let twice = async {
        let store = open("twice");
        for batch in batches {
            deliver(store.as_ref(), batch).await.unwrap();
            deliver(store.as_ref(), batch).await.unwrap();
        }
        assert_exact(
            posts,
            store.as_ref(),
            accepted,
            "every batch delivered twice",
        )
        .await;
    };
    let replay = async {
        let store = open("replay");
        for batch in batches {
            deliver(store.as_ref(), batch).await.unwrap();
        }
        let partition0: Vec<LogRecord> = batches
            .iter()
            .flatten()
            .filter(|r| r.partition == 0)
            .cloned()
            .collect();
        assert!(partition0.len() > POSTS / 8);
        for batch in partition0.chunks(BATCH) {
            deliver(store.as_ref(), batch).await.unwrap();
        }
        assert_exact(
            posts,
            store.as_ref(),
            accepted,
            "partition 0 replayed from offset 0",
        )
        .await;
    };
    // Killed: the batch's future is dropped at a random point, then a new
    // consumer on the same table gets the uncommitted batch again.
    let killed = async {
        let mut rng = Rng(0xDEAD_BEEF);
        let mut kills = 0;
        let mut store = open("killed");
        for batch in batches {
            let deadline = Duration::from_micros(rng.below(40_000) as u64);
            match tokio::time::timeout(deadline, deliver(store.as_ref(), batch)).await {
                Ok(result) => result.unwrap(),
                Err(_) => {
                    kills += 1;
                    store = open("killed");
                    deliver(store.as_ref(), batch).await.unwrap();
                }
            }
        }
        assert!(kills > batches.len() / 4, "only {kills} kills");
        let scenario = format!("consumer killed in {kills} batches");
        assert_exact(posts, store.as_ref(), accepted, &scenario).await;
    };
    let faults = async {
        let faulty = Faulty {
            inner: open("faulty"),
            rng: AtomicU64::new(42),
            injected: AtomicUsize::new(0),
        };
        for batch in batches {
            // As MSK does: a failed batch is delivered again until it succeeds.
            while deliver(&faulty, batch).await.is_err() {}
        }
        let injected = faulty.injected.load(Ordering::Relaxed);
        assert!(injected > 5, "only {injected} errors injected");
        let scenario = format!("{injected} storage errors injected");
        assert_exact(posts, &faulty, accepted, &scenario).await;
    };
    // Repaired while posts are in flight: `reconcile --repair` runs between
    // and during deliveries, so most posts are stored but not yet counted.
    let repaired = async {
        let store = open("repaired");
        let deliveries = async {
            for batch in batches {
                deliver(store.as_ref(), batch).await.unwrap();
            }
        };
        let repairs = async {
            let mut in_flight = Vec::new();
            for _ in 0..3 {
                let report = reconcile(posts, store.as_ref(), Recount::Reached, true)
                    .await
                    .unwrap();
                assert!(
                    report.drift.is_empty(),
                    "posts in flight are not drift: {:?}",
                    &report.drift[..report.drift.len().min(3)]
                );
                in_flight.push(report.in_flight);
            }
            in_flight
        };
        let ((), in_flight) = tokio::join!(deliveries, repairs);
        assert!(
            in_flight[0] > 0,
            "the first repair ran with posts in flight: {in_flight:?}"
        );
        // A real drift, repaired while nothing is in flight, is still found.
        let counts = store.tag_counts().await.unwrap();
        let rust = counts.iter().find(|c| c.key == "rust").unwrap();
        assert!(store
            .repair_count("rust", "rust", Some(rust.total_posts), rust.total_posts + 5)
            .await
            .unwrap());
        let report = reconcile(posts, store.as_ref(), Recount::Reached, true)
            .await
            .unwrap();
        assert_eq!(report.in_flight, 0);
        assert_eq!(report.drift.len(), 1, "{:?}", report.drift);
        assert!(report.drift[0].repaired);
        assert_exact(
            posts,
            store.as_ref(),
            accepted,
            &format!("repaired with {in_flight:?} posts in flight"),
        )
        .await;
    };
    tokio::join!(twice, replay, killed, faults, repaired);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn embedded_pipeline_loses_nothing_and_counts_once() {
    let dir = TempDir::new("faults");
    let stores = hashtag_embedded::open(&dir.0, 4).unwrap();
    let accepted = create_posts(stores.posts.as_ref(), 8, |_| async {}).await;
    // Some posts published twice, as a relay does when it dies between
    // publishing and recording it.
    let first = stores
        .log
        .fetch("faults", POSTS_TOPIC, POSTS * 2)
        .await
        .unwrap();
    for r in first.iter().step_by(40) {
        let key = r.key.clone().unwrap_or_default();
        stores
            .log
            .publish(POSTS_TOPIC, key, r.value.clone())
            .await
            .unwrap();
    }
    let records = stores
        .log
        .fetch("faults", POSTS_TOPIC, POSTS * 2)
        .await
        .unwrap();
    let open = |name: &str| -> Arc<dyn HashtagStore> {
        Arc::new(
            hashtag_embedded::SqliteHashtagStore::open(&dir.0.join(format!("{name}.db"))).unwrap(),
        )
    };
    consumer_scenarios(stores.posts.as_ref(), &open, records, &accepted).await;
}

#[cfg(feature = "aws-stack")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aws_pipeline_loses_nothing_and_counts_once() {
    use common::aws::{DataApiLocal, Moto, Postgres, Tansu};
    // Two moto servers: one is a single busy Python process, and the
    // scenarios run side by side.
    let motos = [Moto::start(), Moto::start()];
    let postgres = Postgres::start();
    let api = DataApiLocal::start(&postgres);
    // The broker keeps its records in a SQLite file, so the test can kill
    // it and start it again while posts are created.
    let tansu = std::sync::Mutex::new(Tansu::start_durable());
    let bootstrap = tansu.lock().unwrap().bootstrap.clone();
    let kafka = Arc::new(
        common::aws::retry(|| {
            hashtag_kafka::KafkaPublisher::connect(&bootstrap, hashtag_kafka::KafkaAuth::Plaintext)
        })
        .await,
    );
    kafka.ensure_topic(POSTS_TOPIC, 4).await.unwrap();
    let store = Arc::new(hashtag_aws::AuroraPostStore::new(
        api.client(),
        DataApiLocal::target(),
    ));
    common::aws::retry(|| store.migrate()).await;
    let posts = hashtag_core::usecases::PublishingPosts::new(store.clone(), kafka.clone());

    // The broker is down for a quarter of the posts.
    let accepted = create_posts(&posts, 16, |i| {
        let tansu = &tansu;
        async move {
            match i {
                5_000 => tansu.lock().unwrap().stop(),
                10_000 => tansu.lock().unwrap().restart(),
                _ => {}
            }
        }
    })
    .await;
    let waiting = store.outbox_backlog().await.unwrap() as usize;
    assert!(
        waiting >= 4_000,
        "only {waiting} events waited in the outbox"
    );
    let some = store.unpublished(500).await.unwrap();
    // Publications resume after the pause that follows the outage.
    tokio::time::sleep(Duration::from_secs(6)).await;
    // The relay publishes them (all are old enough with a zero minimum age).
    let relayed = hashtag_core::usecases::relay_outbox(store.as_ref(), kafka.as_ref(), 0)
        .await
        .unwrap()
        .published;
    assert_eq!(relayed, waiting);
    assert!(store.unpublished(10).await.unwrap().is_empty());
    // Some published twice, as by a relay that died before recording them.
    for e in some.iter().step_by(2) {
        kafka
            .publish(&e.topic, e.key.as_bytes(), e.value.as_bytes())
            .await
            .unwrap();
    }
    let records = tansu.into_inner().unwrap().read_all(POSTS_TOPIC).await;

    let clients = [motos[0].dynamodb(), motos[1].dynamodb()];
    let client = |name: &str| clients[usize::from(name == "killed" || name == "faulty")].clone();
    let open = |name: &str| -> Arc<dyn HashtagStore> {
        Arc::new(hashtag_aws::DynamoHashtagStore::new(client(name), name))
    };
    for name in ["twice", "replay", "killed", "faulty", "repaired"] {
        hashtag_aws::DynamoHashtagStore::new(client(name), name)
            .create_table()
            .await
            .unwrap();
    }
    consumer_scenarios(&posts, &open, records, &accepted).await;
}
