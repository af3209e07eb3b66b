//! Server-rendered pages. Templates are compiled by askama, which escapes
//! every interpolated value, so captions and tags cannot inject markup.
//! No scripts, no external assets: a tag page is one small HTML document
//! whose images load lazily.

use askama::Template;
use bytes::Bytes as Body;
use http::{Response, StatusCode};

use super::response::{html, ApiError};
use hashtag_core::domain::{Post, TagPage, TopPost, User};
use hashtag_core::extract::{extract, tag_key, EntityKind};

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage;

#[derive(Template)]
#[template(path = "tag.html")]
struct TagView<'a> {
    tag: &'a str,
    total_posts: u64,
    posts: &'a [TopPost],
}

/// A piece of a caption: plain text, or a hashtag linking to its page.
struct Segment<'a> {
    text: &'a str,
    tag_key: Option<String>,
}

#[derive(Template)]
#[template(path = "post.html")]
struct PostView<'a> {
    post_id: String,
    user_id: String,
    created_at: &'a str,
    caption: Vec<Segment<'a>>,
    images: Vec<&'a str>,
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessageView<'a> {
    heading: &'a str,
    message: &'a str,
}

fn render<T: Template>(status: StatusCode, page: T) -> Response<Body> {
    match page.render() {
        Ok(body) => html(status, body),
        Err(e) => {
            tracing::error!(error = %e, "template failed");
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "render_failed",
                "page unavailable",
            )
            .into_response()
        }
    }
}

/// The home page.
pub fn home() -> Response<Body> {
    render(StatusCode::OK, HomePage)
}

/// A tag's page.
pub fn tag(page: &TagPage) -> Response<Body> {
    render(
        StatusCode::OK,
        TagView {
            tag: &page.tag,
            total_posts: page.total_posts,
            posts: &page.top_posts,
        },
    )
}

/// The page of a tag no post carries yet (404).
pub fn unknown_tag(name: &str) -> Response<Body> {
    render(
        StatusCode::NOT_FOUND,
        TagView {
            tag: name,
            total_posts: 0,
            posts: &[],
        },
    )
}

fn caption_segments(caption: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    for e in extract(caption)
        .into_iter()
        .filter(|e| e.kind == EntityKind::Hashtag)
    {
        if e.range.start > at {
            out.push(Segment {
                text: &caption[at..e.range.start],
                tag_key: None,
            });
        }
        out.push(Segment {
            text: &caption[e.range.clone()],
            tag_key: Some(tag_key(e.text)),
        });
        at = e.range.end;
    }
    if at < caption.len() {
        out.push(Segment {
            text: &caption[at..],
            tag_key: None,
        });
    }
    out
}

/// A post's page: the caption with linked hashtags, and its images.
pub fn post(post: &Post) -> Response<Body> {
    render(
        StatusCode::OK,
        PostView {
            post_id: post.post_id.to_string(),
            user_id: post.user_id.to_string(),
            created_at: &post.created_at,
            caption: caption_segments(&post.caption),
            images: post.images.iter().map(|i| i.url.as_str()).collect(),
        },
    )
}

/// Confirmation after registering through the home page's form.
pub fn registered(user: &User) -> Response<Body> {
    let message = format!(
        "Welcome, {}. Your user id is {}; use it to post.",
        user.username, user.user_id
    );
    render(
        StatusCode::CREATED,
        MessageView {
            heading: "Registered",
            message: &message,
        },
    )
}

/// An error page for browsers, with the error's status.
pub fn error(e: &ApiError) -> Response<Body> {
    render(
        e.status,
        MessageView {
            heading: "Something is wrong",
            message: &e.message,
        },
    )
}
