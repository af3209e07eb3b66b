//! The byte searches extraction runs on every caption: signs, word starts,
//! dots. Captions are a few hundred bytes, with what is searched for every
//! few dozen: a search's start-up and its unpredictable branches cost as
//! much as the search. So on x86_64 they come from SSE2 bit masks over
//! 64-byte blocks ([`sse2`]); elsewhere they are memchr's ([`portable`],
//! NEON on aarch64). The `portable-search` feature selects the latter on
//! x86_64 too, so that CI builds and tests what aarch64, the template's
//! default Lambda architecture, runs.

// SSE2 on x86_64 unless `portable-search`; portable otherwise, and in
// tests, which check it everywhere.
#[cfg(all(target_arch = "x86_64", not(feature = "portable-search")))]
mod sse2;
#[cfg(all(target_arch = "x86_64", not(feature = "portable-search")))]
pub(super) use sse2::{find_dot, last_whitespace_before, SignBytes};

#[cfg(any(test, not(target_arch = "x86_64"), feature = "portable-search"))]
mod portable;
#[cfg(any(not(target_arch = "x86_64"), feature = "portable-search"))]
pub(super) use portable::{find_dot, last_whitespace_before, SignBytes};

#[cfg(test)]
mod tests {
    use super::*;

    /// `short` texts, one of three blocks with `a` and `b` on and off
    /// block edges, and `captions` corpus captions.
    fn texts(short: &[&str], a: char, b: char, captions: usize) -> Vec<String> {
        let mut texts: Vec<String> = short.iter().map(|t| t.to_string()).collect();
        let (x, y, z) = ("x".repeat(63), "y".repeat(64), "z".repeat(70));
        texts.push(format!("{x}{a}{y}{b}{z}"));
        texts.extend(hashtag_tools::corpus::captions(5, captions));
        texts
    }

    #[test]
    fn the_last_whitespace_of_each_kind_is_found() {
        let short = [
            "", "a", " a", "a b\tc", "a\rb c", "a b\x0cc", "a\n\r", "\x0c", "é b",
        ];
        for text in &texts(&short, ' ', '\r', 200) {
            let bytes = text.as_bytes();
            for at in 0..=bytes.len() {
                let expected = bytes[..at].iter().rposition(u8::is_ascii_whitespace);
                assert_eq!(last_whitespace_before(bytes, at), expected, "{text:?} {at}");
                let found = portable::last_whitespace_before(bytes, at);
                assert_eq!(found, expected, "portable: {text:?} {at}");
            }
        }
    }

    #[test]
    fn the_first_dot_in_a_range_is_found() {
        for text in &texts(&["", "a.b", ".."], '.', '.', 100) {
            let bytes = text.as_bytes();
            for from in 0..=bytes.len() {
                for until in [from, from + 1, from + 40, from + 64, from + 65, bytes.len()] {
                    let until = until.min(bytes.len());
                    let expected = bytes[from..until].iter().position(|&b| b == b'.');
                    let expected = expected.map(|i| from + i);
                    let found = find_dot(bytes, from, until);
                    assert_eq!(found, expected, "{text:?} {from}..{until}");
                    let found = portable::find_dot(bytes, from, until);
                    assert_eq!(found, expected, "portable: {text:?} {from}..{until}");
                }
            }
        }
    }

    /// The candidates `next_from` gives in `bytes`, skipping ahead
    /// sometimes after one as the scan does after a match, with the
    /// positions asked from.
    fn candidates(
        bytes: &[u8],
        mut next_from: impl FnMut(usize) -> Option<usize>,
    ) -> Vec<(usize, usize)> {
        let (mut found, mut from) = (Vec::new(), 0);
        while let Some(at) = next_from(from) {
            found.push((from, at));
            from = at + 1 + (at % 3) * 5;
        }
        found.push((from, bytes.len()));
        found
    }

    #[test]
    fn every_candidate_is_found_in_order() {
        // Candidates on block edges, and a text of exactly one block.
        for text in &texts(&["", &"@".repeat(64)], '#', '@', 2_000) {
            let bytes = text.as_bytes();
            for at_byte in [b'@', b'#'] {
                let targets = [b'#', at_byte, 0xbc];
                let expected = candidates(bytes, |from| {
                    let rest = bytes.get(from..)?;
                    rest.iter()
                        .position(|b| targets.contains(b))
                        .map(|i| from + i)
                });
                let mut signs = SignBytes::new(bytes, at_byte, 0xbc);
                let found = candidates(bytes, |from| signs.next_from(from));
                assert_eq!(found, expected, "{text:?}");
                let mut signs = portable::SignBytes::new(bytes, at_byte, 0xbc);
                let found = candidates(bytes, |from| signs.next_from(from));
                assert_eq!(found, expected, "portable: {text:?}");
            }
        }
    }
}
