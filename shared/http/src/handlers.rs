//! The route handlers. Each takes the [`App`] and a request and always
//! answers: failures become a JSON error (or an HTML error page for browsers).

use bytes::Bytes as Body;
use http::{header, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::account_routes::{signed_in_user, viewer, writer};
use super::pages;
use super::request::{query_param, read_body, wants_html};
use super::response::{json, see_other, with_type, ApiError};
use super::App;
use hashtag_core::domain::now_ms;
use hashtag_core::domain::{Post, Username, MAX_TAG_BYTES};
use hashtag_core::extract::{tag_display, tag_key};
use hashtag_core::ids::Id;
use hashtag_core::mentions::{user_key, Decay, Direction};

use super::history_routes::recent_history;
use super::mention_routes::strongest_now;
use hashtag_core::domain::TagPage;
use hashtag_core::history::{related_tags, DayCount, RelatedTag, PAGE_HISTORY_DAYS};
use hashtag_core::ports::ReadModels;
use hashtag_core::ports::StoreError;
use hashtag_core::trends::Moderation;
use hashtag_core::usecases::{build_post, NewImages, NewPost};

/// Answers an error as JSON, or as an HTML page when a browser asked.
pub(crate) fn error_response(req: &Request<Body>, e: ApiError) -> Response<Body> {
    if wants_html(req) {
        pages::error(&e)
    } else {
        e.into_response()
    }
}

pub(crate) fn finish(
    req: &Request<Body>,
    result: Result<Response<Body>, ApiError>,
) -> Response<Body> {
    result.unwrap_or_else(|e| error_response(req, e))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewPostJson {
    /// Optional: the author is whoever the request's identity is; a
    /// different id here is refused (403).
    #[serde(default)]
    user_id: Option<Id>,
    caption: String,
    #[serde(default)]
    images: Option<Vec<String>>,
    #[serde(default)]
    image_count: Option<u32>,
}

impl NewPostJson {
    /// The post `author` asks for: 403 if the body names someone else.
    fn by(self, author: Id) -> Result<NewPost, ApiError> {
        if self.user_id.is_some_and(|id| id != author) {
            return Err(ApiError::new(
                StatusCode::FORBIDDEN,
                "wrong_user",
                "user_id is not the signed-in user's: posts are published as whoever signs the request",
            ));
        }
        let images = match (self.images, self.image_count) {
            (Some(urls), _) => NewImages::Urls(urls),
            (None, n) => NewImages::Count(n.unwrap_or(1)),
        };
        Ok(NewPost {
            user_id: author,
            caption: self.caption,
            images,
        })
    }
}

/// The original form: `user_id` (optional, as in JSON), `caption`,
/// `image_count`; `images` may list URLs separated by whitespace; `csrf`,
/// the page's token.
#[derive(Deserialize)]
struct NewPostForm {
    #[serde(default)]
    user_id: Option<Id>,
    caption: String,
    #[serde(default)]
    image_count: Option<u32>,
    #[serde(default)]
    images: Option<String>,
}

impl From<NewPostForm> for NewPostJson {
    fn from(f: NewPostForm) -> Self {
        let urls: Option<Vec<String>> = f
            .images
            .map(|s| s.split_whitespace().map(String::from).collect::<Vec<_>>())
            .filter(|v| !v.is_empty());
        NewPostJson {
            user_id: f.user_id,
            caption: f.caption,
            images: urls,
            image_count: f.image_count,
        }
    }
}

/// A created post as answered: the post and what its caption carries.
#[derive(Serialize)]
struct CreatedPost<'a> {
    #[serde(flatten)]
    post: &'a Post,
    hashtags: &'a [String],
    mentions: &'a [String],
}

/// Longest `Idempotency-Key` accepted (a UUID is 36).
const MAX_IDEMPOTENCY_KEY: usize = 255;

/// The request's `Idempotency-Key`: 1 to 255 visible ASCII characters.
fn idempotency_key(req: &Request<Body>) -> Result<Option<&str>, ApiError> {
    let Some(value) = req.headers().get("idempotency-key") else {
        return Ok(None);
    };
    match value.to_str() {
        Ok(key)
            if !key.is_empty()
                && key.len() <= MAX_IDEMPOTENCY_KEY
                && key.bytes().all(|b| b.is_ascii_graphic()) =>
        {
            Ok(Some(key))
        }
        _ => Err(ApiError::bad_request(
            "invalid_idempotency_key",
            format!("Idempotency-Key must be 1 to {MAX_IDEMPOTENCY_KEY} visible ASCII characters"),
        )),
    }
}

/// `POST /posts` (JSON or form) and the original `POST /create_post` (form):
/// takes the author from the request's identity, validates, stores the
/// post and its event in one transaction, answers 201.
/// A retry with the same `Idempotency-Key` creates nothing and answers the
/// first post again, with `Idempotent-Replayed: true`.
pub async fn create_post(app: &App, req: Request<Body>) -> Response<Body> {
    let result = async {
        let author = writer(app, &req).await?;
        let key = idempotency_key(&req)?;
        let input: NewPostJson =
            read_body::<_, NewPostJson, NewPostForm>(&req, app.max_body_bytes)?;
        let built = build_post(&app.ids, input.by(author.user_id)?)?;
        let post = &built.post;
        let created = app
            .posts
            .create_post(post, key)
            .await
            .map_err(|e| match e {
                StoreError::Missing(_) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "unknown_user",
                    format!("no user has id {}", post.user_id),
                ),
                StoreError::Conflict(_) => ApiError::new(
                    StatusCode::UNPROCESSABLE_ENTITY,
                    "idempotency_key_reused",
                    "this Idempotency-Key was already used for a different post",
                ),
                other => other.into(),
            })?;
        let post = created.post;
        if wants_html(&req) {
            return Ok(see_other(&format!("/posts/{}", post.post_id)));
        }
        let body = CreatedPost {
            post: &post,
            hashtags: &built.hashtags,
            mentions: &built.mentions,
        };
        let mut res = json(StatusCode::CREATED, &body);
        if let Ok(v) = header::HeaderValue::from_str(&format!("/posts/{}", post.post_id)) {
            res.headers_mut().insert(header::LOCATION, v);
        }
        if created.replayed {
            res.headers_mut().insert(
                "idempotent-replayed",
                header::HeaderValue::from_static("true"),
            );
        }
        Ok(res)
    }
    .await;
    finish(&req, result)
}

/// `GET /posts/{id}`: the post as JSON, or its page for browsers.
pub async fn get_post(app: &App, req: &Request<Body>, raw_id: &str) -> Response<Body> {
    let result = async {
        let id: Id = raw_id
            .parse()
            .map_err(|_| ApiError::not_found(format!("no post has id {raw_id}")))?;
        let post = app
            .posts
            .get_post(id)
            .await?
            .ok_or_else(|| ApiError::not_found(format!("no post has id {id}")))?;
        Ok(if wants_html(req) {
            let author = app.posts.user_by_id(post.user_id).await?;
            let counts = app.hashtags()?.reactions(id).await?.shown();
            let mine = match signed_in_user(app, req).await? {
                Some(user) => app.posts.reactions_by(id, user.user_id).await?,
                None => Vec::new(),
            };
            pages::post(
                &post,
                author.as_ref(),
                &pages::reaction_buttons(&counts, &mine),
                &viewer(app, req).await?,
            )
        } else {
            json(StatusCode::OK, &post)
        })
    }
    .await;
    finish(req, result)
}

/// Edges listed each way on a user page.
const USER_PAGE_EDGES: usize = 10;
/// The user's newest posts on their page.
const USER_PAGE_POSTS: usize = 24;

/// `GET /users/{name}`: a user (as JSON, or their page for browsers, with
/// their newest posts, whom they mention most and who mentions them most),
/// found in any casing; 404 for a name nobody registered.
pub async fn user_page(app: &App, req: &Request<Body>, name: &str) -> Response<Body> {
    let result = async {
        let unknown = || ApiError::not_found(format!("no user is named {name}"));
        let username = Username::parse(name).map_err(|_| unknown())?;
        let user = app
            .posts
            .user_by_name(&username)
            .await?
            .ok_or_else(unknown)?;
        Ok(if wants_html(req) {
            let decay = Decay::configured();
            let now = now_ms();
            let key = user_key(&user.username);
            let graph = app.hashtags()?;
            let out = strongest_now(graph, &key, Direction::Out, USER_PAGE_EDGES, now).await?;
            let incoming = strongest_now(graph, &key, Direction::In, USER_PAGE_EDGES, now).await?;
            let posts = app
                .posts
                .recent_posts_by(user.user_id, USER_PAGE_POSTS)
                .await?;
            let viewer = viewer(app, req).await?;
            pages::user(
                &user,
                &posts,
                (&out, &incoming),
                decay.half_life_days(),
                &viewer,
            )
        } else {
            json(StatusCode::OK, &user)
        })
    }
    .await;
    finish(req, result)
}

/// The key of a tag named in a request, or the 400 that says why not.
pub(crate) fn valid_tag_key(name: &str) -> Result<String, ApiError> {
    let key = tag_key(name);
    if key.is_empty() || key.len() > MAX_TAG_BYTES {
        return Err(ApiError::bad_request(
            "invalid_tag",
            format!("a tag name of 1 to {MAX_TAG_BYTES} bytes (once normalised) is required"),
        ));
    }
    Ok(key)
}

/// Whether `moderated` (what [`ReadModels::moderated`] answered) bans `key`.
fn is_banned(moderated: &[(String, Moderation)], key: &str) -> bool {
    moderated
        .iter()
        .any(|(k, m)| k == key && *m == Moderation::Banned)
}

/// The 410 Gone of a banned tag, for its page and its history alike.
fn gone_unless_listed(moderated: &[(String, Moderation)], key: &str) -> Result<(), ApiError> {
    match is_banned(moderated, key) {
        true => Err(ApiError::new(
            StatusCode::GONE,
            "tag_banned",
            format!("#{key} is not available"),
        )),
        false => Ok(()),
    }
}

/// `Ok` unless operators banned the tag (then 410 Gone).
pub(crate) async fn unless_banned(store: &dyn ReadModels, key: &str) -> Result<(), ApiError> {
    gone_unless_listed(&store.moderated(&[key.to_string()]).await?, key)
}

/// A tag page's two views, as Instagram's: the ranking, and the newest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum View {
    /// The popularity ranking (the newest until the tag is ranked).
    Top,
    /// The newest posts.
    Recent,
}

impl View {
    /// The `view` query parameter (`top` if absent), or 400.
    fn of(req: &Request<Body>) -> Result<View, ApiError> {
        match query_param(req, "view").as_deref() {
            None | Some("top") => Ok(View::Top),
            Some("recent") => Ok(View::Recent),
            Some(_) => Err(ApiError::bad_request(
                "invalid_view",
                "view must be top or recent",
            )),
        }
    }
}

/// A tag page as JSON: the precomputed document in the view asked for,
/// its last days and the tags seen with it.
#[derive(Serialize)]
struct TagPageJson {
    #[serde(flatten)]
    page: TagPage,
    /// Which list `top_posts` holds.
    view: View,
    /// The last [`PAGE_HISTORY_DAYS`] days, newest first.
    history: Vec<DayCount>,
    /// The tags most often seen with it over those days, banned ones left
    /// out.
    related: Vec<RelatedTag>,
}

/// Related tags a tag page lists.
const RELATED_SHOWN: usize = 10;

/// `GET /tags/{name}` and the original `POST /hashtag_summary`: the tag page,
/// one read of the precomputed document beside one of its last 7 days,
/// then one of the operators' decisions on the tag and its related tags.
pub async fn tag_page(app: &App, req: &Request<Body>, name: &str) -> Response<Body> {
    let result = async {
        let key = valid_tag_key(name)?;
        let view = View::of(req)?;
        let store = app.hashtags()?;
        let (page, (history, mut related, moderated)) = futures_util::future::try_join(
            async { store.page(&key).await.map_err(ApiError::from) },
            async {
                let history = recent_history(store, &key, PAGE_HISTORY_DAYS).await?;
                let related = related_tags(&history.rows, RELATED_SHOWN);
                let keys: Vec<String> = std::iter::once(key.clone())
                    .chain(related.iter().map(|r| r.tag.clone()))
                    .collect();
                let moderated = store.moderated(&keys).await?;
                Ok::<_, ApiError>((history, related, moderated))
            },
        )
        .await?;
        gone_unless_listed(&moderated, &key)?;
        related.retain(|r| !is_banned(&moderated, &r.tag));
        let history = history.days;
        let page = page.map(|mut page| {
            if view == View::Recent {
                page.top_posts = std::mem::take(&mut page.recent_posts);
            }
            page
        });
        match page {
            Some(page) if wants_html(req) => Ok(pages::tag(
                &page,
                view,
                (&history, &related),
                &viewer(app, req).await?,
            )),
            Some(page) => Ok(json(
                StatusCode::OK,
                &TagPageJson {
                    page,
                    view,
                    history,
                    related,
                },
            )),
            None if wants_html(req) => Ok(pages::unknown_tag(
                tag_display(name),
                &viewer(app, req).await?,
            )),
            None => Err(ApiError::not_found(format!("no post carries #{key} yet"))),
        }
    }
    .await;
    finish(req, result)
}

#[derive(Deserialize)]
struct SummaryForm {
    hashtag: String,
}

/// `POST /hashtag_summary` with form field `hashtag` (the original API).
pub async fn hashtag_summary(app: &App, req: &Request<Body>) -> Response<Body> {
    match read_body::<SummaryForm, SummaryForm, SummaryForm>(req, app.max_body_bytes) {
        Ok(form) => tag_page(app, req, &form.hashtag).await,
        Err(e) => error_response(req, e),
    }
}

/// `GET /tags?name=x`, the home page's lookup form: redirects to `/tags/x`.
pub fn tag_lookup(req: &Request<Body>) -> Response<Body> {
    match query_param(req, "name").map(|n| tag_key(&n)) {
        Some(key) if !key.is_empty() => see_other(&pages::tag_path(&key)),
        _ => error_response(
            req,
            ApiError::bad_request("invalid_tag", "query parameter name is required"),
        ),
    }
}

/// `GET /images/{id}.svg`: a placeholder image for posts created with
/// `image_count`, coloured from the id, so pages render without a CDN.
pub fn placeholder_image(req: &Request<Body>, file: &str) -> Response<Body> {
    let Some(id) = file.strip_suffix(".svg").and_then(|s| s.parse::<Id>().ok()) else {
        return error_response(req, ApiError::not_found("no such image"));
    };
    let hue = (id.0 as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15) % 360;
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"320\" height=\"320\"><rect width=\"320\" height=\"320\" fill=\"hsl({hue},60%,55%)\"/></svg>"
    );
    let mut res = with_type(StatusCode::OK, "image/svg+xml", Body::from(svg));
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=31536000, immutable"),
    );
    res
}

/// `GET /favicon.ico`: the service's icon (a `#`), which browsers ask for
/// on every site; an SVG, which they accept under that name.
pub fn favicon() -> Response<Body> {
    let svg = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 32 32\"><rect width=\"32\" height=\"32\" rx=\"6\" fill=\"#0b5cad\"/><text x=\"16\" y=\"24\" font-family=\"sans-serif\" font-size=\"22\" font-weight=\"bold\" text-anchor=\"middle\" fill=\"#fff\">#</text></svg>";
    let mut res = with_type(
        StatusCode::OK,
        "image/svg+xml",
        Body::from_static(svg.as_bytes()),
    );
    res.headers_mut().insert(
        header::CACHE_CONTROL,
        header::HeaderValue::from_static("public, max-age=86400"),
    );
    res
}

/// No route matches.
pub fn not_found(req: &Request<Body>) -> Response<Body> {
    error_response(
        req,
        ApiError::not_found(format!("no route for {}", req.uri().path())),
    )
}
