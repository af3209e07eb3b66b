//! The searches on x86_64: SSE2 bit masks over 64-byte blocks, one pass
//! per block for every target byte in it, where a search per target paid
//! a search's start-up and its unpredictable branches.

/// Successive positions of the bytes that may belong to a sign: `#`, an
/// `at_byte` (`@`, or `#` again when mentions are not wanted) and a
/// `full_width` byte. One SSE2 pass per 64-byte block gives every
/// candidate of the block as a bit mask: a search per sign paid a search's
/// start-up, and its unpredictable branches, for the few dozen bytes
/// between two signs (5 % of the scan's time).
pub(in crate::extract) struct SignBytes<'a> {
    bytes: &'a [u8],
    targets: [u8; 3],
    block: Block,
}

/// A 64-byte block's candidates.
struct Block {
    start: usize,
    /// Bit `k`: byte `start + k` is a candidate.
    bits: u64,
}

impl Block {
    /// The block a forward search from `from` reads: it starts at `from`,
    /// or before it near the end of the text so that it is whole (padding
    /// a shorter one costs a copy); bits before `from` are cleared.
    fn from<const N: usize>(bytes: &[u8], from: usize, targets: [u8; N]) -> Self {
        let start = from.min(bytes.len().saturating_sub(64));
        let bits = block_bits(&bytes[start..], targets) & (u64::MAX << (from - start));
        Block { start, bits }
    }
}

impl<'a> SignBytes<'a> {
    pub(in crate::extract) fn new(bytes: &'a [u8], at_byte: u8, full_width: u8) -> Self {
        let targets = [b'#', at_byte, full_width];
        SignBytes {
            bytes,
            targets,
            block: Block::from(bytes, 0, targets),
        }
    }

    /// The first candidate at or after `from`; `from` never goes back
    /// from one call to the next.
    pub(in crate::extract) fn next_from(&mut self, mut from: usize) -> Option<usize> {
        loop {
            let offset = from - self.block.start;
            if offset >= 64 {
                if from >= self.bytes.len() {
                    return None;
                }
                self.block = Block::from(self.bytes, from, self.targets);
                continue;
            }
            let bits = self.block.bits & (u64::MAX << offset);
            if bits != 0 {
                return Some(self.block.start + bits.trailing_zeros() as usize);
            }
            from = self.block.start + 64;
        }
    }
}

/// ASCII whitespace (`u8::is_ascii_whitespace`).
const WHITESPACE: [u8; 5] = [b' ', b'\n', b'\t', b'\r', b'\x0c'];

/// The last ASCII whitespace byte before `at` in `bytes`, from 64-byte
/// blocks that end at `at` where the text is long enough.
pub(in crate::extract) fn last_whitespace_before(bytes: &[u8], mut at: usize) -> Option<usize> {
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

/// The first `.` from `from` to before `until` in `bytes`, from 64-byte
/// blocks that start at `from` where the text is long enough.
pub(in crate::extract) fn find_dot(bytes: &[u8], mut from: usize, until: usize) -> Option<usize> {
    while from < until {
        let block = Block::from(bytes, from, [b'.']);
        if block.bits != 0 {
            let dot = block.start + block.bits.trailing_zeros() as usize;
            return (dot < until).then_some(dot);
        }
        from = block.start + 64;
    }
    None
}

/// The candidate bits of the first 64 bytes of `hay` (none past its end).
fn block_bits<const N: usize>(hay: &[u8], targets: [u8; N]) -> u64 {
    // SAFETY: SSE2 is part of the x86_64 baseline: every x86_64 CPU has it.
    let bits = |block: &[u8; 64]| unsafe { block_bits_sse2(block, targets) };
    match hay.first_chunk::<64>() {
        Some(block) => bits(block),
        // Only texts shorter than a block get here: zero bytes past the
        // end match no target (none is zero).
        None => {
            debug_assert!(!targets.contains(&0));
            let mut padded = [0; 64];
            padded[..hay.len()].copy_from_slice(hay);
            bits(&padded)
        }
    }
}

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
