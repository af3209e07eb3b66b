//! What every Lambda `main.rs` does: build the clients once per container,
//! then hand each request or batch to its handler.
//!
//! The stores come from [`app_from_env`]. Until the AWS adapters land they
//! are the embedded ones under `HASHTAG_DATA_DIR` (default `/tmp/hashtag`),
//! which is what `cargo lambda watch` runs locally.

use std::path::PathBuf;
use std::sync::Arc;

use aws_lambda_events::event::kafka::KafkaEvent;
use lambda_http::{service_fn, Request};
use lambda_runtime::LambdaEvent;

use crate::consumer::{handle_post_batch, handle_ranking_batch, BatchReport};
use crate::http::{create_post, read_routes, register, App, DEFAULT_MAX_BODY_BYTES};

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

/// Opens the stores and the handlers' [`App`] from the environment.
pub fn app_from_env() -> Result<App, lambda_runtime::Error> {
    let dir: PathBuf = env_or("HASHTAG_DATA_DIR", PathBuf::from("/tmp/hashtag"));
    let app = crate::embedded::open(&dir, env_or("HASHTAG_PARTITIONS", 4))?.app(
        env_or("HASHTAG_WORKER_ID", 0),
        env_or("HASHTAG_MAX_BODY_BYTES", DEFAULT_MAX_BODY_BYTES),
    )?;
    Ok(app)
}

/// Runs an HTTP function on the Lambda runtime API.
pub async fn run_http(function: HttpFunction) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let app = Arc::new(app_from_env()?);
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

/// Runs a Kafka-triggered function on the Lambda runtime API. A store error
/// fails the invocation so MSK redelivers the batch; malformed records never do.
pub async fn run_kafka(function: KafkaFunction) -> Result<(), lambda_runtime::Error> {
    lambda_runtime::tracing::init_default_subscriber();
    let hashtags = app_from_env()?.hashtags;
    lambda_runtime::run(lambda_runtime::service_fn(
        move |event: LambdaEvent<KafkaEvent>| {
            let hashtags = hashtags.clone();
            async move {
                let report: BatchReport = match function {
                    KafkaFunction::HashtagConsumer => {
                        handle_post_batch(hashtags.as_ref(), &event.payload).await?
                    }
                    KafkaFunction::TopPostsConsumer => {
                        handle_ranking_batch(hashtags.as_ref(), &event.payload).await?
                    }
                };
                tracing::info!(?report, "batch done");
                Ok::<_, lambda_runtime::Error>(report)
            }
        },
    ))
    .await
}
