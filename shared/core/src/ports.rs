//! The ports: what the handlers need from storage. The embedded adapters
//! (SQLite) and the AWS adapters (Aurora Data API, DynamoDB) implement them,
//! and the same contract tests run against every implementation.

use async_trait::async_trait;

use crate::aggregate::TagContribution;
use crate::domain::{Post, Ranking, TagPage, TopPost, User, Username};
use crate::history::{Day, DayContribution, DayRow};
use crate::ids::Id;
use crate::mentions::{Direction, EdgeContribution, StoredEdge};
use crate::popularity::{Candidate, TagCandidates};
use crate::reactions::{Emoji, ReactionContribution, ReactionState};
use crate::record::LogRecord;
use crate::trends::Moderation;
use crate::windows::{WindowContribution, WindowCounts};

/// Why a store call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// A uniqueness rule was broken (e.g. the username is taken).
    Conflict(String),
    /// A referenced entity does not exist (e.g. the post's author).
    Missing(String),
    /// The backend failed; the message is for logs, not for clients.
    Backend(String),
}

impl std::fmt::Display for StoreError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreError::Conflict(m) => write!(f, "conflict: {m}"),
            StoreError::Missing(m) => write!(f, "missing: {m}"),
            StoreError::Backend(m) => write!(f, "backend error: {m}"),
        }
    }
}

impl std::error::Error for StoreError {}

/// Where events go that no transaction stores: a post's event right after
/// its transaction commits, a live reaction, a ranking. The Kafka producer
/// on AWS, the event log on one machine. A port of its own so that only
/// the functions that publish (create-post, the relay, the reaction
/// consumer) link a Kafka client.
#[async_trait]
pub trait EventPublisher: Send + Sync {
    /// Sends one record with `key` and `value` to `topic`.
    async fn publish(&self, topic: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError>;

    /// Sends (key, value) records to `topic`, at once where the transport
    /// allows it; one after another unless overridden.
    async fn publish_batch(
        &self,
        topic: &str,
        records: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        for (key, value) in records {
            self.publish(topic, key, value).await?;
        }
        Ok(())
    }

    /// Whether the broker answers now (`GET /health`).
    async fn connected(&self) -> Result<(), StoreError>;
}

/// An event stored in an outbox, not yet marked published.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxEvent {
    /// Outbox order.
    pub event_id: i64,
    /// Kafka topic.
    pub topic: String,
    /// Record key (the author for post events).
    pub key: String,
    /// Record value (JSON).
    pub value: String,
}

/// Events locked by one relay round, which no concurrent relay takes.
#[derive(Debug)]
pub struct OutboxRound {
    /// The store's handle on the lock (a Data API transaction id).
    pub lock: String,
    /// The events, oldest first.
    pub events: Vec<OutboxEvent>,
}

/// The events a post store keeps for publication (the Aurora outbox): what
/// the creator publishes right after commit and the relay publishes when
/// the creator could not ([`crate::usecases::relay_outbox`]).
#[async_trait]
pub trait Outbox: Send + Sync {
    /// Locks up to `limit` unpublished events at least `min_age_seconds`
    /// old that no other round holds.
    async fn lock_unpublished(
        &self,
        min_age_seconds: i64,
        limit: usize,
    ) -> Result<OutboxRound, StoreError>;
    /// Marks a round's events published and releases them.
    async fn complete(&self, round: OutboxRound) -> Result<(), StoreError>;
    /// Releases a round's events unmarked, for a later round.
    async fn release(&self, round: OutboxRound);
    /// Marks events published outside a round (by their creator).
    async fn mark_published(&self, event_ids: &[i64]) -> Result<(), StoreError>;
    /// How many events wait for publication.
    async fn backlog(&self) -> Result<i64, StoreError>;
}

/// Users, posts and images (Aurora on AWS, SQLite embedded).
#[async_trait]
pub trait PostStore: Send + Sync {
    /// Stores a new user for the identity `subject` (the `sub` claim of
    /// its tokens); [`StoreError::Conflict`] if the username is taken in any
    /// casing or the subject already has a user.
    async fn create_user(
        &self,
        user_id: Id,
        username: &Username,
        subject: &str,
    ) -> Result<User, StoreError>;

    /// Stores a post with its images and, in the same transaction, its
    /// [`crate::domain::PostEvent`] for publication, so a stored post is always
    /// published and an unstored one never is. [`StoreError::Missing`] if the
    /// author does not exist.
    ///
    /// With an idempotency key (scoped to the author), a retry carrying the
    /// same key stores nothing and returns the post stored the first time,
    /// marked [`Created::replayed`]; [`StoreError::Conflict`] if that post
    /// was created from a different caption.
    async fn create_post(
        &self,
        post: &Post,
        idempotency_key: Option<&str>,
    ) -> Result<Created, StoreError>;

    /// A post by id.
    async fn get_post(&self, post_id: Id) -> Result<Option<Post>, StoreError>;

    /// A user by id: the author a post page names.
    async fn user_by_id(&self, user_id: Id) -> Result<Option<User>, StoreError>;

    /// A user by name, in any casing (names are unique regardless of case):
    /// the user page an `@mention` links to.
    async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError>;

    /// The user registered for the identity `subject`: who writes, as the
    /// verified token says.
    async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError>;

    /// Adds (`present`) or removes `user_id`'s reaction `emoji` to
    /// `post_id`: a set member, so reacting twice is once and removing is
    /// idempotent. When the set changes, its
    /// [`crate::reactions::ReactionEvent`] is stored
    /// for publication in the same transaction (on the reactions topic,
    /// keyed by post). [`StoreError::Missing`] if the post does not exist.
    async fn react(
        &self,
        post_id: Id,
        user_id: Id,
        emoji: &Emoji,
        present: bool,
    ) -> Result<Reacted, StoreError>;

    /// The emojis `user_id` reacted with to `post_id`: what the post page
    /// shows as pressed.
    async fn reactions_by(&self, post_id: Id, user_id: Id) -> Result<Vec<String>, StoreError>;

    /// The reaction counts of posts above `after`, at most `limit` posts,
    /// in post order, counted from the reaction sets: what reconcile
    /// compares the consumer's counts with.
    async fn reaction_counts_after(
        &self,
        after: Id,
        limit: usize,
    ) -> Result<Vec<(Id, std::collections::BTreeMap<String, i64>)>, StoreError>;

    /// The newest `limit` posts of a user, newest first, as their cover
    /// images: the user page's grid.
    async fn recent_posts_by(&self, user_id: Id, limit: usize) -> Result<Vec<TopPost>, StoreError>;

    /// Up to `limit` posts with an id above `after`, in id order, with
    /// their author's name: what `reconcile` recounts tags and mentions
    /// from. A store whose responses are bounded in size (the Data API's
    /// 1 MiB) may answer fewer, but at least one while any is left: only an
    /// empty page means the end.
    async fn captions_after(&self, after: Id, limit: usize) -> Result<Vec<PostText>, StoreError>;
}

/// The accounts `hashtag serve` keeps itself: password hashes and
/// sessions. On AWS, Cognito keeps them and this port has no adapter.
#[async_trait]
pub trait Accounts: Send + Sync {
    /// Stores a new user whose subject is its own id, with the hash of its
    /// password, in one transaction; [`StoreError::Conflict`] if the
    /// username is taken in any casing.
    async fn create_account(
        &self,
        user_id: Id,
        username: &Username,
        password_hash: &str,
    ) -> Result<User, StoreError>;

    /// A user and its password hash, by name in any casing.
    async fn credentials(&self, username: &Username) -> Result<Option<(User, String)>, StoreError>;

    /// Records the session `sid` of `user_id`, valid until `expires_ms`
    /// (Unix milliseconds), and drops sessions that have expired.
    async fn start_session(
        &self,
        sid: &str,
        user_id: Id,
        expires_ms: i64,
    ) -> Result<(), StoreError>;

    /// Whether the session `sid` was started and not ended by `now_ms`.
    async fn session_active(&self, sid: &str, now_ms: i64) -> Result<bool, StoreError>;

    /// Ends the session `sid`: its token and cookie stop working.
    async fn end_session(&self, sid: &str) -> Result<(), StoreError>;
}

/// A stored post as `reconcile` reads it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostText {
    /// The post (its id also says when it was written).
    pub post_id: Id,
    /// The author's username.
    pub author: String,
    /// The caption.
    pub caption: String,
}

/// What [`PostStore::react`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reacted {
    /// Whether the set changed (and an event was stored).
    pub changed: bool,
    /// The stored event, for its creator to publish right after commit
    /// (AWS); `None` where the store publishes itself (the embedded log).
    pub pending: Option<OutboxEvent>,
}

/// What [`PostStore::create_post`] stored, or found stored under the
/// idempotency key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Created {
    /// The stored post.
    pub post: Post,
    /// Whether it was stored by an earlier request with the same key.
    pub replayed: bool,
    /// The post's event, stored in an [`Outbox`] for its creator to publish
    /// (see [`crate::usecases::PublishingPosts`]); `None` where the store's
    /// log is the broker (the embedded event log) and for a replay.
    pub pending: Option<OutboxEvent>,
}

impl Created {
    /// The answer to a retry: the post stored under its idempotency key,
    /// provided the retry asks for the same post.
    pub fn replay(stored: Post, retried: &Post) -> Result<Created, StoreError> {
        if stored.caption != retried.caption || stored.user_id != retried.user_id {
            return Err(StoreError::Conflict(
                "the idempotency key was used for a different post".into(),
            ));
        }
        Ok(Created {
            post: stored,
            replayed: true,
            pending: None,
        })
    }
}

/// A record of a post event claiming to be the one that counts its post.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostClaim {
    /// The post.
    pub post_id: Id,
    /// `topic-partition` of the record.
    pub source: String,
    /// Its offset.
    pub offset: i64,
}

/// What [`HashtagStore::apply_counts`] did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct CountOutcome {
    /// (tag, post) pairs newly counted; redelivered ones are not.
    pub posts_counted: usize,
    /// Conditional counter updates that failed on a changed mark and were
    /// retried.
    pub conditional_retries: usize,
}

/// A record the consumers could not use, kept for a person to inspect.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DeadLetter {
    /// `topic-partition` of the record.
    pub source: String,
    /// Its offset.
    pub offset: i64,
    /// Why it was set aside.
    pub reason: String,
    /// The value as delivered (base64), cut to [`DEAD_LETTER_VALUE_MAX`].
    pub value: String,
    /// When it was set aside, RFC 3339.
    pub set_aside_at: String,
}

/// Longest value kept in a dead letter, in bytes of base64: enough to see
/// what went wrong, and far below DynamoDB's 400 KB item limit.
pub const DEAD_LETTER_VALUE_MAX: usize = 64 * 1024;

/// A tag's stored count, as `reconcile` compares it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TagCount {
    /// Normalised tag.
    pub key: String,
    /// Spelling shown on the page.
    pub display: String,
    /// Posts counted.
    pub total_posts: u64,
    /// Per source partition, the highest offset counted for the tag, read
    /// with the count: what the consumer has counted is exactly the posts
    /// carrying the tag whose counting record (their claim) is at or below
    /// these marks (a repair may have set the count itself otherwise).
    pub marks: Vec<(String, i64)>,
}

/// The read side of the hashtag table: what a tag page shows.
#[async_trait]
pub trait TagPages: Send + Sync {
    /// The page of the tag with this key (see [`crate::extract::tag_key`]).
    async fn page(&self, key: &str) -> Result<Option<TagPage>, StoreError>;
}

/// The hashtag counter's writes, made exactly once under redelivery.
#[async_trait]
pub trait TagCounter: Send + Sync {
    /// Adds a batch's contributions: per tag, the posts seen on each source
    /// partition with their offsets. Idempotent: for every (tag, partition)
    /// the store remembers the highest offset applied and counts only the
    /// posts above it ([`crate::aggregate::SourcePosts::above`]), so a
    /// redelivered batch counts nothing twice and a batch that failed
    /// half-way is completed by its retry.
    async fn apply_counts(&self, batch: &[TagContribution]) -> Result<CountOutcome, StoreError>;

    /// Decides which record counts each post: the first claim of a post
    /// wins, and a later claim from the same record (a redelivery) wins
    /// again. Returns the ids whose claims lost: their posts were published
    /// more than once (an outbox relay resending an event whose first
    /// publication it could not confirm) and are already counted through
    /// another record. Claims must be distinct by post.
    async fn claim_posts(&self, claims: &[PostClaim]) -> Result<Vec<Id>, StoreError>;
}

/// Where the consumers keep the records they could not use.
#[async_trait]
pub trait DeadLetters: Send + Sync {
    /// Keeps records that could not be used; idempotent by (source, offset).
    async fn set_aside(&self, letters: &[DeadLetter]) -> Result<(), StoreError>;

    /// The most recently set-aside records, newest first.
    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError>;
}

/// What `reconcile` reads and repairs.
#[async_trait]
pub trait TagAudit: Send + Sync {
    /// Every tag's count.
    async fn tag_counts(&self) -> Result<Vec<TagCount>, StoreError>;

    /// The claims of those of `posts` that have one: which record counts
    /// each post (see [`TagCounter::claim_posts`]). A store may drop claims
    /// after [`crate::domain::CLAIM_RETENTION_SECONDS`].
    async fn claims(&self, posts: &[Id]) -> Result<Vec<PostClaim>, StoreError>;

    /// Sets a tag's count to `total` if it is still `expected` (`None`: the
    /// tag has no count yet), so a repair never overwrites a concurrent
    /// increment. Returns whether it was set.
    async fn repair_count(
        &self,
        key: &str,
        display: &str,
        expected: Option<u64>,
        total: u64,
    ) -> Result<bool, StoreError>;
}

/// A tag's history per day (see [`crate::history`]) and its trend peaks
/// (see [`crate::trends`]).
#[async_trait]
pub trait TagHistory: Send + Sync {
    /// Applies a batch's days at `now_ms`, each with
    /// [`DayContribution::apply`] and, for a day that may trend, scored
    /// against yesterday's distinct authors: per (tag, day) one read (two
    /// for those) and one conditional write, none if nothing is new.
    /// Returns the days written.
    async fn apply_history(
        &self,
        days: &[DayContribution],
        now_ms: i64,
    ) -> Result<usize, StoreError>;

    /// The stored days of tag `key` from `first` to `last` (inclusive), in
    /// any order.
    async fn history(&self, key: &str, first: Day, last: Day) -> Result<Vec<DayRow>, StoreError>;

    /// The tags with the highest trend peaks reached on `day`, highest
    /// first, at most `limit`: (tag key, stored peak). One index read.
    async fn trending(&self, day: Day, limit: usize) -> Result<Vec<(String, f64)>, StoreError>;
}

/// What operators decide about tags (see [`Moderation`]).
#[async_trait]
pub trait TagModeration: Send + Sync {
    /// Sets a tag's status.
    async fn set_moderation(&self, key: &str, status: Moderation) -> Result<(), StoreError>;

    /// The statuses of those of `keys` that are not [`Moderation::Listed`].
    async fn moderated(&self, keys: &[String]) -> Result<Vec<(String, Moderation)>, StoreError>;
}

/// The ranking consumer's writes.
#[async_trait]
pub trait Rankings: Send + Sync {
    /// Replaces a tag's ranked posts unless a ranking generated at the same
    /// time or later is stored. Returns whether it was applied.
    async fn apply_ranking(&self, ranking: &Ranking) -> Result<bool, StoreError>;
}

/// The mention graph's writes, made exactly once under redelivery.
#[async_trait]
pub trait MentionGraph: Send + Sync {
    /// Applies a batch's edges, each with [`EdgeContribution::apply`]: per
    /// edge one read (batched) and one conditional write, none if nothing
    /// is new. Returns the edges written.
    async fn apply_mentions(&self, edges: &[EdgeContribution]) -> Result<usize, StoreError>;
}

/// The mention graph's reads.
#[async_trait]
pub trait MentionReads: Send + Sync {
    /// The strongest edges of the user with key `user` in `direction`,
    /// strongest first, at most `limit`, leaving out those whose stored log
    /// weight is below `min_log_weight` (decayed away, not yet removed).
    async fn strongest(
        &self,
        user: &str,
        direction: Direction,
        limit: usize,
        min_log_weight: f64,
    ) -> Result<Vec<StoredEdge>, StoreError>;

    /// The edge from `from` to `to` (user keys), if any.
    async fn edge(&self, from: &str, to: &str) -> Result<Option<StoredEdge>, StoreError>;
}

/// What `reconcile --mentions` reads.
#[async_trait]
pub trait MentionAudit: Send + Sync {
    /// Every stored edge.
    async fn mention_edges(&self) -> Result<Vec<StoredEdge>, StoreError>;
}

/// What the read routes need: tag pages, their history and moderation, and
/// the mention graph.
pub trait ReadModels:
    TagPages + TagHistory + TagModeration + MentionReads + ReactionCounts + ReactionWindows
{
}

impl<T> ReadModels for T where
    T: TagPages + TagHistory + TagModeration + MentionReads + ReactionCounts + ReactionWindows
{
}

/// Posts' reaction counts as the reaction consumer keeps them, in the
/// hashtag table (partitioned by post).
#[async_trait]
pub trait ReactionCounts: Send + Sync {
    /// Applies a batch's contributions, each with
    /// [`ReactionContribution::apply`]: per post one read and one
    /// conditional write, none if nothing is new. Returns the posts written.
    async fn apply_reactions(&self, posts: &[ReactionContribution]) -> Result<usize, StoreError>;

    /// A post's counts (empty if it has none).
    async fn reactions(&self, post_id: Id) -> Result<ReactionState, StoreError>;

    /// The net reactions shown for each of `posts` that has any, in post
    /// order: what the popularity ranker scores (see [`crate::popularity`]).
    async fn reaction_totals(&self, posts: &[Id]) -> Result<Vec<(Id, i64)>, StoreError>;

    /// Every post's counts, in post order: what `reconcile --reactions`
    /// compares with the post store.
    async fn all_reactions(&self) -> Result<Vec<(Id, ReactionState)>, StoreError>;
}

/// The popularity ranker's record of each tag (see [`TagCandidates`]),
/// in the hashtag table.
#[async_trait]
pub trait RankerState: Send + Sync {
    /// The tag's record (empty if none).
    async fn candidates(&self, key: &str) -> Result<TagCandidates, StoreError>;

    /// Writes the tag's record if its version is still `read.version`;
    /// `false` if another ranker wrote it meanwhile.
    async fn put_candidates(
        &self,
        key: &str,
        posts: &[Candidate],
        read: &TagCandidates,
        generated_ms: i64,
    ) -> Result<bool, StoreError>;
}

/// Reactions per event-time window (see [`crate::windows`]), in the
/// hashtag table.
#[async_trait]
pub trait ReactionWindows: Send + Sync {
    /// Adds a batch's window contributions, each with
    /// [`WindowContribution::above`] the window's stored marks: per window
    /// one read and one conditional write. Returns the windows written.
    async fn apply_windows(&self, windows: &[WindowContribution]) -> Result<usize, StoreError>;

    /// The windows starting at or after `since_ms`, oldest first, at most
    /// `limit`.
    async fn windows(&self, since_ms: i64, limit: usize) -> Result<Vec<WindowCounts>, StoreError>;
}

/// The hashtag table (DynamoDB on AWS, SQLite embedded), partitioned by tag
/// key, which also holds the mention graph (partitioned by user): every
/// role at once, as an adapter implements it. Code that needs one role
/// takes that role's port.
pub trait HashtagStore:
    TagPages
    + TagCounter
    + TagHistory
    + TagModeration
    + DeadLetters
    + TagAudit
    + Rankings
    + MentionGraph
    + MentionReads
    + MentionAudit
    + ReactionCounts
    + ReactionWindows
    + RankerState
{
}

impl<T> HashtagStore for T where
    T: TagPages
        + TagCounter
        + TagHistory
        + TagModeration
        + DeadLetters
        + TagAudit
        + Rankings
        + MentionGraph
        + MentionReads
        + MentionAudit
        + ReactionCounts
        + ReactionWindows
        + RankerState
{
}

/// Where the single-machine server's pollers read records and commit their
/// offsets: the embedded event log, or a Kafka broker. (On Lambda, the MSK
/// event source mapping plays this role.)
#[async_trait]
pub trait RecordSource: Send + Sync {
    /// Up to `max` records of `topic` after `group`'s committed offsets.
    async fn fetch(
        &self,
        group: &str,
        topic: &str,
        max: usize,
    ) -> Result<Vec<LogRecord>, StoreError>;
    /// Records that `group` has handled `records`.
    async fn commit(
        &self,
        group: &str,
        topic: &str,
        records: &[LogRecord],
    ) -> Result<(), StoreError>;
    /// Returns when new records may have arrived.
    async fn wait_for_records(&self);
    /// Records of `topic` that `group` has not committed yet: its lag, the
    /// first thing to look at when counts are late.
    async fn backlog(&self, group: &str, topic: &str) -> Result<u64, StoreError>;
}
