//! `hashtag`: the single-machine service and its tools.
//!
//! - `hashtag serve`: every HTTP route plus both consumers, on SQLite files.
//! - `hashtag extract`: hashtags and mentions of JSON lines, for backfills.
//! - `hashtag publish-ranking FILE`: publishes popularity rankings to the
//!   `top-posts` topic of a data directory's event log.

use std::io::Read;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use shared::aws::{AuroraPostStore, KafkaPublisher};
use shared::consumer::validate_ranking;
use shared::domain::{Ranking, POSTS_TOPIC, TOP_POSTS_TOPIC};
use shared::embedded::poller::RecordSource;
use shared::extract::tag_key;
use shared::http::DEFAULT_MAX_BODY_BYTES;
use shared::lambda::AwsEnv;
use shared::ports::{HashtagStore, PostStore};
use shared::server::{self, ConsumerSettings};

#[derive(Parser)]
#[command(name = "hashtag", version, about = "Hashtag service on one machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args)]
struct Store {
    /// Directory of the SQLite files (posts.db with the event log, hashtags.db).
    #[arg(long, env = "HASHTAG_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Partitions per topic of the event log.
    #[arg(long, env = "HASHTAG_PARTITIONS", default_value_t = 4)]
    partitions: u32,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and pages, and run the consumers in-process.
    Serve {
        #[command(flatten)]
        store: Store,
        /// Address to listen on; port 0 picks a free port (printed at start).
        #[arg(long, env = "HASHTAG_LISTEN", default_value = "127.0.0.1:8080")]
        listen: String,
        /// Most records per consumer batch.
        #[arg(long, env = "HASHTAG_BATCH_SIZE", default_value_t = 100)]
        batch_size: usize,
        /// Longest wait to fill a consumer batch, in milliseconds.
        #[arg(long, env = "HASHTAG_BATCHING_WINDOW_MS", default_value_t = 500)]
        batching_window_ms: u64,
        /// Snowflake worker id (0-1023), unique per running instance.
        #[arg(long, env = "HASHTAG_WORKER_ID", default_value_t = 0)]
        worker_id: u16,
        /// Largest accepted request body in bytes.
        #[arg(long, env = "HASHTAG_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
        max_body_bytes: usize,
    },
    /// Read JSON lines {"text": ...} on stdin; write one JSON line per input
    /// {"text", "hashtags", "mentions"} (as written, without # and @, in order).
    Extract,
    /// Apply the Aurora schema's pending migrations through the Data API (run
    /// by deployments after `sam deploy`; safe to repeat). With --local-stack
    /// also create the DynamoDB table and the Kafka topics, which on AWS the
    /// template and the MSK cluster's operators provide.
    Migrate {
        /// The Aurora cluster (the stack's DatabaseClusterArn output).
        #[arg(long, env = "DB_CLUSTER_ARN")]
        cluster_arn: String,
        /// Its credentials' secret (the stack's DatabaseSecretArn output).
        #[arg(long, env = "DB_SECRET_ARN")]
        secret_arn: String,
        /// The database.
        #[arg(long, env = "DB_NAME", default_value = shared::lambda::DEFAULT_DB_NAME)]
        database: String,
        /// Also create the table and topics of a local AWS stack.
        #[arg(long)]
        local_stack: bool,
    },
    /// Recount every tag from the post store and report the tags whose
    /// count drifted (exit status 3 if any); with --repair, fix them.
    /// Run it when the pipeline has drained: posts in flight show as drift.
    Reconcile {
        #[command(flatten)]
        store: Store,
        /// Set drifting counts to the recount (each conditioned on the count read).
        #[arg(long)]
        repair: bool,
    },
    /// Print the records the consumers set aside, newest first, as JSON lines.
    DeadLetters {
        #[command(flatten)]
        store: Store,
        /// Most records printed.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Publish the post events left in the Aurora outbox (AWS adapters only;
    /// the embedded event log is its own outbox). Once, or every
    /// --every-seconds until stopped.
    Relay {
        /// Repeat at this interval instead of running once.
        #[arg(long)]
        every_seconds: Option<u64>,
    },
    /// Register users and publish generated posts (Zipf-distributed tags in
    /// several scripts, 0-30 per post) through a running server's API, with
    /// a progress bar; then wait until the server's counts match what was
    /// sent and print a summary as JSON (exit status 3 if any count differs).
    Loadgen {
        /// The server.
        #[arg(long, default_value = "127.0.0.1:8080")]
        server: String,
        /// Users to register.
        #[arg(long, default_value_t = 1_000)]
        users: usize,
        /// Posts to publish.
        #[arg(long, default_value_t = 100_000)]
        posts: usize,
        /// Requests in flight.
        #[arg(long, default_value_t = 32)]
        concurrency: usize,
        /// Distinct tags of the stream.
        #[arg(long, default_value_t = 10_000)]
        vocabulary: usize,
        /// Zipf exponent of tag popularity.
        #[arg(long, default_value_t = 1.0)]
        zipf: f64,
        /// Seed of the stream.
        #[arg(long, default_value_t = 2026)]
        seed: u64,
        /// Every n-th post is a freshness probe (0: none).
        #[arg(long, default_value_t = 100)]
        probe_every: usize,
        /// Seconds to wait for the counts to match after the last post.
        #[arg(long, default_value_t = 120)]
        drain_timeout_seconds: u64,
    },
    /// Publish rankings (a JSON object or array of {tag, generated_at, posts})
    /// from FILE, or standard input if FILE is -, to the top-posts topic.
    PublishRanking {
        #[command(flatten)]
        store: Store,
        /// Ranking file.
        file: PathBuf,
    },
}

fn main() -> std::process::ExitCode {
    shared::logging::init_cli();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(Cli::parse().command)) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            std::process::ExitCode::FAILURE
        }
    }
}

async fn run(command: Command) -> Result<(), String> {
    match command {
        Command::Extract => extract_lines(std::io::stdin().lock(), std::io::stdout().lock()),
        Command::Serve {
            store,
            listen,
            batch_size,
            batching_window_ms,
            worker_id,
            max_body_bytes,
        } => {
            if batch_size == 0 || batch_size > 10_000 {
                return Err("--batch-size must be 1..=10000, as for MSK".into());
            }
            let (stop, stopped) = tokio::sync::watch::channel(false);
            let (app, records) = if shared::lambda::on_aws() {
                aws_serving(stopped.clone()).await?
            } else {
                let embedded = shared::embedded::open(&store.data_dir, store.partitions)
                    .map_err(|e| e.to_string())?;
                let app = embedded.app(worker_id, max_body_bytes)?;
                let records: Arc<dyn RecordSource> = Arc::new(embedded.log.clone());
                (app, records)
            };
            let listener = tokio::net::TcpListener::bind(&listen)
                .await
                .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
            let addr = listener.local_addr().map_err(|e| e.to_string())?;
            println!("listening on http://{addr}");
            tracing::info!(%addr, data_dir = %store.data_dir.display(), "serving");
            tokio::spawn(async move {
                wait_for_signal().await;
                tracing::info!("shutting down");
                let _ = stop.send(true);
            });
            let consumers = ConsumerSettings {
                batch_size,
                window: Duration::from_millis(batching_window_ms),
            };
            server::run(listener, app, records, consumers, stopped).await?;
            Ok(())
        }
        Command::Migrate {
            cluster_arn,
            secret_arn,
            database,
            local_stack,
        } => {
            let config = shared::aws::sdk_config().await;
            let target = shared::aws::DataApiTarget {
                resource_arn: cluster_arn,
                secret_arn,
                database,
            };
            let store =
                shared::aws::AuroraPostStore::new(aws_sdk_rdsdata::Client::new(&config), target);
            let applied = store.migrate().await.map_err(|e| e.to_string())?;
            println!("applied {applied} migration(s)");
            if local_stack {
                let table =
                    std::env::var("HASHTAG_TABLE").map_err(|_| "HASHTAG_TABLE must be set")?;
                shared::aws::DynamoHashtagStore::new(
                    aws_sdk_dynamodb::Client::new(&config),
                    &table,
                )
                .create_table()
                .await
                .map_err(|e| e.to_string())?;
                println!("table {table} ready");
                let bootstrap =
                    std::env::var("KAFKA_BOOTSTRAP").map_err(|_| "KAFKA_BOOTSTRAP must be set")?;
                let auth = shared::aws::KafkaAuth::from_env(&config);
                let kafka = shared::aws::KafkaPublisher::connect(&bootstrap, auth)
                    .await
                    .map_err(|e| e.to_string())?;
                for topic in [POSTS_TOPIC, TOP_POSTS_TOPIC] {
                    kafka
                        .ensure_topic(topic, 4)
                        .await
                        .map_err(|e| e.to_string())?;
                    println!("topic {topic} ready");
                }
            }
            Ok(())
        }
        Command::Reconcile { store, repair } => {
            let (posts, hashtags) = stores(&store).await?;
            let report = shared::reconcile::reconcile(posts.as_ref(), hashtags.as_ref(), repair)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&report).map_err(|e| e.to_string())?
            );
            let unrepaired = report.drift.iter().filter(|d| !d.repaired).count();
            if unrepaired > 0 {
                eprintln!(
                    "{unrepaired} of {} tags drift{}",
                    report.tags,
                    if repair {
                        " (changed during the run; run again)"
                    } else {
                        "; --repair fixes them"
                    }
                );
                std::process::exit(3);
            }
            Ok(())
        }
        Command::DeadLetters { store, limit } => {
            let (_, hashtags) = stores(&store).await?;
            for letter in hashtags
                .dead_letters(limit)
                .await
                .map_err(|e| e.to_string())?
            {
                println!(
                    "{}",
                    serde_json::to_string(&letter).map_err(|e| e.to_string())?
                );
            }
            Ok(())
        }
        Command::Relay { every_seconds } => {
            let (_, posts, kafka) = aws_relay().await?;
            match every_seconds {
                None => {
                    let n = posts
                        .relay(kafka.as_ref(), shared::lambda::RELAY_MIN_AGE_SECONDS)
                        .await
                        .map_err(|e| e.to_string())?;
                    let left = posts.outbox_backlog().await.map_err(|e| e.to_string())?;
                    println!("published {n} event(s); {left} waiting");
                }
                Some(secs) => {
                    let (stop, stopped) = tokio::sync::watch::channel(false);
                    tokio::spawn(async move {
                        wait_for_signal().await;
                        let _ = stop.send(true);
                    });
                    relay_loop(posts, kafka, Duration::from_secs(secs.max(1)), stopped).await;
                }
            }
            Ok(())
        }
        Command::Loadgen {
            server,
            users,
            posts,
            concurrency,
            vocabulary,
            zipf,
            seed,
            probe_every,
            drain_timeout_seconds,
        } => {
            let config = shared::loadgen::LoadConfig {
                server,
                users,
                posts,
                concurrency,
                shape: shared::workload::Shape {
                    vocabulary,
                    zipf,
                    seed,
                },
                probe_every,
                drain_timeout: Duration::from_secs(drain_timeout_seconds),
            };
            let summary = shared::loadgen::run(&config)
                .await
                .map_err(|e| e.to_string())?;
            println!(
                "{}",
                serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?
            );
            if !summary.mismatches.is_empty() {
                eprintln!(
                    "{} tags differ from what was sent",
                    summary.mismatches.len()
                );
                std::process::exit(3);
            }
            Ok(())
        }
        Command::PublishRanking { store, file } => {
            let text = if file.as_os_str() == "-" {
                let mut s = String::new();
                std::io::stdin()
                    .read_to_string(&mut s)
                    .map_err(|e| format!("reading stdin: {e}"))?;
                s
            } else {
                std::fs::read_to_string(&file)
                    .map_err(|e| format!("reading {}: {e}", file.display()))?
            };
            let rankings: Vec<Ranking> = match serde_json::from_str::<Ranking>(&text) {
                Ok(one) => vec![one],
                Err(_) => serde_json::from_str(&text).map_err(|e| {
                    format!(
                        "{}: not a ranking or a list of rankings: {e}",
                        file.display()
                    )
                })?,
            };
            for r in &rankings {
                validate_ranking(r).map_err(|e| format!("ranking for {}: {e}", r.tag))?;
            }
            let embedded = shared::embedded::open(&store.data_dir, store.partitions)
                .map_err(|e| e.to_string())?;
            for r in &rankings {
                let value = serde_json::to_vec(r).map_err(|e| e.to_string())?;
                let (partition, offset) = embedded
                    .log
                    .publish(TOP_POSTS_TOPIC, tag_key(&r.tag).into_bytes(), value)
                    .await
                    .map_err(|e| e.to_string())?;
                println!(
                    "published ranking for #{} to {TOP_POSTS_TOPIC}-{partition} at offset {offset}",
                    r.tag.trim_start_matches('#')
                );
            }
            Ok(())
        }
    }
}

/// The handlers on the AWS adapters and the Kafka broker as the record
/// source, configured like the Lambda functions (see `shared::lambda`),
/// with the outbox relay running until `stop` turns true. The three share
/// one SDK configuration and one Kafka connection.
async fn aws_serving(
    stop: tokio::sync::watch::Receiver<bool>,
) -> Result<(shared::http::App, Arc<dyn RecordSource>), String> {
    let (env, posts, kafka) = aws_relay().await?;
    tokio::spawn(relay_loop(posts, kafka.clone(), RELAY_EVERY, stop));
    let hashtags = shared::lambda::dynamo_store(&env.config).map_err(|e| e.to_string())?;
    let app = shared::lambda::aws_app(&env, Some(Arc::new(hashtags)))
        .await
        .map_err(|e| e.to_string())?;
    let records: Arc<dyn RecordSource> = Arc::new(shared::aws::KafkaSource::new(kafka));
    Ok((app, records))
}

/// How often `hashtag serve` on the AWS adapters relays the outbox.
const RELAY_EVERY: Duration = Duration::from_secs(5);

/// The post and hashtag stores: the AWS adapters when the environment names
/// them (as for `serve`), else the embedded ones under `--data-dir`.
async fn stores(store: &Store) -> Result<(Arc<dyn PostStore>, Arc<dyn HashtagStore>), String> {
    if shared::lambda::on_aws() {
        let env = AwsEnv::load().await;
        let posts = shared::lambda::aurora_store(&env).map_err(|e| e.to_string())?;
        let hashtags = shared::lambda::dynamo_store(&env.config).map_err(|e| e.to_string())?;
        return Ok((Arc::new(posts), Arc::new(hashtags)));
    }
    let embedded =
        shared::embedded::open(&store.data_dir, store.partitions).map_err(|e| e.to_string())?;
    Ok((embedded.posts, embedded.hashtags))
}

/// The AWS configuration, with the Aurora store and the Kafka producer of
/// the outbox relay.
async fn aws_relay() -> Result<(AwsEnv, AuroraPostStore, Arc<KafkaPublisher>), String> {
    if !shared::lambda::on_aws() {
        return Err("the relay runs on the AWS adapters (HASHTAG_TABLE, DB_*, KAFKA_BOOTSTRAP); the embedded event log needs none".into());
    }
    let mut env = AwsEnv::load().await;
    let kafka = env
        .connect_kafka()
        .await
        .map_err(|e| e.to_string())?
        .ok_or("KAFKA_BOOTSTRAP must be set")?;
    let posts = shared::lambda::aurora_store(&env).map_err(|e| e.to_string())?;
    Ok((env, posts, kafka))
}

/// Relays the outbox every `every` until `stop` turns true; failures are
/// logged and retried at the next round.
async fn relay_loop(
    posts: AuroraPostStore,
    kafka: Arc<KafkaPublisher>,
    every: Duration,
    mut stop: tokio::sync::watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match posts
            .relay(kafka.as_ref(), shared::lambda::RELAY_MIN_AGE_SECONDS)
            .await
        {
            Ok(0) => {}
            Ok(n) => tracing::info!(published = n, "outbox relayed"),
            Err(e) => tracing::warn!(error = %e, "outbox relay failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// The `extract` subcommand: a bad line yields `{"line", "error"}` and the
/// command goes on, then exits with an error status.
fn extract_lines(input: impl std::io::BufRead, output: impl std::io::Write) -> Result<(), String> {
    #[derive(serde::Deserialize)]
    struct In {
        text: String,
    }
    #[derive(serde::Serialize)]
    struct Out<'a> {
        text: &'a str,
        hashtags: Vec<&'a str>,
        mentions: Vec<&'a str>,
    }
    let mut out = std::io::BufWriter::new(output);
    let mut bad = 0usize;
    for (n, line) in input.lines().enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if line.trim().is_empty() {
            continue;
        }
        let written = match serde_json::from_str::<In>(&line) {
            Ok(input) => {
                let (hashtags, mentions) = shared::extract::hashtags_and_mentions(&input.text);
                let record = Out {
                    text: &input.text,
                    hashtags,
                    mentions,
                };
                serde_json::to_writer(&mut out, &record)
            }
            Err(e) => {
                bad += 1;
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({ "line": n + 1, "error": format!("expected {{\"text\": string}}: {e}") }),
                )
            }
        };
        written.map_err(|e| format!("writing stdout: {e}"))?;
        std::io::Write::write_all(&mut out, b"\n").map_err(|e| format!("writing stdout: {e}"))?;
    }
    std::io::Write::flush(&mut out).map_err(|e| format!("writing stdout: {e}"))?;
    if bad > 0 {
        return Err(format!("{bad} input line(s) were not {{\"text\": string}}"));
    }
    Ok(())
}

/// Ctrl-C or SIGTERM.
async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(s) => s,
                Err(_) => {
                    let _ = ctrl_c.await;
                    return;
                }
            };
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
}
