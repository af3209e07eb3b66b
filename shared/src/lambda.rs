//! What every Lambda `main.rs` does: build the clients once per container,
//! then hand each request or batch to its handler.
//!
//! The functions run on the AWS adapters that the environment names
//! (template.yaml sets it; the `AWS_ENDPOINT_URL*` variables point them at
//! a local stack such as `scripts/local-aws`). Each `main.rs` names its
//! function as a type, so its bootstrap links only that function's handler
//! and the clients it reaches: the read side has no Kafka producer and no
//! binary has the embedded SQLite stores, which `hashtag serve` runs on.

use std::future::Future;
use std::sync::Arc;

use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_http::{service_fn, Body, Request, Response};
use lambda_runtime::LambdaEvent;

use aws_config::SdkConfig;

use crate::aws::{AuroraPostStore, DataApiTarget, DynamoHashtagStore, KafkaAuth, KafkaPublisher};
use crate::consumer::{handle_post_batch, handle_ranking_batch, BatchReport};
use crate::http::{App, DEFAULT_MAX_BODY_BYTES};
use crate::metrics::emf_line;
use crate::ports::{EventPublisher, HashtagStore, StoreError};

/// An HTTP function of the service: what it connects to at start-up and
/// its handler.
pub trait HttpFunction {
    /// Connects what the handler needs besides the stores: the Kafka
    /// producer for the function that publishes post events, nothing for
    /// the others. A method of its own rather than a flag, so that the
    /// others' bootstraps do not contain the Kafka client at all.
    fn connect(env: &mut AwsEnv) -> impl Future<Output = Result<(), lambda_runtime::Error>> + Send {
        let _ = env;
        async { Ok(()) }
    }
    /// The hashtag store, for the function that reads tags; the others
    /// have none, so their bootstraps do not contain the DynamoDB client.
    fn hashtags(
        config: &SdkConfig,
    ) -> Result<Option<Arc<dyn HashtagStore>>, lambda_runtime::Error> {
        let _ = config;
        Ok(None)
    }
    /// Answers one request.
    fn handle(app: &App, req: Request) -> impl Future<Output = Response<Body>> + Send;
}

/// `POST /users`, `POST /register`.
pub struct Register;

impl HttpFunction for Register {
    async fn handle(app: &App, req: Request) -> Response<Body> {
        crate::http::register(app, req).await
    }
}

/// `POST /posts`, `POST /create_post`.
pub struct CreatePost;

impl HttpFunction for CreatePost {
    async fn connect(env: &mut AwsEnv) -> Result<(), lambda_runtime::Error> {
        env.connect_kafka().await.map(|_| ())
    }
    async fn handle(app: &App, req: Request) -> Response<Body> {
        crate::http::create_post(app, req).await
    }
}

/// The read side: tag pages, post pages, home page, placeholder images.
pub struct Summary;

impl HttpFunction for Summary {
    fn hashtags(
        config: &SdkConfig,
    ) -> Result<Option<Arc<dyn HashtagStore>>, lambda_runtime::Error> {
        Ok(Some(Arc::new(dynamo_store(config)?)))
    }
    async fn handle(app: &App, req: Request) -> Response<Body> {
        crate::http::read_routes(app, req).await
    }
}

/// A Kafka-triggered function of the service.
pub trait KafkaFunction {
    /// The function's name, as its metrics' `Consumer` dimension.
    const NAME: &'static str;
    /// Applies one batch to the hashtag store.
    fn handle(
        store: &dyn HashtagStore,
        event: &KafkaEvent,
    ) -> impl Future<Output = Result<BatchReport, StoreError>> + Send;
}

/// Counts posts per tag from the posts topic.
pub struct HashtagConsumer;

impl KafkaFunction for HashtagConsumer {
    const NAME: &'static str = "hashtag-consumer";
    async fn handle(
        store: &dyn HashtagStore,
        event: &KafkaEvent,
    ) -> Result<BatchReport, StoreError> {
        handle_post_batch(store, event).await
    }
}

/// Applies rankings from the top-posts topic.
pub struct TopPostsConsumer;

impl KafkaFunction for TopPostsConsumer {
    const NAME: &'static str = "top-posts-consumer";
    async fn handle(
        store: &dyn HashtagStore,
        event: &KafkaEvent,
    ) -> Result<BatchReport, StoreError> {
        handle_ranking_batch(store, event).await
    }
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

/// Whether the environment names the AWS resources (as template.yaml
/// does): `hashtag` commands then use the AWS adapters, else the embedded
/// stores.
pub fn on_aws() -> bool {
    std::env::var_os("HASHTAG_TABLE").is_some()
}

/// The database name when `DB_NAME` is not set (the template's).
pub const DEFAULT_DB_NAME: &str = "hashtag";

/// What the AWS adapters share, loaded once per process: the SDK
/// configuration (credentials resolved once) and, for the functions that
/// publish, where post events go.
pub struct AwsEnv {
    /// Region, credentials, endpoints.
    pub config: SdkConfig,
    /// Set by [`AwsEnv::connect_kafka`] when `KAFKA_BOOTSTRAP` is set.
    pub publisher: Option<Arc<dyn EventPublisher>>,
}

impl AwsEnv {
    /// Loads the configuration.
    pub async fn load() -> Self {
        AwsEnv {
            config: crate::aws::sdk_config().await,
            publisher: None,
        }
    }

    /// Connects a producer to `KAFKA_BOOTSTRAP` (`KAFKA_AUTH=msk-iam` for
    /// IAM access control) and publishes post events through it; returns
    /// it for the relay and the record source. Without the variable, `None`
    /// and events wait in the outbox. Only the functions that publish call
    /// this, so only they link the Kafka client.
    pub async fn connect_kafka(
        &mut self,
    ) -> Result<Option<Arc<KafkaPublisher>>, lambda_runtime::Error> {
        let Ok(bootstrap) = std::env::var("KAFKA_BOOTSTRAP") else {
            return Ok(None);
        };
        let auth = KafkaAuth::from_env(&self.config);
        let kafka = Arc::new(KafkaPublisher::connect(&bootstrap, auth).await?);
        self.publisher = Some(kafka.clone());
        Ok(Some(kafka))
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
    if let Some(publisher) = &env.publisher {
        posts = posts.with_publisher(publisher.clone());
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

/// The handlers' [`App`] on the AWS adapters, with `hashtags` as its
/// hashtag store.
pub async fn aws_app(
    env: &AwsEnv,
    hashtags: Option<Arc<dyn HashtagStore>>,
) -> Result<App, lambda_runtime::Error> {
    let posts = aurora_store(env)?;
    let worker_id = match std::env::var("HASHTAG_WORKER_ID") {
        Ok(_) => env_or("HASHTAG_WORKER_ID", 0),
        Err(_) => posts.lease_worker_id().await?,
    };
    Ok(App {
        posts: Arc::new(posts),
        hashtags,
        ids: Arc::new(crate::ids::IdGenerator::new(worker_id)?),
        max_body_bytes: env_or("HASHTAG_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
    })
}

/// Runs the HTTP function `F` on the Lambda runtime API, on the stores
/// the environment names (see [`aws_app`]).
pub async fn run_http<F: HttpFunction>() -> Result<(), lambda_runtime::Error> {
    crate::logging::init_lambda();
    let mut env = AwsEnv::load().await;
    F::connect(&mut env).await?;
    let hashtags = F::hashtags(&env.config)?;
    let app = Arc::new(aws_app(&env, hashtags).await?);
    lambda_http::run(service_fn(move |req: Request| {
        let app = app.clone();
        async move { Ok::<_, lambda_runtime::Error>(F::handle(&app, req).await) }
    }))
    .await
}

/// Runs the Kafka-triggered function `F` on the Lambda runtime API. A store
/// error fails the invocation so MSK redelivers the batch; malformed
/// records never do. Each batch prints one embedded-metric-format line
/// (see [`crate::metrics`]).
pub async fn run_kafka<F: KafkaFunction>() -> Result<(), lambda_runtime::Error> {
    crate::logging::init_lambda();
    let hashtags = Arc::new(dynamo_store(&AwsEnv::load().await.config)?);
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<KafkaEvent>| {
            let hashtags = hashtags.clone();
            async move {
                let started = std::time::Instant::now();
                let report = F::handle(hashtags.as_ref(), &event.payload).await?;
                // Straight to stdout: CloudWatch reads EMF from the raw line.
                println!("{}", emf_line(F::NAME, &report, started.elapsed()));
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
    crate::logging::init_lambda();
    let mut env = AwsEnv::load().await;
    let kafka = env
        .connect_kafka()
        .await?
        .ok_or("KAFKA_BOOTSTRAP must be set")?;
    let posts = aurora_store(&env)?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_: LambdaEvent<serde_json::Value>| {
            let (posts, kafka) = (posts.clone(), kafka.clone());
            async move {
                let published = posts.relay(kafka.as_ref(), RELAY_MIN_AGE_SECONDS).await?;
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
