//! Password hashes: Argon2id with OWASP's parameters (19 MiB, 2 passes,
//! one lane: the `argon2` crate's defaults), stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$salt$hash`) so that the parameters
//! travel with each hash and can be raised later.

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;

/// Shortest password accepted (NIST SP 800-63B's minimum).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest password accepted: long passphrases, but not megabytes to hash.
pub const MAX_PASSWORD_CHARS: usize = 128;

/// The Argon2id hash of `password` under a fresh random salt.
pub fn hash(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::getrandom(&mut salt).map_err(|e| format!("no randomness: {e}"))?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

/// Whether `password` is the one `stored` (a PHC string) was made from.
pub fn verify(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored).is_ok_and(|h| {
        Argon2::default()
            .verify_password(password.as_bytes(), &h)
            .is_ok()
    })
}

/// Spends the time of a verification against a hash no password matches
/// (answers false): a sign-in with an unknown name takes as long as one
/// with a wrong password, so timing does not tell which names exist.
pub fn verify_decoy(password: &str) -> bool {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    let decoy = DECOY.get_or_init(|| {
        hash("decoy password of no account").unwrap_or_else(|e| {
            tracing::error!(error = %e, "no decoy hash: unknown names answer faster");
            String::new()
        })
    });
    let _ = verify(password, decoy);
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hash_is_argon2id_salted_and_verifies_only_its_password() {
        let a = hash("correct horse").unwrap();
        let b = hash("correct horse").unwrap();
        assert!(a.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{a}");
        assert_ne!(a, b, "each hash has its own salt");
        assert!(verify("correct horse", &a));
        assert!(!verify("correct horsf", &a));
        assert!(!verify("correct horse", "not a hash"));
    }
}
