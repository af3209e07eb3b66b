//! Who sends a request. Every write takes its author from a verified
//! identity, never from the body:
//! - on AWS, API Gateway's JWT authorizer has verified a Cognito token
//!   before the function runs, and the Lambda edge hands its claims over as
//!   [`GatewayClaims`] ([`Auth::Gateway`]);
//! - `hashtag serve` keeps its own accounts ([`Auth::Local`]): Argon2id
//!   password hashes, sessions, and tokens it signs itself, sent as a
//!   bearer token (JSON API) or as the session cookie (pages, whose forms
//!   also carry a CSRF token);
//! - `hashtag serve` on the AWS adapters verifies Cognito's bearer tokens
//!   itself, as the gateway would ([`Auth::Cognito`]).

pub mod jwt;
pub mod limit;
pub mod password;
pub mod token;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use bytes::Bytes as Body;
use http::{header, Request, Response, StatusCode};

use super::response::ApiError;
use hashtag_core::domain::{now_ms, User};
use hashtag_core::ports::Accounts;
use limit::RateLimit;
use token::Claims;

/// The session cookie: the session's token.
pub const SESSION_COOKIE: &str = "hashtag_session";
/// The cookie that binds the CSRF token of a form sent before signing in
/// (sign in, register) to one browser.
pub const CSRF_COOKIE: &str = "hashtag_csrf";
/// The form field (or `X-CSRF-Token` header) carrying the CSRF token.
pub const CSRF_FIELD: &str = "csrf";
/// How long a session, its cookie and its token last.
pub const SESSION_SECONDS: i64 = 7 * 24 * 3600;
/// Failed sign-ins allowed per account, and per client address, in
/// [`LOGIN_WINDOW_MS`]; more are answered 429.
pub const LOGIN_FAILURES_PER_ACCOUNT: u32 = 10;
/// Failed sign-ins allowed per client address (several people may share
/// one behind a NAT).
pub const LOGIN_FAILURES_PER_ADDRESS: u32 = 30;
/// The window of the login limits.
pub const LOGIN_WINDOW_MS: i64 = 60_000;

/// How a request proves who sent it.
#[derive(Clone)]
pub enum Auth {
    /// Behind API Gateway's JWT authorizer: the claims it verified come
    /// with the request as [`GatewayClaims`].
    Gateway,
    /// `hashtag serve`'s own accounts.
    Local(Arc<LocalAccounts>),
    /// Cognito's bearer tokens, verified here (no gateway in front).
    Cognito(Arc<jwt::JwtVerifier>),
}

/// The claims API Gateway's JWT authorizer verified, which the Lambda edge
/// attaches to the request as an extension. A client cannot set it:
/// extensions are not read from the wire, and only [`Auth::Gateway`]
/// (the Lambda functions) reads them.
#[derive(Debug, Clone, Default)]
pub struct GatewayClaims(pub HashMap<String, String>);

/// The client's address, attached by the server (the socket's peer) or
/// the Lambda edge (API Gateway's `sourceIp`): what login limits count by.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// How a request's identity came.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Via {
    /// The session cookie: a browser, which sends it on its own, so a
    /// write must also carry the page's CSRF token.
    Cookie,
    /// `Authorization: Bearer`: a client that chose to send it.
    Bearer,
    /// Claims verified by API Gateway.
    Gateway,
}

/// A verified identity.
#[derive(Debug, Clone)]
pub struct Identity {
    /// The `sub` claim: whom the service registered a username for.
    pub subject: String,
    /// The username the token names (local tokens; Cognito's own name
    /// otherwise, which need not be the service's).
    pub username: Option<String>,
    /// The local session, which sign-out ends.
    pub session: Option<String>,
    /// How it came.
    pub via: Via,
    /// Whether the verified token puts it in Cognito's [`ADMIN_GROUP`].
    pub admin: bool,
}

/// The Cognito group whose members may do what admins do (import
/// mentions): a verified claim, which no one can give themselves by
/// choosing a username.
pub const ADMIN_GROUP: &str = "admins";

impl Identity {
    /// The identity verified claims describe (API Gateway passes every
    /// claim as a string, lists as `[a b]`); none without a subject.
    fn of_claims(claims: &HashMap<String, String>, via: Via) -> Option<Identity> {
        let subject = claims.get("sub").filter(|s| !s.is_empty())?;
        let admin = claims.get("cognito:groups").is_some_and(|groups| {
            groups
                .trim_matches(|c| c == '[' || c == ']')
                .split([' ', ','])
                .any(|g| g == ADMIN_GROUP)
        });
        Some(Identity {
            subject: subject.clone(),
            username: None,
            session: None,
            via,
            admin,
        })
    }
}

/// The accounts of `hashtag serve`: where passwords and sessions are kept,
/// the key that signs tokens and CSRF tokens, the login limits, and the
/// bound on password hashing.
pub struct LocalAccounts {
    /// Passwords and sessions.
    pub store: Arc<dyn Accounts>,
    key: Vec<u8>,
    /// `iss` of the tokens.
    issuer: String,
    /// Failed sign-ins per account.
    failures_by_account: RateLimit,
    /// Failed sign-ins per client address.
    failures_by_address: RateLimit,
    /// Argon2 runs at once: one per core, so that a flood of sign-ins
    /// waits its turn instead of taking 19 MiB and a thread each.
    hashing: tokio::sync::Semaphore,
}

/// How long a sign-in or registration waits for a turn to hash before it
/// is answered 503.
const HASHING_WAIT: std::time::Duration = std::time::Duration::from_secs(10);

impl LocalAccounts {
    /// Accounts in `store`, signing with `key` (at least 32 random bytes,
    /// kept across restarts so that sessions survive them) as `issuer`.
    pub fn new(store: Arc<dyn Accounts>, key: Vec<u8>, issuer: String) -> Self {
        LocalAccounts {
            store,
            key,
            issuer,
            failures_by_account: RateLimit::new(LOGIN_FAILURES_PER_ACCOUNT, LOGIN_WINDOW_MS),
            failures_by_address: RateLimit::new(LOGIN_FAILURES_PER_ADDRESS, LOGIN_WINDOW_MS),
            hashing: tokio::sync::Semaphore::new(
                std::thread::available_parallelism().map_or(2, |n| n.get()),
            ),
        }
    }

    /// Runs `f` (an Argon2 hash or verification, tens of milliseconds of
    /// CPU) off the async threads, at most one per core at a time.
    pub async fn hash_off_thread<T: Send + 'static>(
        &self,
        f: impl FnOnce() -> Result<T, String> + Send + 'static,
    ) -> Result<T, ApiError> {
        let permit = tokio::time::timeout(HASHING_WAIT, self.hashing.acquire())
            .await
            .map_err(|_| ApiError {
                retry_after: Some(1),
                ..ApiError::unavailable()
            })?
            .map_err(|_| ApiError::unavailable())?;
        let result = tokio::task::spawn_blocking(f)
            .await
            .map_err(|e| e.to_string())
            .and_then(|r| r);
        drop(permit);
        result.map_err(|e| {
            tracing::error!(error = %e, "password hashing failed");
            ApiError::unavailable()
        })
    }

    /// Counts a sign-in attempt against `account` and `address` before its
    /// password is checked (so that concurrent guesses cannot all pass),
    /// or answers how long until one is allowed.
    pub fn try_sign_in(&self, account: &str, address: &str, now_ms: i64) -> Result<(), i64> {
        self.failures_by_account.take(account, now_ms)?;
        if let Err(wait) = self.failures_by_address.take(address, now_ms) {
            self.failures_by_account.give_back(account);
            return Err(wait);
        }
        Ok(())
    }

    /// A sign-in that succeeded is no failure: gives its count back.
    pub fn signed_in(&self, account: &str, address: &str) {
        self.failures_by_account.give_back(account);
        self.failures_by_address.give_back(address);
    }

    /// Starts a session for `user` and answers its token and expiry (Unix
    /// seconds).
    pub async fn start_session(&self, user: &User) -> Result<(String, i64), ApiError> {
        let sid = random_token()?;
        let now = now_ms() / 1000;
        let exp = now + SESSION_SECONDS;
        self.store
            .start_session(&sid, user.user_id, exp * 1000)
            .await?;
        let claims = Claims {
            iss: self.issuer.clone(),
            aud: token::AUDIENCE.into(),
            sub: user.user_id.to_string(),
            username: user.username.clone(),
            token_use: "id".into(),
            iat: now,
            exp,
            sid,
        };
        Ok((token::sign(&self.key, &claims), exp))
    }

    /// The identity of a token if it verifies and its session is active.
    async fn verify(&self, token: &str, via: Via) -> Result<Option<Identity>, ApiError> {
        let Ok(claims) = token::verify(&self.key, &self.issuer, token, now_ms() / 1000) else {
            return Ok(None);
        };
        if !self.store.session_active(&claims.sid, now_ms()).await? {
            return Ok(None);
        }
        Ok(Some(Identity {
            subject: claims.sub,
            username: Some(claims.username),
            session: Some(claims.sid),
            via,
            admin: false,
        }))
    }

    /// The CSRF token bound to `binding` (a session id, or the browser's
    /// [`CSRF_COOKIE`] before it signs in).
    pub fn csrf_token(&self, binding: &str) -> String {
        URL_SAFE_NO_PAD.encode(token::mac(&self.key, &[b"csrf", binding.as_bytes()]))
    }
}

/// 32 random bytes, base64url: session ids, CSRF cookies, signing keys.
pub fn random_token() -> Result<String, ApiError> {
    let mut bytes = [0u8; 32];
    getrandom::getrandom(&mut bytes).map_err(|e| {
        tracing::error!(error = %e, "no randomness");
        ApiError::unavailable()
    })?;
    Ok(URL_SAFE_NO_PAD.encode(bytes))
}

/// The value of cookie `name` in the request.
pub fn cookie<'r>(req: &'r Request<Body>, name: &str) -> Option<&'r str> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

/// The request's bearer token, if it sends one.
fn bearer(req: &Request<Body>) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// 401: no identity, or not one this service can verify.
pub fn unauthenticated() -> ApiError {
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        "unauthenticated",
        "sign in first: send a bearer token, or the session cookie of a signed-in browser",
    )
}

/// Who sent the request, if anyone verifiably did. A bearer token that
/// does not verify is a 401 (the client meant to authenticate); a stale
/// session cookie is just a signed-out browser.
pub async fn identify(auth: &Auth, req: &Request<Body>) -> Result<Option<Identity>, ApiError> {
    match auth {
        Auth::Gateway => Ok(req
            .extensions()
            .get::<GatewayClaims>()
            .and_then(|c| Identity::of_claims(&c.0, Via::Gateway))),
        Auth::Cognito(verifier) => match bearer(req) {
            None => Ok(None),
            Some(token) => verifier
                .verify(token, now_ms() / 1000)
                .ok()
                .and_then(|claims| Identity::of_claims(&claims, Via::Bearer))
                .map(Some)
                .ok_or_else(unauthenticated),
        },
        Auth::Local(accounts) => {
            if let Some(token) = bearer(req) {
                return match accounts.verify(token, Via::Bearer).await? {
                    Some(identity) => Ok(Some(identity)),
                    None => Err(unauthenticated()),
                };
            }
            match cookie(req, SESSION_COOKIE) {
                Some(token) => accounts.verify(token, Via::Cookie).await,
                None => Ok(None),
            }
        }
    }
}

/// The CSRF token a form of this request's page carries: bound to the
/// session when signed in, else to the browser's [`CSRF_COOKIE`].
pub fn expected_csrf(
    accounts: &LocalAccounts,
    identity: Option<&Identity>,
    req: &Request<Body>,
) -> Option<String> {
    let binding = match identity.and_then(|i| i.session.as_deref()) {
        Some(sid) => sid,
        None => cookie(req, CSRF_COOKIE)?,
    };
    Some(accounts.csrf_token(binding))
}

/// The CSRF token the request sent: the `X-CSRF-Token` header, or the
/// form body's [`CSRF_FIELD`].
fn sent_csrf(req: &Request<Body>) -> Option<String> {
    if let Some(v) = req
        .headers()
        .get("x-csrf-token")
        .and_then(|v| v.to_str().ok())
    {
        return Some(v.to_string());
    }
    serde_urlencoded::from_bytes::<Vec<(String, String)>>(req.body())
        .ok()?
        .into_iter()
        .find(|(k, _)| k == CSRF_FIELD)
        .map(|(_, v)| v)
}

/// `Ok` if the request carries the CSRF token its page was given
/// (compared in constant time), else 403.
pub fn check_csrf(
    accounts: &LocalAccounts,
    identity: Option<&Identity>,
    req: &Request<Body>,
) -> Result<(), ApiError> {
    let expected = expected_csrf(accounts, identity, req);
    let sent = sent_csrf(req);
    let matches = match (expected, sent) {
        (Some(e), Some(s)) => {
            e.len() == s.len() && e.bytes().zip(s.bytes()).fold(0u8, |d, (a, b)| d | (a ^ b)) == 0
        }
        _ => false,
    };
    match matches {
        true => Ok(()),
        false => Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "csrf_failed",
            "this form has expired or did not come from this site: reload the page and send it again",
        )),
    }
}

/// Sets cookie `name` on `res`: `HttpOnly`, `SameSite=Lax`, and `Secure`
/// when the request came over HTTPS (as a TLS-terminating proxy says with
/// `X-Forwarded-Proto`). `max_age` 0 deletes the cookie.
pub fn set_cookie(
    res: &mut Response<Body>,
    req: &Request<Body>,
    name: &str,
    value: &str,
    max_age: i64,
) {
    let https = req
        .headers()
        .get("x-forwarded-proto")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("https"));
    let secure = if https { "; Secure" } else { "" };
    let cookie =
        format!("{name}={value}; Path=/; Max-Age={max_age}; HttpOnly; SameSite=Lax{secure}");
    if let Ok(v) = header::HeaderValue::from_str(&cookie) {
        res.headers_mut().append(header::SET_COOKIE, v);
    }
}
