//! The Lambda edge: what every function's `main.rs` does. It builds the
//! clients once per container, then hands each request or batch to its
//! handler, converting `lambda_http`'s and MSK's types to the plain ones the
//! handlers take.
//!
//! The functions run on the AWS adapters that the environment names
//! (template.yaml sets it; the `AWS_ENDPOINT_URL*` variables point them at
//! a local stack such as `scripts/local-aws`). This crate links no Kafka
//! client: the two functions that publish (create-post, the relay) connect
//! their producer with `hashtag-kafka` and pass it in.

pub mod logging;
pub mod msk;

use std::future::Future;
use std::sync::Arc;

use aws_config::SdkConfig;
use aws_lambda_events::event::kafka::KafkaEvent;
use bytes::Bytes;
use http::{Request, Response};
use lambda_http::{service_fn, Body};
use lambda_runtime::LambdaEvent;

use hashtag_aws::env::{aurora_store, dynamo_store, env_or, worker_id};
use hashtag_core::consumer::{
    handle_mention_batch, handle_post_batch, handle_ranking_batch, handle_reaction_batch,
    BatchReport,
};
use hashtag_core::mentions::Decay;
use hashtag_core::metrics::emf_line;
use hashtag_core::ports::{
    EventPublisher, HashtagStore, MentionGraph, PostStore, ReadModels, StoreError,
};
use hashtag_core::record::Batch;
use hashtag_core::usecases::{relay_outbox, PublishingPosts, RELAY_MIN_AGE_SECONDS};
use hashtag_core::windows::Windowing;
use hashtag_http::auth::{Auth, ClientAddr, GatewayClaims};
use hashtag_http::{
    route_function, App, Function, DEFAULT_MAX_BODY_BYTES, DEFAULT_WRITES_PER_MINUTE,
};
use lambda_http::request::RequestContext;
use lambda_http::RequestExt;

pub use hashtag_aws::sdk_config;

/// An HTTP function of the service: which routes of the table it serves
/// and what it reads.
pub trait HttpFunction {
    /// Its routes in [`hashtag_http::ROUTES`].
    const FUNCTION: Function;
    /// The hashtag store, for the function that reads tags; the others
    /// have none, so their bootstraps do not contain the DynamoDB client.
    fn hashtags(config: &SdkConfig) -> Result<Option<Arc<dyn ReadModels>>, StoreError> {
        let _ = config;
        Ok(None)
    }
    /// The mention graph, for the function that imports mentions.
    fn graph(config: &SdkConfig) -> Result<Option<Arc<dyn MentionGraph>>, StoreError> {
        let _ = config;
        Ok(None)
    }
}

/// `POST /users`, `POST /register`.
pub struct Register;

impl HttpFunction for Register {
    const FUNCTION: Function = Function::Register;
}

/// `POST /posts`, `POST /create_post`.
pub struct CreatePost;

impl HttpFunction for CreatePost {
    const FUNCTION: Function = Function::CreatePost;
}

/// `POST /mentions/import`, `POST /upload_csv`: CSV imports into the graph.
pub struct ImportMentions;

impl HttpFunction for ImportMentions {
    const FUNCTION: Function = Function::ImportMentions;
    fn graph(config: &SdkConfig) -> Result<Option<Arc<dyn MentionGraph>>, StoreError> {
        Ok(Some(Arc::new(dynamo_store(config)?)))
    }
}

/// The read side: tag pages, post pages, home page, placeholder images.
pub struct Summary;

impl HttpFunction for Summary {
    const FUNCTION: Function = Function::Summary;
    fn hashtags(config: &SdkConfig) -> Result<Option<Arc<dyn ReadModels>>, StoreError> {
        Ok(Some(Arc::new(dynamo_store(config)?)))
    }
}

/// A Kafka-triggered function of the service.
pub trait KafkaFunction {
    /// The function's name, as its metrics' `Consumer` dimension.
    const NAME: &'static str;
    /// Applies one batch to the hashtag store, with what else the
    /// function writes through ([`Outputs`]).
    fn handle(
        store: &dyn HashtagStore,
        outputs: &Outputs,
        batch: &Batch,
    ) -> impl Future<Output = Result<BatchReport, StoreError>> + Send;
}

/// Counts posts per tag from the posts topic.
pub struct HashtagConsumer;

impl KafkaFunction for HashtagConsumer {
    const NAME: &'static str = "hashtag-consumer";
    async fn handle(
        store: &dyn HashtagStore,
        _: &Outputs,
        batch: &Batch,
    ) -> Result<BatchReport, StoreError> {
        handle_post_batch(store, batch).await
    }
}

/// Builds the mention graph from the posts topic (its own consumer group).
pub struct MentionConsumer;

impl KafkaFunction for MentionConsumer {
    const NAME: &'static str = "mention-consumer";
    async fn handle(
        store: &dyn HashtagStore,
        _: &Outputs,
        batch: &Batch,
    ) -> Result<BatchReport, StoreError> {
        handle_mention_batch(store, batch, Decay::configured()).await
    }
}

/// Counts reactions per post from the reactions topic, and publishes the
/// rankings of their tags on the top-posts topic.
pub struct ReactionConsumer;

impl KafkaFunction for ReactionConsumer {
    const NAME: &'static str = "reaction-consumer";
    async fn handle(
        store: &dyn HashtagStore,
        outputs: &Outputs,
        batch: &Batch,
    ) -> Result<BatchReport, StoreError> {
        let ranker = outputs.publisher.as_deref();
        handle_reaction_batch(store, batch, &outputs.windowing, ranker).await
    }
}

/// What a Kafka-triggered function writes through besides its store, set
/// up once per container.
pub struct Outputs {
    /// Where the reaction consumer's ranker publishes; `None` for the
    /// functions that publish nothing.
    pub publisher: Option<Arc<dyn EventPublisher>>,
    /// The reaction windows' width and grace (`REACTION_WINDOW_SECONDS`,
    /// `REACTION_GRACE_SECONDS`).
    pub windowing: Windowing,
}

/// Applies rankings from the top-posts topic.
pub struct TopPostsConsumer;

impl KafkaFunction for TopPostsConsumer {
    const NAME: &'static str = "top-posts-consumer";
    async fn handle(
        store: &dyn HashtagStore,
        _: &Outputs,
        batch: &Batch,
    ) -> Result<BatchReport, StoreError> {
        handle_ranking_batch(store, batch).await
    }
}

/// The handlers' [`App`] on the AWS adapters: the Aurora post store
/// (publishing through `publisher` if any), `hashtags` and `graph`,
/// identifying writers by `auth` (the gateway's claims in the functions,
/// Cognito tokens verified in-process in a server with no gateway).
pub async fn aws_app(
    config: &SdkConfig,
    publisher: Option<Arc<dyn EventPublisher>>,
    hashtags: Option<Arc<dyn ReadModels>>,
    graph: Option<Arc<dyn MentionGraph>>,
    auth: Auth,
) -> Result<App, lambda_runtime::Error> {
    let aurora = Arc::new(aurora_store(config)?);
    let worker_id = worker_id(&aurora).await?;
    let posts: Arc<dyn PostStore> = match &publisher {
        Some(publisher) => Arc::new(PublishingPosts::new(aurora.clone(), publisher.clone())),
        None => aurora.clone(),
    };
    let max_body = env_or("HASHTAG_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES);
    let app = App::new(posts, hashtags, worker_id, max_body, auth)?
        .with_write_limit(env_or(
            "HASHTAG_WRITES_PER_MINUTE",
            DEFAULT_WRITES_PER_MINUTE,
        ))
        .with_admins(&std::env::var("HASHTAG_ADMINS").unwrap_or_default());
    let app = match publisher {
        Some(publisher) => app.with_stream(publisher, Some(aurora)),
        None => app,
    };
    Ok(match graph {
        Some(graph) => app.with_graph(graph),
        None => app,
    })
}

/// `lambda_http`'s request as the handlers take it, with what API Gateway
/// verified (the JWT authorizer's claims) and saw (the client's address).
fn from_lambda(req: lambda_http::Request) -> Request<Bytes> {
    let context = match req.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(context)) => Some(context.clone()),
        _ => None,
    };
    let mut req = req.map(|body| match body {
        Body::Text(s) => Bytes::from(s),
        Body::Binary(b) => Bytes::from(b),
        _ => Bytes::new(),
    });
    if let Some(context) = context {
        let claims = context.authorizer.and_then(|a| a.jwt).map(|jwt| jwt.claims);
        if let Some(claims) = claims {
            req.extensions_mut().insert(GatewayClaims(claims));
        }
        if let Some(ip) = context.http.source_ip.and_then(|ip| ip.parse().ok()) {
            req.extensions_mut().insert(ClientAddr(ip));
        }
    }
    req
}

/// A handler's response as `lambda_http` sends it: text bodies as text,
/// anything else base64-encoded by API Gateway.
fn to_lambda(res: Response<Bytes>) -> Response<Body> {
    let textual = res
        .headers()
        .get(http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/") || t.contains("json") || t.contains("svg"));
    res.map(|bytes| match (bytes.is_empty(), textual) {
        (true, _) => Body::Empty,
        (false, true) => match String::from_utf8(bytes.to_vec()) {
            Ok(s) => Body::Text(s),
            Err(e) => Body::Binary(e.into_bytes()),
        },
        (false, false) => Body::Binary(bytes.to_vec()),
    })
}

/// Runs the HTTP function `F` on the Lambda runtime API, on the stores the
/// environment names; `publisher` is the Kafka producer of the function
/// that publishes post events (create-post), `None` for the others.
pub async fn run_http<F: HttpFunction>(
    config: SdkConfig,
    publisher: Option<Arc<dyn EventPublisher>>,
) -> Result<(), lambda_runtime::Error> {
    let hashtags = F::hashtags(&config)?;
    let graph = F::graph(&config)?;
    let app = Arc::new(aws_app(&config, publisher, hashtags, graph, Auth::Gateway).await?);
    lambda_http::run(service_fn(move |req: lambda_http::Request| {
        let app = app.clone();
        async move {
            let res = route_function(F::FUNCTION, &app, from_lambda(req)).await;
            Ok::<_, lambda_runtime::Error>(to_lambda(res))
        }
    }))
    .await
}

/// Runs the Kafka-triggered function `F` on the Lambda runtime API. A store
/// error fails the invocation so MSK redelivers the batch; malformed
/// records never do. Each batch prints one embedded-metric-format line
/// (see [`hashtag_core::metrics`]).
pub async fn run_kafka<F: KafkaFunction>(
    config: SdkConfig,
    publisher: Option<Arc<dyn EventPublisher>>,
) -> Result<(), lambda_runtime::Error> {
    let hashtags = Arc::new(dynamo_store(&config)?);
    let outputs = Arc::new(Outputs {
        publisher,
        windowing: Windowing::configured()?,
    });
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<KafkaEvent>| {
            let (hashtags, outputs) = (hashtags.clone(), outputs.clone());
            async move {
                let started = std::time::Instant::now();
                let batch = msk::batch(&event.payload);
                let result = F::handle(hashtags.as_ref(), &outputs, &batch).await;
                // Straight to stdout: CloudWatch reads EMF from the raw line.
                // Printed for a failed batch too, before MSK retries it.
                println!(
                    "{}",
                    emf_line(F::NAME, result.as_ref().ok(), started.elapsed())
                );
                let report = result?;
                tracing::info!(?report, "batch done");
                Ok::<_, lambda_runtime::Error>(report)
            }
        },
    ))
    .await
}

/// Runs the outbox relay on the Lambda runtime API: each (scheduled)
/// invocation publishes the post events left in the Aurora outbox through
/// `kafka`.
pub async fn run_relay(
    config: SdkConfig,
    kafka: Arc<dyn EventPublisher>,
) -> Result<(), lambda_runtime::Error> {
    let posts = aurora_store(&config)?;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |_: LambdaEvent<serde_json::Value>| {
            let (posts, kafka) = (posts.clone(), kafka.clone());
            async move {
                let relayed = relay_outbox(&posts, kafka.as_ref(), RELAY_MIN_AGE_SECONDS).await?;
                tracing::info!(?relayed, "outbox relayed");
                Ok::<_, lambda_runtime::Error>(serde_json::to_value(relayed)?)
            }
        },
    ))
    .await
}
