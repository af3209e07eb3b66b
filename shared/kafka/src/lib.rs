//! Publishing to Kafka (MSK on AWS) with `rskafka`, a pure-Rust client: no
//! C library to cross-compile for Lambda. Records are placed by Kafka's
//! default partitioner (murmur2 of the key), so an author's posts stay in
//! order on one partition whichever producer wrote them. On MSK with IAM
//! access control the client speaks TLS and SASL/OAUTHBEARER with a token
//! signed by the function's own credentials.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use futures_util::FutureExt;
use rskafka::client::partition::{Compression, OffsetAt, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder, OauthBearerCredentials, SaslConfig};
use rskafka::record::Record;
use rskafka::BackoffConfig;
use tokio::sync::Mutex;

use hashtag_core::partition::partition_for;
use hashtag_core::ports::{EventPublisher, RecordSource, StoreError};
use hashtag_core::record::LogRecord;

fn kafka_error(context: &str, e: rskafka::client::error::Error) -> StoreError {
    StoreError::Backend(format!("kafka {context}: {e}"))
}

/// How the producer reaches the brokers.
pub enum KafkaAuth {
    /// Plaintext without authentication: local brokers, MSK plaintext listeners.
    Plaintext,
    /// MSK IAM access control (port 9098): TLS, and SASL/OAUTHBEARER with a
    /// token signed by these credentials for this region.
    MskIam(Box<SdkConfig>),
}

/// Connects a producer to `KAFKA_BOOTSTRAP` (`KAFKA_AUTH=msk-iam` for IAM
/// access control, with `config`'s credentials). Without the variable,
/// `None`: post events then wait in the outbox. Only the binaries that
/// publish (create-post, the relay, `hashtag`) depend on this crate, so only
/// they link the Kafka client.
pub async fn connect_from_env(
    config: &SdkConfig,
) -> Result<Option<Arc<KafkaPublisher>>, StoreError> {
    let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") else {
        return Ok(None);
    };
    let auth = KafkaAuth::from_env(config);
    Ok(Some(Arc::new(
        KafkaPublisher::connect(&bootstrap, auth).await?,
    )))
}

impl KafkaAuth {
    /// `KAFKA_AUTH=msk-iam` selects IAM with `config`'s credentials;
    /// anything else, or no variable, plaintext.
    pub fn from_env(config: &SdkConfig) -> Self {
        match std::env::var("KAFKA_AUTH").as_deref() {
            Ok("msk-iam") => KafkaAuth::MskIam(Box::new(config.clone())),
            _ => KafkaAuth::Plaintext,
        }
    }
}

/// TLS with the system's root certificates.
fn tls_config() -> Result<Arc<rustls::ClientConfig>, StoreError> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in rustls_native_certs::load_native_certs().certs {
        let _ = roots.add(cert); // skip a certificate the system has but rustls rejects
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| StoreError::Backend(format!("tls: {e}")))?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(Arc::new(config))
}

/// An MSK IAM token, as AWS's `aws-msk-iam-sasl-signer` libraries make it:
/// a `kafka-cluster:Connect` URL for the region's `kafka` endpoint,
/// presigned with SigV4 in its query for 15 minutes, then a `User-Agent`
/// parameter, the whole base64url without padding. Signed here with
/// `aws-sigv4` (already under the SDK): the signer crate's own dependency
/// on aws-config's default HTTPS client would link a second TLS library.
async fn msk_iam_token(config: &SdkConfig) -> Result<String, StoreError> {
    use aws_credential_types::provider::ProvideCredentials;
    use aws_sigv4::http_request::{
        sign, SignableBody, SignableRequest, SignatureLocation, SigningSettings,
    };
    use base64::Engine;
    use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
    /// RFC 3986's unreserved characters stay; everything else is encoded.
    const QUERY: &AsciiSet = &NON_ALPHANUMERIC
        .remove(b'-')
        .remove(b'.')
        .remove(b'_')
        .remove(b'~');
    let fail = |what: &str, e: &dyn std::fmt::Display| {
        StoreError::Backend(format!("signing the MSK IAM token: {what}: {e}"))
    };
    let region = config
        .region()
        .ok_or_else(|| StoreError::Backend("MSK IAM needs AWS_REGION".into()))?;
    let identity = config
        .credentials_provider()
        .ok_or_else(|| StoreError::Backend("MSK IAM needs AWS credentials".into()))?
        .provide_credentials()
        .await
        .map_err(|e| fail("credentials", &e))?
        .into();
    let mut settings = SigningSettings::default();
    settings.signature_location = SignatureLocation::QueryParams;
    settings.expires_in = Some(Duration::from_secs(900));
    let params = aws_sigv4::sign::v4::SigningParams::builder()
        .identity(&identity)
        .region(region.as_ref())
        .name("kafka-cluster")
        .time(std::time::SystemTime::now())
        .settings(settings)
        .build()
        .map_err(|e| fail("parameters", &e))?;
    let mut url = format!("https://kafka.{region}.amazonaws.com/?Action=kafka-cluster%3AConnect");
    let request = SignableRequest::new("GET", &url, std::iter::empty(), SignableBody::Bytes(&[]))
        .map_err(|e| fail("request", &e))?;
    let (instructions, _) = sign(request, &params.into())
        .map_err(|e| fail("signature", &e))?
        .into_parts();
    for (name, value) in instructions.params() {
        url.push_str(&format!("&{name}={}", utf8_percent_encode(value, QUERY)));
    }
    url.push_str(concat!(
        "&User-Agent=hashtag-service-rs%2F",
        env!("CARGO_PKG_VERSION")
    ));
    Ok(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(url))
}

/// How long a Kafka call retries an unreachable broker before failing.
/// rskafka's default is forever, which would hang a request while Kafka is
/// down; failing lets create-post answer (its event waits in the outbox)
/// and the relay and pollers try again later.
const RETRY_DEADLINE: Duration = Duration::from_secs(2);
/// Longest wait for one publication, whatever rskafka is waiting on.
const PUBLISH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long publications fail at once after one failed.
const PAUSE_AFTER_FAILURE: Duration = Duration::from_secs(5);

/// A Kafka producer, built once per process.
pub struct KafkaPublisher {
    client: Client,
    /// Per topic, one client per partition, in partition order.
    topics: Mutex<HashMap<String, Arc<Vec<PartitionClient>>>>,
    /// Set after a failed publication (see [`KafkaPublisher::publish`]).
    paused_until: Mutex<Option<Instant>>,
}

impl KafkaPublisher {
    /// Connects to the cluster through `bootstrap` (`host:port`, comma-separated).
    pub async fn connect(bootstrap: &str, auth: KafkaAuth) -> Result<Self, StoreError> {
        let brokers = bootstrap.split(',').map(|b| b.trim().to_string()).collect();
        let mut builder = ClientBuilder::new(brokers);
        if let KafkaAuth::MskIam(config) = auth {
            let config: Arc<SdkConfig> = Arc::from(config);
            let callback = move || {
                let config = config.clone();
                async move { msk_iam_token(&config).await.map_err(|e| e.into()) }.boxed()
            };
            builder = builder
                .tls_config(tls_config()?)
                .sasl_config(SaslConfig::Oauthbearer(OauthBearerCredentials {
                    callback: Arc::new(callback),
                    authz_id: None,
                    bearer_kvs: Vec::new(),
                }));
        }
        let client = builder
            .backoff_config(BackoffConfig {
                deadline: Some(RETRY_DEADLINE),
                ..BackoffConfig::default()
            })
            .build()
            .await
            .map_err(|e| kafka_error("connect", e))?;
        Ok(KafkaPublisher {
            client,
            topics: Mutex::new(HashMap::new()),
            paused_until: Mutex::new(None),
        })
    }

    /// Creates `topic` unless it exists. For local stacks and tests; on MSK
    /// the topics belong to the cluster's operators.
    pub async fn ensure_topic(&self, topic: &str, partitions: i32) -> Result<(), StoreError> {
        let topics = self
            .client
            .list_topics()
            .await
            .map_err(|e| kafka_error("list topics", e))?;
        if topics.iter().any(|t| t.name == topic) {
            return Ok(());
        }
        let controller = self
            .client
            .controller_client()
            .map_err(|e| kafka_error("controller", e))?;
        controller
            .create_topic(topic, partitions, 1, 5_000)
            .await
            .map_err(|e| kafka_error("create topic", e))
    }

    /// One client per partition of `topic`, in partition order (cached).
    async fn partitions(&self, topic: &str) -> Result<Arc<Vec<PartitionClient>>, StoreError> {
        let mut topics = self.topics.lock().await;
        if let Some(clients) = topics.get(topic) {
            return Ok(clients.clone());
        }
        let listed = self
            .client
            .list_topics()
            .await
            .map_err(|e| kafka_error("list topics", e))?;
        let count = listed
            .iter()
            .find(|t| t.name == topic)
            .map(|t| t.partitions.len())
            .ok_or_else(|| StoreError::Backend(format!("kafka topic {topic} does not exist")))?;
        let mut clients = Vec::with_capacity(count);
        for partition in 0..count as i32 {
            let client = self
                .client
                .partition_client(topic, partition, UnknownTopicHandling::Error)
                .await
                .map_err(|e| kafka_error("partition client", e))?;
            clients.push(client);
        }
        let clients = Arc::new(clients);
        topics.insert(topic.to_string(), clients.clone());
        Ok(clients)
    }

    /// Publishes one record; returns its partition and offset. After a
    /// failure, publications fail at once for [`PAUSE_AFTER_FAILURE`]: while
    /// Kafka is down, requests answer without waiting on it and their
    /// events wait in the outbox.
    pub async fn publish(
        &self,
        topic: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(u32, i64), StoreError> {
        let paused_until = *self.paused_until.lock().await;
        if paused_until.is_some_and(|t| Instant::now() < t) {
            return Err(StoreError::Backend(
                "kafka unavailable: publications paused after a failure".into(),
            ));
        }
        // rskafka's deadline bounds its retries, not every wait inside them.
        let published = tokio::time::timeout(PUBLISH_TIMEOUT, self.produce(topic, key, value))
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("kafka publication timed out".into())));
        if published.is_err() {
            *self.paused_until.lock().await = Some(Instant::now() + PAUSE_AFTER_FAILURE);
        }
        published
    }

    async fn produce(
        &self,
        topic: &str,
        key: &[u8],
        value: &[u8],
    ) -> Result<(u32, i64), StoreError> {
        let partitions = self.partitions(topic).await?;
        let partition = partition_for(key, partitions.len() as u32);
        let record = Record {
            key: Some(key.to_vec()),
            value: Some(value.to_vec()),
            headers: Default::default(),
            timestamp: chrono::Utc::now(),
        };
        let offsets = partitions[partition as usize]
            .produce(vec![record], Compression::NoCompression)
            .await
            .map_err(|e| kafka_error("produce", e))?;
        let offset = offsets
            .first()
            .copied()
            .ok_or_else(|| StoreError::Backend("kafka returned no offset".into()))?;
        Ok((partition, offset))
    }
}

#[async_trait::async_trait]
impl EventPublisher for KafkaPublisher {
    async fn publish(&self, topic: &str, key: &[u8], value: &[u8]) -> Result<(), StoreError> {
        KafkaPublisher::publish(self, topic, key, value)
            .await
            .map(|_| ())
    }

    /// Sixteen records in flight at a time.
    async fn publish_batch(
        &self,
        topic: &str,
        records: &[(Vec<u8>, Vec<u8>)],
    ) -> Result<(), StoreError> {
        use futures_util::{StreamExt, TryStreamExt};
        let sends: Vec<_> = records
            .iter()
            .map(|(key, value)| KafkaPublisher::publish(self, topic, key, value))
            .collect();
        futures_util::stream::iter(sends)
            .buffer_unordered(16)
            .try_for_each(|_| async { Ok(()) })
            .await
    }

    /// A metadata request answered within the backlog's timeout.
    async fn connected(&self) -> Result<(), StoreError> {
        match tokio::time::timeout(BACKLOG_TIMEOUT, self.client.list_topics()).await {
            Ok(Ok(_)) => Ok(()),
            Ok(Err(e)) => Err(kafka_error("list topics", e)),
            Err(_) => Err(StoreError::Backend(format!(
                "the broker did not answer within {BACKLOG_TIMEOUT:?}"
            ))),
        }
    }
}

/// Kafka as the single-machine server's record source, so `hashtag serve`
/// can count from a broker as the Lambda consumer does on AWS. Offsets are
/// kept in memory and start at the earliest record: after a restart the
/// topic is read again, which the idempotent stores make harmless (counter
/// marks per partition, rankings conditioned on their time).
pub struct KafkaSource {
    kafka: Arc<KafkaPublisher>,
    /// Next offset per (topic, partition).
    positions: Mutex<HashMap<(String, i32), i64>>,
}

/// Most bytes asked of one partition per fetch (MSK's batch payload cap).
const FETCH_MAX_BYTES: i32 = 6 * 1024 * 1024;
/// How often an idle source asks the broker again.
const KAFKA_IDLE_POLL: std::time::Duration = std::time::Duration::from_millis(200);

/// Longest wait for the broker's offsets when reading the lag.
const BACKLOG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(2);

impl KafkaSource {
    /// A source on the cluster `kafka` is connected to.
    pub fn new(kafka: Arc<KafkaPublisher>) -> Self {
        KafkaSource {
            kafka,
            positions: Mutex::new(HashMap::new()),
        }
    }

    /// The next offset to read in a partition: the position reached, or
    /// the partition's earliest record before the first read.
    async fn position(
        &self,
        key: &(String, i32),
        client: &PartitionClient,
    ) -> Result<i64, StoreError> {
        let known = self.positions.lock().await.get(key).copied();
        match known {
            Some(from) => Ok(from),
            None => client
                .get_offset(OffsetAt::Earliest)
                .await
                .map_err(|e| kafka_error("earliest offset", e)),
        }
    }
}

#[async_trait::async_trait]
impl RecordSource for KafkaSource {
    async fn fetch(
        &self,
        _group: &str,
        topic: &str,
        max: usize,
    ) -> Result<Vec<LogRecord>, StoreError> {
        let partitions = self.kafka.partitions(topic).await?;
        let mut out = Vec::new();
        for (p, client) in partitions.iter().enumerate() {
            if out.len() >= max {
                break;
            }
            let key = (topic.to_string(), p as i32);
            let from = self.position(&key, client).await?;
            let (records, _high_watermark) = client
                .fetch_records(from, 1..FETCH_MAX_BYTES, 0)
                .await
                .map_err(|e| kafka_error("fetch", e))?;
            let wanted = max - out.len();
            out.extend(
                records
                    .into_iter()
                    .filter(|r| r.offset >= from)
                    .take(wanted)
                    .map(|r| LogRecord {
                        partition: p as u32,
                        offset: r.offset,
                        key: r.record.key,
                        value: r.record.value.unwrap_or_default(),
                        timestamp_ms: r.record.timestamp.timestamp_millis(),
                    }),
            );
            self.positions.lock().await.entry(key).or_insert(from);
        }
        Ok(out)
    }

    async fn commit(
        &self,
        _group: &str,
        topic: &str,
        records: &[LogRecord],
    ) -> Result<(), StoreError> {
        let mut positions = self.positions.lock().await;
        for r in records {
            let next = positions
                .entry((topic.to_string(), r.partition as i32))
                .or_insert(0);
            *next = (*next).max(r.offset + 1);
        }
        Ok(())
    }

    async fn wait_for_records(&self) {
        tokio::time::sleep(KAFKA_IDLE_POLL).await;
    }

    /// The records after this source's positions (the group is this
    /// process: positions are kept in memory, so after a restart the whole
    /// topic counts until it has been read again). Bounded in time, so a
    /// broker that does not answer does not hold `GET /metrics`.
    async fn backlog(&self, _group: &str, topic: &str) -> Result<u64, StoreError> {
        let count = async {
            let partitions = self.kafka.partitions(topic).await?;
            let mut total = 0;
            for (p, client) in partitions.iter().enumerate() {
                let end = client
                    .get_offset(OffsetAt::Latest)
                    .await
                    .map_err(|e| kafka_error("latest offset", e))?;
                let from = self
                    .position(&(topic.to_string(), p as i32), client)
                    .await?;
                total += (end - from).max(0) as u64;
            }
            Ok(total)
        };
        tokio::time::timeout(BACKLOG_TIMEOUT, count)
            .await
            .unwrap_or_else(|_| Err(StoreError::Backend("kafka lag read timed out".into())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_config::BehaviorVersion;
    use aws_config::Region;
    use aws_credential_types::provider::SharedCredentialsProvider;
    use aws_credential_types::Credentials;
    use base64::Engine;

    #[tokio::test]
    async fn msk_iam_tokens_are_presigned_connect_urls() {
        let config = SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("eu-west-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "AKIDEXAMPLE",
                "secret",
                None,
                None,
                "test",
            )))
            .build();
        let token = msk_iam_token(&config).await.unwrap();
        let url = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&token)
            .unwrap();
        let url = String::from_utf8(url).unwrap();
        assert!(
            url.starts_with("https://kafka.eu-west-1.amazonaws.com/?"),
            "{url}"
        );
        assert!(url.contains("Action=kafka-cluster%3AConnect"), "{url}");
        assert!(url.contains("X-Amz-Credential=AKIDEXAMPLE"), "{url}");
        assert!(url.contains("X-Amz-Signature="), "{url}");
        assert!(url.contains("X-Amz-Expires=900"), "{url}");
        assert!(url.contains("X-Amz-SignedHeaders=host"), "{url}");
        assert!(
            url.contains("%2Feu-west-1%2Fkafka-cluster%2Faws4_request"),
            "{url}"
        );
        let plain = SdkConfig::builder().build();
        assert!(
            msk_iam_token(&plain).await.is_err(),
            "no region: a clear error"
        );
    }
}
