//! Tag history: per tag and per UTC day, how many posts carried the tag
//! (exact) and how many distinct authors wrote them (exact while few, then a
//! HyperLogLog), as
//! Mastodon keeps for its trends. The hashtag consumer derives it from the
//! batch it already aggregated ([`tag_days`]): one write per distinct
//! (tag, day) per batch, none per post.
//!
//! Uses are made exact under redelivery by the counter's rule: per source
//! partition the highest offset applied, here per (tag, day). A tag's posts
//! of one day on one partition are a subsequence of the tag's posts there,
//! delivered in offset order, so the same mark rule holds for them. The
//! distinct-author sketch needs no mark: merging a sketch twice changes
//! nothing.
//!
//! A post's day is the day of its id's time (when it was written), so a
//! post counted late still lands on the day it was written.

use foldhash::HashMap;
use std::sync::Arc;

use serde::Serialize;

use crate::aggregate::TagContribution;
use crate::ids::{id_time_ms, Id};
use crate::trends;

/// Days of history kept; older days are not written and expire.
pub const HISTORY_RETENTION_DAYS: i64 = 30;
/// Days of history a tag page shows.
pub const PAGE_HISTORY_DAYS: i64 = 7;

const MS_PER_DAY: i64 = 86_400_000;

/// A UTC day: days since 1970-01-01.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Day(pub i64);

impl Day {
    /// The UTC day of a Unix time in milliseconds.
    pub fn of_ms(ms: i64) -> Day {
        Day(ms.div_euclid(MS_PER_DAY))
    }

    /// The day a post was written, from its id.
    pub fn of_post(post_id: Id) -> Day {
        Day::of_ms(id_time_ms(post_id) as i64)
    }

    /// `YYYY-MM-DD`.
    pub fn iso(self) -> String {
        chrono::DateTime::from_timestamp_millis(self.0 * MS_PER_DAY)
            .unwrap_or_default()
            .format("%Y-%m-%d")
            .to_string()
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Option<Day> {
        let date = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok()?;
        let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1)?;
        Some(Day((date - epoch).num_days()))
    }

    /// The first day still kept on `today`.
    pub fn oldest_kept(today: Day) -> Day {
        Day(today.0 - HISTORY_RETENTION_DAYS + 1)
    }

    /// When a day's history may be deleted (Unix seconds): the end of its
    /// retention.
    pub fn expires_at_s(self) -> i64 {
        (self.0 + HISTORY_RETENTION_DAYS + 1) * (MS_PER_DAY / 1000)
    }
}

/// Registers of the dense sketch: 2^10, for a standard error of
/// 1.04 / √1024 = 3.25 % (Flajolet et al., 2007). Hashes are 32 bits (the
/// original HyperLogLog's; exact far beyond any day's authors), so a
/// register's rank fits 5 bits: 640 bytes.
const PRECISION: u32 = 10;
const REGISTERS: usize = 1 << PRECISION;
const DENSE_BYTES: usize = REGISTERS * 5 / 8;
/// Authors kept exactly (as 32-bit hashes) before the sketch turns dense:
/// as many as fit in the dense sketch's bytes.
pub const EXACT_MAX: usize = DENSE_BYTES / 4 - 1;
/// Largest packed sketch: a format byte and the registers, so that a day's
/// item, with its related tags, stays about DynamoDB's 1 KB write unit.
pub const SKETCH_BYTES: usize = 1 + DENSE_BYTES;

/// Distinct authors: exact (their hashes) up to [`EXACT_MAX`], which is
/// where most tags' days stay, then a HyperLogLog (as HyperLogLog++'s
/// sparse mode does, without its encoding).
#[derive(Clone, PartialEq, Eq)]
pub enum Sketch {
    /// The authors' hashes, sorted.
    Exact(Vec<u32>),
    /// HyperLogLog registers.
    Dense(Vec<u8>),
}

impl std::fmt::Debug for Sketch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Sketch(~{})", self.estimate())
    }
}

impl Default for Sketch {
    fn default() -> Self {
        Sketch::Exact(Vec::new())
    }
}

/// A 32-bit hash of an id (the high half of SplitMix64's finaliser):
/// fixed, so that sketches written by different processes merge.
fn mix(id: Id) -> u32 {
    let mut x = id.0 as u64;
    x = (x ^ (x >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    ((x ^ (x >> 31)) >> 32) as u32
}

/// Adds a hash to HyperLogLog registers: the first bits pick the
/// register, the rank of the first 1 in the others is its value.
fn add_to_registers(registers: &mut [u8], hash: u32) {
    let index = (hash >> (32 - PRECISION)) as usize;
    let rank = ((hash << PRECISION).leading_zeros() + 1).min(32 - PRECISION + 1) as u8;
    registers[index] = registers[index].max(rank);
}

impl Sketch {
    /// Adds an author.
    pub fn insert(&mut self, author: Id) {
        self.insert_hash(mix(author));
    }

    fn insert_hash(&mut self, hash: u32) {
        match self {
            Sketch::Exact(hashes) => {
                if let Err(at) = hashes.binary_search(&hash) {
                    hashes.insert(at, hash);
                }
                if hashes.len() > EXACT_MAX {
                    let mut registers = vec![0; REGISTERS];
                    for h in hashes.iter() {
                        add_to_registers(&mut registers, *h);
                    }
                    *self = Sketch::Dense(registers);
                }
            }
            Sketch::Dense(registers) => add_to_registers(registers, hash),
        }
    }

    /// Adds every author of `other`.
    pub fn merge(&mut self, other: &Sketch) {
        match other {
            Sketch::Exact(hashes) => hashes.iter().for_each(|h| self.insert_hash(*h)),
            Sketch::Dense(theirs) => {
                if let Sketch::Exact(hashes) = self {
                    let mut registers = theirs.clone();
                    hashes
                        .iter()
                        .for_each(|h| add_to_registers(&mut registers, *h));
                    *self = Sketch::Dense(registers);
                } else if let Sketch::Dense(mine) = self {
                    for (m, t) in mine.iter_mut().zip(theirs) {
                        *m = (*m).max(*t);
                    }
                }
            }
        }
    }

    /// The number of distinct authors: exact while few; then
    /// HyperLogLog's estimate, with linear counting while many registers
    /// are still empty.
    pub fn estimate(&self) -> u64 {
        let registers = match self {
            Sketch::Exact(hashes) => return hashes.len() as u64,
            Sketch::Dense(registers) => registers,
        };
        let m = REGISTERS as f64;
        let zeros = registers.iter().filter(|r| **r == 0).count();
        let sum: f64 = registers.iter().map(|r| 2f64.powi(-(*r as i32))).sum();
        let alpha = 0.7213 / (1.0 + 1.079 / m);
        let raw = alpha * m * m / sum;
        let estimate = if raw <= 2.5 * m && zeros > 0 {
            m * (m / zeros as f64).ln()
        } else {
            raw
        };
        estimate.round() as u64
    }

    /// The sketch packed: `0` then the hashes (4 bytes each, big-endian),
    /// or `1` then the registers at 5 bits each (8 in 5 bytes).
    pub fn to_bytes(&self) -> Vec<u8> {
        match self {
            Sketch::Exact(hashes) => {
                let mut out = Vec::with_capacity(1 + hashes.len() * 4);
                out.push(0);
                hashes.iter().for_each(|h| out.extend(h.to_be_bytes()));
                out
            }
            Sketch::Dense(registers) => {
                let mut out = Vec::with_capacity(SKETCH_BYTES);
                out.push(1);
                for chunk in registers.chunks(8) {
                    let bits = chunk
                        .iter()
                        .fold(0u64, |acc, r| (acc << 5) | u64::from(*r & 0x1f));
                    out.extend(&bits.to_be_bytes()[3..]);
                }
                out
            }
        }
    }

    /// A sketch from [`Sketch::to_bytes`]; `None` if it is not one.
    pub fn from_bytes(bytes: &[u8]) -> Option<Sketch> {
        match bytes.split_first()? {
            (0, hashes) if hashes.len() % 4 == 0 && hashes.len() / 4 <= EXACT_MAX => {
                let hashes: Vec<u32> = hashes
                    .chunks(4)
                    .map(|c| u32::from_be_bytes(c.try_into().unwrap_or_default()))
                    .collect();
                hashes
                    .windows(2)
                    .all(|w| w[0] < w[1])
                    .then_some(Sketch::Exact(hashes))
            }
            (1, packed) if packed.len() == DENSE_BYTES => {
                let mut registers = Vec::with_capacity(REGISTERS);
                for chunk in packed.chunks(5) {
                    let mut word = [0u8; 8];
                    word[3..].copy_from_slice(chunk);
                    let bits = u64::from_be_bytes(word);
                    registers.extend((0..8).rev().map(|k| ((bits >> (5 * k)) & 0x1f) as u8));
                }
                Some(Sketch::Dense(registers))
            }
            _ => None,
        }
    }
}

/// A post of a (tag, day): its offset, its author and its tags.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayPost {
    /// Offset of its record.
    pub offset: i64,
    /// Its author.
    pub author: Id,
    /// The keys of every tag of the post (shared by its tags' entries).
    pub tags: Arc<[String]>,
}

/// Related tags kept per (tag, day): the most frequent, the others dropped
/// (so counts are a lower bound for tags that were dropped and came back).
pub const RELATED_KEPT: usize = 10;

/// The posts of one source partition for a (tag, day), in offset order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DaySource {
    /// `topic-partition`.
    pub source: String,
    /// In increasing offset order.
    pub posts: Vec<DayPost>,
}

/// Everything a batch adds to one tag's day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DayContribution {
    /// Tag key.
    pub key: String,
    /// The day.
    pub day: Day,
    /// Per source partition.
    pub sources: Vec<DaySource>,
}

/// A tag's day as stored.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DayState {
    /// Posts that carried the tag that day (exact).
    pub uses: u64,
    /// Their authors.
    pub authors: Sketch,
    /// Per source, the highest offset applied.
    pub marks: Vec<(String, i64)>,
    /// The tag's trend peak reached that day, forward-decayed
    /// ([`crate::trends::stored_peak`]); `None` if it never trended.
    pub peak: Option<f64>,
    /// The tags that appeared with it that day and in how many posts, most
    /// first, at most [`RELATED_KEPT`].
    pub related: Vec<(String, u64)>,
}

impl DayState {
    /// Whether this state of `day`, written at `now_ms`, is scored for the
    /// trends: only today's, and only with enough authors to trend (most
    /// days never are, and need not read yesterday).
    pub fn may_trend(&self, day: Day, now_ms: i64) -> bool {
        day == Day::of_ms(now_ms) && self.authors.estimate() >= trends::MIN_ACCOUNTS
    }

    /// Scores the day against `yesterday_accounts` ([`trends::score`]) and
    /// keeps the higher of its peak and the score at `now_ms`.
    pub fn score_trend(&mut self, yesterday_accounts: u64, now_ms: i64) {
        let score = trends::score(self.authors.estimate(), yesterday_accounts);
        self.peak = trends::next_peak(self.peak, score, now_ms);
    }

    /// The mark of `source`, if any.
    pub fn mark(&self, source: &str) -> Option<i64> {
        self.marks
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, m)| *m)
    }
}

impl DayContribution {
    /// The day after this contribution, counting per source only the posts
    /// above the stored mark: `None` if nothing is new (a redelivery). The
    /// one rule of history's idempotency, on every adapter. The trend peak
    /// is left to [`DayState::score_trend`].
    pub fn apply(&self, stored: Option<&DayState>) -> Option<DayState> {
        let mut next = stored.cloned().unwrap_or_default();
        let mut changed = false;
        // Co-occurrences counted in a map: a popular tag's batch meets
        // thousands of other tags before they are cut to the most frequent.
        let mut related: HashMap<&str, u64> = next
            .related
            .iter()
            .map(|(tag, n)| (tag.as_str(), *n))
            .collect();
        for source in &self.sources {
            let mark = stored.and_then(|s| s.mark(&source.source));
            let mut last = None;
            for post in source
                .posts
                .iter()
                .filter(|p| mark.is_none_or(|m| p.offset > m))
            {
                next.uses += 1;
                next.authors.insert(post.author);
                for tag in post.tags.iter().filter(|t| **t != self.key) {
                    *related.entry(tag).or_default() += 1;
                }
                last = Some(post.offset);
            }
            let Some(last) = last else { continue };
            changed = true;
            match next.marks.iter_mut().find(|(s, _)| *s == source.source) {
                Some((_, m)) => *m = last,
                None => next.marks.push((source.source.clone(), last)),
            }
        }
        let mut related: Vec<(&str, u64)> = related.into_iter().collect();
        related.sort_unstable_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
        next.related = related
            .into_iter()
            .take(RELATED_KEPT)
            .map(|(tag, n)| (tag.to_string(), n))
            .collect();
        changed.then_some(next)
    }
}

/// The day contributions of a batch's tag contributions: per tag, its posts
/// grouped by the day they were written, leaving out days no longer kept on
/// `today`.
pub fn tag_days(tags: &[TagContribution], today: Day) -> Vec<DayContribution> {
    let oldest = Day::oldest_kept(today);
    // Each post's tags, from the contributions that list it.
    let mut post_tags: HashMap<(&str, i64), Vec<String>> = HashMap::default();
    for tag in tags {
        for source in &tag.sources {
            for post in &source.posts {
                post_tags
                    .entry((source.source.as_str(), post.offset))
                    .or_default()
                    .push(tag.key.clone());
            }
        }
    }
    let post_tags: HashMap<(&str, i64), Arc<[String]>> = post_tags
        .into_iter()
        .map(|(post, tags)| (post, tags.into()))
        .collect();
    let mut out: Vec<DayContribution> = Vec::new();
    for tag in tags {
        let first = out.len();
        for source in &tag.sources {
            for post in &source.posts {
                let day = Day::of_post(post.post_id);
                if day < oldest {
                    continue;
                }
                let slot = match out[first..].iter().position(|d| d.day == day) {
                    Some(i) => first + i,
                    None => {
                        out.push(DayContribution {
                            key: tag.key.clone(),
                            day,
                            sources: Vec::new(),
                        });
                        out.len() - 1
                    }
                };
                let sources = &mut out[slot].sources;
                let entry = DayPost {
                    offset: post.offset,
                    author: post.author,
                    tags: post_tags[&(source.source.as_str(), post.offset)].clone(),
                };
                match sources.iter_mut().find(|s| s.source == source.source) {
                    Some(s) => s.posts.push(entry),
                    None => sources.push(DaySource {
                        source: source.source.clone(),
                        posts: vec![entry],
                    }),
                }
            }
        }
    }
    out
}

/// One day of a tag's history, as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayCount {
    /// `YYYY-MM-DD` (UTC).
    pub day: String,
    /// Posts that carried the tag (exact).
    pub uses: u64,
    /// Their distinct authors (estimated, 3.25 % standard error).
    pub accounts: u64,
}

/// A stored day of a tag, as reads return it.
#[derive(Debug, Clone, PartialEq)]
pub struct DayRow {
    /// The day.
    pub day: Day,
    /// Posts that carried the tag.
    pub uses: u64,
    /// Their distinct authors (estimated).
    pub accounts: u64,
    /// The tags that appeared with it, most first.
    pub related: Vec<(String, u64)>,
    /// Its trend peak, if it trended ([`DayState::peak`]).
    pub peak: Option<f64>,
}

/// `days` days of history ending with `last`, newest first, a day without
/// posts as zero, from the days a store found.
pub fn history_days(found: &[DayRow], last: Day, days: i64) -> Vec<DayCount> {
    (0..days)
        .map(|back| {
            let day = Day(last.0 - back);
            let (uses, accounts) = found
                .iter()
                .find(|row| row.day == day)
                .map_or((0, 0), |row| (row.uses, row.accounts));
            DayCount {
                day: day.iso(),
                uses,
                accounts,
            }
        })
        .collect()
}

/// A tag that appears with another, as a tag page lists it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RelatedTag {
    /// Its key.
    pub tag: String,
    /// Posts (over the days read) that carried both.
    pub posts: u64,
}

/// The tags that most often appeared with a tag over `rows`, most first,
/// at most `limit`.
pub fn related_tags(rows: &[DayRow], limit: usize) -> Vec<RelatedTag> {
    let mut sums: HashMap<&str, u64> = HashMap::default();
    for (tag, posts) in rows.iter().flat_map(|r| &r.related) {
        *sums.entry(tag).or_default() += posts;
    }
    let mut out: Vec<RelatedTag> = sums
        .into_iter()
        .map(|(tag, posts)| RelatedTag {
            tag: tag.to_string(),
            posts,
        })
        .collect();
    out.sort_by(|a, b| b.posts.cmp(&a.posts).then_with(|| a.tag.cmp(&b.tag)));
    out.truncate(limit);
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::aggregate::{CountedPost, SourcePosts};
    use crate::ids::EPOCH_MS;

    fn post_id_at(ms: i64, seq: i64) -> Id {
        Id(((ms - EPOCH_MS as i64) << 22) | seq)
    }

    #[test]
    fn days_format_and_parse() {
        let day = Day::of_ms(crate::domain::parse_rfc3339_ms("2026-12-04T23:59:59Z").unwrap());
        assert_eq!(day.iso(), "2026-12-04");
        assert_eq!(Day::parse("2026-12-04"), Some(day));
        assert_eq!(Day::parse("2026-13-01"), None);
        assert_eq!(Day(day.0 + 1).iso(), "2026-12-05");
    }

    #[test]
    fn the_sketch_stays_within_three_standard_errors() {
        for truth in [1u64, 5, 50, 159, 160, 500, 5_000, 50_000, 500_000] {
            let mut sketch = Sketch::default();
            for author in 0..truth {
                // Each author several times: repeats add nothing.
                for _ in 0..3 {
                    sketch.insert(Id(1_000_000 + author as i64 * 7919));
                }
            }
            let estimate = sketch.estimate() as f64;
            let error = (estimate - truth as f64).abs() / truth as f64;
            assert!(
                error <= 3.0 * 0.0325,
                "{truth} authors estimated {estimate} ({:.1} %)",
                error * 100.0
            );
            if truth <= EXACT_MAX as u64 {
                assert_eq!(estimate as u64, truth, "small days are exact");
            }
        }
    }

    #[test]
    fn sketches_merge_and_round_trip() {
        let (mut a, mut b) = (Sketch::default(), Sketch::default());
        (0..3_000).for_each(|i| a.insert(Id(i)));
        (2_000..5_000).for_each(|i| b.insert(Id(i)));
        let mut both = a.clone();
        both.merge(&b);
        both.merge(&b); // merging again changes nothing
        let estimate = both.estimate() as f64;
        assert!((estimate - 5_000.0).abs() / 5_000.0 < 0.1, "{estimate}");
        let bytes = both.to_bytes();
        assert_eq!(bytes.len(), SKETCH_BYTES);
        assert_eq!(Sketch::from_bytes(&bytes), Some(both));
        assert_eq!(Sketch::from_bytes(&bytes[1..]), None);
        // Small sketches are exact, round-trip, and merge into dense ones.
        let mut small = Sketch::default();
        (0..10).for_each(|i| small.insert(Id(i)));
        assert_eq!(small.estimate(), 10);
        let bytes = small.to_bytes();
        assert_eq!(bytes.len(), 1 + 40);
        assert_eq!(Sketch::from_bytes(&bytes), Some(small.clone()));
        assert_eq!(Sketch::from_bytes(&[0, 1, 2]), None);
        let mut union = Sketch::default();
        (5..60).for_each(|i| union.insert(Id(i)));
        union.merge(&small);
        assert_eq!(union.estimate(), 60, "still exact");
        let mut dense = a.clone();
        dense.merge(&small);
        let mut reverse = small.clone();
        reverse.merge(&a);
        assert_eq!(dense, reverse, "merging is symmetric");
    }

    fn tag_of(posts: &[(&str, i64, Id, Id)]) -> TagContribution {
        let mut sources: Vec<SourcePosts> = Vec::new();
        for (source, offset, post_id, author) in posts {
            let post = CountedPost {
                offset: *offset,
                post_id: *post_id,
                author: *author,
                image_url: "".into(),
            };
            match sources.iter_mut().find(|s| s.source == *source) {
                Some(s) => s.posts.push(post),
                None => sources.push(SourcePosts {
                    source: source.to_string(),
                    posts: vec![post],
                }),
            }
        }
        TagContribution {
            key: "rust".into(),
            display: "rust".into(),
            sources,
        }
    }

    #[test]
    fn posts_group_by_the_day_they_were_written_and_count_once() {
        let today_ms = crate::domain::parse_rfc3339_ms("2026-12-04T10:00:00Z").unwrap();
        let today = Day::of_ms(today_ms);
        let yesterday = today_ms - MS_PER_DAY;
        let long_ago = today_ms - 40 * MS_PER_DAY;
        let tag = tag_of(&[
            ("posts-0", 3, post_id_at(yesterday, 1), Id(1)),
            ("posts-0", 4, post_id_at(today_ms, 1), Id(1)),
            ("posts-1", 9, post_id_at(today_ms, 2), Id(2)),
            ("posts-0", 7, post_id_at(today_ms, 3), Id(1)),
            ("posts-0", 8, post_id_at(long_ago, 1), Id(3)),
        ]);
        let days = tag_days(&[tag], today);
        assert_eq!(days.len(), 2, "the day past retention is left out");
        let (first, second) = (&days[0], &days[1]);
        assert_eq!(first.day, Day(today.0 - 1));
        assert_eq!(second.day, today);
        let now = today_ms;
        let state = second.apply(None).unwrap();
        assert_eq!((state.uses, state.authors.estimate()), (3, 2));
        assert_eq!(state.mark("posts-0"), Some(7));
        assert_eq!(
            second.apply(Some(&state)),
            None,
            "a redelivery adds nothing"
        );
        assert!(!state.may_trend(today, now), "2 authors do not trend");
        // A later batch on one partition adds only what is above its mark.
        let later = DayContribution {
            key: "rust".into(),
            day: today,
            sources: vec![DaySource {
                source: "posts-0".into(),
                posts: vec![
                    DayPost {
                        offset: 7,
                        author: Id(1),
                        tags: ["rust".to_string()].into(),
                    },
                    DayPost {
                        offset: 12,
                        author: Id(4),
                        tags: ["rust".to_string(), "go".to_string()].into(),
                    },
                ],
            }],
        };
        let next = later.apply(Some(&state)).unwrap();
        assert_eq!((next.uses, next.authors.estimate()), (4, 3));
        assert_eq!(next.mark("posts-1"), Some(9));
        assert_eq!(next.related, vec![("go".to_string(), 1)]);
    }

    #[test]
    fn related_tags_come_from_the_posts_that_carry_both() {
        let now = crate::domain::parse_rfc3339_ms("2026-12-04T10:00:00Z").unwrap();
        let tag = |key: &str, offsets: &[i64]| TagContribution {
            key: key.into(),
            display: key.into(),
            sources: vec![SourcePosts {
                source: "posts-0".into(),
                posts: offsets
                    .iter()
                    .map(|&offset| CountedPost {
                        offset,
                        post_id: post_id_at(now, offset),
                        author: Id(offset),
                        image_url: "".into(),
                    })
                    .collect(),
            }],
        };
        let days = tag_days(
            &[
                tag("rust", &[1, 2, 3]),
                tag("go", &[1, 2]),
                tag("web", &[2]),
            ],
            Day::of_ms(now),
        );
        let rust = days[0].apply(None).unwrap();
        assert_eq!(
            rust.related,
            vec![("go".to_string(), 2), ("web".to_string(), 1)]
        );
        let row = |related: Vec<(String, u64)>| DayRow {
            day: Day::of_ms(now),
            uses: 0,
            accounts: 0,
            related,
            peak: None,
        };
        let other_day = vec![("go".to_string(), 1), ("css".to_string(), 4)];
        let merged = related_tags(&[row(rust.related), row(other_day)], 2);
        let got: Vec<(&str, u64)> = merged.iter().map(|r| (r.tag.as_str(), r.posts)).collect();
        assert_eq!(got, [("css", 4), ("go", 3)]);
    }

    #[test]
    fn history_fills_missing_days_newest_first() {
        let last = Day::parse("2026-12-04").unwrap();
        let row = |day: Day, uses, accounts| DayRow {
            day,
            uses,
            accounts,
            related: Vec::new(),
            peak: None,
        };
        let days = history_days(&[row(Day(last.0 - 2), 5, 4), row(last, 1, 1)], last, 4);
        let got: Vec<(&str, u64, u64)> = days
            .iter()
            .map(|d| (d.day.as_str(), d.uses, d.accounts))
            .collect();
        assert_eq!(
            got,
            [
                ("2026-12-04", 1, 1),
                ("2026-12-03", 0, 0),
                ("2026-12-02", 5, 4),
                ("2026-12-01", 0, 0)
            ]
        );
    }
}
