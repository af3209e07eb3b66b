//! Bulk import of the mention-graph seed's CSV files (`text, timestamp,
//! username` per row) into the graph, through the same aggregation as the
//! mention consumer.
//!
//! The file is read as a stream, row by row; every row is validated on its
//! own (a bad row is reported with its line number and reason, and the good
//! ones are imported), and rows are applied in chunks of
//! [`IMPORT_CHUNK_ROWS`]: one write per distinct edge per chunk, no lock.
//!
//! Idempotent: the file's source name is its SHA-256 ([`ImportSource`]),
//! and its rows are offsets in that source, so importing the same file
//! again finds every edge's mark at or past its rows and writes nothing;
//! an import that failed half-way is completed by importing it again.

use std::io::Read;

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::domain::{parse_rfc3339_ms, Username, MAX_CAPTION_CHARS};
use crate::mentions::{aggregate_mentions, Decay, MentionText};
use crate::ports::{MentionGraph, StoreError};

/// Rows aggregated and applied together: the seed's chunk size.
pub const IMPORT_CHUNK_ROWS: usize = 10_000;

/// Rejected rows listed in a report; the count covers all of them.
pub const MAX_REJECTIONS_LISTED: usize = 1_000;

/// How far in the future a row's timestamp may be (clock skew): a row
/// dated later would outweigh every real mention until then.
const MAX_FUTURE_MS: i64 = 5 * 60 * 1000;

/// A row that was not imported.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Rejected {
    /// Line of the file where the row starts, from 1.
    pub row: u64,
    /// Why.
    pub reason: String,
}

/// What an import did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImportReport {
    /// The file's source name in the graph's marks.
    pub source: String,
    /// Data rows read (the header excluded).
    pub rows: u64,
    /// Rows imported.
    pub imported: u64,
    /// Rows rejected.
    pub rejected: u64,
    /// The first [`MAX_REJECTIONS_LISTED`] rejected rows, in file order.
    pub rejections: Vec<Rejected>,
    /// Edge writes made; 0 when the file was imported before.
    pub edges_written: usize,
}

/// The source name of a file, from its content: `csv:` and the first 16
/// bytes of its SHA-256 in hex. Fed the file in pieces, so a file on disk
/// is hashed without holding it.
#[derive(Default)]
pub struct ImportSource(Sha256);

impl ImportSource {
    /// Adds the next bytes of the file.
    pub fn update(&mut self, bytes: &[u8]) {
        self.0.update(bytes);
    }

    /// The source name.
    pub fn finish(self) -> String {
        let digest = self.0.finalize();
        let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
        format!("csv:{hex}")
    }

    /// The source name of a file held in memory.
    pub fn of(bytes: &[u8]) -> String {
        let mut source = ImportSource::default();
        source.update(bytes);
        source.finish()
    }
}

/// A valid row, owned until its chunk is applied.
struct Row {
    line: i64,
    author: String,
    text: String,
    at_ms: i64,
}

/// A row's timestamp: RFC 3339, `YYYY-MM-DD HH:MM:SS[.fff]` (UTC), or Unix
/// seconds; not later than the clock allows.
fn parse_timestamp(raw: &str, now_ms: i64) -> Result<i64, String> {
    let raw = raw.trim();
    let ms = parse_rfc3339_ms(raw)
        .or_else(|| {
            chrono::NaiveDateTime::parse_from_str(raw, "%Y-%m-%d %H:%M:%S%.f")
                .ok()
                .map(|t| t.and_utc().timestamp_millis())
        })
        .or_else(|| raw.parse::<i64>().ok().and_then(|s| s.checked_mul(1000)))
        .ok_or_else(|| {
            format!("timestamp {raw:?} is not RFC 3339, YYYY-MM-DD HH:MM:SS or Unix seconds")
        })?;
    if ms > now_ms + MAX_FUTURE_MS {
        return Err(format!("timestamp {raw:?} is in the future"));
    }
    Ok(ms)
}

/// Checks one record; `Ok(None)` for the header.
fn check_row(record: &csv::StringRecord, first: bool, now_ms: i64) -> Result<Option<Row>, String> {
    if record.len() != 3 {
        return Err(format!(
            "expected 3 fields (text, timestamp, username), found {}",
            record.len()
        ));
    }
    let (text, timestamp, username) = (&record[0], &record[1], &record[2]);
    if first
        && text.eq_ignore_ascii_case("text")
        && timestamp.eq_ignore_ascii_case("timestamp")
        && username.eq_ignore_ascii_case("username")
    {
        return Ok(None);
    }
    if text.trim().is_empty() {
        return Err("the text is empty".into());
    }
    // A post's length rule; its hashtag rules do not concern the graph.
    let chars = text.chars().count();
    if chars > MAX_CAPTION_CHARS {
        return Err(format!(
            "the text has {chars} characters; at most {MAX_CAPTION_CHARS} are allowed"
        ));
    }
    let at_ms = parse_timestamp(timestamp, now_ms)?;
    let author = Username::parse(username.trim()).map_err(|e| e.message)?;
    Ok(Some(Row {
        line: record.position().map_or(0, |p| p.line() as i64),
        author: author.as_str().to_string(),
        text: text.to_string(),
        at_ms,
    }))
}

/// Adds a chunk of rows to the graph.
async fn apply_chunk(
    graph: &dyn MentionGraph,
    source: &str,
    rows: &[Row],
    decay: &Decay,
) -> Result<usize, StoreError> {
    let texts: Vec<MentionText<'_>> = rows
        .iter()
        .map(|r| MentionText {
            source,
            offset: r.line,
            author: &r.author,
            text: &r.text,
            at_ms: r.at_ms,
        })
        .collect();
    graph
        .apply_mentions(&aggregate_mentions(&texts, decay))
        .await
}

/// Imports the CSV read from `reader` (whose content names `source`, see
/// [`ImportSource`]) into `graph`. Rows that fail validation are reported;
/// a store error stops the import (run it again: rows applied are not
/// applied twice).
pub async fn import_mentions<R: Read>(
    graph: &dyn MentionGraph,
    source: &str,
    reader: R,
    decay: &Decay,
    now_ms: i64,
) -> Result<ImportReport, StoreError> {
    let mut csv = csv::ReaderBuilder::new()
        .has_headers(false)
        .flexible(true)
        .from_reader(reader);
    let mut report = ImportReport {
        source: source.to_string(),
        ..ImportReport::default()
    };
    let mut chunk = Vec::with_capacity(IMPORT_CHUNK_ROWS);
    let mut record = csv::StringRecord::new();
    let mut first = true;
    loop {
        let line = csv.position().line();
        let checked = match csv.read_record(&mut record) {
            Ok(false) => break,
            Ok(true) => check_row(&record, first, now_ms),
            Err(e) => Err(match e.kind() {
                csv::ErrorKind::Utf8 { .. } => "the row is not valid UTF-8".to_string(),
                _ => format!("unreadable row: {e}"),
            }),
        };
        first = false;
        match checked {
            Ok(None) => continue,
            Ok(Some(row)) => {
                report.rows += 1;
                report.imported += 1;
                chunk.push(row);
            }
            Err(reason) => {
                report.rows += 1;
                report.rejected += 1;
                if report.rejections.len() < MAX_REJECTIONS_LISTED {
                    report.rejections.push(Rejected { row: line, reason });
                }
            }
        }
        if chunk.len() == IMPORT_CHUNK_ROWS {
            report.edges_written += apply_chunk(graph, source, &chunk, decay).await?;
            chunk.clear();
        }
    }
    if !chunk.is_empty() {
        report.edges_written += apply_chunk(graph, source, &chunk, decay).await?;
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mentions::EdgeContribution;
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Records what it is asked to apply.
    #[derive(Default)]
    struct Graph(Mutex<Vec<EdgeContribution>>);

    #[async_trait]
    impl MentionGraph for Graph {
        async fn apply_mentions(&self, edges: &[EdgeContribution]) -> Result<usize, StoreError> {
            self.0.lock().unwrap().extend_from_slice(edges);
            Ok(edges.len())
        }
    }

    const NOW: i64 = 1_800_000_000_000;

    #[tokio::test]
    async fn good_rows_are_imported_and_bad_ones_reported_by_line() {
        let file = "text,timestamp,username\n\
                    hi @bob,2026-11-01T10:00:00Z,ann\n\
                    \"multi\nline @carl, with a comma\",2026-11-01 10:00:00,ann\n\
                    no timestamp @bob,,ann\n\
                    @bob,2026-11-01T10:00:00Z,not a name\n\
                    two,fields\n\
                    later @ann,1790000000,bob\n\
                    from the future @ann,2099-01-01T00:00:00Z,bob\n";
        let graph = Graph::default();
        let decay = Decay::from_half_life_days(7.0).unwrap();
        let report = import_mentions(&graph, "csv:x", file.as_bytes(), &decay, NOW)
            .await
            .unwrap();
        assert_eq!((report.rows, report.imported, report.rejected), (7, 3, 4));
        let lines: Vec<u64> = report.rejections.iter().map(|r| r.row).collect();
        assert_eq!(lines, vec![5, 6, 7, 9], "{:?}", report.rejections);
        assert!(report.rejections[0].reason.contains("timestamp"));
        assert!(report.rejections[2].reason.contains("3 fields"));
        let edges = graph.0.lock().unwrap();
        let pairs: Vec<(&str, &str, i64)> = edges
            .iter()
            .map(|e| {
                let offset = e.sources[0].mentions[0].offset;
                (e.from.as_str(), e.to.as_str(), offset)
            })
            .collect();
        assert_eq!(
            pairs,
            vec![("ann", "bob", 2), ("ann", "carl", 3), ("bob", "ann", 8)]
        );
        assert_eq!(report.edges_written, 3);
    }

    #[test]
    fn the_source_is_the_content_hash() {
        assert_eq!(ImportSource::of(b"a"), ImportSource::of(b"a"));
        assert_ne!(ImportSource::of(b"a"), ImportSource::of(b"b"));
        let mut pieces = ImportSource::default();
        pieces.update(b"hello ");
        pieces.update(b"world");
        assert_eq!(pieces.finish(), ImportSource::of(b"hello world"));
        assert_eq!(ImportSource::of(b"").len(), "csv:".len() + 32);
    }
}
