//! Server-rendered pages. Templates are compiled by askama, which escapes
//! every interpolated value, so captions and tags cannot inject markup.
//! No scripts, no external assets: a tag page is one small HTML document
//! whose images load lazily.

use std::collections::BTreeMap;

use askama::Template;
use bytes::Bytes as Body;
use http::{Response, StatusCode};

use super::auth::password::{MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use super::handlers::View;
use super::response::{html, ApiError};
use hashtag_core::domain::{Post, TagPage, TopPost, User};
use hashtag_core::extract::{extract, tag_key, EntityKind};
use hashtag_core::history::{DayCount, RelatedTag};
use hashtag_core::mentions::WeightedEdge;
use hashtag_core::trends::TrendingTag;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};

/// Who looks at a page, as its header says.
pub enum Viewer {
    /// Not known: error pages, and pages on AWS, where Cognito signs
    /// people in through the client, not through these pages.
    Unknown,
    /// A browser not signed in to `hashtag serve`.
    SignedOut,
    /// Signed in.
    SignedIn {
        /// The username.
        username: String,
        /// The CSRF token the page's forms carry.
        csrf: String,
    },
}

impl Viewer {
    /// The signed-in username and their page.
    fn signed_in(&self) -> Option<(&str, String)> {
        match self {
            Viewer::SignedIn { username, .. } => Some((username, user_path(username))),
            _ => None,
        }
    }

    /// The CSRF token of the page's forms (empty when not signed in).
    fn csrf(&self) -> &str {
        match self {
            Viewer::SignedIn { csrf, .. } => csrf,
            _ => "",
        }
    }

    /// Whether the page offers to sign in.
    fn can_sign_in(&self) -> bool {
        matches!(self, Viewer::SignedOut)
    }
}

#[derive(Template)]
#[template(path = "home.html")]
struct HomePage<'a> {
    trends: Vec<TrendLine>,
    viewer: &'a Viewer,
}

#[derive(Template)]
#[template(path = "signin.html")]
struct SignInPage<'a> {
    csrf: &'a str,
    min_password: usize,
    max_password: usize,
    viewer: &'a Viewer,
}

/// A trending tag on the home page.
struct TrendLine {
    tag: String,
    path: String,
    spark: Sparkline,
    /// Today's posts and distinct authors.
    uses: u64,
    accounts: u64,
}

#[derive(Template)]
#[template(path = "tag.html")]
struct TagView<'a> {
    tag: &'a str,
    /// The page's own path, which the view tabs extend.
    path: String,
    /// Whether the Recent view is shown (else Top).
    recent: bool,
    /// Whether more posts carry the tag than the page shows.
    partial: bool,
    total_posts: u64,
    posts: &'a [TopPost],
    /// The last days' uses, if the tag has any.
    spark: Option<Sparkline>,
    /// Tags seen with it, with their pages.
    related: Vec<(String, String)>,
    viewer: &'a Viewer,
}

/// Width and height of a sparkline, in CSS pixels.
const SPARK_WIDTH: f64 = 112.0;
const SPARK_HEIGHT: f64 = 24.0;

/// Daily uses drawn as an SVG polyline (no script, no image request).
pub(crate) struct Sparkline {
    /// The polyline's points, oldest day first.
    points: String,
    /// The values in words, for screen readers.
    label: String,
    /// Posts over the days drawn.
    total: u64,
    days: usize,
}

impl Sparkline {
    /// The sparkline of `days` (newest first, as the API lists them).
    fn of(days: &[DayCount]) -> Sparkline {
        let values: Vec<u64> = days.iter().rev().map(|d| d.uses).collect();
        let max = values.iter().copied().max().unwrap_or(0).max(1) as f64;
        let step = SPARK_WIDTH / (values.len().max(2) - 1) as f64;
        let points = values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let y = SPARK_HEIGHT - 2.0 - (SPARK_HEIGHT - 4.0) * *v as f64 / max;
                format!("{:.1},{y:.1}", i as f64 * step)
            })
            .collect::<Vec<_>>()
            .join(" ");
        let label = days
            .iter()
            .rev()
            .map(|d| format!("{} {}", d.day, d.uses))
            .collect::<Vec<_>>()
            .join(", ");
        Sparkline {
            points,
            label,
            total: values.iter().sum(),
            days: values.len(),
        }
    }
}

/// A piece of a caption: plain text, or a hashtag or mention linking to
/// its page.
struct Segment<'a> {
    text: &'a str,
    link: Option<String>,
}

/// A user's page, where a mention or a post's author links.
pub(super) fn user_path(name: &str) -> String {
    format!("/users/{}", utf8_percent_encode(name, NON_ALPHANUMERIC))
}

/// The page of the tag with normalised key `key`.
pub(super) fn tag_path(key: &str) -> String {
    format!("/tags/{}", utf8_percent_encode(key, NON_ALPHANUMERIC))
}

#[derive(Template)]
#[template(path = "post.html")]
struct PostView<'a> {
    post_id: String,
    /// The author's name, or their id if the account is gone.
    author: String,
    author_link: Option<String>,
    created_at: &'a str,
    created: String,
    caption: Vec<Segment<'a>>,
    images: Vec<&'a str>,
    reactions: &'a [ReactionButton],
    viewer: &'a Viewer,
}

/// The reactions a post page offers first, before any was used.
pub const OFFERED_REACTIONS: [&str; 6] = ["👍", "❤\u{fe0f}", "😂", "😮", "😢", "🔥"];

/// A reaction on a post page: its emoji, how many used it, and whether
/// the viewer did (the button then takes it back).
pub struct ReactionButton {
    emoji: String,
    count: i64,
    mine: bool,
}

/// The buttons of a post page: the offered reactions, then any other
/// emoji people used, most used first.
pub fn reaction_buttons(counts: &BTreeMap<String, i64>, mine: &[String]) -> Vec<ReactionButton> {
    let button = |emoji: &str| ReactionButton {
        emoji: emoji.to_string(),
        count: counts.get(emoji).copied().unwrap_or(0),
        mine: mine.iter().any(|m| m == emoji),
    };
    let mut others: Vec<(&String, &i64)> = counts
        .iter()
        .filter(|(e, _)| !OFFERED_REACTIONS.contains(&e.as_str()))
        .collect();
    others.sort_by_key(|(e, n)| (std::cmp::Reverse(**n), *e));
    OFFERED_REACTIONS
        .iter()
        .map(|e| button(e))
        .chain(others.into_iter().map(|(e, _)| button(e)))
        .collect()
}

#[derive(Template)]
#[template(path = "message.html")]
struct MessageView<'a> {
    heading: &'a str,
    message: &'a str,
    /// Whether to link the sign-in page (the error is that nobody is).
    sign_in: bool,
    viewer: &'a Viewer,
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

/// The sign-in page: sign in, or register, with the CSRF token bound to
/// the browser's cookie.
pub fn sign_in(csrf: &str, viewer: &Viewer) -> Response<Body> {
    render(
        StatusCode::OK,
        SignInPage {
            csrf,
            min_password: MIN_PASSWORD_CHARS,
            max_password: MAX_PASSWORD_CHARS,
            viewer,
        },
    )
}

/// The home page.
pub fn home(trending: &[TrendingTag], viewer: &Viewer) -> Response<Body> {
    let trends = trending
        .iter()
        .map(|t| TrendLine {
            path: tag_path(&t.tag),
            tag: t.tag.clone(),
            spark: Sparkline::of(&t.history),
            uses: t.history.first().map_or(0, |d| d.uses),
            accounts: t.history.first().map_or(0, |d| d.accounts),
        })
        .collect();
    render(StatusCode::OK, HomePage { trends, viewer })
}

/// A tag's page.
pub fn tag(
    page: &TagPage,
    view: View,
    (history, related): (&[DayCount], &[RelatedTag]),
    viewer: &Viewer,
) -> Response<Body> {
    render(
        StatusCode::OK,
        TagView {
            tag: &page.tag,
            path: tag_path(&tag_key(&page.tag)),
            recent: view == View::Recent,
            partial: !page.top_posts.is_empty() && page.total_posts > page.top_posts.len() as u64,
            total_posts: page.total_posts,
            posts: &page.top_posts,
            spark: Some(Sparkline::of(history)),
            related: related
                .iter()
                .map(|r| (r.tag.clone(), tag_path(&r.tag)))
                .collect(),
            viewer,
        },
    )
}

/// The page of a tag no post carries yet (404).
pub fn unknown_tag(name: &str, viewer: &Viewer) -> Response<Body> {
    render(
        StatusCode::NOT_FOUND,
        TagView {
            tag: name,
            path: tag_path(&tag_key(name)),
            recent: false,
            partial: false,
            total_posts: 0,
            posts: &[],
            spark: None,
            related: Vec::new(),
            viewer,
        },
    )
}

fn caption_segments(caption: &str) -> Vec<Segment<'_>> {
    let mut out = Vec::new();
    let mut at = 0;
    for e in extract(caption) {
        let link = match e.kind {
            EntityKind::Hashtag => tag_path(&tag_key(e.text)),
            EntityKind::Mention => user_path(e.text),
        };
        if e.range.start > at {
            out.push(Segment {
                text: &caption[at..e.range.start],
                link: None,
            });
        }
        out.push(Segment {
            text: &caption[e.range.clone()],
            link: Some(link),
        });
        at = e.range.end;
    }
    if at < caption.len() {
        out.push(Segment {
            text: &caption[at..],
            link: None,
        });
    }
    out
}

/// An RFC 3339 UTC time as a reader writes it ("4 Dec 2026, 01:57 UTC"),
/// or the time as stored if it is not in the form the stores write.
fn readable_time(rfc3339: &str) -> String {
    const MONTHS: [&str; 12] = [
        "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
    ];
    let part = |range: std::ops::Range<usize>| rfc3339.get(range)?.parse::<usize>().ok();
    let readable = (|| {
        let month = MONTHS.get(part(5..7)?.checked_sub(1)?)?;
        let (hour, minute) = (rfc3339.get(11..13)?, rfc3339.get(14..16)?);
        Some(format!(
            "{} {month} {}, {hour}:{minute} UTC",
            part(8..10)?,
            part(0..4)?
        ))
    })();
    readable.unwrap_or_else(|| rfc3339.to_string())
}

/// A post's page: its author, the caption with linked hashtags and
/// mentions, and its images.
pub fn post(
    post: &Post,
    author: Option<&User>,
    reactions: &[ReactionButton],
    viewer: &Viewer,
) -> Response<Body> {
    render(
        StatusCode::OK,
        PostView {
            post_id: post.post_id.to_string(),
            author: author.map_or_else(
                || format!("user {}", post.user_id),
                |u| format!("@{}", u.username),
            ),
            author_link: author.map(|u| user_path(&u.username)),
            created_at: &post.created_at,
            created: readable_time(&post.created_at),
            caption: caption_segments(&post.caption),
            images: post.images.iter().map(|i| i.url.as_str()).collect(),
            reactions,
            viewer,
        },
    )
}

/// One line of a user's mention list.
struct EdgeLine {
    user: String,
    link: String,
    /// Two decimals.
    weight: String,
    mentions: u64,
}

impl EdgeLine {
    fn of(edge: &WeightedEdge) -> Self {
        EdgeLine {
            link: user_path(&edge.user),
            user: edge.user.clone(),
            weight: format!("{:.2}", edge.weight),
            mentions: edge.mentions,
        }
    }
}

#[derive(Template)]
#[template(path = "user.html")]
struct UserView<'a> {
    user: &'a User,
    joined: String,
    posts: &'a [TopPost],
    mentions_out: Vec<EdgeLine>,
    mentions_in: Vec<EdgeLine>,
    half_life: String,
    json_link: String,
    viewer: &'a Viewer,
}

/// A user's page: who they are, their newest posts, whom they mention
/// most and who mentions them most (weights decayed to now).
pub fn user(
    user: &User,
    posts: &[TopPost],
    (mentions_out, mentions_in): (&[WeightedEdge], &[WeightedEdge]),
    half_life_days: f64,
    viewer: &Viewer,
) -> Response<Body> {
    render(
        StatusCode::OK,
        UserView {
            user,
            joined: readable_time(&user.created_at),
            posts,
            mentions_out: mentions_out.iter().map(EdgeLine::of).collect(),
            mentions_in: mentions_in.iter().map(EdgeLine::of).collect(),
            half_life: format!("{half_life_days}"),
            json_link: format!("{}/mentions", user_path(&user.username)),
            viewer,
        },
    )
}

/// What an error page is titled: what went wrong, in words a visitor
/// reads (the message says why).
fn error_heading(status: StatusCode) -> &'static str {
    match status.as_u16() {
        401 => "Sign in first",
        403 => "Not allowed",
        404 => "Not found",
        405 => "Not allowed here",
        408 => "Took too long",
        409 => "Already taken",
        413 => "Too large",
        422 => "Not accepted",
        429 => "Too many requests",
        500.. => "Unavailable for now",
        _ => "Cannot be read",
    }
}

/// An error page for browsers, with the error's status.
pub fn error(e: &ApiError) -> Response<Body> {
    let mut res = render(
        e.status,
        MessageView {
            heading: error_heading(e.status),
            message: &e.message,
            sign_in: e.status == StatusCode::UNAUTHORIZED,
            viewer: &Viewer::Unknown,
        },
    );
    e.add_headers(&mut res);
    res
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::response::CONTENT_SECURITY_POLICY;
    use base64::Engine;
    use hashtag_core::ids::Id;
    use sha2::Digest;

    fn body(res: &Response<Body>) -> &str {
        std::str::from_utf8(res.body()).unwrap()
    }

    #[test]
    fn the_inline_style_sheet_is_the_one_the_policy_allows() {
        let res = home(&[], &Viewer::SignedOut);
        let page = body(&res);
        let (_, rest) = page.split_once("<style>").unwrap();
        let (css, _) = rest.split_once("</style>").unwrap();
        let hash = format!(
            "sha256-{}",
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(css))
        );
        assert!(
            CONTENT_SECURITY_POLICY.contains(&format!("style-src '{hash}'")),
            "templates/style.hash must hold {hash} (base.html's style changed)"
        );
        let headers = res.headers();
        assert_eq!(headers["content-security-policy"], CONTENT_SECURITY_POLICY);
        assert!(CONTENT_SECURITY_POLICY.contains("frame-ancestors 'none'"));
        assert!(
            !CONTENT_SECURITY_POLICY.contains("script-src"),
            "no script at all"
        );
        assert_eq!(headers["x-content-type-options"], "nosniff");
        assert_eq!(headers["referrer-policy"], "same-origin");
    }

    #[test]
    fn pages_have_landmarks_and_image_links_have_names() {
        let page = TagPage {
            tag: "Rust".into(),
            total_posts: 1,
            top_posts: vec![TopPost {
                post_id: Id(42),
                image_url: "/images/42.svg".into(),
            }],
            updated_at: "2026-12-04T00:00:00.000Z".into(),
            recent_posts: Vec::new(),
        };
        let history = [DayCount {
            day: "2026-12-04".into(),
            uses: 1,
            accounts: 1,
        }];
        let related = [RelatedTag {
            tag: "go".into(),
            posts: 1,
        }];
        let res = tag(&page, View::Top, (&history, &related), &Viewer::SignedOut);
        let html = body(&res);
        assert!(html.contains("<title>#Rust – Hashtags</title>"), "{html}");
        assert!(html.contains("<nav aria-label=\"Related tags\">"), "{html}");
        assert!(
            html.contains("aria-label=\"Posts per day: 2026-12-04 1\""),
            "{html}"
        );
        assert!(html.contains("<main>") && html.contains("<nav aria-label=\"Site\">"));
        assert!(html.contains("<a href=\"/posts/42\"><img src=\"/images/42.svg\""));
        assert!(html.contains("alt=\"Post 42\""), "{html}");
    }

    #[test]
    fn sparklines_scale_to_the_busiest_day() {
        let day = |day: &str, uses| DayCount {
            day: day.into(),
            uses,
            accounts: uses,
        };
        // Newest first, as the API lists them; drawn oldest first.
        let spark = Sparkline::of(&[
            day("2026-12-03", 4),
            day("2026-12-02", 0),
            day("2026-12-01", 2),
        ]);
        assert_eq!(spark.points, "0.0,12.0 56.0,22.0 112.0,2.0");
        assert_eq!(spark.label, "2026-12-01 2, 2026-12-02 0, 2026-12-03 4");
        assert_eq!((spark.total, spark.days), (6, 3));
        let quiet = Sparkline::of(&[day("2026-12-03", 0), day("2026-12-02", 0)]);
        assert_eq!(quiet.points, "0.0,22.0 112.0,22.0", "no day is the busiest");
    }

    #[test]
    fn times_read_as_people_write_them() {
        assert_eq!(
            readable_time("2026-12-04T01:57:47.820Z"),
            "4 Dec 2026, 01:57 UTC"
        );
        assert_eq!(readable_time("2026-13-04T01:57Z"), "2026-13-04T01:57Z");
        assert_eq!(readable_time("yesterday"), "yesterday");
    }

    #[test]
    fn error_pages_say_what_went_wrong() {
        for (status, title) in [
            (StatusCode::NOT_FOUND, "Not found"),
            (StatusCode::UNPROCESSABLE_ENTITY, "Not accepted"),
            (StatusCode::SERVICE_UNAVAILABLE, "Unavailable for now"),
        ] {
            let res = error(&ApiError::new(status, "x", "because"));
            assert_eq!(res.status(), status);
            let html = body(&res);
            assert!(
                html.contains(&format!("<title>{title} – Hashtags</title>")),
                "{html}"
            );
            assert!(html.contains("<p>because</p>"));
        }
    }
}
