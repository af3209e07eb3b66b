//! The one part of a `multipart/form-data` body that an upload form sends
//! its file in (RFC 7578): what the seed's `POST /upload_csv` takes.

use memchr::memmem;

use super::response::ApiError;

/// The `boundary` parameter of a multipart content type.
fn boundary(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.eq_ignore_ascii_case("boundary")
            .then(|| value.trim_matches('"'))
            .filter(|b| !b.is_empty())
    })
}

/// Whether a part's headers name it `field`.
fn named(headers: &[u8], field: &str) -> bool {
    let headers = String::from_utf8_lossy(headers);
    headers.lines().any(|line| {
        let Some((name, value)) = line.split_once(':') else {
            return false;
        };
        name.trim().eq_ignore_ascii_case("content-disposition")
            && value
                .split(';')
                .any(|p| p.trim() == format!("name=\"{field}\""))
    })
}

fn malformed(why: &str) -> ApiError {
    ApiError::bad_request("invalid_multipart", format!("the multipart body {why}"))
}

/// The content of the part named `field` in a `multipart/form-data` body.
pub fn form_part<'a>(
    content_type: &str,
    body: &'a [u8],
    field: &str,
) -> Result<&'a [u8], ApiError> {
    let boundary = boundary(content_type).ok_or_else(|| malformed("has no boundary"))?;
    let delimiter = format!("--{boundary}");
    let next_part = format!("\r\n{delimiter}");
    let start = memmem::find(body, delimiter.as_bytes()).ok_or_else(|| malformed("has no part"))?;
    let mut rest = &body[start + delimiter.len()..];
    loop {
        if rest.starts_with(b"--") {
            return Err(ApiError::bad_request(
                "missing_file",
                format!("the form has no part named {field:?}"),
            ));
        }
        rest = rest
            .strip_prefix(b"\r\n")
            .ok_or_else(|| malformed("has a delimiter without a line break"))?;
        let headers_end = memmem::find(rest, b"\r\n\r\n")
            .ok_or_else(|| malformed("has a part without headers"))?;
        let content = &rest[headers_end + 4..];
        let end = memmem::find(content, next_part.as_bytes())
            .ok_or_else(|| malformed("ends before its closing delimiter"))?;
        if named(&rest[..headers_end], field) {
            return Ok(&content[..end]);
        }
        rest = &content[end + next_part.len()..];
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TYPE: &str = "multipart/form-data; boundary=\"XyZ\"";

    #[test]
    fn finds_the_named_part() {
        let body = b"preamble\r\n--XyZ\r\nContent-Disposition: form-data; name=\"note\"\r\n\r\nhi\r\n--XyZ\r\n\
Content-Disposition: form-data; name=\"file\"; filename=\"m.csv\"\r\nContent-Type: text/csv\r\n\r\n\
a,b,c\r\nd,e,f\r\n--XyZ--\r\n";
        assert_eq!(form_part(TYPE, body, "file").unwrap(), b"a,b,c\r\nd,e,f");
        assert_eq!(form_part(TYPE, body, "note").unwrap(), b"hi");
        assert_eq!(
            form_part(TYPE, body, "other").unwrap_err().code,
            "missing_file"
        );
    }

    #[test]
    fn malformed_bodies_are_client_errors() {
        for (content_type, body) in [
            ("multipart/form-data", &b"--XyZ\r\n"[..]),
            (TYPE, b"no delimiter"),
            (
                TYPE,
                b"--XyZ\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nunterminated",
            ),
            (TYPE, b"--XyZ\r\nno headers end"),
        ] {
            let e = form_part(content_type, body, "file").unwrap_err();
            assert_eq!(e.status, http::StatusCode::BAD_REQUEST, "{}", e.message);
        }
    }
}
