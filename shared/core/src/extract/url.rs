//! URL entities as twitter-text 3 finds them (`extractUrlsWithIndices`), for
//! one purpose: a hashtag that overlaps a URL is not a hashtag
//! (`example.com/#anchor`).
//!
//! twitter-text does this with one large backtracking regex (`extractUrl`,
//! with lookaheads after its 1,500 TLDs). Here it is a hand-written matcher
//! that takes the same decisions in the same order as that regex's
//! backtracking would, which keeps it exact and avoids a regex engine with
//! lookaround. Each function names the regex part it stands for. Two
//! JavaScript details are kept on purpose: the regex runs on UTF-16 code
//! units (a URL may start on the second half of an emoji), and its `i` flag
//! folds case the JavaScript way (non-ASCII letters never match ASCII ones).

use std::collections::HashMap;
use std::ops::Range;
use std::sync::OnceLock;

use super::ascii_class::AsciiClass;
use super::{byte_search, char_at, is_latin_accent, punycode};

/// twitter-text's `MAX_URL_LENGTH`, in UTF-16 code units.
const MAX_URL_LENGTH: usize = 4096;
/// twitter-text's `MAX_TCO_SLUG_LENGTH`.
const MAX_TCO_SLUG_LENGTH: usize = 40;
/// DNS's label limit, as twitter-text's IDNA check applies it.
const MAX_DOMAIN_LABEL_LENGTH: usize = 63;
/// The protocol twitter-text assumes when counting a URL's length.
const DEFAULT_PROTOCOL_LEN: usize = "https://".len();

/// twitter-text's TLD lists, split for lookup: all-ASCII ones packed into
/// integers in a hash set (at most one of them can match at a place,
/// because of the lookahead), the others by their first character,
/// canonicalised, in match order (one may be a prefix of another).
struct Tlds {
    ascii: PackedSet,
    /// The few ASCII TLDs too long to pack.
    long_ascii: Vec<&'static [u8]>,
    longest_ascii: usize,
    /// Sorted by first character, for a binary search.
    other: Vec<(char, Vec<Vec<char>>)>,
    /// Which characters below [`FOLDS_INTO_LATIN_BELOW`] start one of
    /// `other` once canonicalised: most labels start with one of them, and
    /// most start no such TLD, which this tells without the case mapping.
    other_first_below: Box<[bool]>,
}

/// Up to 16 non-zero bytes, ASCII lower-cased, as one integer (distinct
/// strings but for case, distinct integers); the ASCII TLD lookup runs for
/// every dot of every caption.
fn pack(bytes: &[u8]) -> Option<u128> {
    let fold = |acc: u128, b: &u8| acc << 8 | u128::from(b.to_ascii_lowercase());
    (bytes.len() <= 16).then(|| bytes.iter().fold(0, fold))
}

/// A set of packed strings as an open-addressing hash table: the TLD lookup
/// runs for every label of every URL candidate, where a binary search over
/// 1,500 TLDs was the top cost in profiles.
struct PackedSet {
    /// Power-of-two size, at most a quarter full; 0 marks a free slot
    /// (packed strings are non-zero).
    slots: Vec<u128>,
}

impl PackedSet {
    fn new(keys: impl Iterator<Item = u128>) -> Self {
        let keys: Vec<u128> = keys.collect();
        let mut set = PackedSet {
            slots: vec![0; (keys.len() * 4).next_power_of_two()],
        };
        for key in keys {
            let mut i = set.slot(key);
            while set.slots[i] != 0 && set.slots[i] != key {
                i = (i + 1) & (set.slots.len() - 1);
            }
            set.slots[i] = key;
        }
        set
    }

    /// The home slot of `key`: a multiplicative hash of its two halves.
    fn slot(&self, key: u128) -> usize {
        let mixed = (key as u64 ^ (key >> 64) as u64 ^ (key >> 93) as u64)
            .wrapping_mul(0x9e37_79b9_7f4a_7c15);
        (mixed >> (64 - self.slots.len().trailing_zeros())) as usize
    }

    fn contains(&self, key: u128) -> bool {
        let mut i = self.slot(key);
        loop {
            match self.slots[i] {
                0 => return false,
                k if k == key => return true,
                _ => i = (i + 1) & (self.slots.len() - 1),
            }
        }
    }
}

fn tlds() -> &'static Tlds {
    static TLDS: OnceLock<Tlds> = OnceLock::new();
    TLDS.get_or_init(|| {
        let all = include_str!("tlds.txt")
            .lines()
            .filter(|l| !l.is_empty() && !l.starts_with('#'));
        let (ascii, other): (Vec<&str>, Vec<&str>) = all.partition(|t| t.is_ascii());
        let mut by_first: HashMap<char, Vec<Vec<char>>> = HashMap::new();
        for tld in other {
            let chars: Vec<char> = tld.chars().map(canon).collect();
            by_first.entry(chars[0]).or_default().push(chars);
        }
        let packed = PackedSet::new(ascii.iter().filter_map(|t| pack(t.as_bytes())));
        let below = (0..FOLDS_INTO_LATIN_BELOW).filter_map(char::from_u32);
        let other_first_below = below.map(|c| by_first.contains_key(&canon(c))).collect();
        let mut other: Vec<(char, Vec<Vec<char>>)> = by_first.into_iter().collect();
        other.sort_unstable_by_key(|(first, _)| *first);
        Tlds {
            longest_ascii: ascii.iter().map(|t| t.len()).max().unwrap_or(0),
            long_ascii: ascii
                .iter()
                .map(|t| t.as_bytes())
                .filter(|t| pack(t).is_none())
                .collect(),
            ascii: packed,
            other,
            other_first_below,
        }
    })
}

/// Whether `c` lies in one of `blocks` (first and last code point). Pairs,
/// not `RangeInclusive`, whose `contains` also tests an exhaustion flag
/// (about 3 % slower when the hashtag scan still tested blocks this way).
fn in_blocks(c: char, blocks: &[(u32, u32)]) -> bool {
    let code = u32::from(c);
    blocks
        .iter()
        .any(|&(first, last)| first <= code && code <= last)
}

/// Blocks without case (CJK, kana, Hangul; a test checks every character):
/// the TLD lookup canonicalises the first character of every label, and
/// these are the common non-Latin ones.
const CASELESS_BLOCKS: [(u32, u32); 2] = [(0x3000, 0xa63f), (0xac00, 0xd7ff)];

/// JavaScript's case canonicalisation for a non-`u` regex with `i`: the
/// single-character upper case, unless that would map a non-ASCII character
/// to ASCII. Astral characters are surrogate pairs there, which never fold.
fn canon(c: char) -> char {
    if c as u32 > 0xffff || in_blocks(c, &CASELESS_BLOCKS) {
        return c;
    }
    let mut upper = c.to_uppercase();
    match (upper.next(), upper.next()) {
        (Some(u), None) if c.is_ascii() || !u.is_ascii() => u,
        _ => c,
    }
}

/// `validUrlPrecedingChars`: what may stand right before a URL.
fn may_precede(c: char) -> bool {
    !(c.is_ascii_alphanumeric()
        || matches!(
            c,
            '@' | '＠' | '$' | '#' | '＃' | '\u{fffe}' | '\u{feff}' | '\u{ffff}'
        ))
}

/// `validDomainChars`: anything but punctuation, spaces, non-characters and
/// directional marks.
fn is_domain_char(c: char) -> bool {
    const ASCII: AsciiClass = AsciiClass::not_punctuation_or_space("\"`");
    ASCII.has_or(c, |c| {
        !matches!(c as u32,
            0x85 | 0xa0 | 0x1680 | 0x180e | 0x2000..=0x200a | 0x2028 | 0x2029 | 0x202f | 0x205f
            | 0x3000 | 0xfffe | 0xfeff | 0xffff
            | 0x202a..=0x202e | 0x061c | 0x200e | 0x200f | 0x2066..=0x2069)
    })
}

/// No character from here on changes case into the Latin and Cyrillic
/// ranges that the URL classes test (a test checks every one), so those
/// classes skip the case mapping for CJK, emoji and the like.
const FOLDS_INTO_LATIN_BELOW: u32 = 0x3000;

/// A [`fold_flags`] flag: the character, or its case-insensitive form, is
/// a Cyrillic or accented-Latin letter (`is_path_letter`).
const PATH_LETTER: u8 = 1;
/// A [`fold_flags`] flag: the character, or its case-insensitive form, is
/// an accented-Latin letter (`is_ascii_domain_char`).
const ACCENTED: u8 = 2;

/// The flags of character `c` under the `i` flag, for `c` below
/// [`FOLDS_INTO_LATIN_BELOW`] (none from there on has any). The URL classes
/// test them on every non-ASCII character of paths and domains, where the
/// case mapping (a binary search) cost more than the rest of the test:
/// they are computed once, on first use.
fn fold_flags(c: char) -> u8 {
    static FOLDS_BELOW: OnceLock<Box<[u8]>> = OnceLock::new();
    let table = FOLDS_BELOW.get_or_init(|| {
        let letter = |c: char| matches!(c as u32, 0x0400..=0x04ff) || is_latin_accent(c);
        let flags = |c: char| {
            let folded = canon(c);
            let mut flags = 0;
            if letter(c) || letter(folded) {
                flags |= PATH_LETTER;
            }
            if is_latin_accent(c) || is_latin_accent(folded) {
                flags |= ACCENTED;
            }
            flags
        };
        let below = (0..FOLDS_INTO_LATIN_BELOW).filter_map(char::from_u32);
        below.map(flags).collect()
    });
    table.get(c as usize).copied().unwrap_or(0)
}

/// The Cyrillic and accented-Latin letters twitter-text allows in paths,
/// under the `i` flag.
fn is_path_letter(c: char) -> bool {
    fold_flags(c) & PATH_LETTER != 0
}

/// `validGeneralUrlPathChars`.
fn is_path_char(c: char) -> bool {
    const ASCII: AsciiClass = AsciiClass::alphanumeric_and("!*';:=+,.$/%#[]-_~@|&");
    ASCII.has_or(c, |c| c == '\u{2013}' || is_path_letter(c))
}

/// `validUrlPathEndingChars` (the single-character part).
fn is_path_ending(c: char) -> bool {
    const ASCII: AsciiClass = AsciiClass::alphanumeric_and("+-=_#/");
    ASCII.has_or(c, is_path_letter)
}

/// `validUrlQueryChars`.
fn is_query_char(c: char) -> bool {
    const ASCII: AsciiClass = AsciiClass::alphanumeric_and("!?*'@();:&=+$/%#[]-_.,~|");
    ASCII.has(c)
}

/// `validUrlQueryEndingChars`.
fn is_query_ending(c: char) -> bool {
    const ASCII: AsciiClass = AsciiClass::alphanumeric_and("-_&=#/");
    ASCII.has(c)
}

/// The `[\-a-z0-9…]` class of `validAsciiDomain` (accented Latin included).
fn is_ascii_domain_char(c: char) -> bool {
    if c.is_ascii() {
        c.is_ascii_alphanumeric() || c == '-'
    } else {
        fold_flags(c) & ACCENTED != 0
    }
}

/// Whether byte `at` of `s` is `b`: the URL grammar's separators are ASCII,
/// and testing their byte spares slicing and decoding the text there.
fn byte_is(s: &str, at: usize, b: u8) -> bool {
    s.as_bytes().get(at) == Some(&b)
}

/// Where the character that ends at byte `at` starts, if one does.
fn char_start_before(s: &str, at: usize) -> Option<usize> {
    let bytes = s.as_bytes();
    // UTF-8 continuation bytes are 0x80..=0xBF: below -0x40 as `i8`.
    (0..at).rev().find(|&i| bytes[i] as i8 >= -0x40)
}

/// End of the run of characters matching `keep`, from `at`.
fn run_end(s: &str, at: usize, keep: impl Fn(char) -> bool) -> usize {
    let mut i = at;
    while let Some(c) = char_at(s, i).filter(|&c| keep(c)) {
        i += c.len_utf8();
    }
    i
}

/// The lookahead after a TLD: `(?=[^0-9a-zA-Z@+-]|$)`.
fn tld_may_end(s: &str, at: usize) -> bool {
    !matches!(char_at(s, at), Some(c) if c.is_ascii_alphanumeric() || matches!(c, '@' | '+' | '-'))
}

/// `(?:validGTLD|validCCTLD|validPunycode)` at `at`; the lookahead sees the
/// end of `s` as the end of text. Returns where the TLD ends.
fn tld_at(s: &str, at: usize) -> Option<usize> {
    let tlds = tlds();
    let rest = &s[at..];
    let run = rest.bytes().take_while(u8::is_ascii_alphanumeric).count();
    // An ASCII TLD ends where the run does, or the lookahead fails.
    if (1..=tlds.longest_ascii).contains(&run) && tld_may_end(s, at + run) {
        let word = &rest.as_bytes()[..run];
        let known = match pack(word) {
            Some(p) => tlds.ascii.contains(p),
            None => tlds.long_ascii.iter().any(|t| t.eq_ignore_ascii_case(word)),
        };
        if known {
            return Some(at + run);
        }
    }
    let candidates = rest
        .chars()
        .next()
        .filter(|&c| {
            tlds.other_first_below
                .get(c as usize)
                .copied()
                .unwrap_or(true)
        })
        .and_then(|c| {
            let c = canon(c);
            let found = tlds.other.binary_search_by_key(&c, |(first, _)| *first);
            found.ok().map(|i| &tlds.other[i].1)
        });
    for tld in candidates.into_iter().flatten() {
        let mut text = rest.char_indices();
        let matched = tld
            .iter()
            .all(|&t| matches!(text.next(), Some((_, c)) if canon(c) == t));
        if matched {
            let end = text.next().map_or(s.len(), |(i, _)| at + i);
            if tld_may_end(s, end) {
                return Some(end);
            }
        }
    }
    let punycode = rest.len() > 4 && rest.as_bytes()[..4].eq_ignore_ascii_case(b"xn--");
    if punycode {
        let body = run_end(s, at + 4, |c| c.is_ascii_alphanumeric() || c == '-');
        if body > at + 4 {
            return Some(body);
        }
    }
    None
}

/// Why `domain_at` found no domain.
enum NoDomain {
    /// The failure does not depend on where in the first label's run the
    /// domain starts (no dot after the run, or no TLD after any label), so
    /// no start before `end` can succeed either.
    WholeRun { end: usize },
    /// Anything else.
    Other,
}

/// A domain that `domain_at` matched.
struct Domain {
    end: usize,
    /// Every label is 1 to 63 ASCII letters, digits and hyphens, and no
    /// `lead` precedes it: such a domain is valid as it stands and is its
    /// own only `validAsciiDomain` match (every label fits that regex's
    /// label class, and the TLD that ended it there ends it here too, the
    /// lookahead accepting the end of the domain), which spares most URLs
    /// the second pass over their domain.
    ldh: bool,
}

/// `validSubdomain* validDomainName (TLD)` from `at`. `lead` says a virtual
/// domain character precedes `at` (the second half of a surrogate pair in
/// JavaScript).
fn domain_at(text: &str, at: usize, lead: bool) -> Result<Domain, NoDomain> {
    // Dot-terminated labels, each the maximal run of label characters,
    // starting and ending with a domain character. Greedy `validSubdomain*`
    // makes the domain name the last label (without `_`) that a TLD
    // follows; walking forward and keeping the last success finds it.
    let mut found = None; // (TLD start, end, labels before it all LDH)
    let mut first: Option<(usize, bool)> = None; // (end, tried as domain name)
    let mut first_run_end = None;
    let mut ldh_labels = !lead;
    let mut start = at;
    loop {
        let (end, ldh) = label_run_end(text, start);
        first_run_end.get_or_insert(end);
        let virtual_first = lead && start == at;
        let label = &text.as_bytes()[start..end];
        // The run's characters are domain characters but for `_` and `-`,
        // so its bytes tell the first and last characters' tests.
        let domain_edge = |b: &u8| !matches!(b, b'_' | b'-');
        let ends_ok = label.last().map_or(virtual_first, domain_edge);
        let starts_ok = virtual_first || label.first().is_some_and(domain_edge);
        if !(starts_ok && ends_ok && byte_is(text, end, b'.')) {
            break;
        }
        let underscore = !ldh && label.contains(&b'_');
        ldh_labels &= ldh && label.len() <= MAX_DOMAIN_LABEL_LENGTH;
        if !underscore {
            if let Some(tld_end) = tld_at(text, end + 1) {
                found = Some((end + 1, tld_end, ldh_labels));
            }
        }
        first.get_or_insert((end, !underscore));
        start = end + 1;
    }
    match (found, first) {
        (Some((tld, end, ldh_labels)), _) => Ok(Domain {
            end,
            ldh: ldh_labels && end - tld <= MAX_DOMAIN_LABEL_LENGTH && is_ldh(&text[tld..end]),
        }),
        // No label at all: if the run has no dot after it, no start inside
        // it can do better.
        (None, None) => {
            let end = first_run_end.unwrap_or(at);
            let dotless = end > at && !byte_is(text, end, b'.');
            Err(if dotless {
                NoDomain::WholeRun { end }
            } else {
                NoDomain::Other
            })
        }
        // Only the first label depends on the start; if it was tried as the
        // domain name and no TLD followed, every start in its run fails alike.
        (None, Some((end, true))) => Err(NoDomain::WholeRun { end }),
        (None, Some((_, false))) => Err(NoDomain::Other),
    }
}

/// `validUrlBalancedParens` at an opening parenthesis: `(chars)` or
/// `(chars(chars)chars)`. Returns the end.
fn balanced_parens_at(text: &str, at: usize) -> Option<usize> {
    let first = run_end(text, at + 1, is_path_char);
    match char_at(text, first) {
        Some(')') if first > at + 1 => Some(first + 1),
        Some('(') => {
            let inner = run_end(text, first + 1, is_path_char);
            if inner == first + 1 || char_at(text, inner) != Some(')') {
                return None;
            }
            let last = run_end(text, inner + 1, is_path_char);
            (char_at(text, last) == Some(')')).then_some(last + 1)
        }
        _ => None,
    }
}

/// `validUrlPath*` after the `/` at `at - 1`: path characters and balanced
/// parentheses, ending at the last place a repetition can end. That is
/// after an ending character, or after a parenthesis group that starts
/// where a repetition ended: in twitter-text the group is a bare
/// alternative of `validUrlPath` (its `validUrlPathEndingChars` is spliced
/// in without brackets), so `/x–(a)` ends after `x`.
fn path_end(text: &str, at: usize) -> usize {
    let (mut i, mut last) = (at, at);
    loop {
        match char_at(text, i) {
            Some('(') => match balanced_parens_at(text, i) {
                Some(end) => {
                    if last == i {
                        last = end;
                    }
                    i = end;
                }
                None => break,
            },
            Some(c) if is_path_char(c) => {
                i += c.len_utf8();
                if is_path_ending(c) {
                    last = i;
                }
            }
            _ => break,
        }
    }
    last
}

/// `\?validUrlQueryChars*validUrlQueryEndingChars` after the `?` at
/// `at - 1`, if it matches.
fn query_end(text: &str, at: usize) -> Option<usize> {
    let run = &text[at..run_end(text, at, is_query_char)];
    run.rfind(is_query_ending).map(|i| at + i + 1)
}

/// `https?://`: the protocols, tried longest first.
const PROTOCOLS: [&[u8]; 2] = [b"https://", b"http://"];

/// Length of the protocol `s` starts with, case-insensitively.
fn protocol_len(s: &str) -> Option<usize> {
    let b = s.as_bytes();
    PROTOCOLS
        .iter()
        .find(|p| b.len() >= p.len() && b[..p.len()].eq_ignore_ascii_case(p))
        .map(|p| p.len())
}

/// One match of `extractUrl`.
struct UrlMatch {
    /// The preceding character, if one was consumed.
    before: Option<char>,
    start: usize,
    protocol_len: Option<usize>,
    /// Byte range of the domain; with `lead`, JavaScript's domain also has
    /// the second half of the preceding surrogate pair.
    domain: Range<usize>,
    /// See [`Domain::ldh`].
    ldh_domain: bool,
    lead: Option<char>,
    has_path: bool,
    end: usize,
}

/// The URL part of `extractUrl` at `at`: protocol (optional), domain, port,
/// path, query. `skip` is advanced past starts that cannot have a domain.
fn url_at(text: &str, at: usize, lead: Option<char>, skip: &mut usize) -> Option<UrlMatch> {
    let with_protocol = match lead.is_none().then(|| protocol_len(&text[at..])) {
        Some(Some(p)) => domain_at(text, at + p, false)
            .ok()
            .map(|domain| (Some(p), domain)),
        _ => None,
    };
    let (protocol_len, domain) = match with_protocol {
        Some(found) => found,
        None if at < *skip => return None,
        None => match domain_at(text, at, lead.is_some()) {
            Ok(domain) => (None, domain),
            Err(NoDomain::WholeRun { end }) => {
                *skip = end;
                return None;
            }
            Err(NoDomain::Other) => return None,
        },
    };
    let mut end = domain.end;
    if byte_is(text, end, b':') {
        let digits = run_end(text, end + 1, |c| c.is_ascii_digit());
        if digits > end + 1 {
            end = digits;
        }
    }
    let has_path = byte_is(text, end, b'/');
    if has_path {
        end = path_end(text, end + 1);
    }
    if byte_is(text, end, b'?') {
        end = query_end(text, end + 1).unwrap_or(end);
    }
    Some(UrlMatch {
        before: None,
        start: at,
        protocol_len,
        domain: at + protocol_len.unwrap_or(0)..domain.end,
        ldh_domain: domain.ldh,
        lead,
        has_path,
        end,
    })
}

/// The ASCII label characters: those of `validDomainChars`, `_` and `-`.
const LABEL_ASCII: AsciiClass = AsciiClass::not_punctuation_or_space("\"`_-");

fn is_label_char(c: char) -> bool {
    LABEL_ASCII.has_or(c, is_domain_char)
}

/// Lead bytes of the only non-ASCII characters that are not label
/// characters (spaces, directional marks, non-characters); any other
/// multi-byte character is one without decoding it.
const fn may_end_label(lead: u8) -> bool {
    matches!(lead, 0xc2 | 0xd8 | 0xe1 | 0xe2 | 0xe3 | 0xef)
}

/// ASCII letters, digits and hyphens: DNS's own label characters.
const LDH: AsciiClass = AsciiClass::alphanumeric_and("-");

/// What a byte tells a walk over a label run.
#[derive(Clone, Copy)]
enum LabelByte {
    /// An ASCII letter, digit or hyphen.
    Ldh,
    /// Part of a label character that is not LDH: another ASCII label
    /// character, a continuation byte, or the lead byte of a multi-byte
    /// label character.
    Other,
    /// The lead byte of a character that may not be a label character
    /// ([`may_end_label`]): only decoding it tells.
    Check,
    /// An ASCII character that is not a label character.
    Stop,
}

/// Every byte's [`LabelByte`]. Label runs are walked for every dot of every
/// caption, and one lookup per byte replaces a chain of tests.
const LABEL_BYTES: [LabelByte; 256] = {
    let mut table = [LabelByte::Other; 256];
    let mut b = 0;
    while b < 256 {
        let byte = b as u8;
        table[b] = if LDH.has_byte(byte) {
            LabelByte::Ldh
        } else if byte >= 0x80 {
            if may_end_label(byte) {
                LabelByte::Check
            } else {
                LabelByte::Other
            }
        } else if LABEL_ASCII.has_byte(byte) {
            LabelByte::Other
        } else {
            LabelByte::Stop
        };
        b += 1;
    }
    table
};

/// Whether `label` is all LDH characters.
fn is_ldh(label: &str) -> bool {
    label.bytes().all(|b| LDH.has(char::from(b)))
}

/// End of the run of label characters from `at`, and whether the run is all
/// LDH characters. Label runs are scanned for every dot of every caption,
/// so this works on bytes and decodes only where a lead byte may start a
/// non-label character, and it tells the later checks what they would
/// otherwise walk the labels again to learn.
fn label_run_end(s: &str, at: usize) -> (usize, bool) {
    let bytes = s.as_bytes();
    let (mut i, mut ldh) = (at, true);
    while let Some(&b) = bytes.get(i) {
        match LABEL_BYTES[usize::from(b)] {
            // One branch for both: labels mix them, and which one it is
            // only sets the flag.
            class @ (LabelByte::Ldh | LabelByte::Other) => {
                ldh &= matches!(class, LabelByte::Ldh);
                i += 1;
            }
            LabelByte::Check => match char_at(s, i) {
                Some(c) if is_label_char(c) => {
                    ldh = false;
                    i += c.len_utf8();
                }
                _ => break,
            },
            LabelByte::Stop => break,
        }
    }
    (i, ldh)
}

/// Start of the run of label characters that ends at `end`, or `floor` if
/// the run starts before it.
fn label_run_start(s: &str, end: usize, floor: usize) -> usize {
    let bytes = s.as_bytes();
    let mut i = end;
    while i > floor {
        match LABEL_BYTES[usize::from(bytes[i - 1])] {
            LabelByte::Stop => return i,
            LabelByte::Check => {
                if let Some(c) = char_at(s, i - 1).filter(|&c| !is_label_char(c)) {
                    return i - 1 + c.len_utf8();
                }
            }
            LabelByte::Ldh | LabelByte::Other => {}
        }
        i -= 1;
    }
    floor
}

/// Where the regex could first match before the dot at `dot`: the
/// position of the character preceding the protocol or the label run that
/// ends at this dot (a domain's first label always ends at a dot). Any
/// answer at or before `floor` may come out as one at or before `floor`.
/// Also returns where that label run starts (or `floor`): before it, only
/// the protocol's start can match.
fn first_try_before(text: &str, dot: usize, floor: usize) -> (usize, usize) {
    let run_start = label_run_start(text, dot, floor);
    let head = &text.as_bytes()[..run_start];
    let url_start = PROTOCOLS
        .iter()
        .find(|p| head.len() >= p.len() && head[head.len() - p.len()..].eq_ignore_ascii_case(p))
        .map_or(run_start, |p| run_start - p.len());
    (char_start_before(text, url_start).unwrap_or(0), run_start)
}

/// The next match of the global `extractUrl` regex at or after `from`, if
/// it starts before `until` and its domain's first dot is before
/// `dots_until`. Start positions are tried in order, as the regex engine
/// would, but only those that lead to a label run ending in a dot: no other
/// can match.
fn next_match(text: &str, from: usize, until: usize, dots_until: usize) -> Option<UrlMatch> {
    let mut skip = 0;
    let mut s = from;
    loop {
        let after_first = s + char_at(text, s)?.len_utf8();
        let dot = byte_search::find_dot(text.as_bytes(), after_first, dots_until)?;
        let (first, run_start) = first_try_before(text, dot, s);
        s = s.max(first);
        // No domain starts before the run: its first label would have
        // to end at a dot before this one. Only the protocol may start there.
        skip = skip.max(run_start);
        if s >= until {
            return None;
        }
        while s < dot {
            let c = char_at(text, s)?;
            let after = s + c.len_utf8();
            if may_precede(c) {
                // In UTF-16 an astral character is two units: the regex
                // first tries a URL starting on its second half.
                let lead = (c as u32 > 0xffff).then_some(c);
                for lead in lead.into_iter().map(Some).chain([None]) {
                    if let Some(m) = url_at(text, after, lead, &mut skip) {
                        return Some(UrlMatch {
                            before: Some(c),
                            ..m
                        });
                    }
                }
            }
            if s == 0 {
                if let Some(m) = url_at(text, 0, None, &mut skip) {
                    return Some(m);
                }
            }
            // Starts before `skip` cannot have a domain, nor a protocol
            // (inside a label run none can; before the run that ends at the
            // dot, only the protocol's start, which comes first, can).
            s = if skip > after {
                char_start_before(text, skip).unwrap_or(after)
            } else {
                after
            };
        }
    }
}

/// `validAsciiDomain` at `start` of `domain`: `Ok(end)`, or `Err(next)`,
/// the next start worth trying (no start inside the first label's run can
/// do better, since only that label's length depends on the start).
fn ascii_domain_at(domain: &str, start: usize) -> Result<usize, usize> {
    let (mut found, mut first_end, mut at) = (None, None, start);
    loop {
        let end = run_end(domain, at, is_ascii_domain_char);
        if end == at || !domain[end..].starts_with('.') {
            let next = first_end.unwrap_or(end);
            let next = if next > start {
                next
            } else {
                start + char_at(domain, start).map_or(1, char::len_utf8)
            };
            return found.ok_or(next);
        }
        first_end.get_or_insert(end);
        found = tld_at(domain, end + 1).or(found);
        at = end + 1;
    }
}

/// Matches of the global `validAsciiDomain` regex in `domain`, in order.
fn ascii_domains(domain: &str) -> impl Iterator<Item = Range<usize>> + '_ {
    let mut at = 0;
    std::iter::from_fn(move || {
        while at < domain.len() {
            match ascii_domain_at(domain, at) {
                Ok(end) => {
                    let found = at..end;
                    at = end;
                    return Some(found);
                }
                Err(next) => at = next,
            }
        }
        None
    })
}

/// twitter-text's `isValidUrl`: the URL fits its length limit and every
/// domain label fits DNS's after IDNA encoding.
fn is_valid(text: &str, m: &UrlMatch) -> bool {
    let lead_low = m.lead.map(|c| {
        let mut units = [0u16; 2];
        c.encode_utf16(&mut units);
        u32::from(units[1])
    });
    let fits = |units: usize| {
        m.protocol_len.unwrap_or(DEFAULT_PROTOCOL_LEN) + units + usize::from(lead_low.is_some())
            <= MAX_URL_LENGTH
    };
    // A URL has no more UTF-16 units than bytes: most are counted without
    // encoding them.
    let url = &text[m.start..m.end];
    if !(fits(url.len()) || fits(url.encode_utf16().count())) {
        return false;
    }
    if m.ldh_domain {
        return true;
    }
    let domain = &text[m.domain.clone()];
    let bad_punycode =
        lead_low.is_none() && domain.starts_with("xn--") && ascii_domains(domain).next().is_none();
    !bad_punycode && labels_fit(lead_low, domain)
}

/// Whether every label of `domain` (after the lone surrogate half
/// `lead_low`, if any) is 1 to 63 characters once punycode-encoded.
fn labels_fit(lead_low: Option<u32>, domain: &str) -> bool {
    // Split on dot bytes: `str::split` costs more than the checks here.
    let mut rest = Some(domain);
    let labels = std::iter::from_fn(|| {
        let label = rest?;
        let dot = label.bytes().position(|b| b == b'.');
        rest = dot.map(|d| &label[d + 1..]);
        Some(dot.map_or(label, |d| &label[..d]))
    });
    labels.enumerate().all(|(i, label)| {
        let lead = lead_low.filter(|_| i == 0);
        let points = label.chars().count() + usize::from(lead.is_some());
        let basic = label.bytes().filter(u8::is_ascii).count();
        if let Some(fits) = punycode::fits_by_counts(points, basic, MAX_DOMAIN_LABEL_LENGTH) {
            return fits;
        }
        // punycode.js decodes surrogate pairs: code points, plus the lone
        // half at the front of the first label. The counts rejected labels
        // of more code points than the limit, so a fixed buffer holds it.
        let mut buffer = [0u32; MAX_DOMAIN_LABEL_LENGTH];
        let code_points = lead.into_iter().chain(label.chars().map(u32::from));
        for (slot, point) in buffer.iter_mut().zip(code_points) {
            *slot = point;
        }
        punycode::to_ascii_fits(&buffer[..points], MAX_DOMAIN_LABEL_LENGTH)
    })
}

/// `validTcoUrl` on a URL with a protocol: `Some(Ok(len))` for a t.co link
/// cut to its slug and query, `Some(Err(()))` for a slug that is too long.
fn tco_len(url: &str, protocol_len: usize) -> Option<Result<usize, ()>> {
    let rest = &url[protocol_len..];
    if rest.len() < 5 || !rest.as_bytes()[..5].eq_ignore_ascii_case(b"t.co/") {
        return None;
    }
    let slug_start = protocol_len + 5;
    let slug_end = run_end(url, slug_start, |c| c.is_ascii_alphanumeric());
    let slug = slug_end - slug_start;
    if slug == 0 {
        return None;
    }
    if slug > MAX_TCO_SLUG_LENGTH {
        return Some(Err(()));
    }
    let end = if url[slug_end..].starts_with('?') {
        query_end(url, slug_end + 1).unwrap_or(slug_end)
    } else {
        slug_end
    };
    Some(Ok(end))
}

/// What the URL pass needs to check one hashtag: where to start scanning,
/// and the limit for the first dot of a URL that could hold the sign.
struct UrlScan {
    start: usize,
    dots_until: usize,
}

/// What the URL pass needs to find any URL holding the hashtag whose sign
/// is at `at`, or `None` if none can. An ASCII `#` is never part of a
/// domain, so inside a URL it sits in the path or the query: walking back
/// from it over path and query characters reaches a `/` or `?`, and the
/// domain's dot comes before that in the same word. A full-width `＃` is a
/// label character, so inside a URL it sits in the domain, in a label
/// before the TLD (no TLD holds it): a dot and a TLD follow it among the
/// labels after it.
fn url_scan(text: &str, at: usize) -> Option<UrlScan> {
    let bytes = text.as_bytes();
    if bytes[at] != b'#' {
        let (dots_until, tld_follows) = labels_after(text, at);
        if !tld_follows {
            return None;
        }
        let start = word_start(text, at);
        return Some(UrlScan { start, dots_until });
    }
    // Walks back over bytes, decoding only non-ASCII characters: this runs
    // for every hashtag.
    let mut i = at;
    let opener = loop {
        match *bytes[..i].last()? {
            b'/' | b'?' => break i - 1,
            b if b.is_ascii() => {
                let c = char::from(b);
                if !(is_path_char(c) || is_query_char(c)) {
                    return None;
                }
                i -= 1;
            }
            _ => {
                let start = char_start_before(text, i)?;
                if !char_at(text, start).is_some_and(is_path_char) {
                    return None;
                }
                i = start;
            }
        }
    };
    let start = word_start(text, opener);
    let dot = byte_search::find_dot(bytes, start, opener);
    dot.map(|_| UrlScan {
        start,
        dots_until: at,
    })
}

/// End of the labels and dots from `at` (a domain holding the character
/// at `at` ends there or before), and whether a TLD starts after one of
/// those dots (a domain holding it in a label needs one).
fn labels_after(text: &str, at: usize) -> (usize, bool) {
    let mut end = label_run_end(text, at).0;
    let mut tld_follows = false;
    while byte_is(text, end, b'.') {
        tld_follows = tld_follows || tld_at(text, end + 1).is_some();
        end = label_run_end(text, end + 1).0;
    }
    (end, tld_follows)
}

/// Where the global regex's scan may restart before `at` and find the same
/// matches from there on: the last ASCII whitespace before `at` (the regex
/// may consume it as a URL's preceding character), else the text's start.
/// No URL contains one, so every match ends before it or starts at it or
/// later.
fn word_start(text: &str, at: usize) -> usize {
    byte_search::last_whitespace_before(text.as_bytes(), at).unwrap_or(0)
}

/// Byte ranges of the URL entities twitter-text finds in `text`, in order,
/// among them every one that could contain one of the hashtag signs at
/// `signs` (in increasing order), into `urls` (cleared first). Only the
/// word before each sign is scanned: a URL reaching it starts there.
pub fn url_ranges(
    text: &str,
    signs: impl IntoIterator<Item = usize>,
    urls: &mut Vec<Range<usize>>,
) {
    urls.clear();
    let mut from_next = 0;
    for at in signs {
        // A match found for an earlier sign reaches past this one: the
        // URL entity holding it, if any, is known.
        if at < from_next {
            continue;
        }
        let Some(scan) = url_scan(text, at) else {
            continue;
        };
        let from = from_next.max(scan.start);
        // Hashtags before `at` that were not signs to check lie in no
        // URL, so only URLs reaching past `at` matter.
        from_next = urls_between(text, from, at, scan.dots_until, at, urls);
    }
}

/// Adds the URL entities of the global regex's matches that start between
/// `from` and `until` (and have their first dot before `dots_until`) to
/// `urls`; returns where the global scan resumes: the end of the last
/// match, or `until` if that is later (no match starts before it).
/// Matches that end by `reach` are passed over unchecked: their entities
/// lie within them, so they cannot hold a hashtag from `reach` on, and the
/// scan only needs their ends.
fn urls_between(
    text: &str,
    mut from: usize,
    until: usize,
    dots_until: usize,
    reach: usize,
    urls: &mut Vec<Range<usize>>,
) -> usize {
    while let Some(m) = next_match(text, from, until, dots_until) {
        from = m.end;
        // Without a protocol, a URL after `-`, `_`, `.` or `/` is not one;
        // that is checked first, being cheaper than the validity check.
        let bad_before =
            m.protocol_len.is_none() && matches!(m.before, Some('-' | '_' | '.' | '/'));
        if m.end <= reach || bad_before || !is_valid(text, &m) {
            continue;
        }
        match m.protocol_len {
            None => {
                let offset = m.domain.start;
                let domain = &text[m.domain.clone()];
                if m.ldh_domain {
                    urls.push(m.domain.clone());
                } else {
                    let found = ascii_domains(domain);
                    urls.extend(found.map(|r| offset + r.start..offset + r.end));
                }
                // Only a path (not a query alone) extends the last domain.
                if let (true, Some(last)) = (m.has_path, urls.last_mut()) {
                    if last.start >= offset {
                        last.end = m.end;
                    }
                }
            }
            Some(p) => match tco_len(&text[m.start..m.end], p) {
                Some(Err(())) => {}
                Some(Ok(len)) => urls.push(m.start..m.start + len),
                None => urls.push(m.start..m.end),
            },
        }
    }
    from.max(until)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn urls(text: &str) -> Vec<&str> {
        let mut found = Vec::new();
        urls_between(text, 0, text.len(), text.len(), 0, &mut found);
        found.into_iter().map(|r| &text[r]).collect()
    }

    #[test]
    fn no_character_folds_into_latin_from_the_shortcut_on() {
        let latin_or_cyrillic = |c: char| matches!(c as u32, 0x0400..=0x04ff) || is_latin_accent(c);
        let folding: Vec<char> = (FOLDS_INTO_LATIN_BELOW..=0x10ffff)
            .filter_map(char::from_u32)
            .filter(|&c| !latin_or_cyrillic(c) && latin_or_cyrillic(canon(c)))
            .collect();
        assert!(folding.is_empty(), "{folding:?}");
    }

    #[test]
    fn caseless_blocks_have_no_case() {
        let caseless = CASELESS_BLOCKS
            .iter()
            .flat_map(|&(first, last)| first..=last);
        for c in caseless.filter_map(char::from_u32) {
            let mut upper = c.to_uppercase();
            assert_eq!((upper.next(), upper.next()), (Some(c), None), "{c:?}");
        }
    }

    #[test]
    fn urls_with_and_without_protocol() {
        assert_eq!(
            urls("see http://example.com/#anchor now"),
            ["http://example.com/#anchor"]
        );
        assert_eq!(urls("example.com/#anchor"), ["example.com/#anchor"]);
        assert_eq!(urls("go to www.Example.ORG."), ["www.Example.ORG"]);
        assert_eq!(
            urls("HTTPS://x.io:8080/a(b)c?q=1&r=#f"),
            ["HTTPS://x.io:8080/a(b)c?q=1&r=#f"]
        );
        assert!(urls("no.1 and 3.14").is_empty());
        assert!(urls("example.comx").is_empty());
    }

    fn url_scan_start(text: &str, at: usize) -> Option<usize> {
        url_scan(text, at).map(|scan| scan.start)
    }

    #[test]
    fn only_signs_a_url_could_hold_need_the_url_pass() {
        // `#` in a path or query after a dotted word.
        assert_eq!(url_scan_start("see a.com/x#tag", 11), Some(3));
        assert_eq!(url_scan_start("see a.com?q=#tag", 12), Some(3));
        assert_eq!(url_scan_start("see a,com/#tag", 10), None);
        assert_eq!(url_scan_start("see a.com #tag", 10), None);
        // `＃` in the labels of a domain, with a TLD after it.
        assert_eq!(url_scan_start("see ＃tag.com", 4), Some(3));
        assert_eq!(url_scan_start("see a.＃tag.jp", 6), Some(3));
        assert_eq!(url_scan_start("see a.＃tag", 6), None);
        assert_eq!(url_scan_start("see ＃tag.comx", 4), None);
        assert_eq!(url_scan_start("see ＃tag com.x", 4), None);
        assert_eq!(url_scan_start("see ＃tag/a.com", 4), None);
    }

    #[test]
    fn twitter_text_quirks() {
        // A query without a path does not extend a bare domain.
        assert_eq!(urls("example.com?q=#tag"), ["example.com"]);
        // Bare domains after `-`, `_`, `.`, `/` are not URLs.
        assert!(urls("-example.com _example.com").is_empty());
        // After an emoji, the URL may begin on its second UTF-16 unit.
        assert_eq!(urls("🚀-example.com/#a"), ["-example.com/#a"]);
        // A parenthesis group ends a path only where a repetition ended.
        assert_eq!(urls("http://a.com/x–(a)"), ["http://a.com/x"]);
        assert_eq!(urls("http://a.com/x(a)–(b)c"), ["http://a.com/x(a)–(b)c"]);
        // t.co links end at the slug; slugs over 40 characters are rejected.
        assert_eq!(urls("https://t.co/abc/def"), ["https://t.co/abc"]);
        assert!(urls(&format!("https://t.co/{}", "a".repeat(41))).is_empty());
        // Non-Latin labels need a protocol.
        assert!(urls("пример.рф").is_empty());
        assert_eq!(urls("http://пример.рф"), ["http://пример.рф"]);
        // A label over 63 characters after IDNA makes the URL invalid.
        assert!(urls(&format!("{}.com", "a".repeat(64))).is_empty());
        // TLDs longer than the packed lookup takes, and one that starts ASCII.
        assert_eq!(
            urls("x.travelersinsurance x.vermögensberatung"),
            ["x.travelersinsurance", "x.vermögensberatung"]
        );
    }
}
