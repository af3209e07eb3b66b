//! Reactions counted in event-time tumbling windows, as the emoji-streaming
//! seed's stream processor aggregates them: both reactions to posts and the
//! live stream's (`POST /emoji`), net per emoji per window.
//!
//! A reaction belongs to the window its event time falls in (the API's
//! time for a post's reaction, the client's `timestamp` for the live
//! stream). A window takes reactions until its end plus a grace period, by
//! the time a reaction's record entered the topic (its Kafka timestamp, so
//! every delivery of a record decides alike); a reaction later than that is
//! not counted in any window (the batch report's `late` says how many), so
//! a window read after its grace never changes again. It still counts for
//! its post. The defaults, one-minute windows and two minutes of grace,
//! cover a reaction the outbox relay publishes (it runs every minute); the
//! seed's Spark job uses two-second windows, too narrow for batches that
//! MSK delivers up to half a second apart and too many to keep.
//!
//! Windows are exact under redelivery and replay: every window remembers,
//! per source partition, the highest offset it counted, and counts only
//! records above it (the hashtag counter's offset marks). A post's reaction
//! that the outbox published twice (under two offsets) counts twice in its
//! window, never in its post's counts.

use std::collections::BTreeMap;

/// Window width unless configured (`REACTION_WINDOW_SECONDS`).
pub const DEFAULT_WINDOW_MS: i64 = 60_000;
/// Grace period unless configured (`REACTION_GRACE_SECONDS`).
pub const DEFAULT_GRACE_MS: i64 = 120_000;
/// How long windows are kept: `GET /emoji/windows` reads back this far.
pub const WINDOW_RETENTION_MS: i64 = 7 * 86_400_000;

/// The width of the windows and their grace period.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Windowing {
    /// Width of a window, milliseconds; windows start at multiples of it.
    pub width_ms: i64,
    /// How long after its end a window still takes late reactions.
    pub grace_ms: i64,
}

impl Default for Windowing {
    fn default() -> Self {
        Windowing {
            width_ms: DEFAULT_WINDOW_MS,
            grace_ms: DEFAULT_GRACE_MS,
        }
    }
}

impl Windowing {
    /// The windowing `REACTION_WINDOW_SECONDS` (1 to 86,400) and
    /// `REACTION_GRACE_SECONDS` (0 to 86,400) configure, or an error naming
    /// the bad setting.
    pub fn configured() -> Result<Windowing, String> {
        let read = |name: &str, min: i64, default_ms: i64| match std::env::var(name) {
            Ok(v) if !v.trim().is_empty() => match v.trim().parse::<i64>() {
                Ok(s) if (min..=86_400).contains(&s) => Ok(s * 1000),
                _ => Err(format!(
                    "{name} must be a whole number of seconds from {min} to 86400, not {v:?}"
                )),
            },
            _ => Ok(default_ms),
        };
        Ok(Windowing {
            width_ms: read("REACTION_WINDOW_SECONDS", 1, DEFAULT_WINDOW_MS)?,
            grace_ms: read("REACTION_GRACE_SECONDS", 0, DEFAULT_GRACE_MS)?,
        })
    }

    /// Start of the window `event_ms` falls in.
    pub fn start(&self, event_ms: i64) -> i64 {
        event_ms.div_euclid(self.width_ms) * self.width_ms
    }

    /// Whether a reaction of `event_ms` whose record entered the topic at
    /// `arrived_ms` is still counted in its window.
    pub fn on_time(&self, event_ms: i64, arrived_ms: i64) -> bool {
        arrived_ms <= self.start(event_ms) + self.width_ms + self.grace_ms
    }
}

/// One reaction as the windows count it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Windowed<'a> {
    /// `topic-partition` of its record.
    pub source: &'a str,
    /// Its record's offset.
    pub offset: i64,
    /// The emoji.
    pub emoji: &'a str,
    /// +1, or -1 for a reaction taken back.
    pub delta: i64,
    /// Event time, Unix milliseconds.
    pub event_ms: i64,
    /// When its record entered the topic, Unix milliseconds.
    pub arrived_ms: i64,
}

/// A window's records per `topic-partition`: (offset, emoji, delta), in
/// offset order.
pub type SourceRecords = BTreeMap<String, Vec<(i64, String, i64)>>;

/// Everything a batch adds to one window.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowContribution {
    /// Start of the window, Unix milliseconds.
    pub start_ms: i64,
    /// Its records per source partition.
    pub sources: SourceRecords,
}

/// What a contribution adds given the marks stored: net counts per emoji,
/// and the marks to store with them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WindowDelta {
    /// Net change per emoji (zeros left out).
    pub counts: BTreeMap<String, i64>,
    /// The highest offset counted per source that this delta advances.
    pub marks: BTreeMap<String, i64>,
}

impl WindowContribution {
    /// What to add to the window whose marks (highest offset counted per
    /// source) are `marks`: only records above their source's mark. `None`
    /// if none is (a redelivery). The one rule that keeps windows exact,
    /// on every adapter.
    pub fn above(&self, marks: &BTreeMap<String, i64>) -> Option<WindowDelta> {
        let mut delta = WindowDelta::default();
        for (source, records) in &self.sources {
            let mark = marks.get(source).copied().unwrap_or(-1);
            let mut last = None;
            for (offset, emoji, d) in records.iter().filter(|(o, _, _)| *o > mark) {
                *delta.counts.entry(emoji.clone()).or_default() += d;
                last = Some(*offset);
            }
            if let Some(last) = last {
                delta.marks.insert(source.clone(), last);
            }
        }
        delta.counts.retain(|_, n| *n != 0);
        (!delta.marks.is_empty()).then_some(delta)
    }
}

/// A batch's reactions per window, with how many came later than their
/// window's grace (counted in none).
pub fn aggregate_windows(
    reactions: &[Windowed<'_>],
    windowing: &Windowing,
) -> (Vec<WindowContribution>, usize) {
    let mut windows: BTreeMap<i64, SourceRecords> = BTreeMap::new();
    let mut late = 0;
    for r in reactions {
        if !windowing.on_time(r.event_ms, r.arrived_ms) {
            late += 1;
            continue;
        }
        windows
            .entry(windowing.start(r.event_ms))
            .or_default()
            .entry(r.source.to_string())
            .or_default()
            .push((r.offset, r.emoji.to_string(), r.delta));
    }
    let mut contributions: Vec<WindowContribution> = windows
        .into_iter()
        .map(|(start_ms, sources)| WindowContribution { start_ms, sources })
        .collect();
    for c in &mut contributions {
        for records in c.sources.values_mut() {
            records.sort_by_key(|(offset, _, _)| *offset);
        }
    }
    (contributions, late)
}

/// A window's counts as read back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WindowCounts {
    /// Start, Unix milliseconds.
    pub start_ms: i64,
    /// Net reactions per emoji (those at 0 left out).
    pub counts: BTreeMap<String, i64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn r(offset: i64, emoji: &'static str, event_ms: i64, arrived_ms: i64) -> Windowed<'static> {
        Windowed {
            source: "reactions-0",
            offset,
            emoji,
            delta: 1,
            event_ms,
            arrived_ms,
        }
    }

    #[test]
    fn reactions_fall_in_the_window_of_their_event_time() {
        let w = Windowing::default();
        assert_eq!(w.start(119_999), 60_000);
        assert_eq!(w.start(-1), -60_000);
        let (windows, late) = aggregate_windows(
            &[r(0, "👍", 59_999, 60_001), r(1, "👍", 60_000, 60_001)],
            &w,
        );
        assert_eq!(late, 0);
        assert_eq!(
            windows.iter().map(|c| c.start_ms).collect::<Vec<_>>(),
            [0, 60_000]
        );
    }

    #[test]
    fn a_late_reaction_inside_the_grace_lands_in_its_window_and_one_after_in_none() {
        let w = Windowing {
            width_ms: 60_000,
            grace_ms: 120_000,
        };
        // The window [0, 60 s) takes records that entered the topic up to
        // 180 s.
        let inside = r(0, "🔥", 30_000, 180_000);
        let after = r(1, "🔥", 30_000, 180_001);
        let (windows, late) = aggregate_windows(&[inside, after], &w);
        assert_eq!(late, 1);
        assert_eq!(windows.len(), 1);
        let delta = windows[0].above(&BTreeMap::new()).unwrap();
        assert_eq!(delta.counts, BTreeMap::from([("🔥".to_string(), 1)]));
    }

    #[test]
    fn only_records_above_their_sources_mark_count() {
        let w = Windowing::default();
        let mut other = r(7, "😂", 1_000, 1_000);
        other.source = "reactions-1";
        let batch = [r(3, "👍", 1_000, 1_000), r(4, "👍", 2_000, 2_000), other];
        let (windows, _) = aggregate_windows(&batch, &w);
        let first = windows[0].above(&BTreeMap::new()).unwrap();
        assert_eq!(first.counts["👍"], 2);
        assert_eq!(
            first.marks,
            BTreeMap::from([
                ("reactions-0".to_string(), 4),
                ("reactions-1".to_string(), 7)
            ])
        );
        // Redelivered: nothing new.
        assert_eq!(windows[0].above(&first.marks), None);
        // Half counted before a crash: the rest only.
        let half = BTreeMap::from([("reactions-0".to_string(), 3)]);
        let rest = windows[0].above(&half).unwrap();
        assert_eq!(
            rest.counts,
            BTreeMap::from([("👍".to_string(), 1), ("😂".to_string(), 1)])
        );
    }

    #[test]
    fn a_reaction_taken_back_in_the_same_window_nets_out() {
        let mut back = r(1, "👍", 2_000, 2_000);
        back.delta = -1;
        let (windows, _) =
            aggregate_windows(&[r(0, "👍", 1_000, 1_000), back], &Windowing::default());
        let delta = windows[0].above(&BTreeMap::new()).unwrap();
        assert!(delta.counts.is_empty(), "net zero is left out");
        assert_eq!(delta.marks["reactions-0"], 1, "but the marks advance");
    }
}
