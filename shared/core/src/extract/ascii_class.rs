//! Classes of ASCII characters as lookup tables. The extractor tests them on
//! nearly every byte of every caption, where searching a string of allowed
//! characters (`"…".contains(c)`) showed up as the top cost in profiles.

/// A set of ASCII characters.
pub struct AsciiClass([bool; 128]);

impl AsciiClass {
    /// ASCII letters and digits, plus the characters of `extra`.
    pub const fn alphanumeric_and(extra: &str) -> Self {
        let mut table = [false; 128];
        let mut b = 0;
        while b < 128 {
            table[b] = (b as u8).is_ascii_alphanumeric();
            b += 1;
        }
        AsciiClass(table).with(extra)
    }

    /// Every ASCII character but punctuation (except `excepted`) and the
    /// ASCII spaces: the ASCII part of twitter-text's `validDomainChars`.
    pub const fn not_punctuation_or_space(excepted: &str) -> Self {
        let mut table = [false; 128];
        let mut b = 0;
        while b < 128 {
            let c = b as u8;
            table[b] = !(c.is_ascii_punctuation() || matches!(c, b'\t'..=b'\r' | b' '));
            b += 1;
        }
        AsciiClass(table).with(excepted)
    }

    /// This set plus the characters of `extra`.
    const fn with(mut self, extra: &str) -> Self {
        let extra = extra.as_bytes();
        let mut i = 0;
        while i < extra.len() {
            self.0[extra[i] as usize] = true;
            i += 1;
        }
        self
    }

    /// Whether `c` is in the set if ASCII, else whether `other` holds: the
    /// shape of every class twitter-text defines over all of Unicode.
    pub fn has_or(&self, c: char, other: impl FnOnce(char) -> bool) -> bool {
        if c.is_ascii() {
            self.0[c as usize]
        } else {
            other(c)
        }
    }

    /// Whether byte `b` is an ASCII character in the set: [`Self::has`]
    /// for building other tables at compile time.
    pub const fn has_byte(&self, b: u8) -> bool {
        b < 128 && self.0[b as usize]
    }

    /// Whether `c` is in the set (never, for a character outside ASCII).
    pub fn has(&self, c: char) -> bool {
        self.0.get(c as usize).copied().unwrap_or(false)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_hold_what_they_say() {
        let path = AsciiClass::alphanumeric_and("-_/");
        assert!(path.has('a') && path.has('Z') && path.has('7') && path.has('/'));
        assert!(!path.has('.') && !path.has(' ') && !path.has('é'));
        let domain = AsciiClass::not_punctuation_or_space("\"");
        assert!(domain.has('a') && domain.has('"') && domain.has('\u{1}'));
        assert!(!domain.has('.') && !domain.has(' ') && !domain.has('\n') && !domain.has('é'));
    }
}
