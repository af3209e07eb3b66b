//! `reconcile`: recounts every tag from the post store, the source of
//! truth, and compares with the hashtag table. Run it when the pipeline has
//! drained (posts still in flight show as drift); a repair is conditioned
//! on the count it read, so it never overwrites an increment that landed
//! in between.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::extract::{distinct_tags, tag_display_form};
use crate::ids::Id;
use crate::ports::{PostStore, StoreError, TagAudit};

/// Posts read per request from the post store.
const PAGE: usize = 1_000;

/// A tag whose stored count differs from the recount.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Drift {
    /// Normalised tag.
    pub tag: String,
    /// The count in the hashtag table (`None`: the tag is missing there).
    pub stored: Option<u64>,
    /// Posts in the post store that carry the tag.
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
    /// Tags whose count differs, in tag order.
    pub drift: Vec<Drift>,
}

/// Recounts, compares and, with `repair`, fixes the drifting counts.
pub async fn reconcile(
    posts: &dyn PostStore,
    hashtags: &dyn TagAudit,
    repair: bool,
) -> Result<ReconcileReport, StoreError> {
    // key -> (display, count)
    let mut expected: BTreeMap<String, (String, u64)> = BTreeMap::new();
    let mut report = ReconcileReport::default();
    let mut after = Id(0);
    loop {
        let page = posts.captions_after(after, PAGE).await?;
        for (_, caption) in &page {
            for (key, display) in distinct_tags(caption) {
                expected
                    .entry(key)
                    .or_insert_with(|| (tag_display_form(display), 0))
                    .1 += 1;
            }
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
    let mut stored: BTreeMap<String, u64> = hashtags
        .tag_counts()
        .await?
        .into_iter()
        .map(|c| (c.key, c.total_posts))
        .collect();
    for (key, (display, count)) in &expected {
        let have = stored.remove(key);
        if have != Some(*count) {
            report.drift.push(Drift {
                tag: key.clone(),
                stored: have,
                expected: *count,
                repaired: repair && hashtags.repair_count(key, display, have, *count).await?,
            });
        }
    }
    // Counted tags that no stored post carries.
    for (key, have) in stored.into_iter().filter(|(_, n)| *n > 0) {
        report.drift.push(Drift {
            repaired: repair && hashtags.repair_count(&key, &key, Some(have), 0).await?,
            tag: key,
            stored: Some(have),
            expected: 0,
        });
    }
    report.drift.sort_by(|a, b| a.tag.cmp(&b.tag));
    Ok(report)
}
