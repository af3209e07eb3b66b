//! `reconcile`: recounts every tag from the post store, the source of
//! truth, and compares with the hashtag table; with `repair`, sets the
//! counts that differ.
//!
//! It can run while posts flow. Each stored count is read with its marks
//! (per source partition, the highest offset counted for the tag), and each
//! post with its claim (the record that counts it): the recount of a tag
//! takes only the posts whose claim is at or below the tag's mark, which is
//! exactly what the stored count should hold at the moment it was read.
//! Posts the consumer has not reached yet (no claim, or a claim above the
//! mark) are in flight: left out of both sides and reported, so a repair
//! never adds a post that the consumer will add again. A repair is also
//! conditioned on the count it read, so it never overwrites an increment
//! that landed in between (then it reports `repaired: false`; run again).
//!
//! Counts are read before posts: a post claimed after its tag's count was
//! read has a claim above the mark read, so it is in flight, never counted
//! on one side only. A post older than [`CLAIM_RETENTION_SECONDS`] may have
//! lost its claim; it is taken as counted.
//!
//! [`Recount::EveryPost`] counts every stored post whatever the claims and
//! marks say: for a drained pipeline whose hashtag table lost them (restored
//! from a backup, or recreated), where posts would otherwise stay in flight.

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::domain::{now_ms, CLAIM_RETENTION_SECONDS};
use crate::extract::{distinct_tags, tag_display_form};
use crate::ids::{id_time_ms, Id};
use crate::mentions::{aggregate_mentions, Decay, EdgeState, MentionText};
use crate::ports::{
    MentionAudit, PostStore, PostText, ReactionCounts, StoreError, TagAudit, TagCount,
};

/// Posts read per request from the post store.
const PAGE: usize = 1_000;

/// A tag whose stored count differs from the recount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Normalised tag.
    pub tag: String,
    /// The count in the hashtag table (`None`: the tag is missing there).
    pub stored: Option<u64>,
    /// Posts in the post store that carry the tag and that the consumer
    /// has reached (see the module documentation).
    pub expected: u64,
    /// Whether `--repair` set it to `expected`.
    pub repaired: bool,
}

/// What a reconcile run found (and repaired).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReconcileReport {
    /// Posts read from the post store.
    pub posts: u64,
    /// Distinct tags they carry.
    pub tags: usize,
    /// Posts the consumer had not counted yet when their tags' counts were
    /// read: left to it. A number that stays above zero once no post is
    /// being created means events that never reached the consumer.
    pub in_flight: u64,
    /// Tags whose count differs, in tag order.
    pub drift: Vec<Drift>,
}

/// A tag's stored count, and its marks by source.
struct Stored {
    total: u64,
    marks: HashMap<String, i64>,
}

impl From<TagCount> for Stored {
    fn from(c: TagCount) -> Self {
        Stored {
            total: c.total_posts,
            marks: c.marks.into_iter().collect(),
        }
    }
}

/// Which posts a recount takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Recount {
    /// The posts the consumer has reached: right at any time, traffic or not.
    Reached,
    /// Every stored post: right only when nothing is in flight (no post
    /// being created, no consumer lag, nothing in the outbox), for a table
    /// that lost its claims or marks.
    EveryPost,
}

/// Recounts, compares and, with `repair`, fixes the drifting counts.
pub async fn reconcile(
    posts: &dyn PostStore,
    hashtags: &dyn TagAudit,
    recount: Recount,
    repair: bool,
) -> Result<ReconcileReport, StoreError> {
    let mut stored: BTreeMap<String, Stored> = hashtags
        .tag_counts()
        .await?
        .into_iter()
        .map(|c| (c.key.clone(), c.into()))
        .collect();
    // Posts this old may have lost their claim: taken as counted.
    let claims_kept_since = (now_ms() - CLAIM_RETENTION_SECONDS * 1000).max(0) as u64;
    // key -> (display, count)
    let mut expected: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut report = ReconcileReport::default();
    let mut after = Id(0);
    loop {
        let page = posts.captions_after(after, PAGE).await?;
        let ids: Vec<Id> = page.iter().map(|p| p.post_id).collect();
        let claims: HashMap<Id, (String, i64)> = hashtags
            .claims(&ids)
            .await?
            .into_iter()
            .map(|c| (c.post_id, (c.source, c.offset)))
            .collect();
        for PostText {
            post_id: id,
            caption,
            ..
        } in &page
        {
            let claim = claims.get(id);
            let mut in_flight = false;
            for (key, display) in distinct_tags(caption) {
                let counted = match claim {
                    _ if recount == Recount::EveryPost => true,
                    Some((source, offset)) => stored
                        .get(&key)
                        .and_then(|s| s.marks.get(source))
                        .is_some_and(|mark| offset <= mark),
                    None => id_time_ms(*id) < claims_kept_since,
                };
                in_flight |= !counted;
                let entry = expected
                    .entry(key)
                    .or_insert_with(|| (tag_display_form(display), 0));
                entry.1 += u64::from(counted);
            }
            report.in_flight += u64::from(in_flight);
        }
        report.posts += page.len() as u64;
        // A store may page by size as well as by rows: only an empty page
        // says that nothing is left.
        match page.last() {
            Some(p) => after = p.post_id,
            None => break,
        }
    }
    report.tags = expected.len();
    for (key, (display, count)) in &expected {
        let have = stored.remove(key).map(|s| s.total);
        if have.unwrap_or(0) != *count {
            report.drift.push(Drift {
                tag: key.clone(),
                stored: have,
                expected: *count,
                repaired: repair && hashtags.repair_count(key, display, have, *count).await?,
            });
        }
    }
    // Counted tags that no stored post carries.
    for (key, have) in stored.into_iter().filter(|(_, s)| s.total > 0) {
        report.drift.push(Drift {
            repaired: repair
                && hashtags
                    .repair_count(&key, &key, Some(have.total), 0)
                    .await?,
            tag: key,
            stored: Some(have.total),
            expected: 0,
        });
    }
    report.drift.sort_by(|a, b| a.tag.cmp(&b.tag));
    Ok(report)
}

/// An edge whose stored state differs from the recount.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeDrift {
    /// Author key.
    pub from: String,
    /// Mentioned user key.
    pub to: String,
    /// Mentions stored (`None`: the edge is missing).
    pub stored: Option<u64>,
    /// Mentions in the post store.
    pub expected: u64,
    /// Stored log weight minus the recount's (0 when only counts differ).
    pub log_weight_error: f64,
}

/// What `reconcile --mentions` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct MentionReport {
    /// Posts read from the post store.
    pub posts: u64,
    /// Edges the posts make.
    pub edges: usize,
    /// Stored edges fed by an imported file as well, which the post store
    /// cannot recount: left out of the comparison.
    pub imported: usize,
    /// Edges that differ.
    pub drift: Vec<EdgeDrift>,
}

/// A post whose stored reaction counts differ from its reaction set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ReactionDrift {
    /// The post.
    pub post_id: Id,
    /// Counts per emoji from the post store's reaction sets.
    pub recounted: BTreeMap<String, i64>,
    /// Counts per emoji the reaction consumer stored.
    pub stored: BTreeMap<String, i64>,
}

/// What `reconcile --reactions` found.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct ReactionReport {
    /// Posts with reactions in the post store.
    pub posts: usize,
    /// Reactions in the post store.
    pub reactions: i64,
    /// Posts whose counts differ.
    pub drift: Vec<ReactionDrift>,
}

/// Recounts every post's reactions from the post store's reaction sets
/// and compares them with the counts the reaction consumer stored. For a
/// drained pipeline: a reaction the consumer has not reached yet shows as
/// drift.
pub async fn reconcile_reactions(
    posts: &dyn PostStore,
    counts: &dyn ReactionCounts,
) -> Result<ReactionReport, StoreError> {
    let mut expected: BTreeMap<Id, BTreeMap<String, i64>> = BTreeMap::new();
    let mut after = Id(0);
    loop {
        let page = posts.reaction_counts_after(after, PAGE).await?;
        let Some((last, _)) = page.last() else { break };
        after = *last;
        expected.extend(page);
    }
    let mut report = ReactionReport {
        posts: expected.len(),
        reactions: expected.values().flat_map(|c| c.values()).sum(),
        drift: Vec::new(),
    };
    for (post_id, state) in counts.all_reactions().await? {
        let recounted = expected.remove(&post_id).unwrap_or_default();
        if recounted != state.counts {
            report.drift.push(ReactionDrift {
                post_id,
                recounted,
                stored: state.counts,
            });
        }
    }
    for (post_id, recounted) in expected {
        report.drift.push(ReactionDrift {
            post_id,
            recounted,
            stored: BTreeMap::new(),
        });
    }
    report.drift.sort_by_key(|d| d.post_id);
    Ok(report)
}

/// Largest difference of log weights taken as equal: summing the same
/// mentions in another order moves the last bits only.
const LOG_WEIGHT_TOLERANCE: f64 = 1e-9;

/// Recounts the mention graph from the post store and compares it with the
/// stored edges: mentions exactly, weights within [`LOG_WEIGHT_TOLERANCE`].
/// For a drained pipeline (no post in flight): an edge whose newest
/// mention the consumer has not reached yet shows as drift. Edges that an
/// imported file fed are skipped (the files are not in the post store).
pub async fn reconcile_mentions(
    posts: &dyn PostStore,
    graph: &dyn MentionAudit,
    decay: &Decay,
) -> Result<MentionReport, StoreError> {
    let mut expected: BTreeMap<(String, String), EdgeState> = BTreeMap::new();
    let mut report = MentionReport::default();
    let mut after = Id(0);
    loop {
        let page = posts.captions_after(after, PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.post_id;
        report.posts += page.len() as u64;
        let texts: Vec<MentionText<'_>> = page
            .iter()
            .map(|p| MentionText {
                source: "recount",
                offset: p.post_id.0,
                author: &p.author,
                text: &p.caption,
                at_ms: id_time_ms(p.post_id) as i64,
            })
            .collect();
        for edge in aggregate_mentions(&texts, decay) {
            let key = (edge.from.clone(), edge.to.clone());
            let state = expected.get(&key);
            if let Some(next) = edge.apply(state) {
                expected.insert(key, next);
            }
        }
    }
    // Edges decayed away are gone, or going, from the store.
    let now = now_ms();
    expected.retain(|_, e| !decay.expired(e.log_weight, now));
    report.edges = expected.len();
    for edge in graph.mention_edges().await? {
        if decay.expired(edge.state.log_weight, now) {
            continue;
        }
        let recount = expected.remove(&(edge.from.clone(), edge.to.clone()));
        if edge.state.marks.iter().any(|(s, _)| s.starts_with("csv:")) {
            report.imported += 1;
            continue;
        }
        let (want, want_lw) =
            recount.map_or((0, f64::NEG_INFINITY), |r| (r.mentions, r.log_weight));
        let error = if want == 0 {
            f64::INFINITY
        } else {
            edge.state.log_weight - want_lw
        };
        if edge.state.mentions != want || error.abs() > LOG_WEIGHT_TOLERANCE {
            report.drift.push(EdgeDrift {
                from: edge.from,
                to: edge.to,
                stored: Some(edge.state.mentions),
                expected: want,
                log_weight_error: if error.is_finite() { error } else { 0.0 },
            });
        }
    }
    for ((from, to), state) in expected {
        report.drift.push(EdgeDrift {
            from,
            to,
            stored: None,
            expected: state.mentions,
            log_weight_error: 0.0,
        });
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::{Post, TopPost, User, Username};
    use crate::ids::EPOCH_MS;
    use crate::ports::{Created, PostClaim};
    use async_trait::async_trait;
    use std::sync::Mutex;

    /// Posts as (id, caption), in id order.
    struct Posts(Vec<(Id, String)>);

    #[async_trait]
    impl PostStore for Posts {
        async fn create_user(&self, _: Id, _: &Username, _: &str) -> Result<User, StoreError> {
            unreachable!("reconcile only reads")
        }
        async fn create_post(&self, _: &Post, _: Option<&str>) -> Result<Created, StoreError> {
            unreachable!("reconcile only reads")
        }
        async fn get_post(&self, _: Id) -> Result<Option<Post>, StoreError> {
            unreachable!("reconcile reads captions")
        }
        async fn user_by_id(&self, _: Id) -> Result<Option<User>, StoreError> {
            unreachable!("reconcile reads captions")
        }
        async fn user_by_name(&self, _: &Username) -> Result<Option<User>, StoreError> {
            unreachable!("reconcile reads captions")
        }
        async fn user_by_subject(&self, _: &str) -> Result<Option<User>, StoreError> {
            unreachable!("reconcile reads captions")
        }
        async fn react(
            &self,
            _: Id,
            _: Id,
            _: &crate::reactions::Emoji,
            _: bool,
        ) -> Result<crate::ports::Reacted, StoreError> {
            unreachable!("reconcile only reads")
        }
        async fn reactions_by(&self, _: Id, _: Id) -> Result<Vec<String>, StoreError> {
            unreachable!("reconcile reads counts")
        }
        async fn reaction_counts_after(
            &self,
            _: Id,
            _: usize,
        ) -> Result<Vec<(Id, std::collections::BTreeMap<String, i64>)>, StoreError> {
            unreachable!("reconcile reads captions")
        }
        async fn recent_posts_by(&self, _: Id, _: usize) -> Result<Vec<TopPost>, StoreError> {
            unreachable!("reconcile reads captions")
        }
        async fn captions_after(
            &self,
            after: Id,
            limit: usize,
        ) -> Result<Vec<PostText>, StoreError> {
            Ok(self
                .0
                .iter()
                .filter(|(id, _)| *id > after)
                .take(limit)
                .map(|(id, caption)| PostText {
                    post_id: *id,
                    author: "ann".into(),
                    caption: caption.clone(),
                })
                .collect())
        }
    }

    /// One tag's count and marks, the posts' claims, and the repairs made.
    struct Table {
        count: TagCount,
        claims: Vec<PostClaim>,
        repaired: Mutex<Vec<(Option<u64>, u64)>>,
    }

    #[async_trait]
    impl TagAudit for Table {
        async fn tag_counts(&self) -> Result<Vec<TagCount>, StoreError> {
            Ok(vec![self.count.clone()])
        }
        async fn claims(&self, posts: &[Id]) -> Result<Vec<PostClaim>, StoreError> {
            Ok(self
                .claims
                .iter()
                .filter(|c| posts.contains(&c.post_id))
                .cloned()
                .collect())
        }
        async fn repair_count(
            &self,
            _: &str,
            _: &str,
            expected: Option<u64>,
            total: u64,
        ) -> Result<bool, StoreError> {
            self.repaired.lock().unwrap().push((expected, total));
            Ok(true)
        }
    }

    /// An id minted `age_days` ago.
    fn id_aged(age_days: i64, n: i64) -> Id {
        let ms = now_ms() - age_days * 86_400_000;
        Id(((ms as u64 - EPOCH_MS) << 22) as i64 + n)
    }

    fn claim(post: Id, offset: i64) -> PostClaim {
        PostClaim {
            post_id: post,
            source: "posts-0".into(),
            offset,
        }
    }

    /// Five posts carrying #rust: counted (claim at or below the mark 10),
    /// claimed above the mark, unclaimed and young, unclaimed and older
    /// than the claims are kept; and a stored count of `stored`.
    fn scene(stored: u64) -> (Posts, Table) {
        let (counted, above, young, old) =
            (id_aged(1, 1), id_aged(1, 2), id_aged(1, 3), id_aged(30, 4));
        let at_mark = id_aged(1, 5);
        let mut posts = vec![counted, above, young, old, at_mark];
        posts.sort();
        let table = Table {
            count: TagCount {
                key: "rust".into(),
                display: "Rust".into(),
                total_posts: stored,
                marks: vec![("posts-0".into(), 10)],
            },
            claims: vec![claim(counted, 3), claim(above, 11), claim(at_mark, 10)],
            repaired: Mutex::new(Vec::new()),
        };
        let posts = posts
            .into_iter()
            .map(|id| (id, "#Rust".to_string()))
            .collect();
        (Posts(posts), table)
    }

    #[tokio::test]
    async fn posts_the_consumer_has_not_reached_are_in_flight_not_drift() {
        // Counted: the two claims at or below the mark, and the old post.
        let (posts, table) = scene(3);
        let report = reconcile(&posts, &table, Recount::Reached, true)
            .await
            .unwrap();
        assert_eq!(report.posts, 5);
        assert_eq!(
            report.in_flight, 2,
            "claimed above the mark, and unclaimed young"
        );
        assert!(report.drift.is_empty(), "{:?}", report.drift);
        assert!(table.repaired.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn a_wrong_count_is_repaired_to_what_the_consumer_reached() {
        let (posts, table) = scene(7);
        let report = reconcile(&posts, &table, Recount::Reached, true)
            .await
            .unwrap();
        assert_eq!(report.drift.len(), 1);
        assert_eq!(
            (report.drift[0].stored, report.drift[0].expected),
            (Some(7), 3)
        );
        assert_eq!(*table.repaired.lock().unwrap(), vec![(Some(7), 3)]);
    }

    #[tokio::test]
    async fn every_post_counts_when_the_pipeline_is_drained() {
        let (posts, table) = scene(3);
        let report = reconcile(&posts, &table, Recount::EveryPost, true)
            .await
            .unwrap();
        assert_eq!(report.in_flight, 0);
        assert_eq!(report.drift[0].expected, 5);
        assert_eq!(*table.repaired.lock().unwrap(), vec![(Some(3), 5)]);
    }
}
