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
//! Outside tags, with keys no tag can have: `~claim:<post id>` records which
//! Kafka record counts a post (see [`HashtagStore::claim_posts`]), and
//! `~dead-letter:<topic-partition>` keeps malformed records by offset.
//!
//! `~` sorts after `p`, so one Query in descending key order returns the
//! ranking, the counter and then the newest posts: a page is one request.

use std::collections::HashMap;

use async_trait::async_trait;
use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::update_item::UpdateItemError;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, GlobalSecondaryIndex, KeySchemaElement,
    KeyType, KeysAndAttributes, Projection, ProjectionType, PutRequest,
    ReturnValuesOnConditionCheckFailure, ScalarAttributeType, TimeToLiveSpecification,
    WriteRequest,
};
use aws_sdk_dynamodb::Client;
use futures_util::{stream, StreamExt, TryStreamExt};

use super::dynamo_history::TRENDING_INDEX;
use super::dynamo_mentions::{IN_INDEX, OUT_INDEX};
use super::sdk_error;
use hashtag_core::aggregate::{CountedPost, TagContribution};
use hashtag_core::domain::{
    parse_rfc3339_ms, rfc3339_ms, Ranking, TagPage, TopPost, CLAIM_RETENTION_SECONDS, TOP_POSTS,
};
use hashtag_core::extract::{tag_display_form, tag_key};
use hashtag_core::ids::Id;
use hashtag_core::ports::{
    CountOutcome, DeadLetter, DeadLetters, PostClaim, Rankings, StoreError, TagAudit, TagCount,
    TagCounter, TagPages,
};

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
/// Partition key prefix of post claims (`~claim:<post id>`); `~` and `:`
/// never occur in a tag key, so claims cannot collide with tags.
const CLAIM_PREFIX: &str = "~claim:";
const CLAIM_SK: &str = "~claim";
/// Prefix of the counter item's mark attributes (`mark:<source>`).
pub(crate) const MARK_PREFIX: &str = "mark:";
/// DynamoDB's limit per BatchGetItem.
pub(crate) const BATCH_GET_MAX: usize = 100;
/// Partition key prefix of dead letters (`~dead-letter:<topic-partition>`),
/// sort key the zero-padded offset.
const DEAD_LETTER_PREFIX: &str = "~dead-letter:";
/// DynamoDB's limit per BatchWriteItem.
const BATCH_WRITE_MAX: usize = 25;

/// The DynamoDB hashtag store.
#[derive(Clone)]
pub struct DynamoHashtagStore {
    pub(crate) client: Client,
    pub(crate) table: String,
}

pub(crate) fn s(v: impl Into<String>) -> AttributeValue {
    AttributeValue::S(v.into())
}

pub(crate) fn n(v: impl ToString) -> AttributeValue {
    AttributeValue::N(v.to_string())
}

pub(crate) fn get_s<'a>(item: &'a HashMap<String, AttributeValue>, name: &str) -> Option<&'a str> {
    item.get(name)?.as_s().ok().map(String::as_str)
}

pub(crate) fn get_n<T: std::str::FromStr>(
    item: &HashMap<String, AttributeValue>,
    name: &str,
) -> Option<T> {
    item.get(name)?.as_n().ok()?.parse().ok()
}

/// Whether a conditional write applied: `Ok(false)` if its condition
/// failed, an error for any other failure.
pub(crate) fn applied<O, E, R>(
    result: Result<O, SdkError<E, R>>,
    what: &str,
) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
    R: std::fmt::Debug + 'static,
{
    match result {
        Ok(_) => Ok(true),
        Err(e)
            if e.as_service_error().and_then(|e| e.code())
                == Some("ConditionalCheckFailedException") =>
        {
            Ok(false)
        }
        Err(e) => Err(sdk_error(what, e)),
    }
}

fn post_sk(post_id: Id) -> String {
    // Zero-padded so that key order is id order (ids are positive).
    format!("{POST_SK_PREFIX}{:020}", post_id.0)
}

pub(crate) fn mark_attribute(source: &str) -> String {
    format!("{MARK_PREFIX}{source}")
}

type Item = HashMap<String, AttributeValue>;

/// An item's offset marks, one `mark:<source>` attribute per source: the
/// counters', the edges' and the history days' idempotency.
pub(crate) fn marks_of(item: &Item) -> Vec<(String, i64)> {
    item.keys()
        .filter_map(|name| {
            let source = name.strip_prefix(MARK_PREFIX)?;
            Some((source.to_string(), get_n(item, name)?))
        })
        .collect()
}

/// Sets `marks` on an item, as [`marks_of`] reads them.
pub(crate) fn insert_marks<S: AsRef<str>>(item: &mut Item, marks: &[(S, i64)]) {
    for (source, offset) in marks {
        item.insert(mark_attribute(source.as_ref()), n(offset));
    }
}

/// The recent-post items a contribution writes: its newest posts, at most
/// [`TOP_POSTS`] (older ones could never reach a page).
pub fn recent_post_items(tag: &TagContribution, expires_at: i64) -> Vec<Item> {
    let mut posts: Vec<&CountedPost> = tag.sources.iter().flat_map(|s| &s.posts).collect();
    posts.sort_unstable_by_key(|p| std::cmp::Reverse(p.post_id));
    posts.dedup_by_key(|p| p.post_id);
    posts
        .iter()
        .take(TOP_POSTS)
        .map(|p| {
            HashMap::from([
                ("tag".to_string(), s(&tag.key)),
                ("sk".to_string(), s(post_sk(p.post_id))),
                ("post_id".to_string(), n(p.post_id.0)),
                ("image_url".to_string(), s(&*p.image_url)),
                ("expires_at".to_string(), n(expires_at)),
            ])
        })
        .collect()
}

/// The item that claims a post for one record.
pub fn claim_item(claim: &PostClaim, expires_at: i64) -> Item {
    HashMap::from([
        (
            "tag".to_string(),
            s(format!("{CLAIM_PREFIX}{}", claim.post_id)),
        ),
        ("sk".to_string(), s(CLAIM_SK)),
        ("source".to_string(), s(&claim.source)),
        ("offset".to_string(), n(claim.offset)),
        ("expires_at".to_string(), n(expires_at)),
    ])
}

/// The counter item of a tag as the counter update leaves it, with a mark
/// for each of `marks` (`(source, offset)`): what its write is billed on.
pub fn counter_item(key: &str, display: &str, total: u64, marks: &[(&str, i64)]) -> Item {
    let mut item = HashMap::from([
        ("tag".to_string(), s(key)),
        ("sk".to_string(), s(COUNT_SK)),
        ("display".to_string(), s(display)),
        ("total_posts".to_string(), n(total)),
        ("updated_ms".to_string(), n(hashtag_core::domain::now_ms())),
    ]);
    insert_marks(&mut item, marks);
    item
}

impl DynamoHashtagStore {
    /// Puts `item` if its `version` attribute (a count that grows with every
    /// write of the item) is still `read` (`None`: the item did not exist):
    /// the conditional write of a read-modify-write. Returns whether it
    /// applied; `false` means another writer came first, read again.
    pub(crate) async fn put_if_unchanged(
        &self,
        item: Item,
        version: &str,
        read: Option<u64>,
        what: &str,
    ) -> Result<bool, StoreError> {
        let put = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(item))
            .expression_attribute_names("#v", version);
        let put = match read {
            None => put.condition_expression("attribute_not_exists(#v)"),
            Some(old) => put
                .condition_expression("#v = :old")
                .expression_attribute_values(":old", n(old)),
        };
        applied(put.send().await, what)
    }

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
        let attribute = |name: &str, kind| {
            AttributeDefinition::builder()
                .attribute_name(name)
                .attribute_type(kind)
                .build()
                .map_err(|e| sdk_error("attribute definition", e))
        };
        // The mention graph's indexes (see `dynamo_mentions`) and the
        // trends' (see `dynamo_history`).
        let index = |name: &str, hash: &str, range: &str, projection| {
            GlobalSecondaryIndex::builder()
                .index_name(name)
                .key_schema(key(hash, KeyType::Hash)?)
                .key_schema(key(range, KeyType::Range)?)
                .projection(Projection::builder().projection_type(projection).build())
                .build()
                .map_err(|e| sdk_error("index", e))
        };
        let created = self
            .client
            .create_table()
            .table_name(&self.table)
            .billing_mode(BillingMode::PayPerRequest)
            .key_schema(key("tag", KeyType::Hash)?)
            .key_schema(key("sk", KeyType::Range)?)
            .attribute_definitions(attribute("tag", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("sk", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("out_user", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("in_user", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("lw", ScalarAttributeType::N)?)
            .attribute_definitions(attribute("trend_day", ScalarAttributeType::S)?)
            .attribute_definitions(attribute("trend_rank", ScalarAttributeType::N)?)
            .global_secondary_indexes(index(OUT_INDEX, "out_user", "lw", ProjectionType::All)?)
            .global_secondary_indexes(index(IN_INDEX, "in_user", "lw", ProjectionType::All)?)
            .global_secondary_indexes(index(
                TRENDING_INDEX,
                "trend_day",
                "trend_rank",
                ProjectionType::KeysOnly,
            )?)
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
        let expires_at = hashtag_core::domain::now_ms() / 1000 + POST_TTL_SECONDS;
        let requests: Vec<WriteRequest> = recent_post_items(tag, expires_at)
            .into_iter()
            .map(|item| {
                let put = PutRequest::builder()
                    .set_item(Some(item))
                    .build()
                    .map_err(|e| sdk_error("put request", e))?;
                Ok(WriteRequest::builder().put_request(put).build())
            })
            .collect::<Result<_, StoreError>>()?;
        self.batch_write(requests, "recent posts").await
    }

    /// Writes `requests` with BatchWriteItem, 25 at a time, resending what
    /// DynamoDB leaves unprocessed (with backoff) until all are written.
    async fn batch_write(&self, requests: Vec<WriteRequest>, what: &str) -> Result<(), StoreError> {
        for chunk in requests.chunks(BATCH_WRITE_MAX) {
            let mut pending = chunk.to_vec();
            for attempt in 0.. {
                let out = self
                    .client
                    .batch_write_item()
                    .request_items(&self.table, pending)
                    .send()
                    .await
                    .map_err(|e| sdk_error(&format!("batch write {what}"), e))?;
                pending = out
                    .unprocessed_items
                    .and_then(|mut u| u.remove(&self.table))
                    .unwrap_or_default();
                if pending.is_empty() {
                    break;
                }
                if attempt == COUNT_ATTEMPTS {
                    return Err(StoreError::Backend(format!("{what} left unprocessed")));
                }
                tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
            }
        }
        Ok(())
    }

    /// The items of up to [`BATCH_GET_MAX`] `keys`, in one BatchGetItem
    /// (and its retries for unprocessed keys); missing items are left out.
    pub(crate) async fn batch_get(
        &self,
        keys: Vec<Item>,
        consistent: bool,
        what: &str,
    ) -> Result<Vec<Item>, StoreError> {
        let mut pending = KeysAndAttributes::builder()
            .set_keys(Some(keys))
            .consistent_read(consistent)
            .build()
            .map_err(|e| sdk_error(what, e))?;
        let mut items = Vec::new();
        for attempt in 0.. {
            let out = self
                .client
                .batch_get_item()
                .request_items(&self.table, pending)
                .send()
                .await
                .map_err(|e| sdk_error(&format!("batch get {what}"), e))?;
            items.extend(
                out.responses
                    .and_then(|mut r| r.remove(&self.table))
                    .unwrap_or_default(),
            );
            match out.unprocessed_keys.and_then(|mut u| u.remove(&self.table)) {
                Some(left) if !left.keys.is_empty() => pending = left,
                _ => break,
            }
            if attempt == COUNT_ATTEMPTS {
                return Err(StoreError::Backend(format!("{what} left unprocessed")));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50 << attempt)).await;
        }
        Ok(items)
    }

    /// The claims of up to [`BATCH_GET_MAX`] posts.
    async fn get_claims(&self, posts: Vec<Id>) -> Result<Vec<PostClaim>, StoreError> {
        let keys = posts
            .iter()
            .map(|id| {
                HashMap::from([
                    ("tag".to_string(), s(format!("{CLAIM_PREFIX}{id}"))),
                    ("sk".to_string(), s(CLAIM_SK)),
                ])
            })
            .collect();
        // Strongly consistent: `reconcile` reads a count, then the claims of
        // its posts, and must see every claim written before the count it
        // read; an eventually consistent read could miss one and have the
        // repair lower a correct count for good.
        let items = self.batch_get(keys, true, "claims").await?;
        Ok(items
            .iter()
            .filter_map(|item| {
                let post = get_s(item, "tag")?
                    .strip_prefix(CLAIM_PREFIX)?
                    .parse()
                    .ok()?;
                Some(PostClaim {
                    post_id: Id(post),
                    source: get_s(item, "source")?.to_string(),
                    offset: get_n(item, "offset")?,
                })
            })
            .collect())
    }

    /// Applies one tag's contribution: its recent posts, then its counter.
    async fn apply_tag(&self, tag: &TagContribution) -> Result<CountOutcome, StoreError> {
        self.put_recent_posts(tag).await?;
        self.add_to_counter(tag).await
    }

    /// Adds a contribution's posts to the tag's counter, counting on each
    /// source only the offsets above its mark. The first attempt assumes
    /// no mark reaches this batch; if one does, the failed condition returns
    /// the item (`ALL_OLD`), and the retry is conditioned on exactly the
    /// marks it saw.
    async fn add_to_counter(&self, tag: &TagContribution) -> Result<CountOutcome, StoreError> {
        // Per source: the mark assumed (`None`: below every offset here).
        let mut assumed: Vec<Option<Option<i64>>> = vec![None; tag.sources.len()];
        for attempt in 0..COUNT_ATTEMPTS {
            let done = |posts_counted| CountOutcome {
                posts_counted,
                conditional_retries: attempt,
            };
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
                let Some(last) = source.next_mark(floor) else {
                    continue;
                };
                added += source.above(floor).count();
                let (name, value) = (format!("#m{i}"), format!(":m{i}"));
                update = update
                    .expression_attribute_names(&name, mark_attribute(&source.source))
                    .expression_attribute_values(&value, n(last));
                sets.push(format!("{name} = {value}"));
                conditions.push(match mark {
                    // Nothing known: any mark below this batch's first offset.
                    None => {
                        let first = n(source.first_offset());
                        update = update.expression_attribute_values(format!(":f{i}"), first);
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
                return Ok(done(0));
            }
            let result = update
                .update_expression(format!(
                    "SET {}, #d = if_not_exists(#d, :d), updated_ms = :now ADD total_posts :n",
                    sets.join(", ")
                ))
                .condition_expression(conditions.join(" AND "))
                .expression_attribute_names("#d", "display")
                .expression_attribute_values(":d", s(&tag.display))
                .expression_attribute_values(":now", n(hashtag_core::domain::now_ms()))
                .expression_attribute_values(":n", n(added))
                .send()
                .await;
            match result {
                Ok(_) => return Ok(done(added)),
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

impl DynamoHashtagStore {
    /// Claims a post for one record: wins if no record claimed it, or this
    /// record did. Returns the post's id if the claim lost.
    async fn claim(&self, claim: &PostClaim, expires_at: i64) -> Result<Option<Id>, StoreError> {
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .set_item(Some(claim_item(claim, expires_at)))
            .condition_expression("attribute_not_exists(#t) OR (#s = :s AND #o = :o)")
            .expression_attribute_names("#t", "tag")
            .expression_attribute_names("#s", "source")
            .expression_attribute_names("#o", "offset")
            .expression_attribute_values(":s", s(&claim.source))
            .expression_attribute_values(":o", n(claim.offset))
            .send()
            .await;
        Ok((!applied(result, "claim post")?).then_some(claim.post_id))
    }

    /// Every item matching `filter` (a whole-table Scan: for the operator
    /// commands, never for a request path).
    pub(crate) async fn scan_where(
        &self,
        filter: &str,
        name: (&str, &str),
        value: (&str, AttributeValue),
    ) -> Result<Vec<HashMap<String, AttributeValue>>, StoreError> {
        self.client
            .scan()
            .table_name(&self.table)
            .filter_expression(filter)
            .expression_attribute_names(name.0, name.1)
            .expression_attribute_values(value.0, value.1)
            .into_paginator()
            .items()
            .send()
            .try_collect()
            .await
            .map_err(|e| sdk_error("scan", e))
    }
}

fn top_post(item: &HashMap<String, AttributeValue>) -> Option<TopPost> {
    Some(TopPost {
        post_id: Id(get_n(item, "post_id")?),
        image_url: get_s(item, "image_url")?.to_string(),
    })
}

#[async_trait]
impl TagPages for DynamoHashtagStore {
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
        let recent_posts: Vec<TopPost> = items
            .iter()
            .filter(|i| get_s(i, "sk").is_some_and(|sk| sk.starts_with(POST_SK_PREFIX)))
            .filter_map(top_post)
            .take(TOP_POSTS)
            .collect();
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
            None => recent_posts.clone(),
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
            recent_posts,
        }))
    }
}

#[async_trait]
impl TagCounter for DynamoHashtagStore {
    async fn apply_counts(&self, batch: &[TagContribution]) -> Result<CountOutcome, StoreError> {
        let updates: Vec<_> = batch.iter().map(|tag| self.apply_tag(tag)).collect();
        stream::iter(updates)
            .buffer_unordered(CONCURRENT_TAGS)
            .try_fold(CountOutcome::default(), |sum, one| async move {
                Ok(CountOutcome {
                    posts_counted: sum.posts_counted + one.posts_counted,
                    conditional_retries: sum.conditional_retries + one.conditional_retries,
                })
            })
            .await
    }

    async fn claim_posts(&self, claims: &[PostClaim]) -> Result<Vec<Id>, StoreError> {
        let expires_at = hashtag_core::domain::now_ms() / 1000 + CLAIM_RETENTION_SECONDS;
        let puts: Vec<_> = claims.iter().map(|c| self.claim(c, expires_at)).collect();
        let lost: Vec<Option<Id>> = stream::iter(puts)
            .buffer_unordered(CONCURRENT_TAGS)
            .try_collect()
            .await?;
        Ok(lost.into_iter().flatten().collect())
    }
}

#[async_trait]
impl DeadLetters for DynamoHashtagStore {
    async fn set_aside(&self, letters: &[DeadLetter]) -> Result<(), StoreError> {
        let requests: Vec<WriteRequest> = letters
            .iter()
            .map(|l| {
                let item = PutRequest::builder()
                    .item("tag", s(format!("{DEAD_LETTER_PREFIX}{}", l.source)))
                    .item("sk", s(format!("{:020}", l.offset)))
                    .item("source", s(&l.source))
                    .item("offset", n(l.offset))
                    .item("reason", s(&l.reason))
                    .item("value", s(&l.value))
                    .item("set_aside_at", s(&l.set_aside_at))
                    .build()
                    .map_err(|e| sdk_error("put request", e))?;
                Ok(WriteRequest::builder().put_request(item).build())
            })
            .collect::<Result<_, StoreError>>()?;
        self.batch_write(requests, "dead letters").await
    }

    async fn dead_letters(&self, limit: usize) -> Result<Vec<DeadLetter>, StoreError> {
        let items = self
            .scan_where(
                "begins_with(#t, :p)",
                ("#t", "tag"),
                (":p", s(DEAD_LETTER_PREFIX)),
            )
            .await?;
        let mut letters: Vec<DeadLetter> = items
            .iter()
            .filter_map(|i| {
                Some(DeadLetter {
                    source: get_s(i, "source")?.to_string(),
                    offset: get_n(i, "offset")?,
                    reason: get_s(i, "reason")?.to_string(),
                    value: get_s(i, "value")?.to_string(),
                    set_aside_at: get_s(i, "set_aside_at")?.to_string(),
                })
            })
            .collect();
        letters.sort_by(|a, b| {
            (&b.set_aside_at, &a.source, b.offset).cmp(&(&a.set_aside_at, &b.source, a.offset))
        });
        letters.truncate(limit);
        Ok(letters)
    }
}

#[async_trait]
impl TagAudit for DynamoHashtagStore {
    async fn tag_counts(&self) -> Result<Vec<TagCount>, StoreError> {
        let items = self
            .scan_where("#k = :k", ("#k", "sk"), (":k", s(COUNT_SK)))
            .await?;
        let mut counts: Vec<TagCount> = items
            .iter()
            .filter_map(|i| {
                Some(TagCount {
                    key: get_s(i, "tag")?.to_string(),
                    display: get_s(i, "display")?.to_string(),
                    total_posts: get_n(i, "total_posts")?,
                    marks: marks_of(i),
                })
            })
            .collect();
        counts.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(counts)
    }

    async fn claims(&self, posts: &[Id]) -> Result<Vec<PostClaim>, StoreError> {
        let chunks: Vec<Vec<Id>> = posts.chunks(BATCH_GET_MAX).map(<[Id]>::to_vec).collect();
        let found: Vec<Vec<PostClaim>> = stream::iter(chunks)
            .map(|chunk| self.get_claims(chunk))
            .buffer_unordered(CONCURRENT_TAGS)
            .try_collect()
            .await?;
        Ok(found.into_iter().flatten().collect())
    }

    async fn repair_count(
        &self,
        key: &str,
        display: &str,
        expected: Option<u64>,
        total: u64,
    ) -> Result<bool, StoreError> {
        let update = self
            .client
            .update_item()
            .table_name(&self.table)
            .key("tag", s(key))
            .key("sk", s(COUNT_SK))
            .update_expression(
                "SET total_posts = :n, #d = if_not_exists(#d, :d), updated_ms = :now",
            )
            .expression_attribute_names("#d", "display")
            .expression_attribute_values(":n", n(total))
            .expression_attribute_values(":d", s(display))
            .expression_attribute_values(":now", n(hashtag_core::domain::now_ms()));
        let update = match expected {
            None => update.condition_expression("attribute_not_exists(total_posts)"),
            Some(old) => update
                .condition_expression("total_posts = :old")
                .expression_attribute_values(":old", n(old)),
        };
        applied(update.send().await, "repair count")
    }
}

#[async_trait]
impl Rankings for DynamoHashtagStore {
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
        let display = tag_display_form(&ranking.tag);
        let result = self
            .client
            .put_item()
            .table_name(&self.table)
            .item("tag", s(tag_key(&ranking.tag)))
            .item("sk", s(RANK_SK))
            .item("display", s(display))
            .item("generated_ms", n(generated))
            .item("posts", AttributeValue::L(posts))
            .item("updated_ms", n(hashtag_core::domain::now_ms()))
            .condition_expression("attribute_not_exists(generated_ms) OR generated_ms < :g")
            .expression_attribute_values(":g", n(generated))
            .send()
            .await;
        applied(result, "put ranking")
    }
}
