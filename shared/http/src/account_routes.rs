//! Accounts over HTTP: registering a username for an identity, signing in
//! and out of `hashtag serve`, who is signed in, and what every write asks
//! first ([`writer`]): a verified identity, a CSRF token when it came as a
//! cookie, a registered user, and room under the account's write limit.

use bytes::Bytes as Body;
use http::{header, Request, Response, StatusCode};
use serde::{Deserialize, Serialize};

use super::auth::password::{self, MAX_PASSWORD_CHARS, MIN_PASSWORD_CHARS};
use super::auth::{
    check_csrf, cookie, identify, random_token, set_cookie, unauthenticated, Auth, ClientAddr,
    Identity, LocalAccounts, Via, CSRF_COOKIE, SESSION_COOKIE, SESSION_SECONDS,
};
use super::handlers::finish;
use super::pages::{self, user_path, Viewer};
use super::request::{is_form, is_json, read_body, wants_html};
use super::response::{json, see_other, ApiError};
use super::App;
use std::net::IpAddr;

use hashtag_core::domain::{now_ms, User, Username};
use hashtag_core::usecases::{self, Refused};

/// The local accounts, or 404 where API Gateway and Cognito identify
/// people (these routes are not deployed there).
fn local(app: &App) -> Result<&LocalAccounts, ApiError> {
    match &app.auth {
        Auth::Local(accounts) => Ok(accounts),
        Auth::Gateway | Auth::Cognito(_) => Err(ApiError::not_found(
            "accounts are kept by Cognito here: sign in through the user pool",
        )),
    }
}

/// Who looks at a page. A store failure is the page's failure; a token
/// that does not verify is a signed-out browser.
pub(crate) async fn viewer(app: &App, req: &Request<Body>) -> Result<Viewer, ApiError> {
    let Auth::Local(accounts) = &app.auth else {
        return Ok(Viewer::Unknown);
    };
    match identify(&app.auth, req).await {
        Ok(Some(Identity {
            username: Some(username),
            session: Some(sid),
            ..
        })) => Ok(Viewer::SignedIn {
            username,
            csrf: accounts.csrf_token(&sid),
        }),
        Ok(_) => Ok(Viewer::SignedOut),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Ok(Viewer::SignedOut),
        Err(e) => Err(e),
    }
}

/// The registered user of the request's identity, if any: what a page
/// shows as theirs (no CSRF check: pages only read).
pub(crate) async fn signed_in_user(
    app: &App,
    req: &Request<Body>,
) -> Result<Option<User>, ApiError> {
    match identify(&app.auth, req).await {
        Ok(Some(identity)) => Ok(app.posts.user_by_subject(&identity.subject).await?),
        Ok(None) => Ok(None),
        Err(e) if e.status == StatusCode::UNAUTHORIZED => Ok(None),
        Err(e) => Err(e),
    }
}

/// The verified identity of a request, or 401; a cookie's must come with
/// the page's CSRF token (403 otherwise).
pub(crate) async fn identity(app: &App, req: &Request<Body>) -> Result<Identity, ApiError> {
    let identity = identify(&app.auth, req)
        .await?
        .ok_or_else(unauthenticated)?;
    if let (Via::Cookie, Auth::Local(accounts)) = (identity.via, &app.auth) {
        check_csrf(accounts, Some(&identity), req)?;
    }
    Ok(identity)
}

/// The user registered for `identity`, or 403.
async fn user_of(app: &App, identity: &Identity) -> Result<User, ApiError> {
    app.posts
        .user_by_subject(&identity.subject)
        .await?
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::FORBIDDEN,
                "not_registered",
                "this identity has no username yet: register one first (POST /users)",
            )
        })
}

/// Who writes: the registered user of the request's verified identity,
/// within the account's write limit (429 with `Retry-After` beyond it).
pub(crate) async fn writer(app: &App, req: &Request<Body>) -> Result<User, ApiError> {
    write_as(app, &identity(app, req).await?).await
}

/// [`writer`], for what only admins may do: 403 for anyone else, before
/// their write limit is touched.
pub(crate) async fn admin_writer(app: &App, req: &Request<Body>) -> Result<User, ApiError> {
    let identity = identity(app, req).await?;
    if !(identity.admin || app.admins.contains(&identity.subject)) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "admin_only",
            "only the service's admins may do this",
        ));
    }
    write_as(app, &identity).await
}

/// The user of `identity`, counted against its write limit.
async fn write_as(app: &App, identity: &Identity) -> Result<User, ApiError> {
    let user = user_of(app, identity).await?;
    app.writes
        .take(&user.user_id.to_string(), now_ms())
        .map_err(|wait| {
            ApiError::too_many(
                &format!("at most {} writes a minute per account", app.writes.limit()),
                wait,
            )
        })?;
    Ok(user)
}

/// A registration or sign-in: JSON or the pages' form (whose `csrf` field
/// is checked apart).
#[derive(Deserialize)]
struct Credentials {
    username: String,
    #[serde(default)]
    password: Option<String>,
}

/// What registering or signing in answers a JSON client: the user and,
/// locally, its bearer token.
#[derive(Serialize)]
struct SignedIn<'a> {
    #[serde(flatten)]
    user: &'a User,
    #[serde(skip_serializing_if = "Option::is_none")]
    token: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    expires_at: Option<i64>,
}

/// Whether the request is a browser's (which gets a cookie and a redirect)
/// rather than a JSON client's.
fn is_browser(req: &Request<Body>) -> bool {
    wants_html(req) || is_form(req)
}

/// Anything but a JSON body (which another site's page cannot send without
/// asking) must carry the CSRF token bound to the browser's cookie, even
/// before signing in: else another site could sign a visitor into its
/// account.
fn check_form_csrf(accounts: &LocalAccounts, req: &Request<Body>) -> Result<(), ApiError> {
    match is_json(req) {
        true => Ok(()),
        false => check_csrf(accounts, None, req),
    }
}

/// The new session's answer: for a browser the cookie and a redirect home
/// (reloading that page sends nothing again), for a JSON client the user
/// and its token.
fn session_answer(
    req: &Request<Body>,
    status: StatusCode,
    user: &User,
    (token, expires_at): (String, i64),
) -> Response<Body> {
    let mut res = match is_browser(req) {
        true => see_other("/"),
        false => json(
            status,
            &SignedIn {
                user,
                token: Some(&token),
                expires_at: Some(expires_at),
            },
        ),
    };
    set_cookie(&mut res, req, SESSION_COOKIE, &token, SESSION_SECONDS);
    res
}

/// A password of the accepted length, or 400.
fn valid_password(password: Option<String>) -> Result<String, ApiError> {
    let password = password.unwrap_or_default();
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(ApiError::bad_request(
            "invalid_password",
            format!(
                "a password of {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters is required"
            ),
        ));
    }
    Ok(password)
}

fn name_taken(username: &Username) -> ApiError {
    ApiError::new(
        StatusCode::CONFLICT,
        "username_taken",
        format!("username {} is already taken", username.as_str()),
    )
}

/// `POST /users` (JSON or form) and the original `POST /register` (form).
/// On AWS: registers a username for the verified Cognito identity (201;
/// 409 if the name is taken in any casing or the identity has one).
/// Locally: creates an account with a password and signs it in (201 with
/// its token, or the session cookie and a redirect for a browser).
pub async fn register(app: &App, req: Request<Body>) -> Response<Body> {
    let result = async {
        let input: Credentials =
            read_body::<_, Credentials, Credentials>(&req, app.max_body_bytes)?;
        let username = Username::parse(input.username.trim())?;
        match &app.auth {
            Auth::Gateway | Auth::Cognito(_) => {
                let identity = identity(app, &req).await?;
                let user =
                    usecases::register(app.posts.as_ref(), &app.ids, &username, &identity.subject)
                        .await
                        .map_err(|e| match e {
                            Refused::NameTaken => name_taken(&username),
                            Refused::AlreadyRegistered(user) => ApiError::new(
                                StatusCode::CONFLICT,
                                "already_registered",
                                format!("this identity is already registered as {}", user.username),
                            ),
                            Refused::Store(e) => e.into(),
                        })?;
                Ok(match wants_html(&req) {
                    true => see_other(&user_path(&user.username)),
                    false => json(StatusCode::CREATED, &user),
                })
            }
            Auth::Local(accounts) => {
                check_form_csrf(accounts, &req)?;
                let password = valid_password(input.password)?;
                let hash = accounts
                    .hash_off_thread(move || password::hash(&password))
                    .await?;
                let user = accounts
                    .store
                    .create_account(app.ids.next_id(), &username, &hash)
                    .await
                    .map_err(|e| match e {
                        hashtag_core::ports::StoreError::Conflict(_) => name_taken(&username),
                        other => other.into(),
                    })?;
                let session = accounts.start_session(&user).await?;
                Ok(session_answer(&req, StatusCode::CREATED, &user, session))
            }
        }
    }
    .await;
    finish(&req, result)
}

/// The login limit's key of a client address: the address, or for IPv6
/// its /64 (one subscriber's network, which hands out many addresses).
fn address_key(req: &Request<Body>) -> String {
    match req.extensions().get::<ClientAddr>().map(|a| a.0) {
        Some(IpAddr::V6(v6)) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
        Some(ip) => ip.to_string(),
        None => "unknown".into(),
    }
}

/// `POST /session` (JSON or the sign-in form): checks the password and
/// starts a session (200 with its token, or the cookie and a redirect for
/// a browser). 401 for a wrong name or password, alike; after
/// [`LOGIN_FAILURES_PER_ACCOUNT`](super::auth::LOGIN_FAILURES_PER_ACCOUNT)
/// failures for an account, or more from one address, within a minute,
/// 429 with `Retry-After` before any password is checked.
pub async fn sign_in(app: &App, req: Request<Body>) -> Response<Body> {
    let result = async {
        let accounts = local(app)?;
        check_form_csrf(accounts, &req)?;
        let input: Credentials =
            read_body::<_, Credentials, Credentials>(&req, app.max_body_bytes)?;
        let name = Username::parse(input.username.trim()).ok();
        // Names that cannot exist share one count: guessing them locks
        // out no real account.
        let account = name.as_ref().map_or_else(|| "-".into(), Username::key);
        let address = address_key(&req);
        accounts
            .try_sign_in(&account, &address, now_ms())
            .map_err(|wait| ApiError::too_many("too many failed sign-ins", wait))?;
        let found = match &name {
            Some(name) => accounts.store.credentials(name).await?,
            None => None,
        };
        let password = input.password.unwrap_or_default();
        // Unknown names cost a hash too, so timing does not tell which exist.
        let stored = found.as_ref().map(|(_, h)| h.clone());
        let verified = accounts
            .hash_off_thread(move || {
                Ok(match stored {
                    Some(hash) => password::verify(&password, &hash),
                    None => password::verify_decoy(&password),
                })
            })
            .await?;
        let Some((user, _)) = found.filter(|_| verified) else {
            return Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "invalid_credentials",
                "wrong username or password",
            ));
        };
        accounts.signed_in(&account, &address);
        let session = accounts.start_session(&user).await?;
        Ok(session_answer(&req, StatusCode::OK, &user, session))
    }
    .await;
    finish(&req, result)
}

/// `POST /signout`: ends the session of the request's token or cookie, so
/// neither works again (204, or a redirect home that clears the cookie).
/// A browser whose session already ended is just signed out again.
pub async fn sign_out(app: &App, req: Request<Body>) -> Response<Body> {
    let result = async {
        let accounts = local(app)?;
        match identity(app, &req).await {
            Ok(Identity {
                session: Some(sid), ..
            }) => accounts.store.end_session(&sid).await?,
            Ok(_) => {}
            Err(e) if e.status == StatusCode::UNAUTHORIZED && bearer_less(&req) => {}
            Err(e) => return Err(e),
        }
        let mut res = match is_browser(&req) {
            true => see_other("/"),
            false => {
                let mut res = Response::new(Body::new());
                *res.status_mut() = StatusCode::NO_CONTENT;
                res
            }
        };
        set_cookie(&mut res, &req, SESSION_COOKIE, "", 0);
        Ok(res)
    }
    .await;
    finish(&req, result)
}

/// Whether the request sends no bearer token (a browser with a stale
/// cookie, rather than a client whose token is wrong).
fn bearer_less(req: &Request<Body>) -> bool {
    !req.headers().contains_key(header::AUTHORIZATION)
}

/// Who `GET /me` says is signed in.
#[derive(Serialize)]
struct Me<'a> {
    #[serde(flatten)]
    user: &'a User,
    subject: &'a str,
}

/// `GET /me`: the user of the request's identity (401 without one, 403
/// if it has registered no username).
pub async fn me(app: &App, req: &Request<Body>) -> Response<Body> {
    let result = async {
        let identity = identify(&app.auth, req)
            .await?
            .ok_or_else(unauthenticated)?;
        let user = user_of(app, &identity).await?;
        Ok(json(
            StatusCode::OK,
            &Me {
                user: &user,
                subject: &identity.subject,
            },
        ))
    }
    .await;
    finish(req, result)
}

/// `GET /signin`: the sign-in and register forms. Their CSRF token is
/// bound to a random cookie, set here if the browser has none.
pub async fn sign_in_page(app: &App, req: &Request<Body>) -> Response<Body> {
    let result = async {
        let accounts = local(app)?;
        let viewer = viewer(app, req).await?;
        let (nonce, fresh) = match cookie(req, CSRF_COOKIE) {
            Some(n) if !n.is_empty() => (n.to_string(), false),
            _ => (random_token()?, true),
        };
        let mut res = pages::sign_in(&accounts.csrf_token(&nonce), &viewer);
        if fresh {
            set_cookie(&mut res, req, CSRF_COOKIE, &nonce, SESSION_SECONDS);
        }
        Ok(res)
    }
    .await;
    finish(req, result)
}
