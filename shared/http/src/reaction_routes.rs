//! Reactions over HTTP: `POST /posts/{id}/reactions` (JSON, or the post
//! page's buttons), `DELETE /posts/{id}/reactions/{emoji}`, and the counts
//! the reaction consumer keeps, `GET /posts/{id}/reactions`. The API
//! answers as soon as the reaction set changed; the counts follow through
//! the reactions topic.

use std::collections::BTreeMap;

use bytes::Bytes as Body;
use http::{Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::account_routes::writer;
use super::handlers::finish;
use super::request::{is_form, read_body, wants_html};
use super::response::{json, see_other, ApiError};
use super::App;
use hashtag_core::ids::Id;
use hashtag_core::ports::StoreError;
use hashtag_core::reactions::Emoji;

/// A post id from the path, or 404 (no post has an id that is no number).
fn post_id(raw: &str) -> Result<Id, ApiError> {
    raw.parse()
        .map_err(|_| ApiError::not_found(format!("no post has id {raw}")))
}

/// A reaction as sent: the emoji, and from the post page's buttons
/// whether it takes the reaction back.
#[derive(Deserialize)]
struct ReactionInput {
    emoji: String,
    #[serde(default)]
    remove: Option<String>,
}

/// What a reaction change answers a JSON client.
#[derive(Serialize)]
struct ReactionAnswer<'a> {
    post_id: Id,
    emoji: &'a str,
    /// Whether the user now reacts with it.
    reacted: bool,
    /// Whether this request changed anything (a repeat does not).
    changed: bool,
}

/// Adds or removes the signed-in user's reaction; 404 for a post that
/// does not exist.
async fn set_reaction(
    app: &App,
    req: &Request<Body>,
    raw_post: &str,
    emoji: &str,
    present: bool,
) -> Result<(Id, Emoji, bool), ApiError> {
    let user = writer(app, req).await?;
    let post = post_id(raw_post)?;
    let emoji = Emoji::parse(emoji)?;
    let reacted = app
        .posts
        .react(post, user.user_id, &emoji, present)
        .await
        .map_err(|e| match e {
            StoreError::Missing(_) => ApiError::not_found(format!("no post has id {post}")),
            other => other.into(),
        })?;
    Ok((post, emoji, reacted.changed))
}

/// `POST /posts/{id}/reactions` {emoji}: reacts as the signed-in user
/// (201 when added, 200 when it already was); the post page's buttons
/// send a form (with `remove` to take a reaction back) and are redirected
/// to the post.
pub async fn react(app: &App, req: Request<Body>, raw_post: &str) -> Response<Body> {
    let result = async {
        let input: ReactionInput =
            read_body::<_, ReactionInput, ReactionInput>(&req, app.max_body_bytes)?;
        let present = input.remove.is_none();
        let (post, emoji, changed) =
            set_reaction(app, &req, raw_post, &input.emoji, present).await?;
        if wants_html(&req) || is_form(&req) {
            return Ok(see_other(&format!("/posts/{post}")));
        }
        let status = match changed && present {
            true => StatusCode::CREATED,
            false => StatusCode::OK,
        };
        Ok(json(
            status,
            &ReactionAnswer {
                post_id: post,
                emoji: emoji.as_str(),
                reacted: present,
                changed,
            },
        ))
    }
    .await;
    finish(&req, result)
}

/// `DELETE /posts/{id}/reactions/{emoji}`: takes the signed-in user's
/// reaction back; 204 whether or not there was one.
pub async fn unreact(app: &App, req: Request<Body>, raw_post: &str, emoji: &str) -> Response<Body> {
    let result = async {
        set_reaction(app, &req, raw_post, emoji, false).await?;
        let mut res = Response::new(Body::new());
        *res.status_mut() = StatusCode::NO_CONTENT;
        Ok(res)
    }
    .await;
    finish(&req, result)
}

/// A post's counts as answered.
#[derive(Serialize)]
struct Counts {
    post_id: Id,
    total: i64,
    counts: BTreeMap<String, i64>,
}

/// `GET /posts/{id}/reactions`: the post's reaction counts per emoji, as
/// the reaction consumer has counted them so far (empty for a post nobody
/// reacted to, or one that does not exist).
pub async fn post_reactions(app: &App, req: &Request<Body>, raw_post: &str) -> Response<Body> {
    let result = async {
        let post = post_id(raw_post)?;
        let counts = app.hashtags()?.reactions(post).await?.shown();
        Ok(json(
            StatusCode::OK,
            &Counts {
                post_id: post,
                total: counts.values().sum(),
                counts,
            },
        ))
    }
    .await;
    finish(req, result)
}
