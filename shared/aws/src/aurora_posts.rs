//! Users, posts and images in Aurora PostgreSQL through the RDS Data API
//! (`aws-sdk-rdsdata`). Named parameters only; ids are `bigint` end to end
//! (`longValue`). A post, its images and its outbox event commit in one
//! transaction, so a stored post always has an event to publish.

use async_trait::async_trait;
use aws_sdk_rdsdata::operation::execute_statement::builders::ExecuteStatementFluentBuilder;
use aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementOutput;
use aws_sdk_rdsdata::types::{Field, SqlParameter};
use aws_sdk_rdsdata::Client;

use super::sdk_error;
use hashtag_core::domain::{Image, Post, TopPost, User, Username, POSTS_TOPIC};
use hashtag_core::ids::{Id, MAX_WORKER_ID};
use hashtag_core::ports::{
    Created, Outbox, OutboxEvent, OutboxRound, PostStore, PostText, Reacted, StoreError,
};
use hashtag_core::reactions::{counts_by_post, Emoji, ReactedPost, ReactionEvent, REACTIONS_TOPIC};
use std::collections::BTreeMap;

/// The schema, as numbered migrations of one statement each (the Data API
/// runs one statement per call). Applied in order by [`AuroraPostStore::migrate`],
/// each in a transaction with its version row; never edit an applied one.
const MIGRATIONS: &[&str] = &[
    "CREATE TABLE users (
        user_id bigint PRIMARY KEY,
        username text NOT NULL,
        username_key text NOT NULL UNIQUE,
        created_at timestamptz NOT NULL
    )",
    "CREATE TABLE posts (
        post_id bigint PRIMARY KEY,
        user_id bigint NOT NULL REFERENCES users (user_id),
        caption text NOT NULL,
        created_at timestamptz NOT NULL
    )",
    "CREATE TABLE images (
        image_id bigint PRIMARY KEY,
        post_id bigint NOT NULL REFERENCES posts (post_id),
        position int NOT NULL,
        url text NOT NULL
    )",
    "CREATE INDEX images_by_post ON images (post_id, position)",
    "CREATE TABLE outbox (
        event_id bigserial PRIMARY KEY,
        topic text NOT NULL,
        key text NOT NULL,
        value text NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        published_at timestamptz
    )",
    "CREATE INDEX outbox_unpublished ON outbox (event_id) WHERE published_at IS NULL",
    "CREATE SEQUENCE worker_ids",
    // No foreign key to posts: the key row is inserted first, so that a
    // concurrent request with the same key waits on it.
    "CREATE TABLE idempotency_keys (
        user_id bigint NOT NULL,
        key text NOT NULL,
        post_id bigint NOT NULL,
        created_at timestamptz NOT NULL DEFAULT now(),
        PRIMARY KEY (user_id, key)
    )",
    // The user page's newest posts of an author.
    "CREATE INDEX posts_by_author ON posts (user_id, post_id)",
    // The identity (Cognito `sub`) each user writes as; users from before
    // accounts have none and cannot write until an operator links one.
    "ALTER TABLE users ADD COLUMN subject text UNIQUE",
    // Who reacted with what: a set, so reacting twice is once.
    "CREATE TABLE reactions (
        post_id bigint NOT NULL REFERENCES posts (post_id),
        user_id bigint NOT NULL,
        emoji text NOT NULL,
        PRIMARY KEY (post_id, user_id, emoji)
    )",
    // How many times each post's reactions changed: numbers its reaction
    // events, so that the consumer counts each once however often the
    // outbox publishes it.
    "CREATE TABLE reaction_seqs (
        post_id bigint PRIMARY KEY REFERENCES posts (post_id),
        seq bigint NOT NULL
    )",
];

/// Caption bytes per page of `captions_after`: a caption escaped as JSON
/// grows at most six times (control characters as `\u00XX`), so a page
/// stays under the Data API's 1 MiB response limit.
const CAPTION_PAGE_BYTES: i64 = 128 * 1024;

/// RFC 3339 with milliseconds in UTC, as the domain carries times.
const RFC3339_MS: &str = "to_char(%s AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"')";

fn rfc3339(column: &str) -> String {
    RFC3339_MS.replace("%s", column)
}

/// Where the Data API finds the database.
#[derive(Debug, Clone)]
pub struct DataApiTarget {
    /// The Aurora cluster's ARN.
    pub resource_arn: String,
    /// The Secrets Manager secret holding its credentials.
    pub secret_arn: String,
    /// The database name.
    pub database: String,
}

/// The Aurora post store.
#[derive(Clone)]
pub struct AuroraPostStore {
    client: Client,
    target: DataApiTarget,
    /// Topic of post events ([`POSTS_TOPIC`] unless configured).
    posts_topic: String,
}

fn param(name: &str, value: Field) -> SqlParameter {
    SqlParameter::builder().name(name).value(value).build()
}

fn long(name: &str, v: i64) -> SqlParameter {
    param(name, Field::LongValue(v))
}

fn string(name: &str, v: &str) -> SqlParameter {
    param(name, Field::StringValue(v.to_string()))
}

fn field_i64(f: &Field) -> Result<i64, StoreError> {
    f.as_long_value()
        .copied()
        .map_err(|_| StoreError::Backend(format!("expected a long value, got {f:?}")))
}

fn field_string(f: &Field) -> Result<String, StoreError> {
    f.as_string_value()
        .cloned()
        .map_err(|_| StoreError::Backend(format!("expected a string value, got {f:?}")))
}

/// The one `bigint` a statement returns (`SELECT MAX(...)`, `RETURNING id`).
fn single_long(out: &ExecuteStatementOutput, what: &str) -> Result<i64, StoreError> {
    out.records()
        .first()
        .and_then(|r| r.first())
        .map(field_i64)
        .transpose()?
        .ok_or_else(|| StoreError::Backend(format!("no {what} returned")))
}

/// The rows of `SELECT event_id, topic, key, value FROM outbox`.
fn outbox_events(out: &ExecuteStatementOutput) -> Result<Vec<OutboxEvent>, StoreError> {
    out.records()
        .iter()
        .map(|r| match r.as_slice() {
            [id, topic, key, value] => Ok(OutboxEvent {
                event_id: field_i64(id)?,
                topic: field_string(topic)?,
                key: field_string(key)?,
                value: field_string(value)?,
            }),
            _ => Err(StoreError::Backend("unexpected outbox row".into())),
        })
        .collect()
}

impl AuroraPostStore {
    /// A store on `target`, through `client`.
    pub fn new(client: Client, target: DataApiTarget) -> Self {
        AuroraPostStore {
            client,
            target,
            posts_topic: POSTS_TOPIC.to_string(),
        }
    }

    /// Sends post events to `topic` instead of [`POSTS_TOPIC`].
    pub fn with_posts_topic(mut self, topic: impl Into<String>) -> Self {
        self.posts_topic = topic.into();
        self
    }

    fn statement(&self, sql: &str, tx: Option<&str>) -> ExecuteStatementFluentBuilder {
        self.client
            .execute_statement()
            .resource_arn(&self.target.resource_arn)
            .secret_arn(&self.target.secret_arn)
            .database(&self.target.database)
            .sql(sql)
            .set_transaction_id(tx.map(str::to_string))
    }

    async fn begin(&self) -> Result<String, StoreError> {
        let out = self
            .client
            .begin_transaction()
            .resource_arn(&self.target.resource_arn)
            .secret_arn(&self.target.secret_arn)
            .database(&self.target.database)
            .send()
            .await
            .map_err(|e| sdk_error("begin transaction", e))?;
        out.transaction_id
            .ok_or_else(|| StoreError::Backend("no transaction id".into()))
    }

    async fn commit(&self, tx: &str) -> Result<(), StoreError> {
        self.client
            .commit_transaction()
            .resource_arn(&self.target.resource_arn)
            .secret_arn(&self.target.secret_arn)
            .transaction_id(tx)
            .send()
            .await
            .map_err(|e| sdk_error("commit", e))?;
        Ok(())
    }

    /// Rolls back, keeping the error that caused it.
    async fn rollback(&self, tx: &str, cause: StoreError) -> StoreError {
        let rolled_back = self
            .client
            .rollback_transaction()
            .resource_arn(&self.target.resource_arn)
            .secret_arn(&self.target.secret_arn)
            .transaction_id(tx)
            .send()
            .await;
        if let Err(e) = rolled_back {
            tracing::warn!(error = %sdk_error("rollback", e), "rollback failed; the transaction expires");
        }
        cause
    }

    /// Runs `work` in a transaction: committed if it succeeds, rolled back
    /// if it fails.
    async fn in_transaction<T>(
        &self,
        work: impl AsyncFnOnce(&str) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let tx = self.begin().await?;
        match work(&tx).await {
            Ok(v) => {
                self.commit(&tx).await?;
                Ok(v)
            }
            Err(e) => Err(self.rollback(&tx, e).await),
        }
    }

    /// Applies the migrations not applied yet. Deployments run it (the
    /// `hashtag migrate` command); safe to run again and concurrently (a
    /// version row is inserted with its migration, so a race fails one
    /// transaction instead of applying twice).
    pub async fn migrate(&self) -> Result<usize, StoreError> {
        self.statement(
            "CREATE TABLE IF NOT EXISTS schema_migrations (version int PRIMARY KEY, applied_at timestamptz NOT NULL DEFAULT now())",
            None,
        )
        .send()
        .await
        .map_err(|e| sdk_error("create schema_migrations", e))?;
        let out = self
            .statement(
                "SELECT COALESCE(MAX(version), 0) FROM schema_migrations",
                None,
            )
            .send()
            .await
            .map_err(|e| sdk_error("read schema version", e))?;
        let current = single_long(&out, "schema version")? as usize;
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(current) {
            let version = i as i64 + 1;
            self.in_transaction(async |tx| {
                self.statement(sql, Some(tx))
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("migration {version}"), e))?;
                self.statement(
                    "INSERT INTO schema_migrations (version) VALUES (:v)",
                    Some(tx),
                )
                .parameters(long("v", version))
                .send()
                .await
                .map_err(|e| sdk_error("record migration", e))?;
                Ok(())
            })
            .await?;
        }
        Ok(MIGRATIONS.len().saturating_sub(current))
    }

    /// A worker id for this process's id generator: Lambda runs many
    /// containers at once, and two with the same worker id could mint the
    /// same id in the same millisecond. Leased from a sequence, so
    /// containers alive at the same time differ unless 1,024 others started
    /// in between.
    pub async fn lease_worker_id(&self) -> Result<u16, StoreError> {
        let out = self
            .statement(
                &format!(
                    "SELECT nextval('worker_ids') % {}",
                    u32::from(MAX_WORKER_ID) + 1
                ),
                None,
            )
            .send()
            .await
            .map_err(|e| sdk_error("lease worker id", e))?;
        let id = single_long(&out, "worker id")?;
        u16::try_from(id).map_err(|_| StoreError::Backend(format!("worker id {id} out of range")))
    }

    /// Marks the events `ids` (comma-separated) published.
    async fn mark_published(&self, ids: &str, tx: Option<&str>) -> Result<(), StoreError> {
        self.statement(
            "UPDATE outbox SET published_at = now()
             WHERE event_id = ANY (string_to_array(:ids, ',')::bigint[]) AND published_at IS NULL",
            tx,
        )
        .parameters(string("ids", ids))
        .send()
        .await
        .map_err(|e| sdk_error("mark events published", e))?;
        Ok(())
    }

    /// The oldest events not yet marked published: what waits in the
    /// outbox, for operators and tests.
    pub async fn unpublished(&self, limit: i64) -> Result<Vec<OutboxEvent>, StoreError> {
        let out = self
            .statement(
                "SELECT event_id, topic, key, value FROM outbox WHERE published_at IS NULL ORDER BY event_id LIMIT :limit",
                None,
            )
            .parameters(long("limit", limit))
            .send()
            .await
            .map_err(|e| sdk_error("read outbox", e))?;
        outbox_events(&out)
    }

    /// How many events wait in the outbox: what the relay has left to do.
    pub async fn outbox_backlog(&self) -> Result<i64, StoreError> {
        let out = self
            .statement(
                "SELECT count(*) FROM outbox WHERE published_at IS NULL",
                None,
            )
            .send()
            .await
            .map_err(|e| sdk_error("count outbox", e))?;
        single_long(&out, "outbox backlog")
    }

    /// Inserts a post's images in one batch, inside transaction `tx`.
    async fn insert_images(&self, post: &Post, tx: &str) -> Result<(), StoreError> {
        let images: Vec<Vec<SqlParameter>> = post
            .images
            .iter()
            .enumerate()
            .map(|(i, image)| {
                vec![
                    long("image_id", image.image_id.0),
                    long("post_id", post.post_id.0),
                    long("position", i as i64),
                    string("url", &image.url),
                ]
            })
            .collect();
        self.client
            .batch_execute_statement()
            .resource_arn(&self.target.resource_arn)
            .secret_arn(&self.target.secret_arn)
            .database(&self.target.database)
            .transaction_id(tx)
            .sql("INSERT INTO images (image_id, post_id, position, url) VALUES (:image_id, :post_id, :position, :url)")
            .set_parameter_sets(Some(images))
            .send()
            .await
            .map_err(|e| sdk_error("insert images", e))?;
        Ok(())
    }

    /// The post stored under `key` by `user_id`, if any.
    async fn post_of_key(&self, user_id: Id, key: &str) -> Result<Option<Post>, StoreError> {
        let out = self
            .statement(
                "SELECT post_id FROM idempotency_keys WHERE user_id = :user_id AND key = :key",
                None,
            )
            .parameters(long("user_id", user_id.0))
            .parameters(string("key", key))
            .send()
            .await
            .map_err(|e| sdk_error("read idempotency key", e))?;
        match out.records().first().and_then(|r| r.first()) {
            Some(id) => self.get_post(Id(field_i64(id)?)).await,
            None => Ok(None),
        }
    }
}

/// The outbox table. A round is a transaction holding its events with
/// `FOR UPDATE SKIP LOCKED`, so concurrent relays take different events;
/// completing it marks them published in that transaction.
#[async_trait]
impl Outbox for AuroraPostStore {
    async fn lock_unpublished(
        &self,
        min_age_seconds: i64,
        limit: usize,
    ) -> Result<OutboxRound, StoreError> {
        let tx = self.begin().await?;
        let locked = self
            .statement(
                "SELECT event_id, topic, key, value FROM outbox
                 WHERE published_at IS NULL AND created_at < now() - make_interval(secs => :age)
                 ORDER BY event_id LIMIT :limit FOR UPDATE SKIP LOCKED",
                Some(&tx),
            )
            .parameters(long("age", min_age_seconds))
            .parameters(long("limit", limit as i64))
            .send()
            .await
            .map_err(|e| sdk_error("read outbox", e));
        match locked.and_then(|out| outbox_events(&out)) {
            Ok(events) => Ok(OutboxRound { lock: tx, events }),
            Err(e) => Err(self.rollback(&tx, e).await),
        }
    }

    async fn complete(&self, round: OutboxRound) -> Result<(), StoreError> {
        let ids: Vec<String> = round
            .events
            .iter()
            .map(|e| e.event_id.to_string())
            .collect();
        if let Err(e) = self.mark_published(&ids.join(","), Some(&round.lock)).await {
            return Err(self.rollback(&round.lock, e).await);
        }
        self.commit(&round.lock).await
    }

    async fn release(&self, round: OutboxRound) {
        self.rollback(&round.lock, StoreError::Backend("released".into()))
            .await;
    }

    async fn mark_published(&self, event_ids: &[i64]) -> Result<(), StoreError> {
        let ids: Vec<String> = event_ids.iter().map(i64::to_string).collect();
        AuroraPostStore::mark_published(self, &ids.join(","), None).await
    }

    async fn backlog(&self) -> Result<i64, StoreError> {
        self.outbox_backlog().await
    }
}

impl AuroraPostStore {
    /// The user whose `column` (a unique one) is the parameter `value`.
    async fn read_user(
        &self,
        column: &'static str,
        value: SqlParameter,
    ) -> Result<Option<User>, StoreError> {
        let sql = format!(
            "SELECT user_id, username, {} FROM users WHERE {column} = :value",
            rfc3339("created_at")
        );
        let out = self
            .statement(&sql, None)
            .parameters(value)
            .send()
            .await
            .map_err(|e| sdk_error("select user", e))?;
        let Some(row) = out.records().first() else {
            return Ok(None);
        };
        let [user_id, username, created_at] = row.as_slice() else {
            return Err(StoreError::Backend("unexpected user row".into()));
        };
        Ok(Some(User {
            user_id: Id(field_i64(user_id)?),
            username: field_string(username)?,
            created_at: field_string(created_at)?,
        }))
    }
}

#[async_trait]
impl PostStore for AuroraPostStore {
    async fn create_user(
        &self,
        user_id: Id,
        username: &Username,
        subject: &str,
    ) -> Result<User, StoreError> {
        let user = User::new(user_id, username);
        let out = self
            .statement(
                "INSERT INTO users (user_id, username, username_key, created_at, subject)
                 VALUES (:user_id, :username, :key, CAST(:created_at AS timestamptz), :subject)
                 ON CONFLICT DO NOTHING",
                None,
            )
            .parameters(long("user_id", user_id.0))
            .parameters(string("subject", subject))
            .parameters(string("username", &user.username))
            .parameters(string("key", &username.key()))
            .parameters(string("created_at", &user.created_at))
            .send()
            .await
            .map_err(|e| sdk_error("insert user", e))?;
        if out.number_of_records_updated == 0 {
            return Err(StoreError::Conflict(format!(
                "username {} is taken",
                user.username
            )));
        }
        Ok(user)
    }

    async fn create_post(
        &self,
        post: &Post,
        idempotency_key: Option<&str>,
    ) -> Result<Created, StoreError> {
        let key = post.user_id.to_string();
        let stored = self.in_transaction(async |tx| {
            if let Some(idempotency_key) = idempotency_key {
                // Waits for a concurrent request with the same key, then
                // inserts nothing.
                let claimed = self
                    .statement(
                        "INSERT INTO idempotency_keys (user_id, key, post_id) VALUES (:user_id, :key, :post_id)
                         ON CONFLICT (user_id, key) DO NOTHING",
                        Some(tx),
                    )
                    .parameters(long("user_id", post.user_id.0))
                    .parameters(string("key", idempotency_key))
                    .parameters(long("post_id", post.post_id.0))
                    .send()
                    .await
                    .map_err(|e| sdk_error("insert idempotency key", e))?;
                if claimed.number_of_records_updated == 0 {
                    return Ok(None);
                }
            }
            // Returns the author's name, which the event carries.
            let inserted = self
                .statement(
                    "INSERT INTO posts (post_id, user_id, caption, created_at)
                     SELECT :post_id, :user_id, :caption, CAST(:created_at AS timestamptz)
                     FROM users WHERE user_id = :user_id
                     RETURNING (SELECT username FROM users WHERE user_id = :user_id)",
                    Some(tx),
                )
                .parameters(long("post_id", post.post_id.0))
                .parameters(long("user_id", post.user_id.0))
                .parameters(string("caption", &post.caption))
                .parameters(string("created_at", &post.created_at))
                .send()
                .await
                .map_err(|e| sdk_error("insert post", e))?;
            let Some(author) = inserted.records().first().and_then(|r| r.first()) else {
                return Err(StoreError::Missing(format!("user {}", post.user_id)));
            };
            let value = serde_json::to_string(&post.event(&field_string(author)?))
                .map_err(|e| StoreError::Backend(format!("encoding event: {e}")))?;
            self.insert_images(post, tx).await?;
            let out = self
                .statement(
                    "INSERT INTO outbox (topic, key, value) VALUES (:topic, :key, :value) RETURNING event_id",
                    Some(tx),
                )
                .parameters(string("topic", &self.posts_topic))
                .parameters(string("key", &key))
                .parameters(string("value", &value))
                .send()
                .await
                .map_err(|e| sdk_error("insert outbox event", e))?;
            Ok(Some((single_long(&out, "event id")?, value)))
        })
        .await?;
        let Some((event_id, value)) = stored else {
            let key = idempotency_key.unwrap_or_default();
            let stored = self.post_of_key(post.user_id, key).await?.ok_or_else(|| {
                StoreError::Backend(format!("the post of idempotency key {key} is gone"))
            })?;
            return Created::replay(stored, post);
        };
        Ok(Created {
            post: post.clone(),
            replayed: false,
            pending: Some(OutboxEvent {
                event_id,
                topic: self.posts_topic.clone(),
                key,
                value,
            }),
        })
    }

    async fn recent_posts_by(&self, user_id: Id, limit: usize) -> Result<Vec<TopPost>, StoreError> {
        let out = self
            .statement(
                "SELECT p.post_id, i.url FROM posts p
                 JOIN images i ON i.post_id = p.post_id AND i.position = 0
                 WHERE p.user_id = :user_id ORDER BY p.post_id DESC LIMIT :limit",
                None,
            )
            .parameters(long("user_id", user_id.0))
            .parameters(long("limit", limit as i64))
            .send()
            .await
            .map_err(|e| sdk_error("read recent posts", e))?;
        out.records()
            .iter()
            .map(|r| match r.as_slice() {
                [id, url] => Ok(TopPost {
                    post_id: Id(field_i64(id)?),
                    image_url: field_string(url)?,
                }),
                _ => Err(StoreError::Backend("unexpected recent post row".into())),
            })
            .collect()
    }

    async fn react(
        &self,
        post_id: Id,
        user_id: Id,
        emoji: &Emoji,
        present: bool,
    ) -> Result<Reacted, StoreError> {
        let key = post_id.to_string();
        let pending = self
            .in_transaction(async |tx| {
                // Keeps the post from being deleted meanwhile.
                let post = self
                    .statement(
                        "SELECT p.caption, (SELECT url FROM images i WHERE i.post_id = p.post_id ORDER BY position LIMIT 1)
                         FROM posts p WHERE p.post_id = :post_id FOR SHARE OF p",
                        Some(tx),
                    )
                    .parameters(long("post_id", post_id.0))
                    .send()
                    .await
                    .map_err(|e| sdk_error("select post", e))?;
                let post = match post.records().first().map(Vec::as_slice) {
                    Some([caption, cover]) => ReactedPost {
                        post_id,
                        caption: field_string(caption)?,
                        cover: field_string(cover).unwrap_or_default(),
                    },
                    _ => return Err(StoreError::Missing(format!("post {post_id}"))),
                };
                let sql = match present {
                    true => "INSERT INTO reactions (post_id, user_id, emoji) VALUES (:post_id, :user_id, :emoji)
                             ON CONFLICT DO NOTHING",
                    false => "DELETE FROM reactions WHERE post_id = :post_id AND user_id = :user_id AND emoji = :emoji",
                };
                let changed = self
                    .statement(sql, Some(tx))
                    .parameters(long("post_id", post_id.0))
                    .parameters(long("user_id", user_id.0))
                    .parameters(string("emoji", emoji.as_str()))
                    .send()
                    .await
                    .map_err(|e| sdk_error("change reaction", e))?;
                if changed.number_of_records_updated == 0 {
                    return Ok(None);
                }
                // Last before the commit: the row's lock makes one post's
                // changes take their numbers one at a time, held briefly.
                let seq = self
                    .statement(
                        "INSERT INTO reaction_seqs (post_id, seq) VALUES (:post_id, 1)
                         ON CONFLICT (post_id) DO UPDATE SET seq = reaction_seqs.seq + 1 RETURNING seq",
                        Some(tx),
                    )
                    .parameters(long("post_id", post_id.0))
                    .send()
                    .await
                    .map_err(|e| sdk_error("number reaction change", e))?;
                let seq = single_long(&seq, "reaction change number")?;
                let event = ReactionEvent::new(post, user_id, emoji.clone(), present, seq);
                let value = serde_json::to_string(&event)
                    .map_err(|e| StoreError::Backend(format!("encoding event: {e}")))?;
                let out = self
                    .statement(
                        "INSERT INTO outbox (topic, key, value) VALUES (:topic, :key, :value) RETURNING event_id",
                        Some(tx),
                    )
                    .parameters(string("topic", REACTIONS_TOPIC))
                    .parameters(string("key", &key))
                    .parameters(string("value", &value))
                    .send()
                    .await
                    .map_err(|e| sdk_error("insert outbox event", e))?;
                Ok(Some(OutboxEvent {
                    event_id: single_long(&out, "event id")?,
                    topic: REACTIONS_TOPIC.to_string(),
                    key: key.clone(),
                    value,
                }))
            })
            .await?;
        Ok(Reacted {
            changed: pending.is_some(),
            pending,
        })
    }

    async fn reactions_by(&self, post_id: Id, user_id: Id) -> Result<Vec<String>, StoreError> {
        let out = self
            .statement(
                "SELECT emoji FROM reactions WHERE post_id = :post_id AND user_id = :user_id",
                None,
            )
            .parameters(long("post_id", post_id.0))
            .parameters(long("user_id", user_id.0))
            .send()
            .await
            .map_err(|e| sdk_error("select reactions", e))?;
        out.records()
            .iter()
            .map(|row| {
                row.first()
                    .map_or(Err(StoreError::Backend("empty row".into())), field_string)
            })
            .collect()
    }

    async fn reaction_counts_after(
        &self,
        after: Id,
        limit: usize,
    ) -> Result<Vec<(Id, BTreeMap<String, i64>)>, StoreError> {
        let out = self
            .statement(
                "SELECT post_id, emoji, count(*) FROM reactions
                 WHERE post_id IN (SELECT DISTINCT post_id FROM reactions WHERE post_id > :after
                                   ORDER BY post_id LIMIT :limit)
                 GROUP BY post_id, emoji ORDER BY post_id",
                None,
            )
            .parameters(long("after", after.0))
            .parameters(long("limit", limit as i64))
            .send()
            .await
            .map_err(|e| sdk_error("count reactions", e))?;
        let rows = out
            .records()
            .iter()
            .map(|row| match row.as_slice() {
                [post, emoji, count] => Ok((
                    Id(field_i64(post)?),
                    field_string(emoji)?,
                    field_i64(count)?,
                )),
                _ => Err(StoreError::Backend("unexpected reaction row".into())),
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(counts_by_post(rows))
    }

    async fn captions_after(&self, after: Id, limit: usize) -> Result<Vec<PostText>, StoreError> {
        // Rows up to CAPTION_PAGE_BYTES of captions (always the first),
        // so a page of long captions stays under the Data API's 1 MiB
        // response limit whatever JSON escaping adds.
        let out = self
            .statement(
                "SELECT post_id, username, caption FROM (
                   SELECT p.post_id, u.username, p.caption,
                          sum(octet_length(p.caption)) OVER (ORDER BY p.post_id) AS running
                   FROM posts p JOIN users u USING (user_id)
                   WHERE p.post_id > :after ORDER BY p.post_id LIMIT :limit
                 ) page
                 WHERE running <= :budget OR running = octet_length(caption)
                 ORDER BY post_id",
                None,
            )
            .parameters(long("after", after.0))
            .parameters(long("limit", limit as i64))
            .parameters(long("budget", CAPTION_PAGE_BYTES))
            .send()
            .await
            .map_err(|e| sdk_error("read captions", e))?;
        out.records()
            .iter()
            .map(|r| match r.as_slice() {
                [id, author, caption] => Ok(PostText {
                    post_id: Id(field_i64(id)?),
                    author: field_string(author)?,
                    caption: field_string(caption)?,
                }),
                _ => Err(StoreError::Backend("unexpected caption row".into())),
            })
            .collect()
    }

    async fn user_by_id(&self, user_id: Id) -> Result<Option<User>, StoreError> {
        self.read_user("user_id", long("value", user_id.0)).await
    }

    async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.read_user("username_key", string("value", &username.key()))
            .await
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        self.read_user("subject", string("value", subject)).await
    }

    async fn get_post(&self, post_id: Id) -> Result<Option<Post>, StoreError> {
        let sql = format!(
            "SELECT p.user_id, p.caption, {}, i.image_id, i.url
             FROM posts p LEFT JOIN images i ON i.post_id = p.post_id
             WHERE p.post_id = :post_id ORDER BY i.position",
            rfc3339("p.created_at")
        );
        let out = self
            .statement(&sql, None)
            .parameters(long("post_id", post_id.0))
            .send()
            .await
            .map_err(|e| sdk_error("select post", e))?;
        let mut post: Option<Post> = None;
        for row in out.records() {
            let [user_id, caption, created_at, image_id, url] = row.as_slice() else {
                return Err(StoreError::Backend("unexpected post row".into()));
            };
            let post = post.get_or_insert(Post {
                post_id,
                user_id: Id(field_i64(user_id)?),
                caption: field_string(caption)?,
                images: Vec::new(),
                created_at: field_string(created_at)?,
            });
            if !image_id.is_is_null() {
                post.images.push(Image {
                    image_id: Id(field_i64(image_id)?),
                    url: field_string(url)?,
                });
            }
        }
        Ok(post)
    }
}
