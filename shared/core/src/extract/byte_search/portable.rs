//! The searches on other architectures: memchr's, which are NEON on
//! aarch64 (memchr picks its searcher there at compile time).

/// Successive positions of the bytes that may belong to a sign: `#`, an
/// `at_byte` (`@`, or `#` again when mentions are not wanted) and a
/// `full_width` byte.
pub(in crate::extract) struct SignBytes<'a> {
    bytes: &'a [u8],
    targets: [u8; 3],
}

impl<'a> SignBytes<'a> {
    pub(in crate::extract) fn new(bytes: &'a [u8], at_byte: u8, full_width: u8) -> Self {
        let targets = [b'#', at_byte, full_width];
        SignBytes { bytes, targets }
    }

    /// The first candidate at or after `from`.
    pub(in crate::extract) fn next_from(&mut self, from: usize) -> Option<usize> {
        let [a, b, c] = self.targets;
        memchr::memchr3(a, b, c, self.bytes.get(from..)?).map(|i| from + i)
    }
}

/// The last ASCII whitespace byte (`u8::is_ascii_whitespace`) before `at`
/// in `bytes`.
pub(in crate::extract) fn last_whitespace_before(bytes: &[u8], at: usize) -> Option<usize> {
    let bytes = &bytes[..at];
    // Space, line feed and tab first; then the rare two, after those.
    let common = memchr::memrchr3(b' ', b'\n', b'\t', bytes);
    let from = common.unwrap_or(0);
    let rare = memchr::memrchr2(b'\r', b'\x0c', &bytes[from..]).map(|i| from + i);
    rare.or(common)
}

/// The first `.` from `from` to before `until` in `bytes`.
pub(in crate::extract) fn find_dot(bytes: &[u8], from: usize, until: usize) -> Option<usize> {
    let hay = bytes.get(from..until)?;
    memchr::memchr(b'.', hay).map(|i| from + i)
}
