//! The use cases that own the service's sequences, over the ports. The
//! consumers' use cases (count a batch, apply a ranking) are in
//! [`crate::consumer`], and `reconcile` in [`crate::reconcile`].

use std::sync::Arc;

use async_trait::async_trait;
use futures_util::{stream, StreamExt, TryStreamExt};
use serde::Serialize;

use crate::domain::{
    rfc3339_ms, validate_caption, validate_image_url, Image, Invalid, Post, TopPost, User,
    Username, MAX_IMAGES,
};
use crate::ids::{id_time_ms, Id, IdGenerator};
use crate::ports::{
    Created, EventPublisher, Outbox, OutboxEvent, PostStore, PostText, Reacted, StoreError,
};
use crate::reactions::Emoji;
use std::collections::BTreeMap;

/// Why a registration was refused.
#[derive(Debug)]
pub enum Refused {
    /// The username is taken in some casing.
    NameTaken,
    /// The identity already has this user: one username per identity.
    AlreadyRegistered(User),
    /// The store failed.
    Store(StoreError),
}

impl From<StoreError> for Refused {
    fn from(e: StoreError) -> Self {
        Refused::Store(e)
    }
}

/// Registers `username` under a new id for the identity `subject` (the
/// verified `sub` of a Cognito token). Refused if the name is taken in any
/// casing or the identity already registered a name.
pub async fn register(
    posts: &dyn PostStore,
    ids: &IdGenerator,
    username: &Username,
    subject: &str,
) -> Result<User, Refused> {
    match posts.create_user(ids.next_id(), username, subject).await {
        Ok(user) => Ok(user),
        Err(StoreError::Conflict(_)) => match posts.user_by_subject(subject).await? {
            Some(user) => Err(Refused::AlreadyRegistered(user)),
            None => Err(Refused::NameTaken),
        },
        Err(e) => Err(e.into()),
    }
}

/// How a client gave a new post's images.
pub enum NewImages {
    /// Image URLs, each checked by [`validate_image_url`].
    Urls(Vec<String>),
    /// This many generated placeholder images.
    Count(u32),
}

/// A post as a client asks for it.
pub struct NewPost {
    /// The author.
    pub user_id: Id,
    /// The caption as written.
    pub caption: String,
    /// Its images.
    pub images: NewImages,
}

/// A checked new post, ready to store, with what its caption carries.
pub struct BuiltPost {
    /// The post, its images and itself given their ids.
    pub post: Post,
    /// Its hashtags as written, in text order (the response lists them).
    pub hashtags: Vec<String>,
    /// Its mentions as written, in text order.
    pub mentions: Vec<String>,
}

/// Checks a new post and gives it and its images their ids. The caption is
/// extracted once, here: the response reuses what the rules found.
pub fn build_post(ids: &IdGenerator, input: NewPost) -> Result<BuiltPost, Invalid> {
    let caption = validate_caption(&input.caption)?;
    let hashtags = caption.hashtags.iter().map(|t| t.to_string()).collect();
    let mentions = caption.mentions.iter().map(|m| m.to_string()).collect();
    let too_many = || Invalid {
        code: "invalid_images",
        message: format!("a post has 1 to {MAX_IMAGES} images"),
    };
    let images: Vec<Image> = match input.images {
        NewImages::Urls(urls) => {
            if urls.is_empty() || urls.len() > MAX_IMAGES {
                return Err(too_many());
            }
            urls.into_iter()
                .map(|url| {
                    validate_image_url(&url)?;
                    Ok(Image {
                        image_id: ids.next_id(),
                        url,
                    })
                })
                .collect::<Result<_, Invalid>>()?
        }
        NewImages::Count(n) => {
            if n == 0 || n as usize > MAX_IMAGES {
                return Err(too_many());
            }
            (0..n)
                .map(|_| {
                    let image_id = ids.next_id();
                    Image {
                        image_id,
                        url: format!("/images/{image_id}.svg"),
                    }
                })
                .collect()
        }
    };
    let post_id = ids.next_id();
    let post = Post {
        post_id,
        user_id: input.user_id,
        caption: input.caption,
        images,
        created_at: rfc3339_ms(id_time_ms(post_id) as i64),
    };
    Ok(BuiltPost {
        post,
        hashtags,
        mentions,
    })
}

/// A post store whose stored events are published right after commit:
/// store the post with its event (one transaction), publish the event,
/// mark it published. If publication fails the post is still stored and its
/// event waits in the outbox for [`relay_outbox`]. A post store of its own,
/// so every caller of [`PostStore::create_post`] (the handlers, the tests,
/// the load tools) runs the same sequence.
pub struct PublishingPosts<S> {
    store: Arc<S>,
    publisher: Arc<dyn EventPublisher>,
}

impl<S> PublishingPosts<S> {
    /// `store`'s posts, published through `publisher`.
    pub fn new(store: Arc<S>, publisher: Arc<dyn EventPublisher>) -> Self {
        PublishingPosts { store, publisher }
    }
}

impl<S: Outbox> PublishingPosts<S> {
    /// Publishes a committed event and marks it published; if either
    /// fails, the event stays in the outbox for the relay.
    async fn publish_now(&self, event: &OutboxEvent) {
        let published = async {
            self.publisher
                .publish(&event.topic, event.key.as_bytes(), event.value.as_bytes())
                .await?;
            self.store.mark_published(&[event.event_id]).await
        };
        if let Err(e) = published.await {
            tracing::warn!(event_id = event.event_id, error = %e, "event not published yet");
        }
    }
}

#[async_trait]
impl<S: PostStore + Outbox> PostStore for PublishingPosts<S> {
    async fn create_user(
        &self,
        user_id: Id,
        username: &Username,
        subject: &str,
    ) -> Result<User, StoreError> {
        self.store.create_user(user_id, username, subject).await
    }

    async fn create_post(
        &self,
        post: &Post,
        idempotency_key: Option<&str>,
    ) -> Result<Created, StoreError> {
        let created = self.store.create_post(post, idempotency_key).await?;
        if let Some(event) = &created.pending {
            self.publish_now(event).await;
        }
        Ok(created)
    }

    async fn react(
        &self,
        post_id: Id,
        user_id: Id,
        emoji: &Emoji,
        present: bool,
    ) -> Result<Reacted, StoreError> {
        let reacted = self.store.react(post_id, user_id, emoji, present).await?;
        if let Some(event) = &reacted.pending {
            self.publish_now(event).await;
        }
        Ok(reacted)
    }

    async fn reactions_by(&self, post_id: Id, user_id: Id) -> Result<Vec<String>, StoreError> {
        self.store.reactions_by(post_id, user_id).await
    }

    async fn reaction_counts_after(
        &self,
        after: Id,
        limit: usize,
    ) -> Result<Vec<(Id, BTreeMap<String, i64>)>, StoreError> {
        self.store.reaction_counts_after(after, limit).await
    }

    async fn get_post(&self, post_id: Id) -> Result<Option<Post>, StoreError> {
        self.store.get_post(post_id).await
    }

    async fn user_by_id(&self, user_id: Id) -> Result<Option<User>, StoreError> {
        self.store.user_by_id(user_id).await
    }

    async fn user_by_name(&self, username: &Username) -> Result<Option<User>, StoreError> {
        self.store.user_by_name(username).await
    }

    async fn user_by_subject(&self, subject: &str) -> Result<Option<User>, StoreError> {
        self.store.user_by_subject(subject).await
    }

    async fn recent_posts_by(&self, user_id: Id, limit: usize) -> Result<Vec<TopPost>, StoreError> {
        self.store.recent_posts_by(user_id, limit).await
    }

    async fn captions_after(&self, after: Id, limit: usize) -> Result<Vec<PostText>, StoreError> {
        self.store.captions_after(after, limit).await
    }
}

/// How old an outbox event must be before the relay publishes it: younger
/// ones are still being published by the request that stored them.
pub const RELAY_MIN_AGE_SECONDS: i64 = 10;
/// Events the relay publishes per round (one lock, one mark).
pub const RELAY_ROUND: usize = 100;

/// Publications in flight at once while relaying.
const RELAY_CONCURRENCY: usize = 16;

/// What one run of the relay did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct Relayed {
    /// Events published.
    pub published: usize,
    /// Events still waiting afterwards (younger than the minimum age, or
    /// stored meanwhile).
    pub waiting: i64,
}

/// Publishes the events left in `outbox` that are at least
/// `min_age_seconds` old (their creator could not publish them: Kafka down,
/// or the process stopped between commit and publication). Each round
/// locks up to [`RELAY_ROUND`] events, so concurrent relays share the work
/// instead of publishing the same events, publishes them and marks them
/// published; a failed publication releases the round for a later run.
///
/// A relay that dies after publishing but before marking, or a creator
/// whose publication succeeded but whose mark failed, leaves an event that
/// is published again: the consumer's post claims
/// ([`crate::ports::TagCounter::claim_posts`]) count it once.
pub async fn relay_outbox(
    outbox: &dyn Outbox,
    publisher: &dyn EventPublisher,
    min_age_seconds: i64,
) -> Result<Relayed, StoreError> {
    let mut published = 0;
    loop {
        let round = outbox
            .lock_unpublished(min_age_seconds, RELAY_ROUND)
            .await?;
        let n = round.events.len();
        // Collected first: a lazy iterator of futures borrowing the round
        // would not be provably `Send` for every lifetime.
        let sends: Vec<_> = round
            .events
            .iter()
            .map(|e| publisher.publish(&e.topic, e.key.as_bytes(), e.value.as_bytes()))
            .collect();
        let sent = stream::iter(sends)
            .buffer_unordered(RELAY_CONCURRENCY)
            .try_for_each(|()| async { Ok(()) });
        if let Err(e) = sent.await {
            outbox.release(round).await;
            return Err(e);
        }
        outbox.complete(round).await?;
        published += n;
        if n < RELAY_ROUND {
            let waiting = outbox.backlog().await?;
            return Ok(Relayed { published, waiting });
        }
    }
}
