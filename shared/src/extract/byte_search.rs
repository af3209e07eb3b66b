//! The byte searches extraction runs on every caption: signs, word starts,
//! dots. Captions are a few hundred bytes, with what is searched for every
//! few dozen: a search's start-up and its unpredictable branches cost as
//! much as the search. So on x86_64 signs and word starts come from SSE2
//! bit masks over 64-byte blocks, and dots from memchr's SSE2 searcher
//! built directly (SSE2 is always there, so memchr's choice of searcher
//! is skipped); elsewhere these are memchr's searches (NEON on aarch64).

/// Successive positions of the bytes that may belong to a sign: `#`, an
/// `at_byte` (`@`, or `#` again when mentions are not wanted) and a
/// `full_width` byte. On x86_64 one SSE2 pass per 64-byte block gives
/// every candidate of the block as a bit mask: a search per sign paid a
/// search's start-up, and its unpredictable branches, for the few dozen
/// bytes between two signs (5 % of the scan's time). Elsewhere it is
/// memchr's search, which is NEON on aarch64.
pub(super) struct SignBytes<'a> {
    bytes: &'a [u8],
    targets: [u8; 3],
    #[cfg(target_arch = "x86_64")]
    block: Block,
}

/// A 64-byte block's candidates.
#[cfg(target_arch = "x86_64")]
struct Block {
    start: usize,
    /// Bit `k`: byte `start + k` is a candidate.
    bits: u64,
}

impl<'a> SignBytes<'a> {
    pub(super) fn new(bytes: &'a [u8], at_byte: u8, full_width: u8) -> Self {
        let targets = [b'#', at_byte, full_width];
        SignBytes {
            bytes,
            targets,
            #[cfg(target_arch = "x86_64")]
            block: Block {
                start: 0,
                bits: block_bits(bytes, targets),
            },
        }
    }

    /// The first candidate at or after `from`; `from` never goes back
    /// from one call to the next.
    #[cfg(target_arch = "x86_64")]
    pub(super) fn next_from(&mut self, mut from: usize) -> Option<usize> {
        loop {
            let offset = from - self.block.start;
            if offset >= 64 {
                if from >= self.bytes.len() {
                    return None;
                }
                // Near the end, the block is the text's last 64 bytes
                // (the bits before `from` go unread): padding a shorter
                // block costs a copy.
                let start = from.min(self.bytes.len().saturating_sub(64));
                self.block = Block {
                    start,
                    bits: block_bits(&self.bytes[start..], self.targets),
                };
                continue;
            }
            let bits = self.block.bits & (u64::MAX << offset);
            if bits != 0 {
                return Some(self.block.start + bits.trailing_zeros() as usize);
            }
            from = self.block.start + 64;
        }
    }

    /// The first candidate at or after `from`.
    #[cfg(not(target_arch = "x86_64"))]
    pub(super) fn next_from(&mut self, from: usize) -> Option<usize> {
        search(self.bytes, self.targets, from)
    }
}

/// ASCII whitespace (`u8::is_ascii_whitespace`).
#[cfg(target_arch = "x86_64")]
const WHITESPACE: [u8; 5] = [b' ', b'\n', b'\t', b'\r', b'\x0c'];

/// The last ASCII whitespace byte before `at` in `bytes`, from 64-byte
/// blocks that end at `at` where the text is long enough.
#[cfg(target_arch = "x86_64")]
pub(super) fn last_whitespace_before(bytes: &[u8], mut at: usize) -> Option<usize> {
    while at > 0 {
        // A whole block where the text allows: from 1 to 64 of its bytes
        // come before `at`.
        let start = at.saturating_sub(64).min(bytes.len().saturating_sub(64));
        let before_at = u64::MAX >> (64 - (at - start));
        let bits = block_bits(&bytes[start..], WHITESPACE) & before_at;
        if bits != 0 {
            return Some(start + 63 - bits.leading_zeros() as usize);
        }
        at = start;
    }
    None
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) use memchr_last_whitespace_before as last_whitespace_before;

/// The last ASCII whitespace byte before `at` in `bytes`, by memchr.
#[cfg(any(test, not(target_arch = "x86_64")))]
pub(super) fn memchr_last_whitespace_before(bytes: &[u8], at: usize) -> Option<usize> {
    let bytes = &bytes[..at];
    // Space, line feed and tab first; then the rare two, after those.
    let common = memchr::memrchr3(b' ', b'\n', b'\t', bytes);
    let from = common.unwrap_or(0);
    let rare = memchr::memrchr2(b'\r', b'\x0c', &bytes[from..]).map(|i| from + i);
    rare.or(common)
}

/// The first `.` from `from` to before `until` in `bytes`, from 64-byte
/// blocks that start at `from` where the text is long enough.
#[cfg(target_arch = "x86_64")]
pub(super) fn find_dot(bytes: &[u8], mut from: usize, until: usize) -> Option<usize> {
    while from < until {
        let start = from.min(bytes.len().saturating_sub(64));
        let bits = block_bits(&bytes[start..], [b'.']) & (u64::MAX << (from - start));
        if bits != 0 {
            let dot = start + bits.trailing_zeros() as usize;
            return (dot < until).then_some(dot);
        }
        from = start + 64;
    }
    None
}

#[cfg(not(target_arch = "x86_64"))]
pub(super) use memchr_find_dot as find_dot;

/// The first `.` from `from` to before `until` in `bytes`, by memchr.
#[cfg(any(test, not(target_arch = "x86_64")))]
pub(super) fn memchr_find_dot(bytes: &[u8], from: usize, until: usize) -> Option<usize> {
    let hay = bytes.get(from..until)?;
    memchr::memchr(b'.', hay).map(|i| from + i)
}

/// The first of `targets` at or after `from` in `bytes`, by memchr.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn search(bytes: &[u8], [a, b, c]: [u8; 3], from: usize) -> Option<usize> {
    memchr::memchr3(a, b, c, bytes.get(from..)?).map(|i| from + i)
}

/// The candidate bits of the first 64 bytes of `hay` (none past its end).
#[cfg(target_arch = "x86_64")]
fn block_bits<const N: usize>(hay: &[u8], targets: [u8; N]) -> u64 {
    let mut padded = [0u8; 64];
    let block = match hay.first_chunk::<64>() {
        Some(block) => block,
        None => {
            padded[..hay.len()].copy_from_slice(hay);
            &padded
        }
    };
    // Zero bytes past the end match no target (none is zero).
    debug_assert!(!targets.contains(&0));
    // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has it.
    unsafe { block_bits_sse2(block, targets) }
}

#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "sse2")]
fn block_bits_sse2<const N: usize>(block: &[u8; 64], targets: [u8; N]) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
        _mm_setzero_si128,
    };
    let targets = targets.map(|t| _mm_set1_epi8(t as i8));
    let mut bits = 0;
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        // Two loads the compiler merges into one, without a raw pointer.
        let half = |h: &[u8]| i64::from_le_bytes(h.try_into().expect("8 bytes"));
        let v = _mm_set_epi64x(half(&chunk[8..]), half(&chunk[..8]));
        let hits = targets.iter().fold(_mm_setzero_si128(), |hits, &t| {
            _mm_or_si128(hits, _mm_cmpeq_epi8(v, t))
        });
        bits |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `short` texts, one of three blocks with `a` and `b` on and off
    /// block edges, and `captions` corpus captions.
    fn texts(short: &[&str], a: char, b: char, captions: usize) -> Vec<String> {
        let mut texts: Vec<String> = short.iter().map(|t| t.to_string()).collect();
        let (x, y, z) = ("x".repeat(63), "y".repeat(64), "z".repeat(70));
        texts.push(format!("{x}{a}{y}{b}{z}"));
        texts.extend(crate::corpus::captions(5, captions));
        texts
    }

    #[test]
    fn the_last_whitespace_of_each_kind_is_found() {
        let short = [
            "", "a", " a", "a b\tc", "a\rb c", "a b\x0cc", "a\n\r", "\x0c", "é b",
        ];
        let texts = texts(&short, ' ', '\r', 200);
        for text in &texts {
            for at in 0..=text.len() {
                let expected = text.as_bytes()[..at]
                    .iter()
                    .rposition(u8::is_ascii_whitespace);
                let found = last_whitespace_before(text.as_bytes(), at);
                assert_eq!(found, expected, "{text:?} before {at}");
                let found = memchr_last_whitespace_before(text.as_bytes(), at);
                assert_eq!(found, expected, "memchr: {text:?} before {at}");
            }
        }
    }

    #[test]
    fn the_first_dot_in_a_range_is_found() {
        let texts = texts(&["", "a.b", ".."], '.', '.', 100);
        for text in &texts {
            let bytes = text.as_bytes();
            for from in 0..=bytes.len() {
                for until in [from, from + 1, from + 40, from + 64, from + 65, bytes.len()] {
                    let until = until.min(bytes.len());
                    let expected = bytes[from..until].iter().position(|&b| b == b'.');
                    let expected = expected.map(|i| from + i);
                    assert_eq!(
                        find_dot(bytes, from, until),
                        expected,
                        "{text:?} {from}..{until}"
                    );
                    let memchr = memchr_find_dot(bytes, from, until);
                    assert_eq!(memchr, expected, "memchr: {text:?} {from}..{until}");
                }
            }
        }
    }

    #[test]
    fn every_candidate_is_found_in_order() {
        // Candidates on block edges, and a text of exactly one block.
        let texts = texts(&["", &"@".repeat(64)], '#', '@', 2_000);
        for text in &texts {
            for at_byte in [b'@', b'#'] {
                let targets = [b'#', at_byte, 0xbc];
                let mut signs = SignBytes::new(text.as_bytes(), at_byte, 0xbc);
                let mut from = 0;
                loop {
                    let found = signs.next_from(from);
                    assert_eq!(
                        found,
                        search(text.as_bytes(), targets, from),
                        "{text:?} from {from}"
                    );
                    match found {
                        // Skip ahead sometimes, as the scan does after a match.
                        Some(at) => from = at + 1 + (at % 3) * 5,
                        None => break,
                    }
                }
            }
        }
    }
}
