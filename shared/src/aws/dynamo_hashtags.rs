//! The hashtag table in DynamoDB, partition key `tag` (the tag key), sort
//! key `sk`. Under each tag:
//!
//! - `~count`: `display`, `total_posts`, `updated_ms`, and one `mark:<source>`
//!   attribute per source partition (the highest offset counted). A small
//!   item, so an increment costs 1 WCU; the marks make increments idempotent.
//! - `~rank`: the popularity service's ranking (`generated_ms`, `posts`).
//! - `post#<20-digit post id>`: one recent post (`post_id`, `image_url`),
//!   expiring through TTL (`expires_at`) so the table does not keep every
//!   post forever; DynamoDB deletes expired items at no write cost.
//!
//! `~` sorts after `p`, so one Query in descending key order returns the
//! ranking, the counter and then the newest posts: a page is one request.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::SdkError;
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType, PutRequest,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures_util::{stream, StreamExt, TryStreamExt};

use super::sdk_error;
use crate::aggregate::{CountedPost, TagContribution};
use crate::domain::{parse_rfc3339_ms, rfc3339_ms, Ranking, TagPage, TopPost, TOP_POSTS};
use crate::extract::tag_key;
use crate::ids::Id;
use crate::ports::{HashtagStore, StoreError};

const COUNT_SK: &str = "~count";
const RANK_SK: &str = "~rank";
const POST_SK_PREFIX: &str = "post#";
/// How long a recent-post item lives; the page only ever shows the newest.
const POST_TTL_SECONDS: i64 = 30 * 24 * 3600;
/// Tags of one batch updated at once.
const CONCURRENT_TAGS: usize = 16;
/// Attempts of the conditional counter update before the batch fails (and
/// is redelivered). Only a concurrent writer on the same partition, which
/// MSK does not do, makes it retry more than once.
const COUNT_ATTEMPTS: usize = 5;
/// DynamoDB's limit per BatchWriteItem.
const BATCH_WRITE_MAX: usize = 25;

/// The DynamoDB hashtag store.
#[derive(Clone)]
pub struct DynamoHashtagStore {
    client: Client,
    table: String,
}

fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

fn get_n<T: std::str::FromStr>(item: &HashMap<String, AttributeValue>, name: &str) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

fn post_sk(post_id: Id) -> String {
    // Zero-padded so that key order is id order (ids are positive).
    format!("{POST_SK_PREFIX}{:020}", post_id.0)
}

fn mark_attribute(source: &str) -> String {
    format!("mark:{source}")
}

fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

impl DynamoHashtagStore {
    /// A store on `table`, through `client`.
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        DynamoHashtagStore {
            client,
            table: table.into(),
        }
    }

    /// Creates the table (on demand, TTL on `expires_at`) unless it exists.
    /// For local stacks and tests; on AWS the SAM template creates it.
    pub async fn create_table(&self) -> Result<(), StoreError> {
        let key = |name: &str, kind| {
            KeySchemaElement::builder()
                .attribute_name(name)
                .key_type(kind)
                .build()
                .map_err(|e| sdk_error("key schema", e))
        };
        let attribute = |name: &str| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(ScalarAttributeType::S)
                .build()
                .map_err(|e| sdk_error("attribute definition", e))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("tag", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attribute("tag")?)
            .attribute_definitions(attribute("sk")?)
            .send()
            .await;
        match created {
            Ok(_) => {}
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_resource_in_use_exception()) =>
            {
                return Ok(())
            }
            Err(e) => return Err(sdk_error("create table", e)),
        }
        let ttl = TimeToLiveSpecification::builder()
            .attribute_name("expires_at")
            .enabled(true)
            .build()
            .map_err(|e| sdk_error("ttl", e))?;
        self.client
            .update_time_to_live()
            .table_name(&self.table)
            .time_to_live_specification(ttl)
            .send()
            .await
            .map_err(|e| sdk_error("enable ttl", e))?;
        Ok(())
    }

    /// Writes the newest posts of a contribution as recent-post items.
    /// Idempotent (same key, same item), and done before the counter moves:
    /// a failure in between is repaired by the batch's redelivery, which the
    /// counter's marks then let through only for posts not yet counted.
    async fn put_recent_posts(&self, tag: &TagContribution) -> Result<(), StoreError> {
        let mut posts: Vec<&CountedPost> = tag.sources.iter().flat_map(|s| &s.posts).collect();
        posts.sort_unstable_by_key(|p| std::cmp::Reverse(p.post_id));
        posts.dedup_by_key(|p| p.post_id);
        let expires_at = chrono::Utc::now().timestamp() + POST_TTL_SECONDS;
        let requests: Vec<WriteRequest> = posts
            .iter()
            .take(TOP_POSTS)
            .map(|p| {
                let item = PutRequest::builder()
                    .item("tag", s(&tag.key))
                    .item("sk", s(post_sk(p.post_id)))
                    .item("post_id", n(p.post_id.0))
                    .item("image_url", s(&*p.image_url))
                    .item("expires_at", n(expires_at))
                    .build()
                    .map_err(|e| sdk_error("put request", e))?;
                Ok(WriteRequest::builder().put_request(item).build())
            })
            .collect::<Result<_, StoreError>>()?;
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error("batch write recent posts", e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == COUNT_ATTEMPTS {
                    return Err(StoreError::Backend("recent posts left unprocessed".into()));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    /// Applies one tag's contribution: its recent posts, then its counter.
    async fn apply_tag(&self, tag: &TagContribution) -> Result<(), StoreError> {
        self.put_recent_posts(tag).await?;
        self.add_to_counter(tag).await
    }

    /// Adds a contribution's posts to the tag's counter, counting on each
    /// source only the offsets above its mark. The first attempt assumes
    /// no mark reaches this batch; if one does, the failed condition returns
    /// the item (`ALL_OLD`), and the retry is conditioned on exactly the
    /// marks it saw.
    async fn add_to_counter(&self, tag: &TagContribution) -> Result<(), StoreError> {
        // Per source: the mark assumed (`None`: below every offset here).
        let mut assumed: Vec<Option<Option<i64>>> = vec![None; tag.sources.len()];
        for _ in 0..COUNT_ATTEMPTS {
            let mut update = self
                .client
                .update_item()
                .table_name(&self.table)
                .key("tag", s(&tag.key))
                .key("sk", s(COUNT_SK))
                .return_values_on_condition_check_failure(
                    ReturnValuesOnConditionCheckFailure::AllOld,
                );
            let (mut sets, mut conditions, mut added) = (Vec::new(), Vec::new(), 0usize);
            for (i, (source, mark)) in tag.sources.iter().zip(&assumed).enumerate() {
                let floor = mark.flatten();
                let fresh = source
                    .posts
                    .iter()
                    .filter(|p| floor.is_none_or(|m| p.offset > m));
                let Some(last) = fresh.clone().map(|p| p.offset).max() else {
                    continue;
                };
                added += fresh.count();
                let (name, value) = (format!("#m{i}"), format!(":m{i}"));
                update = update
                    .expression_attribute_names(&name, mark_attribute(&source.source))
                    .expression_attribute_values(&value, n(last));
                sets.push(format!("{name} = {value}"));
                conditions.push(match mark {
                    // Nothing known: any mark below this batch's first offset.
                    None => {
                        let first = source.posts.iter().map(|p| p.offset).min().unwrap_or(0);
                        update = update.expression_attribute_values(format!(":f{i}"), n(first));
                        format!("(attribute_not_exists({name}) OR {name} < :f{i})")
                    }
                    Some(None) => format!("attribute_not_exists({name})"),
                    Some(Some(seen)) => {
                        update = update.expression_attribute_values(format!(":s{i}"), n(seen));
                        format!("{name} = :s{i}")
                    }
                });
            }
            if added == 0 {
                return Ok(());
            }
            let result = update
                .update_expression(format!(
                    "SET {}, #d = if_not_exists(#d, :d), updated_ms = :now ADD total_posts :n",
                    sets.join(", ")
                ))
                .condition_expression(conditions.join(" AND "))
                .expression_attribute_names("#d", "display")
                .expression_attribute_values(":d", s(&tag.display))
                .expression_attribute_values(":now", n(now_ms()))
                .expression_attribute_values(":n", n(added))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(()),
                Err(SdkError::ServiceError(e)) => match e.into_err() {
                    UpdateItemError::ConditionalCheckFailedException(failed) => {
                        let item = failed.item.unwrap_or_default();
                        assumed = tag
                            .sources
                            .iter()
                            .map(|src| Some(get_n(&item, &mark_attribute(&src.source))))
                            .collect();
                    }
                    other => return Err(sdk_error("update counter", other)),
                },
                Err(e) => return Err(sdk_error("update counter", e)),
            }
        }
        Err(StoreError::Backend(format!(
            "counter of {} kept changing under {COUNT_ATTEMPTS} attempts",
            tag.key
        )))
    }
}

fn top_post(item: &HashMap<String, AttributeValue>) -> Option<TopPost> {
    Some(TopPost {
        post_id: Id(get_n(item, "post_id")?),
        image_url: get_s(item, "image_url")?.to_string(),
    })
}

#[async_trait]
impl HashtagStore for DynamoHashtagStore {
    async fn apply_counts(&self, batch: &[TagContribution]) -> Result<(), StoreError> {
        let updates: Vec<_> = batch.iter().map(|tag| self.apply_tag(tag)).collect();
        stream::iter(updates)
            .buffer_unordered(CONCURRENT_TAGS)
            .try_collect::<()>()
            .await
    }

    async fn apply_ranking(&self, ranking: &Ranking) -> Result<bool, StoreError> {
        let generated = parse_rfc3339_ms(&ranking.generated_at)
            .ok_or_else(|| StoreError::Backend("ranking generated_at is not RFC 3339".into()))?;
        let posts = ranking
            .posts
            .iter()
            .take(TOP_POSTS)
            .map(|p| {
                AttributeValue::M(HashMap::from([
                    ("post_id".to_string(), n(p.post_id.0)),
                    ("image_url".to_string(), s(&p.image_url)),
                ]))
            })
            .collect();
        let display = ranking.tag.trim().trim_start_matches(['#', '＃']);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("tag", s(tag_key(&ranking.tag)))
            .item("sk", s(RANK_SK))
            .item("display", s(display))
            .item("generated_ms", n(generated))
            .item("posts", AttributeValue::L(posts))
            .item("updated_ms", n(now_ms()))
            .condition_expression("attribute_not_exists(generated_ms) OR generated_ms < :g")
            .expression_attribute_values(":g", n(generated))
            .send()
            .await;
        match result {
            Ok(_) => Ok(true),
            Err(e)
                if e.as_service_error()
                    .is_some_and(|e| e.is_conditional_check_failed_exception()) =>
            {
                Ok(false)
            }
            Err(e) => Err(sdk_error("put ranking", e)),
        }
    }

    async fn page(&self, key: &str) -> Result<Option<TagPage>, StoreError> {
        let out = self
            .client
            .query()
            .table_name(&self.table)
            .key_condition_expression("#t = :t")
            .expression_attribute_names("#t", "tag")
            .expression_attribute_values(":t", s(key))
            .scan_index_forward(false)
            .limit(TOP_POSTS as i32 + 2)
            .send()
            .await
            .map_err(|e| sdk_error("query tag", e))?;
        let items = out.items.unwrap_or_default();
        let find = |sk: &str| items.iter().find(|i| get_s(i, "sk") == Some(sk));
        let (count, rank) = (find(COUNT_SK), find(RANK_SK));
        let Some(display) = count.or(rank).and_then(|i| get_s(i, "display")) else {
            return Ok(None);
        };
        let top_posts = match rank {
            Some(rank) => rank
                .get("posts")
                .and_then(|p| p.as_l().ok())
                .map(|posts| {
                    posts
                        .iter()
                        .filter_map(|p| p.as_m().ok().and_then(top_post))
                        .collect()
                })
                .unwrap_or_default(),
            None => items
                .iter()
                .filter(|i| get_s(i, "sk").is_some_and(|sk| sk.starts_with(POST_SK_PREFIX)))
                .filter_map(top_post)
                .take(TOP_POSTS)
                .collect(),
        };
        let updated = |item: Option<&HashMap<String, AttributeValue>>| {
            item.and_then(|i| get_n::<i64>(i, "updated_ms"))
                .unwrap_or(0)
        };
        Ok(Some(TagPage {
            tag: display.to_string(),
            total_posts: count.and_then(|c| get_n(c, "total_posts")).unwrap_or(0),
            top_posts,
            updated_at: rfc3339_ms(updated(count).max(updated(rank))),
        }))
    }
}
