//! Deterministic synthetic captions: mixed scripts, emoji, URLs with
//! fragments, numbers, mentions and hashtags in every position. The
//! differential test against twitter-text and the extraction benchmark draw
//! their input from here, so both see the same text.

/// A small, fast, seedable generator (SplitMix64): reproducible corpora
/// without a dependency.
pub struct Rng(u64);

impl Rng {
    /// A generator from a seed.
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }

    /// Next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// One element of a non-empty slice.
    pub fn pick<T: Copy>(&mut self, items: &[T]) -> T {
        items[self.below(items.len())]
    }
}

const WORDS: &[&str] = &[
    "sunset",
    "beach",
    "Rust",
    "rust",
    "AWS",
    "café",
    "naïve",
    "Straße",
    "день",
    "Привет",
    "日本語",
    "ハッシュタグ",
    "テスト",
    "महात्मा_१२३४",
    "ශ්‍රීලංකා",
    "il·lusió",
    "مرحبا",
    "שלום",
    "한국어",
    "ñandú",
    "x_y",
    "émile",
    "ÀÉÎ",
    "ＲＵＳＴ",
    "1hashtag",
    "travel",
    "foodie",
    "love",
    "photooftheday",
    "ig",
    "ca",
    "k-pop",
    "no.1",
    "Ⅻ",
    "ǅ",
    "ß",
    "ﬁ",
];
const NUMBERS: &[&str] = &["1", "16", "2026", "_", "1_2", "٣", "१२", "3.14", "½", "²"];
const SEPARATORS: &[&str] = &[
    " ", " ", " ", "  ", "\n", ",", ".", "。", "!", "?", "&", "-", "/", "(", ")", ":", "'", "\"",
    "、", "\u{200d}", "\u{200c}", "\u{fe0f}", "\u{00a0}", "　", "~", "～", "·", "*", "$", "%",
];
const SIGNS: &[&str] = &[
    "#", "#", "#", "#", "＃", "@", "@", "＠", "##", "RT@", "RT:@", "rt @", "a@", "&#", "_#", "#️⃣",
    "@@", "#@", "@#",
];
const URLS: &[&str] = &[
    "http://example.com/#anchor",
    "https://t.co/abc#frag",
    "www.example.org/#top",
    "#http://example.com",
    "https://example.com/tag/#rust?x=1",
    "example.com/#anchor",
    "https://例え.jp/#日本",
    "ftp://host/#x",
    "mailto:a@example.com",
    "a@example.com",
    "@user/list-name",
    "https://x.io/@someone",
];
const PROTOCOLS: &[&str] = &["", "", "", "http://", "https://", "HTTPS://", "ftp://"];
const LABELS: &[&str] = &[
    "www",
    "example",
    "a_b",
    "x-y",
    "-x",
    "日本",
    "café",
    "xn--r8jz45g",
    "🦀",
    "t",
    "sub",
    "ÀÉ",
];
const TLDS: &[&str] = &[
    "com",
    "co",
    "jp",
    "org",
    "рф",
    "みんな",
    "vermögensberatung",
    "comx",
    "onion",
    "xn--p1ai",
    "c",
    "COM",
    "io",
    "香港",
    "嘉里大酒店",
];
const PATHS: &[&str] = &[
    "",
    "",
    "/",
    "/#anchor",
    "/a(b)c",
    "/(a(b)c)#t",
    "/@user/",
    "/tag/#rust",
    "/–",
    "/é#x",
    "/!!",
    "/path.",
    "/x#y#z",
];
const QUERIES: &[&str] = &["", "", "?q=#x", "?a=1&b=#c", "?#", "?!", "?q=(1)"];

/// A URL-like token built from parts, so the differential test reaches the
/// corners of twitter-text's URL grammar (ports, parentheses, queries,
/// IDN labels, TLDs that are prefixes of words).
fn url(rng: &mut Rng) -> String {
    let mut out = rng.pick(PROTOCOLS).to_string();
    for _ in 0..1 + rng.below(3) {
        out.push_str(rng.pick(LABELS));
        out.push('.');
    }
    out.push_str(rng.pick(TLDS));
    if rng.below(6) == 0 {
        out.push_str(":8080");
    }
    out.push_str(rng.pick(PATHS));
    out.push_str(rng.pick(QUERIES));
    out
}

const EMOJI: &[&str] = &["😀", "🚀", "👍🏽", "👨‍👩‍👧", "❤️", "🇯🇵", "#️⃣", "🦀"];

/// One caption of 1 to ~40 tokens.
pub fn caption(rng: &mut Rng) -> String {
    let tokens = 1 + rng.below(40);
    let mut out = String::new();
    for i in 0..tokens {
        if i > 0 || rng.below(4) == 0 {
            out.push_str(rng.pick(SEPARATORS));
        }
        match rng.below(10) {
            0..=3 => out.push_str(rng.pick(WORDS)),
            4..=6 => {
                out.push_str(rng.pick(SIGNS));
                out.push_str(if rng.below(5) == 0 {
                    rng.pick(NUMBERS)
                } else {
                    rng.pick(WORDS)
                });
                if rng.below(4) == 0 {
                    out.push_str(rng.pick(WORDS));
                }
            }
            7 if rng.below(2) == 0 => out.push_str(rng.pick(URLS)),
            7 => out.push_str(&url(rng)),
            8 => out.push_str(rng.pick(EMOJI)),
            _ => out.push_str(rng.pick(NUMBERS)),
        }
    }
    out
}

/// `n` captions from `seed`.
pub fn captions(seed: u64, n: usize) -> Vec<String> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| caption(&mut rng)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn corpora_are_reproducible_and_varied() {
        let a = captions(7, 1000);
        assert_eq!(a, captions(7, 1000));
        assert_ne!(a, captions(8, 1000));
        assert!(a.iter().any(|c| c.contains('#')) && a.iter().any(|c| !c.is_ascii()));
    }
}
