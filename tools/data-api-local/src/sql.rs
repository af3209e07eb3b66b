//! The Data API's SQL conventions on top of PostgreSQL's: named parameters
//! (`:name`) become positional ones (`$1`), and a request holds one
//! statement only. Quotes, dollar quotes, comments and `::` casts are
//! skipped, so a colon inside them is not a parameter.

/// How a named parameter appears in the rewritten statement.
pub enum Placeholder {
    /// As `$n`, bound to a value.
    Bound,
    /// As `CAST($n AS type)`: a string with a type hint (`TIMESTAMP`, ...).
    Cast(&'static str),
    /// As the literal `NULL`, whose type PostgreSQL infers from context.
    Null,
}

/// A statement ready for PostgreSQL and the parameter names it binds, in
/// `$n` order.
pub struct Rewritten {
    pub sql: String,
    pub bound: Vec<String>,
}

/// Rewrites `sql`'s named parameters; `placeholder` says how each name is
/// bound (`None`: no such parameter was given). Errors are for the client.
pub fn rewrite(
    sql: &str,
    placeholder: impl Fn(&str) -> Option<Placeholder>,
) -> Result<Rewritten, String> {
    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len());
    let mut bound: Vec<String> = Vec::new();
    let mut i = 0;
    let mut copied = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'\'' | b'"' => i = skip_quoted(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-') => {
                i = memchr_from(bytes, i, b'\n').map_or(bytes.len(), |e| e + 1)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                i = sql[i + 2..]
                    .find("*/")
                    .map_or(bytes.len(), |e| i + 2 + e + 2)
            }
            b'$' => i = skip_dollar_quoted(sql, i),
            b':' if bytes.get(i + 1) == Some(&b':') => i += 2,
            b':' if bytes
                .get(i + 1)
                .is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_') =>
            {
                let end = i
                    + 1
                    + bytes[i + 1..]
                        .iter()
                        .take_while(|b| b.is_ascii_alphanumeric() || **b == b'_')
                        .count();
                let name = &sql[i + 1..end];
                out.push_str(&sql[copied..i]);
                let position = |bound: &mut Vec<String>| {
                    let n = match bound.iter().position(|b| b == name) {
                        Some(n) => n,
                        None => {
                            bound.push(name.to_string());
                            bound.len() - 1
                        }
                    };
                    format!("${}", n + 1)
                };
                match placeholder(name) {
                    None => return Err(format!("No value specified for parameter: {name}")),
                    Some(Placeholder::Null) => out.push_str("NULL"),
                    Some(Placeholder::Bound) => out.push_str(&position(&mut bound)),
                    Some(Placeholder::Cast(ty)) => {
                        out.push_str(&format!("CAST({} AS {ty})", position(&mut bound)))
                    }
                }
                copied = end;
                i = end;
            }
            b';' => {
                let rest = &sql[i + 1..];
                if !only_space_and_comments(rest) {
                    return Err("Multistatements aren't supported.".into());
                }
                i += 1;
            }
            _ => i += 1,
        }
    }
    out.push_str(&sql[copied..]);
    Ok(Rewritten { sql: out, bound })
}

fn memchr_from(bytes: &[u8], from: usize, byte: u8) -> Option<usize> {
    bytes[from..]
        .iter()
        .position(|b| *b == byte)
        .map(|p| from + p)
}

/// Past a `'...'` or `"..."` starting at `at` (a doubled quote escapes).
fn skip_quoted(bytes: &[u8], at: usize) -> usize {
    let quote = bytes[at];
    let mut i = at + 1;
    while i < bytes.len() {
        if bytes[i] == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
                continue;
            }
            return i + 1;
        }
        i += 1;
    }
    bytes.len()
}

/// Past a `$tag$...$tag$` starting at `at`, or one byte if it is not one
/// (a positional `$1` is copied as written).
fn skip_dollar_quoted(sql: &str, at: usize) -> usize {
    let rest = &sql[at + 1..];
    let tag_len = rest
        .bytes()
        .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
        .count();
    let is_tag = rest.as_bytes().get(tag_len) == Some(&b'$')
        && !rest.as_bytes().first().is_some_and(u8::is_ascii_digit);
    if !is_tag {
        return at + 1;
    }
    let delimiter = &sql[at..at + tag_len + 2];
    let body = at + delimiter.len();
    sql[body..]
        .find(delimiter)
        .map_or(sql.len(), |e| body + e + delimiter.len())
}

fn only_space_and_comments(mut s: &str) -> bool {
    loop {
        s = s.trim_start();
        if let Some(rest) = s.strip_prefix("--") {
            s = rest.find('\n').map_or("", |e| &rest[e..]);
        } else if let Some(rest) = s.strip_prefix("/*") {
            s = rest.find("*/").map_or("", |e| &rest[e + 2..]);
        } else {
            return s.is_empty() || s.chars().all(|c| c == ';' || c.is_whitespace());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound(sql: &str) -> Result<(String, Vec<String>), String> {
        rewrite(sql, |name| match name {
            "n" => Some(Placeholder::Null),
            "t" => Some(Placeholder::Cast("TIMESTAMP")),
            "missing" => None,
            _ => Some(Placeholder::Bound),
        })
        .map(|r| (r.sql, r.bound))
    }

    #[test]
    fn named_parameters_become_positional() {
        let (sql, names) = bound("SELECT * FROM t WHERE a = :a AND b = :b OR a = :a").unwrap();
        assert_eq!(sql, "SELECT * FROM t WHERE a = $1 AND b = $2 OR a = $1");
        assert_eq!(names, ["a", "b"]);
        let (sql, _) = bound("INSERT INTO t VALUES (:n, :t)").unwrap();
        assert_eq!(sql, "INSERT INTO t VALUES (NULL, CAST($1 AS TIMESTAMP))");
    }

    #[test]
    fn colons_inside_literals_casts_and_comments_stay() {
        let sql =
            "SELECT ':a', \":b\", x::int, $$:c$$, $q$:d$q$ -- :e\n/* :f */ FROM t WHERE y = $1";
        assert_eq!(bound(sql).unwrap().0, sql);
    }

    #[test]
    fn one_statement_per_request() {
        assert!(bound("SELECT 1; -- done\n").is_ok());
        assert!(bound("SELECT 1; SELECT 2")
            .unwrap_err()
            .contains("Multistatements"));
        assert!(bound("SELECT :missing").unwrap_err().contains("missing"));
    }
}
