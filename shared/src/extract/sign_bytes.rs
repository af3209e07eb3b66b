//! Where a text's sign bytes are: the scan's search for `#`, `@` and the
//! full-width signs, the only part of extraction that reads every byte.

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
                let rest = self.bytes.get(from..).filter(|r| !r.is_empty())?;
                self.block = Block {
                    start: from,
                    bits: block_bits(rest, self.targets),
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

/// The first of `targets` at or after `from` in `bytes`, by memchr.
#[cfg(any(test, not(target_arch = "x86_64")))]
fn search(bytes: &[u8], [a, b, c]: [u8; 3], from: usize) -> Option<usize> {
    memchr::memchr3(a, b, c, bytes.get(from..)?).map(|i| from + i)
}

/// The candidate bits of the first 64 bytes of `hay` (none past its end).
#[cfg(target_arch = "x86_64")]
fn block_bits(hay: &[u8], targets: [u8; 3]) -> u64 {
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
fn block_bits_sse2(block: &[u8; 64], [a, b, c]: [u8; 3]) -> u64 {
    use std::arch::x86_64::{
        _mm_cmpeq_epi8, _mm_movemask_epi8, _mm_or_si128, _mm_set1_epi8, _mm_set_epi64x,
    };
    let [a, b, c] = [a, b, c].map(|t| _mm_set1_epi8(t as i8));
    let mut bits = 0;
    for (k, chunk) in block.chunks_exact(16).enumerate() {
        // Two loads the compiler merges into one, without a raw pointer.
        let half = |h: &[u8]| i64::from_le_bytes(h.try_into().expect("8 bytes"));
        let v = _mm_set_epi64x(half(&chunk[8..]), half(&chunk[..8]));
        let hits = _mm_or_si128(
            _mm_or_si128(_mm_cmpeq_epi8(v, a), _mm_cmpeq_epi8(v, b)),
            _mm_cmpeq_epi8(v, c),
        );
        bits |= u64::from(_mm_movemask_epi8(hits) as u16) << (16 * k);
    }
    bits
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_candidate_is_found_in_order() {
        let mut texts: Vec<String> = crate::corpus::captions(11, 2_000);
        texts.push(String::new());
        // Candidates on block edges, and texts of exactly one block.
        texts.push(format!(
            "{}#{}@{}",
            "x".repeat(63),
            "y".repeat(63),
            "z".repeat(63)
        ));
        texts.push("@".repeat(64));
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
