//! Trending tags, by Mastodon's rule (4.3) on the tag history: a tag trends
//! when today's distinct authors exceed what yesterday's predict.
//!
//! - expected = yesterday's distinct authors (1 if none), observed =
//!   today's; score 0 below [`MIN_ACCOUNTS`] authors or below expectation,
//!   else (observed − expected)² / expected. Distinct authors, not posts:
//!   one account posting a hundred times does not make a trend.
//! - The peak is kept and decays with a half-life of [`HALF_LIFE_HOURS`]:
//!   a burst stays visible for a few hours after it stops, then fades.
//!
//! The peak is stored forward-decayed in log space, as the mention graph's
//! weights are ([`crate::mentions`]): `ln(score) + λ(t − T0)`, so that the
//! order of stored peaks is the order of their decayed scores at any time.
//! An index on the stored value lists the strongest trends in one read, and
//! nothing is rewritten as time passes.

use serde::Serialize;

use crate::history::{history_days, Day, DayCount, PAGE_HISTORY_DAYS};
use crate::mentions::DECAY_EPOCH_MS;
use crate::ports::{StoreError, TagHistory, TagModeration};

/// Fewest distinct authors in a day for a tag to trend (Mastodon's 5).
pub const MIN_ACCOUNTS: u64 = 5;
/// Half-life of a trend's peak, in hours (Mastodon decays its tag trends'
/// peaks with a half-life of 2 hours).
pub const HALF_LIFE_HOURS: f64 = 2.0;
/// Trends listed when a request does not say.
pub const DEFAULT_TRENDS: usize = 10;
/// Most trends a request may list.
pub const MAX_TRENDS: usize = 50;

/// The reference time of forward decay, the mention graph's.
const T0_MS: i64 = DECAY_EPOCH_MS;
const MS_PER_HOUR: f64 = 3_600_000.0;

fn lambda_per_ms() -> f64 {
    std::f64::consts::LN_2 / (HALF_LIFE_HOURS * MS_PER_HOUR)
}

/// Mastodon's score of a day: 0 unless `observed` reaches [`MIN_ACCOUNTS`]
/// and exceeds `expected`.
pub fn score(observed: u64, expected: u64) -> f64 {
    let expected = expected.max(1) as f64;
    let observed = observed as f64;
    if observed < MIN_ACCOUNTS as f64 || observed <= expected {
        return 0.0;
    }
    (observed - expected).powi(2) / expected
}

/// A score reached at `at_ms`, as stored: forward-decayed, in log space.
pub fn stored_peak(score: f64, at_ms: i64) -> f64 {
    score.ln() + lambda_per_ms() * (at_ms - T0_MS) as f64
}

/// The peak after a new score at `at_ms`: the higher of the stored peak
/// (decayed) and the new score; `None` if neither is above zero.
pub fn next_peak(stored: Option<f64>, score: f64, at_ms: i64) -> Option<f64> {
    let new = (score > 0.0).then(|| stored_peak(score, at_ms));
    match (stored, new) {
        (Some(old), Some(new)) => Some(old.max(new)),
        (old, new) => old.or(new),
    }
}

/// A stored peak's score decayed to `now_ms`.
pub fn decayed(stored: f64, now_ms: i64) -> f64 {
    (stored - lambda_per_ms() * (now_ms - T0_MS) as f64).exp()
}

/// Decayed scores below this are no trend (Mastodon's decay threshold).
pub const MIN_SCORE: f64 = 1.0;

/// What operators decide about a tag.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Moderation {
    /// The default: listed in trends.
    Listed,
    /// Left out of trends; its page and posts stay.
    Hidden,
    /// Left out of everything: its page answers 410 Gone.
    Banned,
}

impl Moderation {
    /// Parses `listed`, `hidden` or `banned`.
    pub fn parse(s: &str) -> Option<Moderation> {
        match s {
            "listed" => Some(Moderation::Listed),
            "hidden" => Some(Moderation::Hidden),
            "banned" => Some(Moderation::Banned),
            _ => None,
        }
    }

    /// As [`Moderation::parse`] reads it.
    pub fn as_str(self) -> &'static str {
        match self {
            Moderation::Listed => "listed",
            Moderation::Hidden => "hidden",
            Moderation::Banned => "banned",
        }
    }
}

/// The trending tags at `now_ms`, strongest first, at most `limit`: the
/// peaks of today and yesterday (a burst late yesterday still trends
/// after midnight, decaying), each tag once at its higher peak, decayed to
/// now, hidden and banned tags left out, each with its last 7 days.
pub async fn trending_tags<S: TagHistory + TagModeration + ?Sized>(
    store: &S,
    now_ms: i64,
    limit: usize,
) -> Result<Vec<TrendingTag>, StoreError> {
    let today = Day::of_ms(now_ms);
    // Room for the tags moderation leaves out.
    let wanted = limit * 2 + 10;
    let mut peaks = store.trending(today, wanted).await?;
    peaks.extend(store.trending(Day(today.0 - 1), wanted).await?);
    peaks.sort_by(|a, b| b.1.total_cmp(&a.1));
    let mut seen = std::collections::HashSet::new();
    peaks.retain(|(key, peak)| decayed(*peak, now_ms) >= MIN_SCORE && seen.insert(key.clone()));
    let keys: Vec<String> = peaks.iter().map(|(k, _)| k.clone()).collect();
    let moderated = store.moderated(&keys).await?;
    peaks.retain(|(key, _)| !moderated.iter().any(|(k, _)| k == key));
    // An index may order by a rounded peak ([`index_rank`]): a few more
    // candidates are scored exactly from their days.
    peaks.truncate(limit + 5);
    let first = Day(today.0 - PAGE_HISTORY_DAYS + 1);
    let histories = futures_util::future::try_join_all(
        peaks
            .iter()
            .map(|(tag, _)| store.history(tag, first, today)),
    )
    .await?;
    let mut tags: Vec<TrendingTag> = peaks
        .into_iter()
        .zip(histories)
        .map(|((tag, listed), rows)| {
            let exact = rows
                .iter()
                .filter(|r| r.day.0 >= today.0 - 1)
                .filter_map(|r| r.peak)
                .fold(listed, f64::max);
            TrendingTag {
                history: history_days(&rows, today, PAGE_HISTORY_DAYS),
                score: decayed(exact, now_ms),
                tag,
            }
        })
        .collect();
    tags.sort_by(|a, b| b.score.total_cmp(&a.score).then_with(|| a.tag.cmp(&b.tag)));
    tags.truncate(limit);
    Ok(tags)
}

/// Steps of an index's rounded peak, in log space: a stored peak that
/// grows by less than e^0.25 (28 %) keeps its index entry, so a tag that
/// trends all day rewrites its entry a few dozen times, not on every
/// batch.
pub const INDEX_STEP: f64 = 0.25;

/// A peak rounded down to its index step.
pub fn index_rank(peak: f64) -> i64 {
    (peak / INDEX_STEP).floor() as i64
}

/// The lowest peak of an index rank.
pub fn rank_floor(rank: i64) -> f64 {
    rank as f64 * INDEX_STEP
}

/// A trending tag, as the API lists it.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TrendingTag {
    /// The tag's key (its page is `/tags/{tag}`).
    pub tag: String,
    /// The peak score decayed to now.
    pub score: f64,
    /// The last 7 days, newest first.
    pub history: Vec<DayCount>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scores_follow_mastodon() {
        assert_eq!(score(4, 0), 0.0, "below 5 authors");
        assert_eq!(score(10, 10), 0.0, "as expected");
        assert_eq!(score(8, 12), 0.0, "below expectation");
        assert_eq!(score(5, 0), 16.0, "(5 - 1)^2 / 1");
        assert_eq!(score(50, 1), 2401.0);
        assert_eq!(score(30, 10), 40.0);
    }

    #[test]
    fn a_peak_halves_every_half_life_and_keeps_its_order() {
        let t = 1_780_000_000_000;
        let hour = 3_600_000;
        let big = next_peak(None, 2401.0, t).unwrap();
        assert!((decayed(big, t) - 2401.0).abs() < 1e-6);
        let later = t + (HALF_LIFE_HOURS * MS_PER_HOUR) as i64;
        assert!((decayed(big, later) - 1200.5).abs() < 1e-6);
        // A lower score later replaces the peak only once the peak has
        // decayed below it.
        assert_eq!(next_peak(Some(big), 1500.0, t + hour), Some(big));
        let replaced = next_peak(Some(big), 1500.0, later).unwrap();
        assert!((decayed(replaced, later) - 1500.0).abs() < 1e-6);
        // No score keeps the peak; none ever is no trend.
        assert_eq!(next_peak(Some(big), 0.0, later), Some(big));
        assert_eq!(next_peak(None, 0.0, later), None);
        // Stored order is decayed order, whenever it is read.
        let small = next_peak(None, 100.0, t + 5 * hour).unwrap();
        for now in [t + 5 * hour, t + 24 * hour, t + 24 * 30 * hour] {
            assert_eq!(
                big > small,
                decayed(big, now) > decayed(small, now),
                "at {now}"
            );
        }
    }
}
