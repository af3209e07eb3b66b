//! Building responses: JSON bodies, HTML pages and the error shape every
//! failure uses.

use bytes::Bytes as Body;
use http::{header, Response, StatusCode};
use serde::Serialize;

use hashtag_core::domain::Invalid;
use hashtag_core::ports::StoreError;

/// An error answered to the client as `{"error": {"code", "message"}}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Machine-readable code.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
    /// Seconds until a rate-limited client may try again (`Retry-After`).
    pub retry_after: Option<u64>,
}

impl ApiError {
    /// An error with the given status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            retry_after: None,
        }
    }

    /// 429: `what` is over its limit for another `wait_ms`.
    pub fn too_many(what: &str, wait_ms: i64) -> Self {
        let secs = (wait_ms.max(0) as u64).div_ceil(1000).max(1);
        ApiError {
            retry_after: Some(secs),
            ..Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "rate_limited",
                format!("{what}: try again in {secs} s"),
            )
        }
    }

    /// The headers that go with the error: `Retry-After` on a 429,
    /// `WWW-Authenticate` on a 401.
    pub fn add_headers(&self, res: &mut Response<Body>) {
        if let Some(secs) = self.retry_after {
            res.headers_mut()
                .insert(header::RETRY_AFTER, header::HeaderValue::from(secs));
        }
        if self.status == StatusCode::UNAUTHORIZED {
            res.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                header::HeaderValue::from_static("Bearer"),
            );
        }
    }

    /// 400 for a request that cannot be read.
    pub fn bad_request(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, code, message)
    }

    /// 503: something this service depends on failed (logged apart); the
    /// client may retry.
    pub fn unavailable() -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            "the service is temporarily unavailable; retry later",
        )
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// The JSON response.
    pub fn into_response(self) -> Response<Body> {
        #[derive(Serialize)]
        struct Inner<'a> {
            code: &'a str,
            message: &'a str,
        }
        #[derive(Serialize)]
        struct Outer<'a> {
            error: Inner<'a>,
        }
        let body = Outer {
            error: Inner {
                code: self.code,
                message: &self.message,
            },
        };
        let mut res = json(self.status, &body);
        self.add_headers(&mut res);
        res
    }
}

impl From<Invalid> for ApiError {
    fn from(e: Invalid) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, e.code, e.message)
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(m) => ApiError::new(StatusCode::CONFLICT, "conflict", m),
            StoreError::Missing(m) => {
                ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "unknown_reference", m)
            }
            StoreError::Backend(m) => {
                tracing::error!(error = %m, "store failure");
                ApiError::unavailable()
            }
        }
    }
}

/// A JSON response.
pub fn json<T: Serialize>(status: StatusCode, value: &T) -> Response<Body> {
    // Serialising our own plain structs cannot fail.
    let body = serde_json::to_string(value).unwrap_or_else(|_| "{}".into());
    with_type(status, "application/json", Body::from(body))
}

/// The Content-Security-Policy of every page: nothing but this origin's
/// own forms and links, the images posts may carry (any http(s) host, see
/// [`hashtag_core::domain::validate_image_url`]) and the one inline style
/// sheet, by its hash (a test keeps the hash in step with `base.html`). No
/// script may run, and no other site may frame a page.
pub const CONTENT_SECURITY_POLICY: &str = concat!(
    "default-src 'none'; img-src 'self' https: http:; style-src '",
    include_str!("../templates/style.hash"),
    "'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
);

/// An HTML response, with the headers that keep a page from being framed,
/// sniffed or made to run anything but its own markup.
pub fn html(status: StatusCode, page: String) -> Response<Body> {
    let mut res = with_type(status, "text/html; charset=utf-8", Body::from(page));
    let headers = res.headers_mut();
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        header::HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    // Links to image hosts and other sites do not learn which page led there.
    headers.insert(
        header::REFERRER_POLICY,
        header::HeaderValue::from_static("same-origin"),
    );
    res
}

/// A response with a body of the given content type.
pub fn with_type(status: StatusCode, content_type: &'static str, body: Body) -> Response<Body> {
    let mut res = Response::new(body);
    *res.status_mut() = status;
    res.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static(content_type),
    );
    // Every body is what its type says: browsers must not guess otherwise.
    res.headers_mut().insert(
        header::X_CONTENT_TYPE_OPTIONS,
        header::HeaderValue::from_static("nosniff"),
    );
    res
}

/// A 303 redirect to a path on this service.
pub fn see_other(location: &str) -> Response<Body> {
    let mut res = with_type(StatusCode::SEE_OTHER, "text/plain", Body::new());
    if let Ok(v) = header::HeaderValue::from_str(location) {
        res.headers_mut().insert(header::LOCATION, v);
    }
    res
}
