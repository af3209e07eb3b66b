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

use std::collections::{BTreeMap, HashMap};

use serde::Serialize;

use crate::domain::{now_ms, CLAIM_RETENTION_SECONDS};
use crate::extract::{distinct_tags, tag_display_form};
use crate::ids::{id_time_ms, Id};
use crate::ports::{PostStore, StoreError, TagAudit, TagCount};

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

/// Recounts, compares and, with `repair`, fixes the drifting counts.
pub async fn reconcile(
    posts: &dyn PostStore,
    hashtags: &dyn TagAudit,
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
        let ids: Vec<Id> = page.iter().map(|(id, _)| *id).collect();
        let claims: HashMap<Id, (String, i64)> = hashtags
            .claims(&ids)
            .await?
            .into_iter()
            .map(|c| (c.post_id, (c.source, c.offset)))
            .collect();
        for (id, caption) in &page {
            let claim = claims.get(id);
            let mut in_flight = false;
            for (key, display) in distinct_tags(caption) {
                let counted = match claim {
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
            Some((id, _)) => after = *id,
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
