//! Reading requests: size and content-type checks, JSON or form bodies,
//! content negotiation, path segments.

use bytes::Bytes as Body;
use http::{header, Request, StatusCode};
use serde::de::DeserializeOwned;

use super::response::ApiError;

/// Whether the client prefers an HTML page (a browser) over JSON.
pub fn wants_html(req: &Request<Body>) -> bool {
    req.headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.contains("text/html"))
}

/// Body encodings the API reads.
enum Encoding {
    Json,
    Form,
}

fn encoding(req: &Request<Body>) -> Result<Encoding, ApiError> {
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
    match mime.as_str() {
        "application/json" => Ok(Encoding::Json),
        "application/x-www-form-urlencoded" => Ok(Encoding::Form),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send application/json or application/x-www-form-urlencoded",
        )),
    }
}

/// Whether the body is JSON: what no other site's page can send without
/// the browser asking this service first (CORS), so it needs no CSRF token.
pub fn is_json(req: &Request<Body>) -> bool {
    matches!(encoding(req), Ok(Encoding::Json))
}

/// Whether the body is a form: a browser's.
pub fn is_form(req: &Request<Body>) -> bool {
    matches!(encoding(req), Ok(Encoding::Form))
}

/// Reads a JSON or form body into `T`, enforcing the size limit.
/// `J` is the JSON shape and `F` the form shape; both convert into `T`.
pub fn read_body<T, J, F>(req: &Request<Body>, max_bytes: usize) -> Result<T, ApiError>
where
    J: DeserializeOwned + Into<T>,
    F: DeserializeOwned + Into<T>,
{
    let bytes: &[u8] = req.body().as_ref();
    if bytes.len() > max_bytes {
        return Err(ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            format!("request bodies are limited to {max_bytes} bytes"),
        ));
    }
    match encoding(req)? {
        Encoding::Json => serde_json::from_slice::<J>(bytes)
            .map(Into::into)
            .map_err(|e| ApiError::bad_request("invalid_json", format!("invalid JSON body: {e}"))),
        Encoding::Form => serde_urlencoded::from_bytes::<F>(bytes)
            .map(Into::into)
            .map_err(|e| ApiError::bad_request("invalid_form", format!("invalid form body: {e}"))),
    }
}

/// A path segment, percent-decoded.
pub fn path_param(segment: &str) -> Result<String, ApiError> {
    percent_encoding::percent_decode_str(segment)
        .decode_utf8()
        .map(|s| s.into_owned())
        .map_err(|_| ApiError::bad_request("invalid_path", "path is not valid UTF-8"))
}

/// A whole-number query parameter from 1 to `max`, `default` if absent;
/// anything else is a 400 with `code` and a message that gives the range.
pub fn count_param<T>(
    req: &Request<Body>,
    name: &'static str,
    code: &'static str,
    default: T,
    max: T,
) -> Result<T, ApiError>
where
    T: std::str::FromStr + PartialOrd + From<u8> + std::fmt::Display + Copy,
{
    let Some(raw) = query_param(req, name) else {
        return Ok(default);
    };
    raw.parse::<T>()
        .ok()
        .filter(|n| *n >= T::from(1) && *n <= max)
        .ok_or_else(|| {
            ApiError::bad_request(code, format!("{name} must be a number from 1 to {max}"))
        })
}

/// The value of a query parameter, percent-decoded.
pub fn query_param(req: &Request<Body>, name: &str) -> Option<String> {
    let query = req.uri().query()?;
    serde_urlencoded::from_str::<Vec<(String, String)>>(query)
        .ok()?
        .into_iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v)
}
