//! Hashtag and mention extraction, modelled on twitter-text v3, and the
//! normalisation that decides which spellings are one tag.
//!
//! The extractor is a single forward scan with no regex engine and no
//! allocation beyond the result vectors: it runs on every caption at post time
//! (validation) and on every record in the consumer (counting).

use std::ops::Range;

use unicode_general_category::{get_general_category, GeneralCategory as Gc};
use unicode_normalization::UnicodeNormalization;

/// What kind of entity was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntityKind {
    /// `#tag`
    Hashtag,
    /// `@user`
    Mention,
}

/// One hashtag or mention: its text as written (without the sign) and the
/// byte range of the whole entity, sign included, in the source text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity<'a> {
    /// Hashtag or mention.
    pub kind: EntityKind,
    /// The text after the `#`/`@` sign, exactly as written.
    pub text: &'a str,
    /// Byte range of the entity including its sign.
    pub range: Range<usize>,
}

/// Characters that may join a hashtag body besides letters, marks and digits
/// (twitter-text's list: ZWNJ, ZWJ, and script-specific punctuation such as
/// the Catalan middle dot and the Japanese wave dash).
const HASHTAG_JOINERS: &[char] = &[
    '_', '\u{200c}', '\u{200d}', '\u{a67e}', '\u{05be}', '\u{05f3}', '\u{05f4}', '\u{ff5e}',
    '\u{301c}', '\u{309b}', '\u{309c}', '\u{30a0}', '\u{30fb}', '\u{3003}', '\u{0f0b}', '\u{0f0c}',
    '\u{00b7}',
];

fn is_hashtag_sign(c: char) -> bool {
    c == '#' || c == '＃'
}

fn is_at_sign(c: char) -> bool {
    c == '@' || c == '＠'
}

/// `\p{L}` or `\p{M}`: what a hashtag needs at least one of.
fn is_hashtag_letter(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphabetic();
    }
    matches!(
        get_general_category(c),
        Gc::UppercaseLetter
            | Gc::LowercaseLetter
            | Gc::TitlecaseLetter
            | Gc::ModifierLetter
            | Gc::OtherLetter
            | Gc::NonspacingMark
            | Gc::SpacingMark
            | Gc::EnclosingMark
    )
}

/// Anything that may appear in a hashtag body.
fn is_hashtag_char(c: char) -> bool {
    if c.is_ascii() {
        return c.is_ascii_alphanumeric() || c == '_';
    }
    is_hashtag_letter(c)
        || get_general_category(c) == Gc::DecimalNumber
        || HASHTAG_JOINERS.contains(&c)
}

/// Latin letters with accents: a mention followed by one of these is part of
/// a longer word, not a mention (`@aliceìnheiro`).
fn is_latin_accent(c: char) -> bool {
    matches!(c as u32,
        0x00c0..=0x00d6 | 0x00d8..=0x00f6 | 0x00f8..=0x00ff | 0x0100..=0x024f
        | 0x0253 | 0x0254 | 0x0256 | 0x0257 | 0x0259 | 0x025b | 0x0263 | 0x0268
        | 0x026f | 0x0272 | 0x0289 | 0x028b | 0x02bb | 0x0300..=0x036f | 0x1e00..=0x1eff)
}

fn is_mention_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_'
}

/// Byte ranges of URLs with a scheme (`https://...`) or starting with `www.`,
/// up to the next whitespace. Hashtags inside them are not hashtags.
fn url_ranges(text: &str) -> Vec<Range<usize>> {
    let bytes = text.as_bytes();
    let mut ranges = Vec::new();
    let mut search = 0;
    while let Some(found) = find_url_start(text, search) {
        let mut start = found;
        if bytes[found] == b':' {
            // Walk back over the scheme letters.
            while start > 0
                && (bytes[start - 1].is_ascii_alphanumeric() || bytes[start - 1] == b'+')
            {
                start -= 1;
            }
        }
        let end = text[found..]
            .find(char::is_whitespace)
            .map_or(text.len(), |i| found + i);
        if start < found || bytes[found] != b':' {
            ranges.push(start..end);
        }
        search = end.max(found + 1);
    }
    ranges
}

fn find_url_start(text: &str, from: usize) -> Option<usize> {
    let rest = &text[from..];
    let scheme = rest.find("://").map(|i| from + i);
    let www = find_ascii_ci(rest, "www.")
        .map(|i| from + i)
        .filter(|&i| i == 0 || !text.as_bytes()[i - 1].is_ascii_alphanumeric());
    match (scheme, www) {
        (Some(a), Some(b)) => Some(a.min(b)),
        (a, b) => a.or(b),
    }
}

fn find_ascii_ci(haystack: &str, needle: &str) -> Option<usize> {
    haystack
        .as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// Hashtags and mentions of `text`, in text order.
pub fn extract(text: &str) -> Vec<Entity<'_>> {
    let mut out = Vec::new();
    let mut urls: Option<Vec<Range<usize>>> = None;
    let mut prev: Option<char> = None;
    let mut prev2: Option<char> = None;
    let mut prev3: Option<char> = None;
    let mut iter = text.char_indices().peekable();
    while let Some((i, c)) = iter.next() {
        let found = if is_hashtag_sign(c) {
            hashtag_at(text, i, c, prev)
        } else if is_at_sign(c) {
            mention_at(text, i, c, prev, prev2, prev3)
        } else {
            None
        };
        if let Some(entity) = found {
            let in_url = entity.kind == EntityKind::Hashtag && {
                let urls = urls.get_or_insert_with(|| url_ranges(text));
                urls.iter()
                    .any(|u| u.start < entity.range.end && entity.range.start < u.end)
            };
            let end = entity.range.end;
            if !in_url {
                out.push(entity);
            }
            // Continue after the entity, remembering its last characters.
            while let Some(&(j, d)) = iter.peek() {
                if j >= end {
                    break;
                }
                iter.next();
                prev3 = prev2;
                prev2 = prev;
                prev = Some(d);
            }
            continue;
        }
        prev3 = prev2;
        prev2 = prev;
        prev = Some(c);
    }
    out
}

fn hashtag_at(text: &str, i: usize, sign: char, prev: Option<char>) -> Option<Entity<'_>> {
    if let Some(p) = prev {
        if is_hashtag_char(p) || p == '&' || is_hashtag_sign(p) {
            return None;
        }
    }
    let body_start = i + sign.len_utf8();
    let rest = &text[body_start..];
    if rest.starts_with(['\u{fe0f}', '\u{20e3}']) {
        return None; // keycap emoji such as #️⃣
    }
    let mut has_letter = false;
    let mut body_end = body_start;
    for (j, c) in rest.char_indices() {
        if !is_hashtag_char(c) {
            break;
        }
        has_letter |= is_hashtag_letter(c);
        body_end = body_start + j + c.len_utf8();
    }
    if !has_letter {
        return None;
    }
    let after = &text[body_end..];
    if after.starts_with(is_hashtag_sign) || after.starts_with("://") {
        return None;
    }
    Some(Entity {
        kind: EntityKind::Hashtag,
        text: &text[body_start..body_end],
        range: i..body_end,
    })
}

fn mention_at(
    text: &str,
    i: usize,
    sign: char,
    prev: Option<char>,
    prev2: Option<char>,
    prev3: Option<char>,
) -> Option<Entity<'_>> {
    let blocked = |c: char| is_mention_char(c) || "!#$%&*@＠".contains(c);
    if let Some(p) = prev {
        if blocked(p) && !retweet_prefix(p, prev2, prev3) {
            return None;
        }
    }
    let body_start = i + sign.len_utf8();
    let rest = &text[body_start..];
    let len = rest
        .bytes()
        .take(20)
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if len == 0 {
        return None;
    }
    let body_end = body_start + len;
    let after = &text[body_end..];
    if after.starts_with(is_at_sign)
        || after.starts_with(is_latin_accent)
        || after.starts_with("://")
    {
        return None;
    }
    if after.starts_with('/') && after[1..].starts_with(|c: char| c.is_ascii_alphabetic()) {
        return None; // `@user/list` names a list, not a user
    }
    Some(Entity {
        kind: EntityKind::Mention,
        text: &text[body_start..body_end],
        range: i..body_end,
    })
}

/// `RT@user` and `RT:@user` are mentions: the sign is preceded by "RT"
/// (any case, optional colon) that itself starts a word.
fn retweet_prefix(p: char, p2: Option<char>, p3: Option<char>) -> bool {
    let (r, t, before) = if p == ':' {
        match (p2, p3) {
            (Some(t), Some(r)) => (r, t, None::<char>),
            _ => return false,
        }
    } else {
        match p2 {
            Some(r) => (r, p, p3),
            None => return false,
        }
    };
    if !(r.eq_ignore_ascii_case(&'r') && t.eq_ignore_ascii_case(&'t')) {
        return false;
    }
    // For "RT:" we cannot see the char before R with three chars of history;
    // accept it, as the colon form is only produced by retweet clients.
    p == ':' || before.is_none_or(|b| !(b.is_ascii_alphanumeric() || "_+~.-".contains(b)))
}

/// Hashtags of `text` as written (without `#`), in text order.
pub fn hashtags(text: &str) -> impl Iterator<Item = &str> {
    extract(text)
        .into_iter()
        .filter(|e| e.kind == EntityKind::Hashtag)
        .map(|e| e.text)
}

/// Mentions of `text` as written (without `@`), in text order.
pub fn mentions(text: &str) -> impl Iterator<Item = &str> {
    extract(text)
        .into_iter()
        .filter(|e| e.kind == EntityKind::Mention)
        .map(|e| e.text)
}

/// The identity of a tag: Unicode NFKC then full case folding, so `#ＲＵＳＴ`,
/// `#Rust` and `#rust` count as one tag. A leading `#`/`＃` is ignored, so a
/// URL path `/tags/%23rust` and `/tags/rust` name the same page.
pub fn tag_key(tag: &str) -> String {
    let tag = tag.trim().trim_start_matches(is_hashtag_sign);
    if tag.is_ascii() {
        return tag.to_ascii_lowercase();
    }
    caseless::default_case_fold_str(&tag.nfkc().collect::<String>())
}

/// The distinct hashtags of a caption: one (key, display) pair per tag,
/// in order of first appearance, the display being the first spelling seen.
pub fn distinct_tags(text: &str) -> Vec<(String, &str)> {
    let mut tags: Vec<(String, &str)> = Vec::new();
    for tag in hashtags(text) {
        let key = tag_key(tag);
        if !tags.iter().any(|(k, _)| *k == key) {
            tags.push((key, tag));
        }
    }
    tags
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(text: &str) -> Vec<&str> {
        hashtags(text).collect()
    }
    fn ments(text: &str) -> Vec<&str> {
        mentions(text).collect()
    }

    #[test]
    fn basic_hashtags_and_ranges() {
        let e = extract("Sunset at the beach #Rust #rust #AWS");
        assert_eq!(e.len(), 3);
        assert_eq!(e[0].text, "Rust");
        assert_eq!(e[0].range, 20..25);
        assert_eq!(tags("#a,#b.#c"), vec!["a", "b", "c"]);
    }

    #[test]
    fn hashtag_boundaries() {
        assert!(tags("日本語ハッシュタグ#日本語").is_empty());
        assert_eq!(tags("テスト。#日本語"), vec!["日本語"]);
        assert!(tags("abc#def").is_empty());
        assert!(tags("&#39;").is_empty());
        assert!(tags("##double").is_empty());
        assert_eq!(tags("＃全角"), vec!["全角"]);
        assert!(tags("#tag#other").is_empty());
    }

    #[test]
    fn hashtag_bodies_in_many_scripts() {
        assert_eq!(tags("#महात्मा_१२३४"), vec!["महात्मा_१२३४"]);
        assert_eq!(tags("#ශ්‍රීලංකා"), vec!["ශ්‍රීලංකා"]);
        assert_eq!(tags("#il·lusió"), vec!["il·lusió"]);
        assert_eq!(tags("#Привет мир"), vec!["Привет"]);
    }

    #[test]
    fn hashtags_need_a_letter() {
        assert!(tags("#16 #_ #1_2").is_empty());
        assert_eq!(tags("#1hashtag"), vec!["1hashtag"]);
        assert!(tags("#️⃣ keycap").is_empty());
    }

    #[test]
    fn no_hashtags_in_urls() {
        assert!(tags("http://example.com/#anchor").is_empty());
        assert!(tags("#http://example.com").is_empty());
        assert!(tags("see www.example.com/#top").is_empty());
        assert_eq!(tags("https://x.io #after"), vec!["after"]);
    }

    #[test]
    fn mentions_follow_twitter_rules() {
        assert_eq!(ments("hi @alice and ＠bob"), vec!["alice", "bob"]);
        assert!(ments("mail me at a@example.com").is_empty());
        assert!(ments("@aliceìnheiro").is_empty());
        assert_eq!(ments("RT@x: nice"), vec!["x"]);
        assert!(ments("@a@b").is_empty());
        assert!(ments("@user/list").is_empty());
        assert_eq!(
            ments("@abcdefghijklmnopqrstuvwxyz"),
            vec!["abcdefghijklmnopqrst"]
        );
    }

    #[test]
    fn tag_identity_is_nfkc_casefold() {
        assert_eq!(tag_key("Rust"), "rust");
        assert_eq!(tag_key("ＲＵＳＴ"), "rust");
        assert_eq!(tag_key("#RUST"), "rust");
        assert_eq!(tag_key("Straße"), "strasse");
    }

    #[test]
    fn distinct_tags_keep_first_spelling() {
        let t = distinct_tags("#Rust #rust #AWS #RUST");
        assert_eq!(
            t,
            vec![("rust".to_string(), "Rust"), ("aws".to_string(), "AWS")]
        );
    }
}
