//! Users, posts and images in SQLite (`posts.db`), the embedded counterpart
//! of the Aurora store. A post's event is appended to the event log in the
//! same transaction as the post.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::db::backend;
use super::event_log::EventLog;
use super::group_commit::GroupCommit;
use hashtag_core::domain::{Image, Post, TopPost, User, Username, POSTS_TOPIC};
use hashtag_core::ids::Id;
use std::collections::BTreeMap;

use hashtag_core::domain::now_ms;
use hashtag_core::ports::{Accounts, Created, PostStore, PostText, Reacted, StoreError};
use hashtag_core::reactions::{counts_by_post, Emoji, ReactedPost, ReactionEvent, REACTIONS_TOPIC};

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS users (
    user_id INTEGER PRIMARY KEY,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL UNIQUE,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS posts (
    post_id INTEGER PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (user_id),
    caption TEXT NOT NULL,
    created_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS images (
    image_id INTEGER PRIMARY KEY,
    post_id INTEGER NOT NULL REFERENCES posts (post_id),
    position INTEGER NOT NULL,
    url TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS images_by_post ON images (post_id, position);
CREATE INDEX IF NOT EXISTS posts_by_author ON posts (user_id, post_id);
CREATE TABLE IF NOT EXISTS credentials (
    user_id INTEGER PRIMARY KEY REFERENCES users (user_id),
    password_hash TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS sessions (
    sid TEXT PRIMARY KEY,
    user_id INTEGER NOT NULL REFERENCES users (user_id),
    expires_ms INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_ms);
CREATE TABLE IF NOT EXISTS reactions (
    post_id INTEGER NOT NULL REFERENCES posts (post_id),
    user_id INTEGER NOT NULL,
    emoji TEXT NOT NULL,
    PRIMARY KEY (post_id, user_id, emoji)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS reaction_seqs (
    post_id INTEGER PRIMARY KEY REFERENCES posts (post_id),
    seq INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS idempotency_keys (
    user_id INTEGER NOT NULL,
    key TEXT NOT NULL,
    post_id INTEGER NOT NULL REFERENCES posts (post_id),
    PRIMARY KEY (user_id, key)
) WITHOUT ROWID;
";

/// The post a reaction is to, with its caption and cover, read on `conn`.
fn reacted_post(
    conn: &rusqlite::Connection,
    post_id: Id,
) -> Result<Option<ReactedPost>, StoreError> {
    conn.prepare_cached(
        "SELECT caption, (SELECT url FROM images WHERE post_id = ?1 ORDER BY position LIMIT 1)
         FROM posts WHERE post_id = ?1",
    )
    .and_then(|mut s| {
        s.query_row([post_id.0], |r| {
            Ok(ReactedPost {
                post_id,
                caption: r.get(0)?,
                cover: r.get::<_, Option<String>>(1)?.unwrap_or_default(),
            })
        })
        .optional()
    })
    .map_err(backend)
}

/// The post `post_id` with its images, read on `conn`.
fn read_post(conn: &Connection, post_id: Id) -> Result<Option<Post>, StoreError> {
    let row = conn
        .prepare_cached("SELECT user_id, caption, created_at FROM posts WHERE post_id = ?1")
        .and_then(|mut s| {
            s.query_row([post_id.0], |r| {
                Ok((
                    r.get::<_, i64>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                ))
            })
            .optional()
        })
        .map_err(backend)?;
    let Some((user_id, caption, created_at)) = row else {
        return Ok(None);
    };
    let mut stmt = conn
        .prepare_cached("SELECT image_id, url FROM images WHERE post_id = ?1 ORDER BY position")
        .map_err(backend)?;
    let images = stmt
        .query_map([post_id.0], |r| {
            Ok(Image {
                image_id: Id(r.get(0)?),
                url: r.get(1)?,
            })
        })
        .map_err(backend)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(backend)?;
    Ok(Some(Post {
        post_id,
        user_id: Id(user_id),
        caption,
        images,
        created_at,
    }))
}

/// Inserts `user` (whose name has the key `key`) for `subject`;
/// [`StoreError::Conflict`] if the name or the subject is taken.
fn insert_user(conn: &Connection, user: &User, key: &str, subject: &str) -> Result<(), StoreError> {
    let inserted = conn
        .execute(
            "INSERT INTO users (user_id, username, username_key, created_at, subject)
             VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT DO NOTHING",
            params![user.user_id.0, user.username, key, user.created_at, subject],
        )
        .map_err(backend)?;
    match inserted {
        0 => Err(StoreError::Conflict(format!(
            "username {} is taken",
            user.username
        ))),
        _ => Ok(()),
    }
}

/// The embedded post store.
pub struct SqlitePostStore {
    log: EventLog,
    /// New posts, committed in groups (see [`GroupCommit`]).
    creates: GroupCommit<Created>,
    /// Changes of reaction sets, committed in groups likewise.
    reacts: GroupCommit<bool>,
}

impl SqlitePostStore {
    /// Creates the tables next to the event log.
    pub fn new(log: EventLog) -> Result<Self, StoreError> {
        log.db().apply_schema(SCHEMA)?;
        // The identity a user writes as; users from before accounts are
        // their own.
        log.db().add_column("users", "subject", "TEXT")?;
        log.db().apply_schema(
            "UPDATE users SET subject = user_id WHERE subject IS NULL;
             CREATE UNIQUE INDEX IF NOT EXISTS users_by_subject ON users (subject);",
        )?;
        let appended = log.clone();
        let creates = GroupCommit::start(log.db().clone(), move || appended.notify_appended())?;
        let appended = log.clone();
        let reacts = GroupCommit::start(log.db().clone(), move || appended.notify_appended())?;
        Ok(SqlitePostStore {
            log,
            creates,
            reacts,
        })
    }
}

impl SqlitePostStore {
    /// The user whose `column` (a unique one) is `value`.
    async fn read_user(
        &self,
        column: &'static str,
        value: rusqlite::types::Value,
    ) -> Result<Option<User>, StoreError> {
        self.log
            .db()
            .read(move |conn| {
                conn.prepare_cached(&format!(
                    "SELECT user_id, username, created_at FROM users WHERE {column} = ?1"
                ))
                .and_then(|mut s| {
                    s.query_row([value], |r| {
                        Ok(User {
                            user_id: Id(r.get(0)?),
                            username: r.get(1)?,
                            created_at: r.get(2)?,
                        })
                    })
                    .optional()
                })
                .map_err(backend)
            })
            .await
    }
}

#[async_trait]
impl PostStore for SqlitePostStore {
    async fn create_user(
        &self,
        user_id: Id,
        username: &Username,
        subject: &str,
    ) -> Result<User, StoreError> {
        let user = User::new(user_id, username);
        let (row, key, subject) = (user.clone(), username.key(), subject.to_string());
        self.log
            .db()
            .write(move |conn| insert_user(conn, &row, &key, &subject))
            .await?;
        Ok(user)
    }

    async fn create_post(
        &self,
        post: &Post,
        idempotency_key: Option<&str>,
    ) -> Result<Created, StoreError> {
        let post = post.clone();
        let idempotency_key = idempotency_key.map(str::to_string);
        let log = self.log.clone();
        self.creates
            .write(Box::new(move |tx| {
                if let Some(key) = &idempotency_key {
                    let earlier: Option<i64> = tx
                        .query_row(
                            "SELECT post_id FROM idempotency_keys WHERE user_id = ?1 AND key = ?2",
                            params![post.user_id.0, key],
                            |r| r.get(0),
                        )
                        .optional()
                        .map_err(backend)?;
                    if let Some(id) = earlier {
                        let stored = read_post(tx, Id(id))?
                            .ok_or_else(|| StoreError::Backend(format!("post {id} of an idempotency key is gone")))?;
                        return Created::replay(stored, &post);
                    }
                }
                let author: Option<String> = tx
                    .query_row("SELECT username FROM users WHERE user_id = ?1", [post.user_id.0], |r| r.get(0))
                    .optional()
                    .map_err(backend)?;
                let Some(author) = author else {
                    return Err(StoreError::Missing(format!("user {}", post.user_id)));
                };
                tx.execute(
                    "INSERT INTO posts (post_id, user_id, caption, created_at) VALUES (?1, ?2, ?3, ?4)",
                    params![post.post_id.0, post.user_id.0, post.caption, post.created_at],
                )
                .map_err(backend)?;
                for (i, image) in post.images.iter().enumerate() {
                    tx.execute(
                        "INSERT INTO images (image_id, post_id, position, url) VALUES (?1, ?2, ?3, ?4)",
                        params![image.image_id.0, post.post_id.0, i as i64, image.url],
                    )
                    .map_err(backend)?;
                }
                let value = serde_json::to_vec(&post.event(&author))
                    .map_err(|e| StoreError::Backend(format!("encoding event: {e}")))?;
                let key = post.user_id.to_string();
                log.append_in(tx, POSTS_TOPIC, key.as_bytes(), &value)?;
                if let Some(key) = &idempotency_key {
                    tx.execute(
                        "INSERT INTO idempotency_keys (user_id, key, post_id) VALUES (?1, ?2, ?3)",
                        params![post.user_id.0, key, post.post_id.0],
                    )
                    .map_err(backend)?;
                }
                Ok(Created {
                    post,
                    replayed: false,
                    pending: None,
                })
            }))
            .await
    }

    async fn user_by_id(&self, user_id: Id) -> Result<Option<User>, StoreError> {
        self.read_user("user_id", rusqlite::types::Value::Integer(user_id.0))
            .await
    }

    async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.read_user("username_key", rusqlite::types::Value::Text(username.key()))
            .await
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        self.read_user("subject", rusqlite::types::Value::Text(subject.to_string()))
            .await
    }

    async fn get_post(&self, post_id: Id) -> Result<Option<Post>, StoreError> {
        self.log
            .db()
            .read(move |conn| read_post(conn, post_id))
            .await
    }

    async fn recent_posts_by(&self, user_id: Id, limit: usize) -> Result<Vec<TopPost>, StoreError> {
        self.log
            .db()
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT p.post_id, i.url FROM posts p JOIN images i ON i.post_id = p.post_id AND i.position = 0
                         WHERE p.user_id = ?1 ORDER BY p.post_id DESC LIMIT ?2",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![user_id.0, limit as i64], |r| {
                        Ok(TopPost { post_id: Id(r.get(0)?), image_url: r.get(1)? })
                    })
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await
    }

    async fn react(
        &self,
        post_id: Id,
        user_id: Id,
        emoji: &Emoji,
        present: bool,
    ) -> Result<Reacted, StoreError> {
        let (log, emoji) = (self.log.clone(), emoji.clone());
        let changed = self
            .reacts
            .write(Box::new(move |tx| {
                let Some(post) = reacted_post(tx, post_id)? else {
                    return Err(StoreError::Missing(format!("post {post_id}")));
                };
                let sql = match present {
                    true => "INSERT INTO reactions (post_id, user_id, emoji) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING",
                    false => "DELETE FROM reactions WHERE post_id = ?1 AND user_id = ?2 AND emoji = ?3",
                };
                let changed = tx
                    .prepare_cached(sql)
                    .and_then(|mut s| s.execute(params![post_id.0, user_id.0, emoji.as_str()]))
                    .map_err(backend)?
                    > 0;
                if changed {
                    let seq = tx
                        .prepare_cached(
                            "INSERT INTO reaction_seqs (post_id, seq) VALUES (?1, 1)
                             ON CONFLICT (post_id) DO UPDATE SET seq = seq + 1 RETURNING seq",
                        )
                        .and_then(|mut s| s.query_row([post_id.0], |r| r.get(0)))
                        .map_err(backend)?;
                    let event = ReactionEvent::new(post, user_id, emoji, present, seq);
                    let value = serde_json::to_vec(&event)
                        .map_err(|e| StoreError::Backend(format!("encoding event: {e}")))?;
                    log.append_in(tx, REACTIONS_TOPIC, post_id.to_string().as_bytes(), &value)?;
                }
                Ok(changed)
            }))
            .await?;
        Ok(Reacted {
            changed,
            pending: None,
        })
    }

    async fn reactions_by(&self, post_id: Id, user_id: Id) -> Result<Vec<String>, StoreError> {
        self.log
            .db()
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT emoji FROM reactions WHERE post_id = ?1 AND user_id = ?2",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![post_id.0, user_id.0], |r| r.get(0))
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await
    }

    async fn reaction_counts_after(
        &self,
        after: Id,
        limit: usize,
    ) -> Result<Vec<(Id, BTreeMap<String, i64>)>, StoreError> {
        self.log
            .db()
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT post_id, emoji, count(*) FROM reactions
                         WHERE post_id IN (SELECT DISTINCT post_id FROM reactions WHERE post_id > ?1
                                           ORDER BY post_id LIMIT ?2)
                         GROUP BY post_id, emoji ORDER BY post_id",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![after.0, limit as i64], |r| {
                        Ok((Id(r.get(0)?), r.get::<_, String>(1)?, r.get::<_, i64>(2)?))
                    })
                    .map_err(backend)?;
                let rows: Vec<_> = rows.collect::<Result<_, _>>().map_err(backend)?;
                Ok(counts_by_post(rows))
            })
            .await
    }

    async fn captions_after(&self, after: Id, limit: usize) -> Result<Vec<PostText>, StoreError> {
        self.log
            .db()
            .read(move |conn| {
                let mut stmt = conn
                    .prepare_cached(
                        "SELECT p.post_id, u.username, p.caption FROM posts p JOIN users u USING (user_id)
                         WHERE p.post_id > ?1 ORDER BY p.post_id LIMIT ?2",
                    )
                    .map_err(backend)?;
                let rows = stmt
                    .query_map(params![after.0, limit as i64], |r| {
                        Ok(PostText { post_id: Id(r.get(0)?), author: r.get(1)?, caption: r.get(2)? })
                    })
                    .map_err(backend)?;
                rows.collect::<Result<_, _>>().map_err(backend)
            })
            .await
    }
}

#[async_trait]
impl Accounts for SqlitePostStore {
    async fn create_account(
        &self,
        user_id: Id,
        username: &Username,
        password_hash: &str,
    ) -> Result<User, StoreError> {
        let user = User::new(user_id, username);
        let (row, key, hash) = (user.clone(), username.key(), password_hash.to_string());
        self.log
            .db()
            .write(move |conn| {
                let tx = conn.transaction().map_err(backend)?;
                insert_user(&tx, &row, &key, &row.user_id.to_string())?;
                tx.execute(
                    "INSERT INTO credentials (user_id, password_hash) VALUES (?1, ?2)",
                    params![row.user_id.0, hash],
                )
                .map_err(backend)?;
                tx.commit().map_err(backend)
            })
            .await?;
        Ok(user)
    }

    async fn credentials(&self, username: &Username) -> Result<Option<(User, String)>, StoreError> {
        let key = username.key();
        self.log
            .db()
            .read(move |conn| {
                conn.prepare_cached(
                    "SELECT u.user_id, u.username, u.created_at, c.password_hash
                     FROM users u JOIN credentials c USING (user_id) WHERE u.username_key = ?1",
                )
                .and_then(|mut s| {
                    s.query_row([key], |r| {
                        Ok((
                            User {
                                user_id: Id(r.get(0)?),
                                username: r.get(1)?,
                                created_at: r.get(2)?,
                            },
                            r.get(3)?,
                        ))
                    })
                    .optional()
                })
                .map_err(backend)
            })
            .await
    }

    async fn start_session(
        &self,
        sid: &str,
        user_id: Id,
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        let sid = sid.to_string();
        let now = now_ms();
        self.log
            .db()
            .write(move |conn| {
                // At most a sign-in's worth of expired sessions at a time.
                conn.execute(
                    "DELETE FROM sessions WHERE sid IN
                     (SELECT sid FROM sessions WHERE expires_ms <= ?1 LIMIT 100)",
                    [now],
                )
                .map_err(backend)?;
                conn.execute(
                    "INSERT INTO sessions (sid, user_id, expires_ms) VALUES (?1, ?2, ?3)",
                    params![sid, user_id.0, expires_ms],
                )
                .map_err(backend)?;
                Ok(())
            })
            .await
    }

    async fn session_active(&self, sid: &str, now_ms: i64) -> Result<bool, StoreError> {
        let sid = sid.to_string();
        self.log
            .db()
            .read(move |conn| {
                conn.prepare_cached("SELECT 1 FROM sessions WHERE sid = ?1 AND expires_ms > ?2")
                    .and_then(|mut s| s.exists(params![sid, now_ms]))
                    .map_err(backend)
            })
            .await
    }

    async fn end_session(&self, sid: &str) -> Result<(), StoreError> {
        let sid = sid.to_string();
        self.log
            .db()
            .write(move |conn| {
                conn.execute("DELETE FROM sessions WHERE sid = ?1", [sid])
                    .map_err(backend)?;
                Ok(())
            })
            .await
    }
}
