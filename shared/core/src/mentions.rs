//! The mention graph: users are nodes, "A mentioned B" is an edge whose
//! weight is the sum of its mentions, each decayed by its age with a fixed
//! half-life (7 days by default, as the seed's weekly decay).
//!
//! Decay is forward decay (Cormode et al., ICDE 2009) in log space: a
//! mention at time `t` adds `exp(λ·(t − T0))` to its edge, `λ = ln 2 / half
//! life` and `T0` the fixed [`DECAY_EPOCH_MS`]; the store keeps the natural
//! log of the sum ([`EdgeState::log_weight`]). Scaling every weight by the
//! same `exp(−λ·(now − T0))` at read time gives the weight decayed to now,
//! so the order of stored values never changes as time passes: an index on
//! the stored value serves "strongest edges" at any time, and nothing is
//! rewritten as edges age (the seed's periodic job that locks the table is
//! gone). Logs keep the numbers small: ten years are 520 half-lives, a
//! stored value of about 360. An edge whose weight falls below
//! [`MIN_WEIGHT`] is removed: its expiry time follows from its stored value
//! ([`Decay::expires_at_ms`]) and is kept with it (DynamoDB's TTL; a bounded
//! delete per batch on SQLite).
//!
//! Edges are applied like tag counts: per source (a Kafka partition, or one
//! imported file) each edge remembers the highest offset applied, so a
//! redelivered batch or a re-imported file adds nothing twice.

use std::collections::HashMap;
use std::f64::consts::LN_2;
use std::sync::OnceLock;

use serde::Serialize;

use crate::domain::Username;
use crate::extract::hashtags_and_mentions;

/// `T0` of the forward-decay encoding, 2026-01-01T00:00:00Z: every stored
/// log weight is relative to it. Fixed forever: changing it would change
/// the meaning of every stored value.
pub const DECAY_EPOCH_MS: i64 = 1_767_225_600_000;

/// The half-life of a mention's weight unless `HASHTAG_MENTION_HALF_LIFE_DAYS`
/// says otherwise: a week, the seed's decay period.
pub const DEFAULT_HALF_LIFE_DAYS: f64 = 7.0;

/// Edges decayed below this weight (a single mention after about 6.6
/// half-lives, 46 days by default) are removed.
pub const MIN_WEIGHT: f64 = 0.01;

/// Most edges listed per direction on a user page and by the JSON route.
pub const MAX_EDGES_LISTED: usize = 100;

/// The decay of mention weights: one half-life.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Decay {
    /// λ, per millisecond.
    rate: f64,
}

impl Decay {
    /// A decay halving weights every `half_life_days` (positive, finite).
    pub fn from_half_life_days(half_life_days: f64) -> Result<Decay, String> {
        if !(half_life_days.is_finite() && half_life_days > 0.0) {
            return Err(format!(
                "the half-life must be a positive number of days, not {half_life_days}"
            ));
        }
        Ok(Decay {
            rate: LN_2 / (half_life_days * 86_400_000.0),
        })
    }

    /// The deployment's decay: `HASHTAG_MENTION_HALF_LIFE_DAYS`, else
    /// [`DEFAULT_HALF_LIFE_DAYS`]; read once per process. Stored weights
    /// are encoded with it, so every process of a deployment must use the
    /// same value, set before the first mention (changing it later skews
    /// old edges against new ones until they decay away).
    pub fn configured() -> Decay {
        static DECAY: OnceLock<Decay> = OnceLock::new();
        *DECAY.get_or_init(|| {
            let days = std::env::var("HASHTAG_MENTION_HALF_LIFE_DAYS")
                .ok()
                .and_then(|v| v.parse().ok())
                .unwrap_or(DEFAULT_HALF_LIFE_DAYS);
            Decay::from_half_life_days(days).unwrap_or_else(|e| {
                tracing::warn!(error = e, "using the default mention half-life");
                Decay::from_half_life_days(DEFAULT_HALF_LIFE_DAYS).expect("a valid default")
            })
        })
    }

    /// The half-life, in days.
    pub fn half_life_days(&self) -> f64 {
        LN_2 / self.rate / 86_400_000.0
    }

    /// The stored (log) weight of one mention made at `at_ms`.
    pub fn log_weight(&self, at_ms: i64) -> f64 {
        self.rate * (at_ms - DECAY_EPOCH_MS) as f64
    }

    /// The weight at `now_ms` of an edge whose stored value is `log_weight`.
    pub fn weight_at(&self, log_weight: f64, now_ms: i64) -> f64 {
        (log_weight - self.log_weight(now_ms)).exp()
    }

    /// The lowest stored value whose weight at `now_ms` is at least
    /// [`MIN_WEIGHT`]: reads skip edges below it.
    pub fn min_log_weight(&self, now_ms: i64) -> f64 {
        self.log_weight(now_ms) + MIN_WEIGHT.ln()
    }

    /// Whether an edge with this stored value has decayed below
    /// [`MIN_WEIGHT`] at `now_ms`: reads skip it, stores drop it (and do
    /// not write it: a late mention that old changes nothing visible).
    pub fn expired(&self, log_weight: f64, now_ms: i64) -> bool {
        log_weight < self.min_log_weight(now_ms)
    }

    /// When an edge with this stored value decays below [`MIN_WEIGHT`], Unix
    /// milliseconds: its expiry.
    pub fn expires_at_ms(&self, log_weight: f64) -> i64 {
        DECAY_EPOCH_MS + ((log_weight - MIN_WEIGHT.ln()) / self.rate) as i64
    }
}

/// `ln(exp(a) + exp(b))` without overflow: adds weights in log space.
pub fn log_add(a: f64, b: f64) -> f64 {
    let (hi, lo) = if a >= b { (a, b) } else { (b, a) };
    hi + (lo - hi).exp().ln_1p()
}

/// The key of a user in the graph: the username in lower case, as
/// usernames are unique regardless of case (see [`Username::key`]).
pub fn user_key(name: &str) -> String {
    name.to_ascii_lowercase()
}

/// A text the graph learns mentions from: a post event, or a row of an
/// imported file.
#[derive(Debug, Clone, Copy)]
pub struct MentionText<'a> {
    /// Where it came from: `topic-partition`, or the imported file.
    pub source: &'a str,
    /// Its position there (offset, or row number), increasing.
    pub offset: i64,
    /// Who wrote it, as registered or as the file names them.
    pub author: &'a str,
    /// The text, with its `@mentions`.
    pub text: &'a str,
    /// When it was written, Unix milliseconds.
    pub at_ms: i64,
}

/// One mention of an edge: where it was read and its stored weight.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EdgeMention {
    /// Offset within its source.
    pub offset: i64,
    /// `Decay::log_weight` of its time.
    pub log_weight: f64,
}

/// The mentions of an edge from one source, in offset order.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeSource {
    /// `topic-partition`, or the imported file.
    pub source: String,
    /// In increasing offset order.
    pub mentions: Vec<EdgeMention>,
}

/// An edge as stored: what [`EdgeContribution::apply`] updates.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeState {
    /// Mentions counted (each post mentioning the user once).
    pub mentions: u64,
    /// Natural log of the forward-decayed weight (see the module docs).
    pub log_weight: f64,
    /// Per source, the highest offset applied.
    pub marks: Vec<(String, i64)>,
}

impl EdgeState {
    fn mark(&self, source: &str) -> Option<i64> {
        self.marks
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, m)| *m)
    }
}

/// Everything a batch adds to one edge.
#[derive(Debug, Clone, PartialEq)]
pub struct EdgeContribution {
    /// Key of the author.
    pub from: String,
    /// The author's name as written.
    pub from_name: String,
    /// Key of the mentioned user.
    pub to: String,
    /// The mentioned name as first written in the batch.
    pub to_name: String,
    /// Per source.
    pub sources: Vec<EdgeSource>,
}

impl EdgeContribution {
    /// The edge after this contribution, counting per source only the
    /// mentions above the stored mark: `None` if nothing is new (a
    /// redelivery). The one rule that makes the graph idempotent, on
    /// every adapter.
    pub fn apply(&self, stored: Option<&EdgeState>) -> Option<EdgeState> {
        let mut next = stored.cloned().unwrap_or(EdgeState {
            mentions: 0,
            log_weight: f64::NEG_INFINITY,
            marks: Vec::new(),
        });
        let mut changed = false;
        for source in &self.sources {
            let mark = stored.and_then(|s| s.mark(&source.source));
            let new: Vec<&EdgeMention> = source
                .mentions
                .iter()
                .filter(|m| mark.is_none_or(|mark| m.offset > mark))
                .collect();
            let Some(last) = new.iter().map(|m| m.offset).max() else {
                continue;
            };
            changed = true;
            next.mentions += new.len() as u64;
            next.log_weight = new
                .iter()
                .fold(next.log_weight, |acc, m| log_add(acc, m.log_weight));
            match next.marks.iter_mut().find(|(s, _)| *s == source.source) {
                Some((_, m)) => *m = last,
                None => next.marks.push((source.source.clone(), last)),
            }
        }
        changed.then_some(next)
    }
}

/// The distinct users a text mentions, as (key, name as written), its
/// author excluded: a user mentioned several times in one text counts once,
/// and mentioning oneself is no edge.
pub fn mentioned(author_key: &str, text: &str) -> Vec<(String, String)> {
    let (_, mentions) = hashtags_and_mentions(text);
    let mut out: Vec<(String, String)> = Vec::with_capacity(mentions.len());
    for name in mentions {
        let key = user_key(name);
        if key != author_key && !out.iter().any(|(k, _)| *k == key) {
            out.push((key, name.to_string()));
        }
    }
    out
}

/// Aggregates texts into one contribution per distinct (author, mentioned)
/// edge: one store write per edge per batch, however many posts mention.
/// Texts must come in offset order within each source. Texts whose author
/// is not a valid username (an event from before events named their
/// author) add nothing.
pub fn aggregate_mentions(texts: &[MentionText<'_>], decay: &Decay) -> Vec<EdgeContribution> {
    let mut out: Vec<EdgeContribution> = Vec::new();
    let mut slots: HashMap<(String, String), usize> = HashMap::new();
    for text in texts {
        if Username::parse(text.author).is_err() {
            continue;
        }
        let from = user_key(text.author);
        let mention = EdgeMention {
            offset: text.offset,
            log_weight: decay.log_weight(text.at_ms),
        };
        for (to, name) in mentioned(&from, text.text) {
            let slot = *slots.entry((from.clone(), to.clone())).or_insert_with(|| {
                out.push(EdgeContribution {
                    from: from.clone(),
                    from_name: text.author.to_string(),
                    to,
                    to_name: name,
                    sources: Vec::new(),
                });
                out.len() - 1
            });
            let sources = &mut out[slot].sources;
            match sources.iter_mut().find(|s| s.source == text.source) {
                Some(s) => s.mentions.push(mention),
                None => sources.push(EdgeSource {
                    source: text.source.to_string(),
                    mentions: vec![mention],
                }),
            }
        }
    }
    out
}

/// Which end of a user's edges to read.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Whom the user mentions.
    Out,
    /// Who mentions the user.
    In,
}

impl Direction {
    /// `out` or `in`, as the query parameter says.
    pub fn parse(s: &str) -> Option<Direction> {
        match s {
            "out" => Some(Direction::Out),
            "in" => Some(Direction::In),
            _ => None,
        }
    }
}

/// A stored edge as a store reads it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredEdge {
    /// Key of the author.
    pub from: String,
    /// The author's name as written.
    pub from_name: String,
    /// Key of the mentioned user.
    pub to: String,
    /// The mentioned name as first written.
    pub to_name: String,
    /// Mentions counted, log weight, marks.
    pub state: EdgeState,
}

/// An edge as the API shows it: the user at the other end and the weight
/// decayed to now.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct WeightedEdge {
    /// The user at the other end, as written.
    pub user: String,
    /// The weight decayed to the time of the read.
    pub weight: f64,
    /// Mentions counted on the edge (not decayed).
    pub mentions: u64,
}

impl WeightedEdge {
    /// The edge seen from `direction`'s end, decayed to `now_ms`.
    pub fn of(edge: &StoredEdge, direction: Direction, decay: &Decay, now_ms: i64) -> Self {
        WeightedEdge {
            user: match direction {
                Direction::Out => edge.to_name.clone(),
                Direction::In => edge.from_name.clone(),
            },
            weight: decay.weight_at(edge.state.log_weight, now_ms),
            mentions: edge.state.mentions,
        }
    }
}

/// The users among `outgoing` who also appear in `incoming` (both of one
/// user, strongest first): mutual mentions, each weighing its weaker
/// direction (what makes the tie mutual), with the mentions of both,
/// strongest first.
pub fn mutual(
    outgoing: &[StoredEdge],
    incoming: &[StoredEdge],
    decay: &Decay,
    now_ms: i64,
) -> Vec<WeightedEdge> {
    let incoming: HashMap<&str, &StoredEdge> =
        incoming.iter().map(|e| (e.from.as_str(), e)).collect();
    let mut both: Vec<WeightedEdge> = outgoing
        .iter()
        .filter_map(|out| {
            let back = incoming.get(out.to.as_str())?;
            let weaker = out.state.log_weight.min(back.state.log_weight);
            Some(WeightedEdge {
                user: out.to_name.clone(),
                weight: decay.weight_at(weaker, now_ms),
                mentions: out.state.mentions + back.state.mentions,
            })
        })
        .collect();
    both.sort_by(|a, b| b.weight.total_cmp(&a.weight));
    both
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY_MS: i64 = 86_400_000;

    fn text<'a>(offset: i64, author: &'a str, text: &'a str, at_ms: i64) -> MentionText<'a> {
        MentionText {
            source: "posts-0",
            offset,
            author,
            text,
            at_ms,
        }
    }

    #[test]
    fn a_weight_read_after_one_half_life_is_half() {
        let decay = Decay::from_half_life_days(7.0).unwrap();
        let t = DECAY_EPOCH_MS + 300 * DAY_MS;
        let lw = decay.log_weight(t);
        assert!((decay.weight_at(lw, t) - 1.0).abs() < 1e-12);
        assert!((decay.weight_at(lw, t + 7 * DAY_MS) - 0.5).abs() < 1e-12);
        assert!((decay.weight_at(lw, t + 14 * DAY_MS) - 0.25).abs() < 1e-12);
        let two = log_add(lw, lw);
        assert!((decay.weight_at(two, t + 7 * DAY_MS) - 1.0).abs() < 1e-12);
    }

    #[test]
    fn an_edge_expires_when_it_decays_below_the_minimum() {
        let decay = Decay::from_half_life_days(7.0).unwrap();
        let t = DECAY_EPOCH_MS + 10 * DAY_MS;
        let lw = decay.log_weight(t);
        let expires = decay.expires_at_ms(lw);
        assert!((decay.weight_at(lw, expires) - MIN_WEIGHT).abs() < 1e-9);
        assert!(lw >= decay.min_log_weight(expires - 1000));
        assert!(lw < decay.min_log_weight(expires + 1000));
        // ln(100)/ln(2) half-lives: 6.64 weeks.
        assert_eq!((expires - t) / DAY_MS, 46);
    }

    #[test]
    fn log_add_is_exact_for_far_apart_weights() {
        assert_eq!(log_add(f64::NEG_INFINITY, 3.0), 3.0);
        let sum = log_add(700.0, 1.0);
        assert!(sum.is_finite() && (sum - 700.0).abs() < 1e-12);
        assert!((log_add(0.0, 0.0) - 2f64.ln()).abs() < 1e-15);
    }

    #[test]
    fn stored_order_is_the_decayed_order_at_any_time() {
        let decay = Decay::from_half_life_days(7.0).unwrap();
        // Edges with mentions at different times and counts.
        let edges: Vec<f64> = (0..50)
            .map(|i| {
                (0..(i % 7 + 1)).fold(f64::NEG_INFINITY, |acc, k| {
                    log_add(
                        acc,
                        decay.log_weight(DECAY_EPOCH_MS + (i * 13 + k * 5) * DAY_MS / 3),
                    )
                })
            })
            .collect();
        let mut by_stored: Vec<usize> = (0..edges.len()).collect();
        by_stored.sort_by(|&a, &b| edges[b].total_cmp(&edges[a]));
        for now in [
            DECAY_EPOCH_MS + 400 * DAY_MS,
            DECAY_EPOCH_MS + 4000 * DAY_MS,
        ] {
            let mut by_weight: Vec<usize> = (0..edges.len()).collect();
            by_weight.sort_by(|&a, &b| {
                decay
                    .weight_at(edges[b], now)
                    .total_cmp(&decay.weight_at(edges[a], now))
            });
            assert_eq!(by_stored, by_weight);
        }
    }

    #[test]
    fn one_contribution_per_edge_and_one_mention_per_text() {
        let decay = Decay::from_half_life_days(7.0).unwrap();
        let t = DECAY_EPOCH_MS;
        let texts = [
            text(1, "Ann", "@bob @Bob @carl hi @ann", t),
            text(2, "ann", "again @BOB", t),
            text(3, "bob", "@ann", t),
            text(4, "not a name", "@ann", t),
        ];
        let edges = aggregate_mentions(&texts, &decay);
        let pairs: Vec<(&str, &str, usize)> = edges
            .iter()
            .map(|e| (e.from.as_str(), e.to.as_str(), e.sources[0].mentions.len()))
            .collect();
        assert_eq!(
            pairs,
            vec![("ann", "bob", 2), ("ann", "carl", 1), ("bob", "ann", 1)]
        );
        assert_eq!(edges[0].to_name, "bob");
    }

    fn stored(from: &str, to: &str, mentions: u64, log_weight: f64) -> StoredEdge {
        StoredEdge {
            from: from.into(),
            to: to.into(),
            from_name: from.into(),
            to_name: to.into(),
            state: EdgeState {
                mentions,
                log_weight,
                marks: Vec::new(),
            },
        }
    }

    #[test]
    fn mutual_mentions_weigh_their_weaker_direction() {
        let decay = Decay::from_half_life_days(7.0).unwrap();
        let out = [
            stored("ann", "bob", 3, 2.0),
            stored("ann", "carl", 1, 1.0),
            stored("ann", "dora", 1, 0.5),
        ];
        let incoming = [stored("dora", "ann", 4, 3.0), stored("bob", "ann", 1, 0.1)];
        let both = mutual(&out, &incoming, &decay, DECAY_EPOCH_MS);
        let users: Vec<(&str, u64)> = both.iter().map(|e| (e.user.as_str(), e.mentions)).collect();
        assert_eq!(users, vec![("dora", 5), ("bob", 4)]);
        assert!((both[0].weight - 0.5f64.exp()).abs() < 1e-12);
        assert!((decay.half_life_days() - 7.0).abs() < 1e-9);
    }

    #[test]
    fn a_redelivered_contribution_adds_nothing() {
        let decay = Decay::from_half_life_days(7.0).unwrap();
        let texts = [
            text(5, "ann", "@bob", DECAY_EPOCH_MS),
            text(9, "ann", "@bob", DECAY_EPOCH_MS),
        ];
        let edge = &aggregate_mentions(&texts, &decay)[0];
        let first = edge.apply(None).unwrap();
        assert_eq!(first.mentions, 2);
        assert_eq!(first.marks, vec![("posts-0".to_string(), 9)]);
        assert!((first.log_weight - 2f64.ln()).abs() < 1e-12);
        assert_eq!(edge.apply(Some(&first)), None);
        // Half applied (mark 5): only offset 9 is added.
        let half = EdgeState {
            mentions: 1,
            log_weight: 0.0,
            marks: vec![("posts-0".into(), 5)],
        };
        assert_eq!(edge.apply(Some(&half)).unwrap(), first);
    }
}
