//! The tokens `hashtag serve` issues: compact JWTs (HS256) with the claims
//! a Cognito ID token carries (`iss`, `aud`, `sub`, `cognito:username`,
//! `token_use`, `iat`, `exp`), plus the session they belong to (`sid`), so
//! that a client reads the same claims in both identity modes and sign-out
//! revokes a token. The same token is the bearer token of the JSON API and
//! the value of the session cookie.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

/// The audience of local tokens (Cognito's is the app client id).
pub const AUDIENCE: &str = "hashtag";

/// The claims of a token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Who issued it: the server's issuer URL.
    pub iss: String,
    /// For whom: [`AUDIENCE`].
    pub aud: String,
    /// The identity: the user's subject.
    pub sub: String,
    /// The username, under Cognito's claim name.
    #[serde(rename = "cognito:username")]
    pub username: String,
    /// "id", as Cognito's ID tokens say.
    pub token_use: String,
    /// Issued at, Unix seconds.
    pub iat: i64,
    /// Expires at, Unix seconds.
    pub exp: i64,
    /// The session the token belongs to.
    pub sid: String,
}

type HmacSha256 = Hmac<Sha256>;

/// The HMAC-SHA256 of `parts`, each prefixed with its length so that no
/// two different lists of parts sign alike.
pub fn mac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of any length.
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    for p in parts {
        m.update(&(p.len() as u64).to_be_bytes());
        m.update(p);
    }
    m.finalize().into_bytes().into()
}

const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The signed token of `claims`.
pub fn sign(key: &[u8], claims: &Claims) -> String {
    let payload = serde_json::to_vec(claims).unwrap_or_default();
    let signing_input = format!(
        "{}.{}",
        URL_SAFE_NO_PAD.encode(HEADER),
        URL_SAFE_NO_PAD.encode(payload)
    );
    let signature = jws_mac(key, signing_input.as_bytes());
    format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature))
}

/// HS256 over the JWS signing input (no length prefixes: the standard's).
fn jws_mac(key: &[u8], input: &[u8]) -> [u8; 32] {
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(input);
    m.finalize().into_bytes().into()
}

/// Why a token was refused (for logs; clients get a plain 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Rejected {
    /// Not three base64url parts of JSON, or not HS256.
    Malformed,
    /// The signature does not match.
    BadSignature,
    /// Another issuer or audience.
    NotOurs,
    /// Past its `exp`.
    Expired,
}

/// The claims of `token` if it is well formed, signed with `key`, issued by
/// `issuer` for [`AUDIENCE`] and not expired at `now` (Unix seconds).
pub fn verify(key: &[u8], issuer: &str, token: &str, now: i64) -> Result<Claims, Rejected> {
    let mut parts = token.split('.');
    let (Some(raw_header), Some(raw_payload), Some(signature), None) =
        (parts.next(), parts.next(), parts.next(), parts.next())
    else {
        return Err(Rejected::Malformed);
    };
    let header = URL_SAFE_NO_PAD
        .decode(raw_header)
        .map_err(|_| Rejected::Malformed)?;
    let header: serde_json::Value =
        serde_json::from_slice(&header).map_err(|_| Rejected::Malformed)?;
    if header["alg"] != "HS256" {
        return Err(Rejected::Malformed);
    }
    let signature = URL_SAFE_NO_PAD
        .decode(signature)
        .map_err(|_| Rejected::Malformed)?;
    let mut m = HmacSha256::new_from_slice(key).expect("any key length");
    m.update(&token.as_bytes()[..raw_header.len() + 1 + raw_payload.len()]);
    // Constant time.
    m.verify_slice(&signature)
        .map_err(|_| Rejected::BadSignature)?;
    let payload = URL_SAFE_NO_PAD
        .decode(raw_payload)
        .map_err(|_| Rejected::Malformed)?;
    let claims: Claims = serde_json::from_slice(&payload).map_err(|_| Rejected::Malformed)?;
    if claims.iss != issuer || claims.aud != AUDIENCE {
        return Err(Rejected::NotOurs);
    }
    if claims.exp <= now {
        return Err(Rejected::Expired);
    }
    Ok(claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(exp: i64) -> Claims {
        Claims {
            iss: "http://127.0.0.1:8080".into(),
            aud: AUDIENCE.into(),
            sub: "42".into(),
            username: "ann".into(),
            token_use: "id".into(),
            iat: 1_000,
            exp,
            sid: "s1".into(),
        }
    }

    #[test]
    fn a_token_verifies_until_it_expires_and_only_with_its_key() {
        let key = b"0123456789abcdef0123456789abcdef";
        let token = sign(key, &claims(2_000));
        let iss = "http://127.0.0.1:8080";
        assert_eq!(verify(key, iss, &token, 1_999), Ok(claims(2_000)));
        assert_eq!(verify(key, iss, &token, 2_000), Err(Rejected::Expired));
        assert_eq!(
            verify(b"another key", iss, &token, 1_500),
            Err(Rejected::BadSignature)
        );
        assert_eq!(
            verify(key, "https://elsewhere", &token, 1_500),
            Err(Rejected::NotOurs)
        );
        assert_eq!(verify(key, iss, "a.b", 1_500), Err(Rejected::Malformed));
    }

    #[test]
    fn a_changed_claim_breaks_the_signature() {
        let key = b"k";
        let token = sign(key, &claims(2_000));
        let forged_payload = URL_SAFE_NO_PAD.encode(
            serde_json::to_vec(&Claims {
                sub: "43".into(),
                ..claims(2_000)
            })
            .unwrap(),
        );
        let parts: Vec<&str> = token.split('.').collect();
        let forged = format!("{}.{forged_payload}.{}", parts[0], parts[2]);
        assert_eq!(
            verify(key, "http://127.0.0.1:8080", &forged, 1_500),
            Err(Rejected::BadSignature)
        );
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(
            verify(key, "http://127.0.0.1:8080", &unsigned, 1_500),
            Err(Rejected::Malformed)
        );
    }
}
