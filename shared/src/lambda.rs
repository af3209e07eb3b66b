//! What every Lambda `main.rs` does: build the clients once per container,
//! then hand each request or batch to its handler.
//!
//! The stores come from [`app_from_env`]: the AWS adapters when the
//! environment names the AWS resources (template.yaml sets it; the
//! `AWS_ENDPOINT_URL*` variables point them at a local stack), else the
//! embedded ones under `HASHTAG_DATA_DIR` (default `/tmp/hashtag`).

use std::path::PathBuf;
use std::sync::Arc;

use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_http::{service_fn, Request};
use lambda_runtime::LambdaEvent;

use aws_config::SdkConfig;

use crate::aws::{AuroraPostStore, DataApiTarget, DynamoHashtagStore, KafkaAuth, KafkaPublisher};
use crate::consumer::{handle_post_batch, handle_ranking_batch, BatchReport};
use crate::http::{create_post, read_routes, register, App, DEFAULT_MAX_BODY_BYTES};
use crate::metrics::emf_line;
use crate::ports::HashtagStore;

/// The HTTP functions of the service.
#[derive(Debug, Clone, Copy)]
pub enum HttpFunction {
    /// `POST /users`, `POST /register`.
    Register,
    /// `POST /posts`, `POST /create_post`.
    CreatePost,
    /// The read side: tag pages, post pages, home page, placeholder images.
    Summary,
}

/// The Kafka-triggered functions of the service.
#[derive(Debug, Clone, Copy)]
pub enum KafkaFunction {
    /// Counts posts per tag from the posts topic.
    HashtagConsumer,
    /// Applies rankings from the top-posts topic.
    TopPostsConsumer,
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn required(name: &str) -> Result<String, lambda_runtime::Error> {
    std::env::var(name).map_err(|_| format!("{name} must be set (see template.yaml)").into())
}

fn embedded_from_env() -> Result<crate::embedded::Embedded, lambda_runtime::Error> {
    let dir: PathBuf = env_or("HASHTAG_DATA_DIR", PathBuf::from("/tmp/hashtag"));
    Ok(crate::embedded::open(
        &dir,
        env_or("HASHTAG_PARTITIONS", 4),
    )?)
}

/// Whether the environment names the AWS resources (as template.yaml
/// does); otherwise the functions run on the embedded stores, which is what
/// `cargo lambda watch` uses without a cloud.
pub fn on_aws() -> bool {
    std::env::var_os("HASHTAG_TABLE").is_some()
}

/// Opens the stores and the handlers' [`App`] from the environment: on
/// AWS, DynamoDB (`HASHTAG_TABLE`), Aurora through the Data API
/// (`DB_CLUSTER_ARN`, `DB_SECRET_ARN`, `DB_NAME`) and Kafka
/// (`KAFKA_BOOTSTRAP`, optional: without it events wait in the outbox;
/// `KAFKA_AUTH=msk-iam` for IAM access control; `POSTS_TOPIC`).
pub async fn app_from_env() -> Result<App, lambda_runtime::Error> {
    if !on_aws() {
        let worker_id = env_or("HASHTAG_WORKER_ID", 0);
        let max_body_bytes = env_or("HASHTAG_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES);
        return Ok(embedded_from_env()?.app(worker_id, max_body_bytes)?);
    }
    aws_app(&AwsEnv::load().await?).await
}

/// The database name when `DB_NAME` is not set (the template's).
pub const DEFAULT_DB_NAME: &str = "hashtag";

/// What the AWS adapters share, loaded once per process: the SDK
/// configuration (credentials resolved once) and the Kafka connection.
pub struct AwsEnv {
    /// Region, credentials, endpoints.
    pub config: SdkConfig,
    /// The producer, if `KAFKA_BOOTSTRAP` is set.
    pub kafka: Option<Arc<KafkaPublisher>>,
}

impl AwsEnv {
    /// Loads the configuration and connects to Kafka.
    pub async fn load() -> Result<Self, lambda_runtime::Error> {
        let config = crate::aws::sdk_config().await;
        let kafka = match std::env::var("KAFKA_BOOTSTRAP") {
            Ok(bootstrap) => {
                let auth = KafkaAuth::from_env(&config);
                Some(Arc::new(KafkaPublisher::connect(&bootstrap, auth).await?))
            }
            Err(_) => None,
        };
        Ok(AwsEnv { config, kafka })
    }
}

/// The Aurora post store named by `DB_CLUSTER_ARN`, `DB_SECRET_ARN` and
/// `DB_NAME`, publishing to `POSTS_TOPIC` through the Kafka producer if any.
pub fn aurora_store(env: &AwsEnv) -> Result<AuroraPostStore, lambda_runtime::Error> {
    let target = DataApiTarget {
        resource_arn: required("DB_CLUSTER_ARN")?,
        secret_arn: required("DB_SECRET_ARN")?,
        database: env_or("DB_NAME", DEFAULT_DB_NAME.to_string()),
    };
    let mut posts = AuroraPostStore::new(aws_sdk_rdsdata::Client::new(&env.config), target);
    if let Ok(topic) = std::env::var("POSTS_TOPIC") {
        posts = posts.with_posts_topic(topic);
    }
    if let Some(kafka) = &env.kafka {
        posts = posts.with_publisher(kafka.clone());
    }
    Ok(posts)
}

/// The DynamoDB hashtag store named by `HASHTAG_TABLE`.
pub fn dynamo_store(config: &SdkConfig) -> Result<DynamoHashtagStore, lambda_runtime::Error> {
    Ok(DynamoHashtagStore::new(
        aws_sdk_dynamodb::Client::new(config),
        required("HASHTAG_TABLE")?,
    ))
}

/// The handlers' [`App`] on the AWS adapters.
pub async fn aws_app(env: &AwsEnv) -> Result<App, lambda_runtime::Error> {
    let posts = aurora_store(env)?;
    let worker_id = match std::env::var("HASHTAG_WORKER_ID") {
        Ok(_) => env_or("HASHTAG_WORKER_ID", 0),
        Err(_) => posts.lease_worker_id().await?,
    };
    Ok(App {
        posts: Arc::new(posts),
        hashtags: Arc::new(dynamo_store(&env.config)?),
        ids: Arc::new(crate::ids::IdGenerator::new(worker_id)?),
        max_body_bytes: env_or("HASHTAG_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
    })
}

/// Runs an HTTP function on the Lambda runtime API.
pub async fn run_http(function: HttpFunction) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = Arc::new(app_from_env().await?);
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move {
            Ok::<_, lambda_runtime::Error>(match function {
                HttpFunction::Register => register(&app, req).await,
                HttpFunction::CreatePost => create_post(&app, req).await,
                HttpFunction::Summary => read_routes(&app, req).await,
            })
        }
    }))
    .await
}

impl KafkaFunction {
    /// The function's name, as its metrics' `Consumer` dimension.
    pub fn name(self) -> &'static str {
        match self {
            KafkaFunction::HashtagConsumer => "hashtag-consumer",
            KafkaFunction::TopPostsConsumer => "top-posts-consumer",
        }
    }
}

/// Runs a Kafka-triggered function on the Lambda runtime API. A store error
/// fails the invocation so MSK redelivers the batch; malformed records never
/// do. Each batch prints one embedded-metric-format line (see
/// [`crate::metrics`]).
pub async fn run_kafka(function: KafkaFunction) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let hashtags: Arc<dyn HashtagStore> = match on_aws() {
        true => Arc::new(dynamo_store(&crate::aws::sdk_config().await)?),
        false => embedded_from_env()?.hashtags,
    };
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<KafkaEvent>| {
            let hashtags = hashtags.clone();
            async move {
                let started = std::time::Instant::now();
                let report: BatchReport = match function {
                    KafkaFunction::HashtagConsumer => {
                        handle_post_batch(hashtags.as_ref(), &event.payload).await?
                    }
                    KafkaFunction::TopPostsConsumer => {
                        handle_ranking_batch(hashtags.as_ref(), &event.payload).await?
                    }
                };
                // Straight to stdout: CloudWatch reads EMF from the raw line.
                println!("{}", emf_line(function.name(), &report, started.elapsed()));
                tracing::info!(?report, "batch done");
                Ok::<_, lambda_runtime::Error>(report)
            }
        },
    ))
    .await
}

/// How old an outbox event must be before the relay publishes it: younger
/// ones are still being published by the request that stored them.
pub const RELAY_MIN_AGE_SECONDS: i64 = 10;

/// Runs the outbox relay on the Lambda runtime API: each (scheduled)
/// invocation publishes the post events left in the Aurora outbox.
pub async fn run_relay() -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let env = AwsEnv::load().await?;
    let kafka = env.kafka.clone().ok_or("KAFKA_BOOTSTRAP must be set")?;
    let posts = aurora_store(&env)?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_: LambdaEvent<serde_json::Value>| {
            let (posts, kafka) = (posts.clone(), kafka.clone());
            async move {
                let published = posts.relay(&kafka, RELAY_MIN_AGE_SECONDS).await?;
                let waiting = posts.outbox_backlog().await?;
                tracing::info!(published, waiting, "outbox relayed");
                Ok::<_, lambda_runtime::Error>(
                    serde_json::json!({ "published": published, "waiting": waiting }),
                )
            }
        },
    ))
    .await
}
