//! Publishing to Kafka (MSK on AWS) with `rskafka`, a pure-Rust client: no
//! C library to cross-compile for Lambda. Records are placed by Kafka's
//! default partitioner (murmur2 of the key), so an author's posts stay in
//! order on one partition whichever producer wrote them.

use std::collections::HashMap;
use std::sync::Arc;

use rskafka::client::partition::{Compression, PartitionClient, UnknownTopicHandling};
use rskafka::client::{Client, ClientBuilder};
use rskafka::record::Record;
use tokio::sync::Mutex;

use crate::partition::partition_for;
use crate::ports::StoreError;

fn kafka_error(context: &str, e: rskafka::client::error::Error) -> StoreError {
    StoreError::Backend(format!("kafka {context}: {e}"))
}

/// A Kafka producer, built once per process.
pub struct KafkaPublisher {
    client: Client,
    /// Per topic, one client per partition, in partition order.
    topics: Mutex<HashMap<String, Arc<Vec<PartitionClient>>>>,
}

impl KafkaPublisher {
    /// Connects to the cluster through `bootstrap` (`host:port`, comma-separated).
    pub async fn connect(bootstrap: &str) -> Result<Self, StoreError> {
        let brokers = bootstrap.split(',').map(|b| b.trim().to_string()).collect();
        let client = ClientBuilder::new(brokers)
            .build()
            .await
            .map_err(|e| kafka_error("connect", e))?;
        Ok(KafkaPublisher {
            client,
            topics: Mutex::new(HashMap::new()),
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

    /// Publishes one record; returns its partition and offset.
    pub async fn publish(
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
