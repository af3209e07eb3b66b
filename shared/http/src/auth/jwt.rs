//! Cognito tokens verified as API Gateway's JWT authorizer verifies them:
//! an RS256 signature by a key of the issuer's JWKS, the issuer, the
//! audience (`aud`, or `client_id` for access tokens), expiry and
//! not-before. What `hashtag serve` on the AWS adapters does, since no
//! gateway stands in front of it; RSA through `ring`, which the AWS SDK's
//! TLS already links.

use std::collections::HashMap;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::signature::{RsaPublicKeyComponents, RSA_PKCS1_2048_8192_SHA256};
use serde::Deserialize;
use serde_json::Value;

use super::token::Rejected;

/// One key of a JWKS.
#[derive(Deserialize)]
struct Jwk {
    kid: String,
    kty: String,
    n: String,
    e: String,
}

#[derive(Deserialize)]
struct Jwks {
    keys: Vec<Jwk>,
}

/// The issuer, audiences and public keys a token must match.
pub struct JwtVerifier {
    issuer: String,
    audiences: Vec<String>,
    /// RSA keys by `kid`: modulus and exponent, big-endian.
    keys: HashMap<String, (Vec<u8>, Vec<u8>)>,
}

impl JwtVerifier {
    /// A verifier for tokens of `issuer` meant for one of `audiences` (app
    /// client ids), signed by a key of `jwks` (the issuer's
    /// `/.well-known/jwks.json`).
    pub fn new(issuer: &str, audiences: &[String], jwks: &str) -> Result<Self, String> {
        let jwks: Jwks = serde_json::from_str(jwks).map_err(|e| format!("not a JWKS: {e}"))?;
        let decode = |s: &str| URL_SAFE_NO_PAD.decode(s.trim_end_matches('='));
        let keys = jwks
            .keys
            .into_iter()
            .filter(|k| k.kty == "RSA")
            .map(|k| Ok((k.kid, (decode(&k.n)?, decode(&k.e)?))))
            .collect::<Result<HashMap<_, _>, base64::DecodeError>>()
            .map_err(|e| format!("a JWKS key is not base64url: {e}"))?;
        if keys.is_empty() || audiences.is_empty() {
            return Err("a JWKS with an RSA key and at least one audience are needed".into());
        }
        Ok(JwtVerifier {
            issuer: issuer.to_string(),
            audiences: audiences.to_vec(),
            keys,
        })
    }

    /// The claims of `token` if it verifies at `now` (Unix seconds), as
    /// API Gateway passes them on: every value a string.
    pub fn verify(&self, token: &str, now: i64) -> Result<HashMap<String, String>, Rejected> {
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(Rejected::Malformed);
        };
        let json = |part: &str| -> Result<Value, Rejected> {
            let bytes = URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| Rejected::Malformed)?;
            serde_json::from_slice(&bytes).map_err(|_| Rejected::Malformed)
        };
        let head = json(header)?;
        let (Some("RS256"), Some(kid)) = (head["alg"].as_str(), head["kid"].as_str()) else {
            return Err(Rejected::Malformed);
        };
        let (n, e) = self.keys.get(kid).ok_or(Rejected::BadSignature)?;
        let signature = URL_SAFE_NO_PAD
            .decode(signature)
            .map_err(|_| Rejected::Malformed)?;
        let signed = &token.as_bytes()[..header.len() + 1 + payload.len()];
        RsaPublicKeyComponents { n, e }
            .verify(&RSA_PKCS1_2048_8192_SHA256, signed, &signature)
            .map_err(|_| Rejected::BadSignature)?;
        let claims = json(payload)?;
        let audience_ok = match (&claims["aud"], &claims["client_id"]) {
            (Value::String(aud), _) | (_, Value::String(aud)) => self.audiences.contains(aud),
            (Value::Array(auds), _) => auds.iter().any(|a| {
                a.as_str()
                    .is_some_and(|a| self.audiences.iter().any(|x| x == a))
            }),
            _ => false,
        };
        if claims["iss"].as_str() != Some(self.issuer.as_str()) || !audience_ok {
            return Err(Rejected::NotOurs);
        }
        let expired = claims["exp"].as_i64().is_none_or(|exp| exp <= now);
        let early = claims["nbf"].as_i64().is_some_and(|nbf| nbf > now);
        if expired || early {
            return Err(Rejected::Expired);
        }
        let Value::Object(claims) = claims else {
            return Err(Rejected::Malformed);
        };
        Ok(claims
            .into_iter()
            .map(|(k, v)| (k, claim_string(v)))
            .collect())
    }
}

/// A claim as API Gateway passes it to a function: strings as they are,
/// arrays as `[a b]`, anything else as its JSON.
fn claim_string(value: Value) -> String {
    match value {
        Value::String(s) => s,
        Value::Array(items) => {
            let items: Vec<String> = items.into_iter().map(claim_string).collect();
            format!("[{}]", items.join(" "))
        }
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A JWKS and two tokens of its key (an ID token and an access token,
    /// expiring in 2100), made once with Python's `cryptography`.
    const VECTORS: &str = include_str!("jwt_test_vectors.json");
    const ISSUER: &str = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_test";

    fn vectors() -> (JwtVerifier, String, String) {
        let v: Value = serde_json::from_str(VECTORS).unwrap();
        let verifier =
            JwtVerifier::new(ISSUER, &["client1".into()], &v["jwks"].to_string()).unwrap();
        let token = |name: &str| v[name].as_str().unwrap().to_string();
        (verifier, token("id_token"), token("access_token"))
    }

    #[test]
    fn cognito_tokens_verify_as_the_gateway_would() {
        let (verifier, id, access) = vectors();
        let claims = verifier.verify(&id, 1_800_000_000).unwrap();
        assert_eq!(claims["sub"], "abc-123");
        assert_eq!(claims["cognito:username"], "ann");
        assert_eq!(claims["cognito:groups"], "[admins x]");
        assert_eq!(claims["exp"], "4102444800");
        let claims = verifier.verify(&access, 1_800_000_000).unwrap();
        assert_eq!(claims["client_id"], "client1");
        assert_eq!(verifier.verify(&id, 4_102_444_800), Err(Rejected::Expired));
    }

    #[test]
    fn other_audiences_issuers_and_tampered_tokens_are_refused() {
        let (_, id, _) = vectors();
        let v: Value = serde_json::from_str(VECTORS).unwrap();
        let jwks = v["jwks"].to_string();
        let other_client = JwtVerifier::new(ISSUER, &["client2".into()], &jwks).unwrap();
        assert_eq!(other_client.verify(&id, 0), Err(Rejected::NotOurs));
        let other_pool = JwtVerifier::new("https://elsewhere", &["client1".into()], &jwks).unwrap();
        assert_eq!(other_pool.verify(&id, 0), Err(Rejected::NotOurs));
        let (verifier, _, _) = vectors();
        let parts: Vec<&str> = id.split('.').collect();
        let payload = URL_SAFE_NO_PAD.decode(parts[1]).unwrap();
        let forged = String::from_utf8(payload)
            .unwrap()
            .replace("abc-123", "abc-124");
        let forged = format!(
            "{}.{}.{}",
            parts[0],
            URL_SAFE_NO_PAD.encode(forged),
            parts[2]
        );
        assert_eq!(verifier.verify(&forged, 0), Err(Rejected::BadSignature));
        let unsigned = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none"}"#),
            parts[1]
        );
        assert_eq!(verifier.verify(&unsigned, 0), Err(Rejected::Malformed));
        assert!(JwtVerifier::new(ISSUER, &["client1".into()], "{}").is_err());
    }
}
