//! Hashtag and mention extraction, modelled on twitter-text v3, and the
//! normalisation that decides which spellings are one tag.
//!
//! The extractor is a single forward scan with no regex engine and no
//! allocation beyond the result vectors: it runs on every caption at post time
//! (validation) and on every record in the consumer (counting).

use std::cell::RefCell;
use std::ops::Range;
use std::sync::OnceLock;

mod ascii_class;
mod byte_search;
mod punycode;
mod url;

use ascii_class::AsciiClass;
use byte_search::SignBytes;
use caseless::Caseless;
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

/// An entity as byte positions, so the scan's buffers can be reused from
/// one text to the next (an [`Entity`] borrows its text).
#[derive(Debug, Clone)]
struct Found {
    kind: EntityKind,
    /// The whole entity, sign included.
    range: Range<usize>,
    /// Where the text after the sign starts.
    body_start: usize,
}

impl Found {
    fn text<'a>(&self, text: &'a str) -> &'a str {
        &text[self.body_start..self.range.end]
    }

    fn entity<'a>(&self, text: &'a str) -> Entity<'a> {
        Entity {
            kind: self.kind,
            text: self.text(text),
            range: self.range.clone(),
        }
    }
}

/// The buffers the scan fills, kept per thread: extraction runs on every
/// caption, and allocating them per caption cost more than the scan of an
/// average one.
#[derive(Default)]
struct Scratch {
    found: Vec<Found>,
    urls: Vec<Range<usize>>,
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::default();
}

/// Scans `text` (for mentions too if `mentions`) and hands its entities,
/// in text order, to `f`.
fn with_found<R>(text: &str, mentions: bool, f: impl FnOnce(&[Found]) -> R) -> R {
    SCRATCH.with_borrow_mut(|scratch| {
        scan_into(text, mentions, scratch);
        f(&scratch.found)
    })
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

/// What a character is to a hashtag body.
#[derive(Clone, Copy, PartialEq, Eq)]
enum HashtagChar {
    /// `\p{L}` or `\p{M}`: a hashtag needs at least one.
    Letter,
    /// A digit, `_` or a joiner: allowed, but not enough alone.
    Other,
    /// Ends the body.
    Outside,
}

/// The character starting at byte `at`, if one does. The extractor walks
/// hashtag bodies and URLs a character at a time, and they are mostly
/// ASCII: ASCII bytes are taken as they are, without decoding.
fn char_at(s: &str, at: usize) -> Option<char> {
    match *s.as_bytes().get(at)? {
        b if b.is_ascii() => Some(char::from(b)),
        _ => s.get(at..).and_then(|r| r.chars().next()),
    }
}

/// What `c` is to a hashtag body. Bodies are classified character by
/// character in every script, and the category lookup is a binary search
/// over thousands of ranges: the whole BMP is classified once, on first
/// use (well under a millisecond), and looked up from then on.
fn hashtag_char(c: char) -> HashtagChar {
    static BMP: OnceLock<Box<[HashtagChar]>> = OnceLock::new();
    let code = c as usize;
    if code > 0xffff {
        return classify_hashtag_char(c);
    }
    let bmp = BMP.get_or_init(|| {
        let all = (0..=0xffff).map(char::from_u32);
        all.map(|c| c.map_or(HashtagChar::Outside, classify_hashtag_char))
            .collect()
    });
    bmp[code]
}

/// What `c` is to a hashtag body, from its Unicode category.
fn classify_hashtag_char(c: char) -> HashtagChar {
    // `\p{L}` or `\p{M}`: what twitter-text counts as a hashtag letter.
    match get_general_category(c) {
        Gc::UppercaseLetter
        | Gc::LowercaseLetter
        | Gc::TitlecaseLetter
        | Gc::ModifierLetter
        | Gc::OtherLetter
        | Gc::NonspacingMark
        | Gc::SpacingMark
        | Gc::EnclosingMark => HashtagChar::Letter,
        Gc::DecimalNumber => HashtagChar::Other,
        _ if HASHTAG_JOINERS.contains(&c) => HashtagChar::Other,
        _ => HashtagChar::Outside,
    }
}

/// Anything that may appear in a hashtag body.
fn is_hashtag_char(c: char) -> bool {
    hashtag_char(c) != HashtagChar::Outside
}

/// Latin letters with accents: a mention followed by one of these is part of
/// a longer word, not a mention (`@aliceìnheiro`).
fn is_latin_accent(c: char) -> bool {
    matches!(c as u32,
        0x00c0..=0x00d6 | 0x00d8..=0x00f6 | 0x00f8..=0x00ff | 0x0100..=0x024f
        | 0x0253 | 0x0254 | 0x0256 | 0x0257 | 0x0259 | 0x025b | 0x0263 | 0x0268
        | 0x026f | 0x0272 | 0x0289 | 0x028b | 0x02bb | 0x0300..=0x036f | 0x1e00..=0x1eff)
}

/// The middle byte of the full-width signs `＃` (EF BC 83) and `＠`
/// (EF BC A0), which the sign search looks for. Their first byte, 0xEF,
/// also starts the emoji variation selector (U+FE0F) and the other
/// full-width and compatibility forms, all common in captions; 0xBC is a
/// continuation byte of far fewer common characters (full-width ASCII,
/// some Cyrillic letters), so the search stops less often for nothing.
const FULL_WIDTH_SIGN_BYTE: u8 = 0xbc;

/// The next hashtag sign (`#`, `＃`), or also at sign (`@`, `＠`) with
/// `mentions`, at or after byte `from`, among the candidates of `signs`.
fn next_sign(
    text: &str,
    signs: &mut SignBytes,
    from: usize,
    mentions: bool,
) -> Option<(usize, char)> {
    let bytes = text.as_bytes();
    let mut i = from;
    while let Some(at) = signs.next_from(i) {
        match bytes[at] {
            b'#' => return Some((at, '#')),
            b'@' => return Some((at, '@')),
            // A continuation byte: a character starts before it, at or
            // after `i` (which is a character boundary).
            _ => match (bytes[at - 1], bytes.get(at + 1)) {
                (0xef, Some(0x83)) => return Some((at - 1, '＃')),
                (0xef, Some(0xa0)) if mentions => return Some((at - 1, '＠')),
                _ => i = at + 1,
            },
        }
    }
    None
}

/// The sign bytes [`next_sign`] looks at, for `text`.
fn sign_bytes(text: &str, mentions: bool) -> SignBytes<'_> {
    let at_byte = if mentions { b'@' } else { b'#' };
    SignBytes::new(text.as_bytes(), at_byte, FULL_WIDTH_SIGN_BYTE)
}

/// Hashtags and mentions of `text`, in text order.
pub fn extract(text: &str) -> Vec<Entity<'_>> {
    with_found(text, true, |found| {
        found.iter().map(|f| f.entity(text)).collect()
    })
}

/// Hashtags, and mentions too if `mentions`, into `scratch.found`: the two
/// are independent (as twitter-text's two regexes are), so counting can
/// skip mentions.
fn scan_into(text: &str, mentions: bool, scratch: &mut Scratch) {
    let Scratch { found: out, urls } = scratch;
    out.clear();
    // Like twitter-text's regexes, a match consumes the character before its
    // sign; `consumed` is where the previous match of the same kind (even a
    // rejected one) ended, so that character cannot be the next one's boundary.
    let (mut consumed_tag, mut consumed_mention) = (0, 0);
    let mut signs = sign_bytes(text, mentions);
    let mut i = 0;
    while let Some((at, sign)) = next_sign(text, &mut signs, i, mentions) {
        let (attempt, consumed) = if is_hashtag_sign(sign) {
            (hashtag_at(text, at, sign, consumed_tag), &mut consumed_tag)
        } else {
            (
                mention_at(text, at, sign, consumed_mention),
                &mut consumed_mention,
            )
        };
        match attempt {
            Some((entity, end)) => {
                *consumed = end;
                i = end;
                out.extend(entity);
            }
            None => i = at + sign.len_utf8(),
        }
    }
    let hashtag_signs = out
        .iter()
        .filter(|e| e.kind == EntityKind::Hashtag)
        .map(|e| e.range.start);
    url::url_ranges(text, hashtag_signs, urls);
    drop_hashtags_overlapping_urls(out, urls);
}

/// twitter-text's `removeOverlappingEntities` over hashtags and URLs: in
/// order of start (hashtags first on a tie), an entity that starts before
/// the previous kept one ends is dropped. So a hashtag inside a URL goes, and
/// a URL starting inside a hashtag goes without taking later hashtags along.
fn drop_hashtags_overlapping_urls(entities: &mut Vec<Found>, urls: &[Range<usize>]) {
    if urls.is_empty() {
        return;
    }
    let mut urls = urls.iter().peekable();
    let mut kept_end = 0;
    entities.retain(|e| {
        if e.kind != EntityKind::Hashtag {
            return true;
        }
        while let Some(u) = urls.next_if(|u| u.start < e.range.start) {
            if u.start >= kept_end {
                kept_end = u.end;
            }
        }
        let keep = e.range.start >= kept_end;
        if keep {
            kept_end = e.range.end;
        }
        keep
    });
}

/// The character before byte `at`, unless a previous match consumed it.
fn boundary_char(text: &str, at: usize, consumed: usize) -> Result<Option<char>, ()> {
    match text[..at].chars().next_back() {
        None => Ok(None),
        Some(c) if at - c.len_utf8() < consumed => Err(()),
        Some(c) => Ok(Some(c)),
    }
}

/// Tries a hashtag whose sign is at `at`. `None`: no match here. `Some((entity,
/// end))`: the pattern matched up to `end`; `entity` is `None` when the text
/// after it rejects it (another sign, or `://`).
fn hashtag_at(
    text: &str,
    at: usize,
    sign: char,
    consumed: usize,
) -> Option<(Option<Found>, usize)> {
    match boundary_char(text, at, consumed) {
        Err(()) => return None,
        Ok(Some(p)) if p != '\u{fe0e}' && p != '\u{fe0f}' && (is_hashtag_char(p) || p == '&') => {
            return None
        }
        Ok(_) => {}
    }
    let body_start = at + sign.len_utf8();
    let rest = &text[body_start..];
    if rest.starts_with('\u{fe0f}') || rest.starts_with('\u{20e3}') {
        return None; // keycap emoji such as #️⃣
    }
    let mut has_letter = false;
    let mut body_end = body_start;
    while let Some(c) = char_at(text, body_end) {
        match hashtag_char(c) {
            HashtagChar::Outside => break,
            HashtagChar::Letter => has_letter = true,
            HashtagChar::Other => {}
        }
        body_end += c.len_utf8();
    }
    if !has_letter {
        return None;
    }
    let after = &text[body_end..];
    if after.starts_with('#') || after.starts_with('＃') || after.starts_with("://") {
        return Some((None, body_end));
    }
    let entity = Found {
        kind: EntityKind::Hashtag,
        range: at..body_end,
        body_start,
    };
    Some((Some(entity), body_end))
}

/// Whether the text before a mention's sign lets it start: twitter-text's
/// `validMentionPrecedingChars`, including the retweet forms `RT@x`, `RT:@x`.
fn mention_may_start(text: &str, at: usize, consumed: usize) -> bool {
    const BLOCKING: AsciiClass = AsciiClass::alphanumeric_and("_!#$%&*@");
    const RT_BLOCKING: AsciiClass = AsciiClass::alphanumeric_and("_+~.-");
    let blocked = |c: char| BLOCKING.has(c) || c == '＠';
    match boundary_char(text, at, consumed) {
        Err(()) => return false,
        Ok(None) => return true,
        Ok(Some(p)) if !blocked(p) => return true,
        Ok(Some(_)) => {}
    }
    let before = &text[..at];
    let before = before.strip_suffix(':').unwrap_or(before);
    let Some(rt_start) = before.len().checked_sub(2) else {
        return false;
    };
    if rt_start < consumed
        || !before.is_char_boundary(rt_start)
        || !before[rt_start..].eq_ignore_ascii_case("rt")
    {
        return false;
    }
    match boundary_char(text, rt_start, consumed) {
        Err(()) => false,
        Ok(None) => true,
        Ok(Some(c)) => !RT_BLOCKING.has(c),
    }
}

/// Tries a mention whose sign is at `at`; same contract as [`hashtag_at`].
fn mention_at(
    text: &str,
    at: usize,
    sign: char,
    consumed: usize,
) -> Option<(Option<Found>, usize)> {
    if !mention_may_start(text, at, consumed) {
        return None;
    }
    let body_start = at + sign.len_utf8();
    let len = text[body_start..]
        .bytes()
        .take(20)
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    if len == 0 {
        return None;
    }
    let body_end = body_start + len;
    // `@user/list-slug` names a list: the match takes the slug too.
    let mut end = body_end;
    let mut list = false;
    if let Some(slug) = text[body_end..].strip_prefix('/') {
        if slug.starts_with(|c: char| c.is_ascii_alphabetic()) {
            let slug_len = slug
                .bytes()
                .take(25)
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_' || *b == b'-')
                .count();
            end = body_end + 1 + slug_len;
            list = true;
        }
    }
    let after = &text[end..];
    let rejected = match after.chars().next() {
        Some(c) if c.is_ascii() => c == '@' || after.starts_with("://"),
        Some(c) => c == '＠' || is_latin_accent(c),
        None => false,
    };
    if rejected || list {
        return Some((None, end));
    }
    let entity = Found {
        kind: EntityKind::Mention,
        range: at..body_end,
        body_start,
    };
    Some((Some(entity), end))
}

/// Hashtags and mentions of `text` as written (without `#`/`@`), each in
/// text order: what the API and the `extract` command report.
pub fn hashtags_and_mentions(text: &str) -> (Vec<&str>, Vec<&str>) {
    with_found(text, true, |found| {
        let tag_count = found
            .iter()
            .filter(|f| f.kind == EntityKind::Hashtag)
            .count();
        let mut tags = Vec::with_capacity(tag_count);
        let mut mentions = Vec::with_capacity(found.len() - tag_count);
        for f in found {
            match f.kind {
                EntityKind::Hashtag => tags.push(f.text(text)),
                EntityKind::Mention => mentions.push(f.text(text)),
            }
        }
        (tags, mentions)
    })
}

/// Hashtags of `text` as written (without `#`), in text order.
pub fn hashtags(text: &str) -> impl Iterator<Item = &str> {
    let tags: Vec<&str> = with_found(text, false, |found| {
        found.iter().map(|f| f.text(text)).collect()
    });
    tags.into_iter()
}

/// The hashtag entities of `text` into `out` (cleared first): [`hashtags`]
/// for callers that go through many texts and reuse one buffer.
pub fn hashtags_into<'a>(text: &'a str, out: &mut Vec<Entity<'a>>) {
    out.clear();
    with_found(text, false, |found| {
        out.extend(found.iter().map(|f| f.entity(text)));
    });
}

/// The identity of a tag: Unicode NFKC then full case folding, so `#ＲＵＳＴ`,
/// `#Rust` and `#rust` count as one tag. A leading `#`/`＃` is ignored, so a
/// URL path `/tags/%23rust` and `/tags/rust` name the same page.
pub fn tag_key(tag: &str) -> String {
    let mut key = String::new();
    tag_key_into(tag, &mut key);
    key
}

/// A tag as written by a client (`#Rust`, ` ＃Rust `, `Rust`) without the
/// surrounding spaces and its sign: the spelling a page shows.
pub fn tag_display(tag: &str) -> &str {
    tag.trim().trim_start_matches(is_hashtag_sign)
}

/// The spelling a page shows for a tag first seen as `tag`: without its
/// sign and default-ignorable code points, in NFKC, case kept. So the first
/// poster cannot title a page with a spelling that folds to the tag but
/// reads as something else (`ſ` for `s`, a zero-width joiner inside).
pub fn tag_display_form(tag: &str) -> String {
    let tag = tag_display(tag);
    if tag.is_ascii() {
        return tag.to_string();
    }
    tag.chars()
        .filter(|c| !is_default_ignorable(*c))
        .nfkc()
        .collect()
}

/// [`tag_key`] into a buffer the caller reuses: the consumer computes a key
/// for every hashtag of every post, and most are already known.
///
/// A tag's identity: its default-ignorable code points removed (invisible,
/// so `#ab<ZWJ>c` reads as `#abc` and is the same tag), then NFKC and full
/// case folding. Extraction itself stays twitter-text's.
pub fn tag_key_into(tag: &str, key: &mut String) {
    key.clear();
    let tag = tag_display(tag);
    if tag.is_ascii() {
        key.push_str(tag);
        key.make_ascii_lowercase();
        return;
    }
    let visible = tag.chars().filter(|c| !is_default_ignorable(*c));
    // Most tags are already NFKC; the quick check spares them the pass.
    match unicode_normalization::is_nfkc_quick(visible.clone()) {
        unicode_normalization::IsNormalized::Yes => key.extend(visible.default_case_fold()),
        _ => key.extend(visible.nfkc().default_case_fold()),
    }
}

/// Unicode's Default_Ignorable_Code_Point ranges (DerivedCoreProperties,
/// Unicode 15.1): code points a renderer shows as nothing.
const DEFAULT_IGNORABLE: [(char, char); 17] = [
    ('\u{00AD}', '\u{00AD}'),
    ('\u{034F}', '\u{034F}'),
    ('\u{061C}', '\u{061C}'),
    ('\u{115F}', '\u{1160}'),
    ('\u{17B4}', '\u{17B5}'),
    ('\u{180B}', '\u{180F}'),
    ('\u{200B}', '\u{200F}'),
    ('\u{202A}', '\u{202E}'),
    ('\u{2060}', '\u{206F}'),
    ('\u{3164}', '\u{3164}'),
    ('\u{FE00}', '\u{FE0F}'),
    ('\u{FEFF}', '\u{FEFF}'),
    ('\u{FFA0}', '\u{FFA0}'),
    ('\u{FFF0}', '\u{FFF8}'),
    ('\u{1BCA0}', '\u{1BCA3}'),
    ('\u{1D173}', '\u{1D17A}'),
    ('\u{E0000}', '\u{E0FFF}'),
];

/// Whether `c` is a default-ignorable code point.
fn is_default_ignorable(c: char) -> bool {
    c >= '\u{00AD}'
        && DEFAULT_IGNORABLE
            .binary_search_by(|&(lo, hi)| {
                if hi < c {
                    std::cmp::Ordering::Less
                } else if lo > c {
                    std::cmp::Ordering::Greater
                } else {
                    std::cmp::Ordering::Equal
                }
            })
            .is_ok()
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
        hashtags_and_mentions(text).1
    }

    #[test]
    fn look_alike_spellings_are_one_tag_with_a_readable_display() {
        // Invisible code points inside a tag do not make another tag.
        assert_eq!(tag_key("ab\u{200D}c"), "abc");
        assert_eq!(tag_key("ab\u{00AD}c"), tag_key("abc"));
        assert_eq!(tag_key("日本\u{200B}語"), tag_key("日本語"));
        // The long s folds to s, and shows as s.
        assert_eq!(tag_key("\u{17F}"), "s");
        assert_eq!(tag_display_form("#\u{17F}"), "s");
        assert_eq!(tag_display_form("Ｒｕｓｔ"), "Rust");
        assert_eq!(tag_display_form("#ab\u{200D}c"), "abc");
        assert_eq!(tag_display_form("Rust"), "Rust");
        assert!(is_default_ignorable('\u{E0001}') && !is_default_ignorable('a'));
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
    fn full_width_signs_are_found_among_their_byte_neighbours() {
        // `ü` (C3 BC), `ー` (E3 83 BC) and `Ｒ` (EF BC B2) hold the byte the
        // search stops at, without being signs.
        let text = "ü ー Ｒ ＃一 ＠b";
        let (mut bytes, mut signs, mut from) = (sign_bytes(text, true), Vec::new(), 0);
        while let Some((at, sign)) = next_sign(text, &mut bytes, from, true) {
            signs.push((at, sign));
            from = at + sign.len_utf8();
        }
        let expected = [
            (text.find('＃').unwrap(), '＃'),
            (text.find('＠').unwrap(), '＠'),
        ];
        assert_eq!(signs, expected);
        let text = "ü ー Ｒ ＠b";
        assert_eq!(
            next_sign(text, &mut sign_bytes(text, false), 0, false),
            None
        );
    }

    #[test]
    fn hashtag_boundaries() {
        assert!(tags("日本語ハッシュタグ#日本語").is_empty());
        assert_eq!(tags("テスト。#日本語"), vec!["日本語"]);
        assert!(tags("abc#def").is_empty());
        assert!(tags("&#39;").is_empty());
        assert_eq!(tags("##double"), vec!["double"]); // as twitter-text does
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
