//! The service's entities and the rules they obey, independent of any store.

use serde::{Deserialize, Serialize};

use crate::extract::{hashtags_and_mentions, tag_key};
use crate::ids::Id;

/// Longest caption Instagram accepts, in characters.
pub const MAX_CAPTION_CHARS: usize = 2_200;
/// Most distinct hashtags Instagram accepts in one caption.
pub const MAX_CAPTION_TAGS: usize = 30;
/// Most images in one post (an Instagram carousel holds up to 20).
pub const MAX_IMAGES: usize = 20;
/// Longest accepted image URL.
pub const MAX_IMAGE_URL_LEN: usize = 2_048;
/// Longest tag, in bytes of its key (after normalisation, see
/// [`crate::extract::tag_key`]). The key is the hashtag table's partition
/// key, which DynamoDB caps at 2,048 bytes (sort keys at 1,024): 512 leaves
/// room for a tag inside a sort key with a prefix, and is far beyond any
/// tag people write (Instagram's and Twitter's longest run to about 100
/// characters). One rule for the API, the consumers and rankings alike, so
/// a tag the API accepts can always be counted and read.
pub const MAX_TAG_BYTES: usize = 512;
/// Most bytes of key one byte of a written tag can become: NFKC turns the
/// 3 bytes of U+FDFA into 33 (11 per byte), and full case folding at most
/// triples a character. Tags shorter than [`MAX_TAG_BYTES`] divided by
/// this are within the limit without being normalised.
const MAX_KEY_EXPANSION: usize = 33;
/// How many posts a tag page shows.
pub const TOP_POSTS: usize = 100;

/// A rule a client's input broke: reported as 422 with this code and message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invalid {
    /// Machine-readable code, e.g. `invalid_username`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl Invalid {
    /// A broken rule with its code and explanation.
    pub fn new(code: &'static str, message: impl Into<String>) -> Self {
        Invalid {
            code,
            message: message.into(),
        }
    }
}

/// A valid username: 1-20 characters of `A-Z a-z 0-9 _`. Uniqueness ignores
/// case, so `Alice` and `alice` cannot both register; the stored spelling is
/// the one registered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    /// Checks the rules.
    pub fn parse(raw: &str) -> Result<Self, Invalid> {
        let ok_len = (1..=20).contains(&raw.len());
        let ok_chars = raw.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if ok_len && ok_chars {
            Ok(Username(raw.to_string()))
        } else {
            Err(Invalid::new(
                "invalid_username",
                "username must be 1-20 characters of A-Z, a-z, 0-9 and _",
            ))
        }
    }

    /// The spelling as registered.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The case-insensitive identity used for uniqueness.
    pub fn key(&self) -> String {
        self.0.to_ascii_lowercase()
    }
}

/// A registered user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Snowflake id.
    pub user_id: Id,
    /// Spelling as registered.
    pub username: String,
    /// RFC 3339 registration time.
    pub created_at: String,
}

impl User {
    /// A user registered under `user_id`; the registration time is the
    /// id's own (Snowflake ids carry their creation time).
    pub fn new(user_id: Id, username: &Username) -> Self {
        User {
            user_id,
            username: username.as_str().to_string(),
            created_at: rfc3339_ms(crate::ids::id_time_ms(user_id) as i64),
        }
    }
}

/// What a valid caption carries, found by its one extraction on the API's
/// path: the response lists them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caption<'a> {
    /// Hashtags as written (without `#`), in text order, repeats included.
    pub hashtags: Vec<&'a str>,
    /// Mentions as written (without `@`), in text order.
    pub mentions: Vec<&'a str>,
}

/// Checks a caption: at most [`MAX_CAPTION_CHARS`] characters and
/// [`MAX_CAPTION_TAGS`] distinct hashtags, none over [`MAX_TAG_BYTES`]. Returns its hashtags and
/// mentions, so the caller need not extract them again.
pub fn validate_caption(caption: &str) -> Result<Caption<'_>, Invalid> {
    let (hashtags, mentions) = hashtags_and_mentions(caption);
    check_caption(caption, hashtags.iter().copied())?;
    Ok(Caption { hashtags, mentions })
}

/// The caption rules of [`validate_caption`] on a caption whose `hashtags`
/// (as extracted, repeats included) are already known: the consumer checks
/// every record with the extraction it aggregates from.
pub fn check_caption<'a>(
    caption: &str,
    hashtags: impl ExactSizeIterator<Item = &'a str> + Clone,
) -> Result<(), Invalid> {
    let chars = caption.chars().count();
    if chars > MAX_CAPTION_CHARS {
        return Err(Invalid::new(
            "caption_too_long",
            format!("caption has {chars} characters; at most {MAX_CAPTION_CHARS} are allowed"),
        ));
    }
    if let Some(long) = hashtags.clone().find(|t| !tag_fits(t)) {
        return Err(tag_too_long(long));
    }
    // Within the limit whenever the hashtags, repeats included, are: that
    // spares normalising every tag of every caption.
    if hashtags.len() <= MAX_CAPTION_TAGS {
        return Ok(());
    }
    let tags = hashtags
        .map(tag_key)
        .collect::<std::collections::HashSet<_>>()
        .len();
    if tags > MAX_CAPTION_TAGS {
        return Err(Invalid::new(
            "too_many_hashtags",
            format!("caption has {tags} distinct hashtags; at most {MAX_CAPTION_TAGS} are allowed"),
        ));
    }
    Ok(())
}

/// Whether a tag, as written (with or without its sign), is within
/// [`MAX_TAG_BYTES`] once normalised; normalises only tags long enough to
/// need it.
pub fn tag_fits(tag: &str) -> bool {
    tag.len() <= MAX_TAG_BYTES / MAX_KEY_EXPANSION
        || (tag.is_ascii() && tag.trim().len() <= MAX_TAG_BYTES)
        || tag_key(tag).len() <= MAX_TAG_BYTES
}

/// The error for a tag over [`MAX_TAG_BYTES`], naming its start.
pub fn tag_too_long(tag: &str) -> Invalid {
    let start: String = tag.chars().take(20).collect();
    Invalid::new(
        "tag_too_long",
        format!("hashtag #{start}... is longer than {MAX_TAG_BYTES} bytes once normalised"),
    )
}

/// Checks an image URL: absolute http(s) or a path on this service (`/images/1.svg`),
/// no whitespace or control characters, bounded length. Anything else
/// (`javascript:`, `data:`, `//host`) is refused, since the URL ends up in
/// `src` attributes.
pub fn validate_image_url(url: &str) -> Result<(), Invalid> {
    let lower = url.get(..8).unwrap_or(url).to_ascii_lowercase();
    let scheme_ok =
        (lower.starts_with("https://") || lower.starts_with("http://")) && url.len() > 8;
    // Browsers read `\` as `/` in http(s) URLs, so `/\host` is `//host`,
    // another site: a path has no backslash at all.
    let path_ok =
        url.starts_with('/') && !url.starts_with("//") && !url.contains('\\') && url.len() > 1;
    let chars_ok = !url.chars().any(|c| c.is_whitespace() || c.is_control());
    if (scheme_ok || path_ok) && chars_ok && url.len() <= MAX_IMAGE_URL_LEN {
        Ok(())
    } else {
        Err(Invalid::new(
            "invalid_image_url",
            format!(
                "image URLs must be http(s) URLs or paths starting with / of at most {MAX_IMAGE_URL_LEN} bytes without spaces"
            ),
        ))
    }
}

/// One image of a post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Image {
    /// Snowflake id.
    pub image_id: Id,
    /// Where the image is served from.
    pub url: String,
}

/// A stored post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Post {
    /// Snowflake id; also orders posts by time.
    pub post_id: Id,
    /// The author.
    pub user_id: Id,
    /// The caption as written.
    pub caption: String,
    /// Images in display order; at least one.
    pub images: Vec<Image>,
    /// RFC 3339 creation time.
    pub created_at: String,
}

impl Post {
    /// The image shown for this post on tag pages.
    pub fn cover_url(&self) -> &str {
        self.images.first().map_or("", |i| i.url.as_str())
    }

    /// The event published when this post is stored, naming its author
    /// (`author`, the username of `user_id`).
    pub fn event(&self, author: &str) -> PostEvent {
        PostEvent {
            post_id: self.post_id,
            user_id: self.user_id,
            author: author.to_string(),
            caption: self.caption.clone(),
            image_url: self.cover_url().to_string(),
            created_at: self.created_at.clone(),
        }
    }
}

/// Topic carrying one [`PostEvent`] per stored post, keyed by author.
pub const POSTS_TOPIC: &str = "posts";
/// Topic on which the popularity service publishes [`Ranking`]s.
pub const TOP_POSTS_TOPIC: &str = "top-posts";
/// How long a hashtag store must keep a post's claim (which record counts
/// it): far longer than any redelivery (MSK retries for at most the topic's
/// retention). A store may drop a claim after this (DynamoDB by TTL), so
/// `reconcile` takes a post older than this without a claim as counted.
pub const CLAIM_RETENTION_SECONDS: i64 = 14 * 24 * 3600;

/// The message published for every stored post (the ON_PUBLISH event of the
/// design), carrying what the consumer needs to count and list the post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostEvent {
    /// The post.
    pub post_id: Id,
    /// Its author: the partition key.
    pub user_id: Id,
    /// The author's username, for the mention graph (whose nodes are
    /// names, as mentions are); empty in events published before events
    /// carried it, which then add no edges.
    #[serde(default)]
    pub author: String,
    /// Caption to extract tags from.
    pub caption: String,
    /// Cover image for tag pages.
    pub image_url: String,
    /// RFC 3339 creation time.
    pub created_at: String,
}

/// A post as shown on a tag page: an image linking to the post.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TopPost {
    /// The post.
    pub post_id: Id,
    /// Its cover image.
    pub image_url: String,
}

/// A ranking from the popularity service: the ordered top posts of one tag,
/// generated at a given time. A ranking never replaces a newer one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ranking {
    /// The tag, with or without `#`, in any casing.
    pub tag: String,
    /// When the popularity service computed it (RFC 3339).
    pub generated_at: String,
    /// Best first; at most [`TOP_POSTS`] are kept.
    pub posts: Vec<TopPost>,
}

/// The precomputed content of a tag page.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TagPage {
    /// Display form: the spelling first seen.
    pub tag: String,
    /// How many posts carry the tag.
    pub total_posts: u64,
    /// Ranked posts if the popularity service ranked the tag, else the most
    /// recent posts; at most [`TOP_POSTS`].
    pub top_posts: Vec<TopPost>,
    /// RFC 3339 time of the last change.
    pub updated_at: String,
    /// The most recent posts, newest first, at most [`TOP_POSTS`]: the
    /// page's Recent view, read with the same request as the Top view.
    #[serde(skip)]
    pub recent_posts: Vec<TopPost>,
}

/// The current time, Unix milliseconds: the one clock every store and
/// consumer stamps its writes with.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Formats Unix milliseconds as RFC 3339 UTC with millisecond precision.
pub fn rfc3339_ms(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Parses an RFC 3339 time into Unix milliseconds.
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    chrono::DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.timestamp_millis())
}

/// Parses an ISO 8601 time into Unix milliseconds: RFC 3339, or without
/// an offset (read as UTC), as Python's `datetime.utcnow().isoformat()`
/// writes it (the emoji-streaming seed's clients).
pub fn parse_iso8601_ms(s: &str) -> Option<i64> {
    parse_rfc3339_ms(s.trim()).or_else(|| {
        chrono::NaiveDateTime::parse_from_str(s.trim(), "%Y-%m-%dT%H:%M:%S%.f")
            .ok()
            .map(|t| t.and_utc().timestamp_millis())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_times_with_and_without_an_offset_are_read() {
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:01Z"), Some(1_000));
        assert_eq!(parse_iso8601_ms("1970-01-01T01:00:01+01:00"), Some(1_000));
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:01.250000"), Some(1_250));
        assert_eq!(parse_iso8601_ms("1970-01-01T00:00:01"), Some(1_000));
        assert_eq!(parse_iso8601_ms("yesterday"), None);
    }

    #[test]
    fn username_rules() {
        assert!(Username::parse("a").is_ok());
        assert!(Username::parse("Alice_99").is_ok());
        assert!(Username::parse("abcdefghijklmnopqrst").is_ok());
        assert!(Username::parse("abcdefghijklmnopqrstu").is_err());
        assert!(Username::parse("").is_err());
        assert!(Username::parse("bad-name").is_err());
        assert!(Username::parse("émile").is_err());
        assert_eq!(Username::parse("Alice").unwrap().key(), "alice");
    }

    #[test]
    fn caption_rules() {
        assert!(validate_caption(&"x".repeat(2_200)).is_ok());
        assert_eq!(
            validate_caption(&"é".repeat(2_201)).unwrap_err().code,
            "caption_too_long"
        );
        let thirty: String = (0..30).map(|i| format!("#t{i} ")).collect();
        assert!(validate_caption(&thirty).is_ok());
        // Repeats of one tag in other casings are still one tag.
        assert!(validate_caption(&format!("{thirty} #T0 #t0")).is_ok());
        assert_eq!(
            validate_caption(&format!("{thirty} #t30"))
                .unwrap_err()
                .code,
            "too_many_hashtags"
        );
    }

    #[test]
    fn tags_are_bounded_in_bytes_once_normalised() {
        let at_limit = "a".repeat(MAX_TAG_BYTES);
        assert!(validate_caption(&format!("#{at_limit}")).is_ok());
        let err = validate_caption(&format!("#{at_limit}b")).unwrap_err();
        assert_eq!(err.code, "tag_too_long");
        // 100 characters that NFKC expands past the limit: short as written.
        let expanding = "\u{FDFA}".repeat(100);
        assert!(expanding.len() < MAX_TAG_BYTES);
        assert_eq!(
            validate_caption(&format!("#{expanding}")).unwrap_err().code,
            "tag_too_long"
        );
        assert!(tag_fits(&"\u{FDFA}".repeat(15)));
        assert!(!tag_fits(&"\u{FDFA}".repeat(16)));
    }

    #[test]
    fn image_url_rules() {
        assert!(validate_image_url("https://cdn.example.com/a.jpg").is_ok());
        assert!(validate_image_url("HTTP://cdn.example.com/a.jpg").is_ok());
        assert!(validate_image_url("javascript:alert(1)").is_err());
        assert!(validate_image_url("https://x.com/a b.jpg").is_err());
        assert!(validate_image_url("https://").is_err());
        assert!(validate_image_url("/images/1.svg").is_ok());
        assert!(validate_image_url("//evil.example/x.png").is_err());
        assert!(validate_image_url("/\\evil.example/x.png").is_err());
        assert!(validate_image_url("/images/a\\b.svg").is_err());
        assert!(validate_image_url(&format!("https://x.com/{}", "a".repeat(2_100))).is_err());
    }

    #[test]
    fn time_round_trips() {
        let s = rfc3339_ms(1_700_000_000_123);
        assert_eq!(s, "2023-11-14T22:13:20.123Z");
        assert_eq!(parse_rfc3339_ms(&s), Some(1_700_000_000_123));
    }
}
