//! The mention graph's routes: a user's strongest mentions as JSON, and
//! the bulk import of the seed's CSV files.

use bytes::Bytes as Body;
use http::{header, Request, Response, StatusCode};
use serde::Serialize;

use super::account_routes::admin_writer;
use super::handlers::error_response;
use super::multipart::form_part;
use super::request::{count_param, query_param};
use super::response::{json, ApiError};
use super::App;
use hashtag_core::domain::{now_ms, rfc3339_ms, Username};
use hashtag_core::mention_import::{self, ImportSource};
use hashtag_core::mentions::{mutual, user_key, Decay, Direction, WeightedEdge, MAX_EDGES_LISTED};
use hashtag_core::ports::ReadModels;

/// The paths of the import, which take larger bodies (see
/// [`App::body_limit`]).
pub(crate) const IMPORT_PATHS: [&str; 2] = ["/mentions/import", "/upload_csv"];

/// Edges listed when the request does not say.
const DEFAULT_LIMIT: usize = 20;

/// `GET /users/{name}/mentions`.
#[derive(Serialize)]
struct UserMentions {
    user: String,
    direction: &'static str,
    half_life_days: f64,
    /// The time the weights are decayed to.
    at: String,
    edges: Vec<WeightedEdge>,
}

/// `GET /users/{name}/mentions?with=`.
#[derive(Serialize)]
struct EdgeBetween {
    from: String,
    to: String,
    half_life_days: f64,
    at: String,
    weight: f64,
    mentions: u64,
}

/// The strongest edges of the user with key `user` in `direction`,
/// decayed to `now_ms`: what the user page and the JSON route list.
pub(crate) async fn strongest_now(
    graph: &dyn ReadModels,
    user: &str,
    direction: Direction,
    limit: usize,
    now_ms: i64,
) -> Result<Vec<WeightedEdge>, ApiError> {
    let decay = Decay::configured();
    let edges = graph
        .strongest(user, direction, limit, decay.min_log_weight(now_ms))
        .await?;
    Ok(edges
        .iter()
        .map(|e| WeightedEdge::of(e, direction, &decay, now_ms))
        .collect())
}

fn username(raw: &str, what: &str) -> Result<Username, ApiError> {
    Username::parse(raw).map_err(|_| {
        ApiError::bad_request(
            "invalid_username",
            format!("{what} must be 1 to 20 letters, digits or underscores"),
        )
    })
}

/// `GET /users/{name}/mentions?direction=out|in|mutual&limit=`: the user's
/// strongest edges, weights decayed to now; `?with=other`: the edge from
/// the user to `other`. Any valid username has a node (the graph keeps the
/// names it sees mentioned, registered or not), so an unknown one answers
/// no edges rather than 404.
pub async fn user_mentions(app: &App, req: &Request<Body>, name: &str) -> Response<Body> {
    let result = async {
        let user = username(name, "the user name")?;
        let decay = Decay::configured();
        let now = now_ms();
        let graph = app.hashtags()?;
        let key = user_key(user.as_str());
        if let Some(other) = query_param(req, "with") {
            let other = username(&other, "with")?;
            let edge = graph.edge(&key, &user_key(other.as_str())).await?;
            return Ok(json(
                StatusCode::OK,
                &EdgeBetween {
                    from: user.as_str().to_string(),
                    to: other.as_str().to_string(),
                    half_life_days: decay.half_life_days(),
                    at: rfc3339_ms(now),
                    weight: edge
                        .as_ref()
                        .map_or(0.0, |e| decay.weight_at(e.state.log_weight, now)),
                    mentions: edge.map_or(0, |e| e.state.mentions),
                },
            ));
        }
        let limit = count_param(
            req,
            "limit",
            "invalid_limit",
            DEFAULT_LIMIT,
            MAX_EDGES_LISTED,
        )?;
        let direction = query_param(req, "direction").unwrap_or_else(|| "out".into());
        let (direction, edges) = match direction.as_str() {
            "mutual" => {
                let floor = decay.min_log_weight(now);
                let out = graph
                    .strongest(&key, Direction::Out, MAX_EDGES_LISTED, floor)
                    .await?;
                let incoming = graph
                    .strongest(&key, Direction::In, MAX_EDGES_LISTED, floor)
                    .await?;
                let mut both = mutual(&out, &incoming, &decay, now);
                both.truncate(limit);
                ("mutual", both)
            }
            other => {
                let direction = Direction::parse(other).ok_or_else(|| {
                    ApiError::bad_request(
                        "invalid_direction",
                        "direction must be out, in or mutual",
                    )
                })?;
                let label = if direction == Direction::Out {
                    "out"
                } else {
                    "in"
                };
                (
                    label,
                    strongest_now(graph, &key, direction, limit, now).await?,
                )
            }
        };
        Ok(json(
            StatusCode::OK,
            &UserMentions {
                user: user.as_str().to_string(),
                direction,
                half_life_days: decay.half_life_days(),
                at: rfc3339_ms(now),
                edges,
            },
        ))
    }
    .await;
    result.unwrap_or_else(|e| error_response(req, e))
}

/// The CSV file of an import request: the body itself (`text/csv`,
/// `text/plain`, `application/octet-stream`), or the `file` part of a
/// `multipart/form-data` upload, as the seed's form sends it.
fn csv_file(req: &Request<Body>) -> Result<&[u8], ApiError> {
    let content_type = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = content_type.split(';').next().unwrap_or("").trim();
    match mime.to_ascii_lowercase().as_str() {
        "text/csv" | "application/csv" | "text/plain" | "application/octet-stream" => {
            Ok(req.body().as_ref())
        }
        "multipart/form-data" => form_part(content_type, req.body().as_ref(), "file"),
        _ => Err(ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "unsupported_media_type",
            "send the CSV as text/csv, or as the file part of multipart/form-data",
        )),
    }
}

/// `POST /mentions/import` and the seed's `POST /upload_csv`: imports a CSV
/// of `text, timestamp, username` rows into the mention graph and answers
/// the report (rows imported, rows rejected with line and reason). Done
/// before answering, so the report is final; importing the same file again
/// changes nothing. Admins only: the rows name who mentioned whom, so
/// anyone else could write as others.
pub async fn import_mentions(app: &App, req: &Request<Body>) -> Response<Body> {
    let result = async {
        let graph = app.graph.as_deref().ok_or_else(|| {
            ApiError::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "no_mention_graph",
                "this function does not import mentions",
            )
        })?;
        admin_writer(app, req).await?;
        let file = csv_file(req)?;
        if file.iter().all(u8::is_ascii_whitespace) {
            return Err(ApiError::bad_request("empty_file", "the CSV file is empty"));
        }
        let report = mention_import::import_mentions(
            graph,
            &ImportSource::of(file),
            file,
            &Decay::configured(),
            now_ms(),
        )
        .await?;
        Ok(json(StatusCode::OK, &report))
    }
    .await;
    result.unwrap_or_else(|e| error_response(req, e))
}
