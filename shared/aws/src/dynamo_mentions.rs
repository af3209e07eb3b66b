//! The mention graph in the hashtag table (single-table design: the graph
//! shares the table, its capacity and its backups). One item per edge,
//! partition `~mentions:<author key>`, sort key the mentioned user's key
//! (`~` and `:` never occur in a tag key): `mentions`, `lw` (the forward-
//! decayed log weight, see [`hashtag_core::mentions`]), the names, one
//! `mark:<source>` attribute per source, and `expires_at`, when the weight
//! decays below the minimum, for DynamoDB's TTL to delete the edge at no
//! write cost.
//!
//! Two sparse global secondary indexes, keyed only on edge items, serve the
//! reads in one Query each, strongest first: `mentions_out` (`out_user`,
//! `lw`) and `mentions_in` (`in_user`, `lw`). An edge write therefore costs
//! three write units (the item and its two index entries); the weight
//! between two users is one GetItem. Why DynamoDB rather than Aurora: the
//! graph is written by the consumer at the rate of posts, keyed by user,
//! and read by key, the access pattern the hashtag table already serves
//! without a connection pool or locks; Aurora would put the consumer's
//! writes on the database that serves the posts.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::types::AttributeValue;
use futures_util::{stream, StreamExt, TryStreamExt};

use super::dynamo_hashtags::{get_n, get_s, insert_marks, marks_of, n, s};
use super::{sdk_error, DynamoHashtagStore};
use hashtag_core::domain::now_ms;
use hashtag_core::mentions::{Decay, Direction, EdgeContribution, EdgeState, StoredEdge};
use hashtag_core::ports::{MentionAudit, MentionGraph, MentionReads, StoreError};

/// Partition key prefix of edges.
pub(crate) const EDGE_PREFIX: &str = "~mentions:";
/// The index of a user's outgoing edges by weight.
pub(crate) const OUT_INDEX: &str = "mentions_out";
/// The index of a user's incoming edges by weight.
pub(crate) const IN_INDEX: &str = "mentions_in";
/// Edges of one batch written at once.
const CONCURRENT_EDGES: usize = 16;
/// Attempts of an edge's read-and-conditional-write before the batch fails
/// (and is redelivered): only a concurrent import of the same edge makes it
/// retry, since an author's posts are all on one partition.
const EDGE_ATTEMPTS: usize = 5;

type Item = HashMap<String, AttributeValue>;

fn edge_key(from: &str, to: &str) -> [(String, AttributeValue); 2] {
    [
        ("tag".to_string(), s(format!("{EDGE_PREFIX}{from}"))),
        ("sk".to_string(), s(to)),
    ]
}

/// An edge item as a write leaves it.
pub fn edge_item(edge: &EdgeContribution, state: &EdgeState, expires_at: i64) -> Item {
    let mut item: Item = HashMap::from([
        ("out_user".to_string(), s(&edge.from)),
        ("in_user".to_string(), s(&edge.to)),
        ("from_name".to_string(), s(&edge.from_name)),
        ("to_name".to_string(), s(&edge.to_name)),
        ("mentions".to_string(), n(state.mentions)),
        ("lw".to_string(), n(state.log_weight)),
        ("expires_at".to_string(), n(expires_at)),
    ]);
    item.extend(edge_key(&edge.from, &edge.to));
    insert_marks(&mut item, &state.marks);
    item
}

/// A stored edge from its item, marks included.
fn edge_of(item: &Item) -> Option<StoredEdge> {
    Some(StoredEdge {
        from: get_s(item, "out_user")?.to_string(),
        to: get_s(item, "in_user")?.to_string(),
        from_name: get_s(item, "from_name")?.to_string(),
        to_name: get_s(item, "to_name")?.to_string(),
        state: EdgeState {
            mentions: get_n(item, "mentions")?,
            log_weight: get_n(item, "lw")?,
            marks: marks_of(item),
        },
    })
}

impl DynamoHashtagStore {
    /// Reads an edge (strongly consistent, so a write sees the last one).
    async fn read_edge(&self, from: &str, to: &str) -> Result<Option<StoredEdge>, StoreError> {
        let out = self
            .client
            .get_item()
            .table_name(&self.table)
            .set_key(Some(edge_key(from, to).into_iter().collect()))
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| sdk_error("get edge", e))?;
        Ok(out.item.as_ref().and_then(edge_of))
    }

    /// Applies one edge's contribution: read, [`EdgeContribution::apply`],
    /// write conditioned on the mentions read (they grow with every write,
    /// so they version the item). Returns whether it wrote.
    async fn apply_edge(&self, edge: &EdgeContribution, decay: Decay) -> Result<bool, StoreError> {
        for _ in 0..EDGE_ATTEMPTS {
            let stored = self.read_edge(&edge.from, &edge.to).await?;
            let stored = stored.map(|e| e.state);
            let Some(next) = edge.apply(stored.as_ref()) else {
                return Ok(false);
            };
            if decay.expired(next.log_weight, now_ms()) {
                return Ok(false);
            }
            let expires_at = decay.expires_at_ms(next.log_weight) / 1000;
            let item = edge_item(edge, &next, expires_at);
            let read = stored.as_ref().map(|old| old.mentions);
            if self
                .put_if_unchanged(item, "mentions", read, "put edge")
                .await?
            {
                return Ok(true);
            }
        }
        Err(StoreError::Backend(format!(
            "edge {} -> {} kept changing under its write",
            edge.from, edge.to
        )))
    }
}

#[async_trait]
impl MentionGraph for DynamoHashtagStore {
    async fn apply_mentions(&self, edges: &[EdgeContribution]) -> Result<usize, StoreError> {
        let decay = Decay::configured();
        let writes: Vec<_> = edges.iter().map(|e| self.apply_edge(e, decay)).collect();
        stream::iter(writes)
            .buffer_unordered(CONCURRENT_EDGES)
            .try_fold(0, |sum, wrote| async move { Ok(sum + usize::from(wrote)) })
            .await
    }
}

#[async_trait]
impl MentionReads for DynamoHashtagStore {
    async fn strongest(
        &self,
        user: &str,
        direction: Direction,
        limit: usize,
        min_log_weight: f64,
    ) -> Result<Vec<StoredEdge>, StoreError> {
        let (index, key) = match direction {
            Direction::Out => (OUT_INDEX, "out_user"),
            Direction::In => (IN_INDEX, "in_user"),
        };
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .index_name(index)
            .key_condition_expression("#u = :u AND lw >= :min")
            .expression_attribute_names("#u", key)
            .expression_attribute_values(":u", s(user))
            .expression_attribute_values(":min", n(min_log_weight))
            .scan_index_forward(false)
            .limit(limit.clamp(1, 1_000) as i32)
            .send()
            .await
            .map_err(|e| sdk_error("query edges", e))?;
        Ok(out.items().iter().filter_map(edge_of).take(limit).collect())
    }

    async fn edge(&self, from: &str, to: &str) -> Result<Option<StoredEdge>, StoreError> {
        self.read_edge(from, to).await
    }
}

#[async_trait]
impl MentionAudit for DynamoHashtagStore {
    async fn mention_edges(&self) -> Result<Vec<StoredEdge>, StoreError> {
        let items = self
            .scan_where("begins_with(#t, :p)", ("#t", "tag"), (":p", s(EDGE_PREFIX)))
            .await?;
        let mut edges: Vec<StoredEdge> = items.iter().filter_map(edge_of).collect();
        edges.sort_by(|a, b| (&a.from, &a.to).cmp(&(&b.from, &b.to)));
        Ok(edges)
    }
}
