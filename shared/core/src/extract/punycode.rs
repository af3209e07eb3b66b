//! The length of a domain label after `punycode.toASCII`, which twitter-text
//! uses to reject URLs whose labels would exceed DNS's 63 characters.

const BASE: u32 = 36;
const T_MIN: u32 = 1;
const T_MAX: u32 = 26;
const SKEW: u32 = 38;
const DAMP: u32 = 700;
const INITIAL_BIAS: u32 = 72;
const INITIAL_N: u32 = 128;
const MAX_INT: u32 = 0x7fff_ffff;

/// Separators punycode.js treats like `.` inside a label.
fn is_separator(c: u32) -> bool {
    matches!(c, 0x2e | 0x3002 | 0xff0e | 0xff61)
}

/// Whether `punycode.toASCII` of a label of `points` code points, `basic`
/// of them ASCII, is 1 to `max` characters long, when the counts alone
/// decide; `None` when only encoding the label can tell. Domain labels are
/// checked on every URL with a non-ASCII domain, and almost all are decided
/// here, without decoding them into code points:
/// - every code point costs at least one output character, so a label can
///   be too long for sure;
/// - every delta punycode encodes for a label that short is below 10^8
///   (code point range times label length), so it takes at most
///   [`MAX_DIGITS`] digits (each digit but the last divides what is left by
///   at least `BASE - T_MAX` = 10); a separator costs its `.` plus at most
///   `xn--` and `-` for the part it starts, fewer than that too. So a label
///   can also fit for sure.
pub fn fits_by_counts(points: usize, basic: usize, max: usize) -> Option<bool> {
    if points == basic || points > max {
        return Some((1..=max).contains(&points));
    }
    let ceiling = "xn--".len() + basic + "-".len() + (points - basic) * MAX_DIGITS;
    (ceiling <= max).then_some(true)
}

/// Most digits one delta takes in a label that [`fits_by_counts`] does not
/// reject (at most 63 code points, plus a lone surrogate half).
const MAX_DIGITS: usize = 9;

/// Whether `punycode.toASCII(label)` is 1 to `max` characters long, for a
/// label given as code points (a lone surrogate may appear, as in
/// JavaScript); false where punycode.js would throw (overflow).
pub fn to_ascii_fits(label: &[u32], max: usize) -> bool {
    to_ascii_len(label).is_some_and(|n| (1..=max).contains(&n))
}

/// Length of `punycode.toASCII(label)` for a label given as code points (a
/// lone surrogate may appear, as in JavaScript). `None` where
/// punycode.js would throw (overflow).
fn to_ascii_len(label: &[u32]) -> Option<usize> {
    let mut len = 0;
    for (i, part) in label.split(|&c| is_separator(c)).enumerate() {
        len += usize::from(i > 0);
        len += if part.iter().any(|&c| c >= 0x80) {
            4 + encoded_len(part)?
        } else {
            part.len()
        };
    }
    Some(len)
}

fn adapt(delta: u32, points: u32, first: bool) -> u32 {
    let mut delta = if first { delta / DAMP } else { delta >> 1 };
    delta += delta / points;
    let mut k = 0;
    while delta > ((BASE - T_MIN) * T_MAX) >> 1 {
        delta /= BASE - T_MIN;
        k += BASE;
    }
    k + (BASE - T_MIN + 1) * delta / (delta + SKEW)
}

/// Length of the RFC 3492 encoding of `input`, following punycode.js's
/// `encode` step for step.
fn encoded_len(input: &[u32]) -> Option<usize> {
    let basic = input.iter().filter(|&&c| c < 0x80).count();
    let mut out = basic + usize::from(basic > 0);
    let (mut n, mut delta, mut bias) = (INITIAL_N, 0u32, INITIAL_BIAS);
    let mut handled = basic;
    while handled < input.len() {
        let m = input.iter().copied().filter(|&c| c >= n).min()?;
        let plus_one = handled as u32 + 1;
        if m - n > (MAX_INT - delta) / plus_one {
            return None;
        }
        delta += (m - n) * plus_one;
        n = m;
        for &c in input {
            if c < n {
                delta += 1;
                if delta > MAX_INT {
                    return None;
                }
            }
            if c == n {
                let mut q = delta;
                let mut k = BASE;
                loop {
                    let t = if k <= bias {
                        T_MIN
                    } else if k >= bias + T_MAX {
                        T_MAX
                    } else {
                        k - bias
                    };
                    if q < t {
                        break;
                    }
                    out += 1;
                    q = (q - t) / (BASE - t);
                    k += BASE;
                }
                out += 1;
                bias = adapt(delta, handled as u32 + 1, handled == basic);
                delta = 0;
                handled += 1;
            }
        }
        delta += 1;
        n += 1;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn len(s: &str) -> Option<usize> {
        to_ascii_len(&s.chars().map(u32::from).collect::<Vec<_>>())
    }

    #[test]
    fn lengths_match_known_encodings() {
        assert_eq!(len("example"), Some(7));
        // punycode.toASCII("例え") == "xn--r8jz45g"
        assert_eq!(len("例え"), Some("xn--r8jz45g".len()));
        // punycode.toASCII("bücher") == "xn--bcher-kva"
        assert_eq!(len("bücher"), Some("xn--bcher-kva".len()));
        // punycode.toASCII("a。b") == "a.b"
        assert_eq!(len("a。b"), Some(3));
        // Astral characters count as one code point, as in punycode.js.
        assert_eq!(len("ශ්‍රීලංකා️महात्मा_१२३४‍🦀"), Some(62));
    }

    #[test]
    fn labels_stay_under_the_count_bound() {
        // The costliest labels: the highest code points, in orders that
        // make the deltas largest, up to the longest label not rejected.
        let high = [0x10ffff, 0x10fffe, 0x80, 0xffff, 0x10fff0, 0x81, 0x3002];
        for n in 1..=64 {
            for rotation in 0..high.len() {
                let mut label: Vec<u32> = high
                    .iter()
                    .cycle()
                    .skip(rotation)
                    .take(n)
                    .copied()
                    .collect();
                for order in 0..2 {
                    if order == 1 {
                        label.reverse();
                    }
                    let bound = 5 + n * MAX_DIGITS;
                    let got = to_ascii_len(&label).expect("no overflow");
                    assert!(got <= bound, "{label:x?}: {got} > {bound}");
                }
            }
        }
    }

    #[test]
    fn counts_agree_with_the_length_when_they_decide() {
        let points = |s: &str| s.chars().map(u32::from).collect::<Vec<_>>();
        let mut decided = 0;
        for (label, max) in [
            ("例え", 11),
            ("例え", 10),
            ("example", 63),
            ("bücher", 13),
            ("vermögensberatung", 63),
            ("a".repeat(64).as_str(), 63),
            (&"a。".repeat(30), 63),
            (&"é".repeat(59), 63),
            (&"é".repeat(64), 63),
            ("🦀日本", 63),
            ("🦀日本", 12),
        ] {
            let fits = len(label).is_some_and(|n| (1..=max).contains(&n));
            assert_eq!(to_ascii_fits(&points(label), max), fits, "{label} {max}");
            let basic = label.chars().filter(char::is_ascii).count();
            if let Some(by_counts) = fits_by_counts(label.chars().count(), basic, max) {
                assert_eq!(by_counts, fits, "{label} {max}");
                decided += 1;
            }
        }
        assert_eq!(decided, 5);
    }
}
