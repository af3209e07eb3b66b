//! `hashtag`: the single-machine service and its tools.
//!
//! - `hashtag serve`: every HTTP route plus the consumers, on SQLite files.
//! - `hashtag extract`: hashtags and mentions of JSON lines, for backfills.
//! - `hashtag publish-ranking FILE`: publishes popularity rankings to the
//!   `top-posts` topic of a data directory's event log.

mod commands;
mod server;
mod trigger;
mod wiring;

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};
use hashtag_http::{DEFAULT_MAX_BODY_BYTES, DEFAULT_WRITES_PER_MINUTE};

#[derive(Parser)]
#[command(name = "hashtag", version, about = "Hashtag service on one machine")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// Where the embedded stores live (ignored on the AWS adapters).
#[derive(Args)]
struct Store {
    /// Directory of the SQLite files (posts.db with the event log, hashtags.db).
    #[arg(long, env = "HASHTAG_DATA_DIR", default_value = "data")]
    data_dir: PathBuf,
    /// Partitions per topic of the event log.
    #[arg(long, env = "HASHTAG_PARTITIONS", default_value_t = 4)]
    partitions: u32,
}

/// Options of `hashtag serve`.
#[derive(Args)]
struct Serve {
    #[command(flatten)]
    store: Store,
    /// Address to listen on; port 0 picks a free port (printed at start).
    #[arg(long, env = "HASHTAG_LISTEN", default_value = "127.0.0.1:8080")]
    listen: String,
    /// Records that make a consumer batch go out before its window ends.
    #[arg(long, env = "HASHTAG_BATCH_SIZE", default_value_t = 100)]
    batch_size: usize,
    /// Most records per consumer batch while a backlog waits: under lag,
    /// batches grow up to this size until the consumer has caught up.
    #[arg(long, env = "HASHTAG_MAX_BATCH_SIZE", default_value_t = 10_000)]
    max_batch_size: usize,
    /// Longest wait to fill a consumer batch, in milliseconds.
    #[arg(long, env = "HASHTAG_BATCHING_WINDOW_MS", default_value_t = 500)]
    batching_window_ms: u64,
    /// Snowflake worker id (0-1023), unique per running instance.
    #[arg(long, env = "HASHTAG_WORKER_ID", default_value_t = 0)]
    worker_id: u16,
    /// Largest accepted request body in bytes.
    #[arg(long, env = "HASHTAG_MAX_BODY_BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Seconds to wait for a request's headers (also how long an idle
    /// keep-alive connection stays open); then the connection is closed.
    #[arg(long, env = "HASHTAG_HEADER_TIMEOUT_SECONDS", default_value_t = 10)]
    header_timeout_seconds: u64,
    /// Seconds to wait for a request's body after its headers; then 408.
    #[arg(long, env = "HASHTAG_BODY_TIMEOUT_SECONDS", default_value_t = 30)]
    body_timeout_seconds: u64,
    /// Most connections open at once; more are answered 503 and closed.
    #[arg(long, env = "HASHTAG_MAX_CONNECTIONS", default_value_t = 1024)]
    max_connections: usize,
    /// Writes (posts, imports) an account may make per minute; 0 for no
    /// limit (a load test's).
    #[arg(long, env = "HASHTAG_WRITES_PER_MINUTE", default_value_t = DEFAULT_WRITES_PER_MINUTE)]
    writes_per_minute: u32,
    /// Subjects (user ids of this server's accounts), comma-separated,
    /// allowed to import mentions.
    #[arg(long, env = "HASHTAG_ADMINS", default_value = "")]
    admins: String,
}

/// Options of `hashtag trigger`.
#[derive(Args)]
struct Trigger {
    /// `host:port` of the Lambda Invoke API (`cargo lambda watch`).
    #[arg(long)]
    invoke: String,
    /// The function to invoke (its binary name).
    #[arg(long)]
    function: String,
    /// The topic it is triggered by.
    #[arg(long)]
    topic: String,
    /// Most records per invocation.
    #[arg(long, default_value_t = 100)]
    batch_size: usize,
    /// Longest wait to fill a batch, in milliseconds.
    #[arg(long, default_value_t = 500)]
    batching_window_ms: u64,
}

/// Options of `hashtag loadgen`.
#[derive(Args)]
struct Loadgen {
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
    /// A consumer lag above this many records counts as behind in the
    /// report's `lag` (the longest and total time behind).
    #[arg(long, default_value_t = 1_000)]
    lag_threshold: u64,
    /// Reactions to send after the posts, skewed towards some posts, one
    /// in ten taking a reaction back; their counts are checked at the end.
    #[arg(long, default_value_t = 0)]
    reactions: usize,
    /// Top probes during the reactions: each times a reaction's effect on
    /// a tag's Top view.
    #[arg(long, default_value_t = 20)]
    top_probes: usize,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and pages, and run the consumers in-process.
    Serve(Serve),
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
        #[arg(long, env = "DB_NAME", default_value = hashtag_aws::env::DEFAULT_DB_NAME)]
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
        /// Count every stored post, even those the consumer has not reached:
        /// only when nothing is in flight (no posting, no consumer lag, an
        /// empty outbox), to rebuild a hashtag table that lost its claims
        /// or marks (restored from a backup, or recreated).
        #[arg(long)]
        drained: bool,
        /// Check the mention graph instead: recount every edge from the post
        /// store and report those that differ (report only; for a drained
        /// pipeline: mentions in flight show as drift).
        #[arg(long, conflicts_with_all = ["repair", "drained"])]
        mentions: bool,
        /// Check the posts' reaction counts instead: recount every post's
        /// reactions from the post store's reaction sets and report those
        /// that differ (report only; for a drained pipeline).
        #[arg(long, conflicts_with_all = ["repair", "drained", "mentions"])]
        reactions: bool,
    },
    /// Import the mention-graph seed's CSV (text, timestamp, username per
    /// row; a header row is skipped) into the mention graph, streamed from
    /// FILE. Prints the report as JSON: rows imported, rows rejected with
    /// their line and reason (exit status 3 if any). Importing the same
    /// file again changes nothing.
    ImportMentions {
        #[command(flatten)]
        store: Store,
        /// The CSV file.
        file: PathBuf,
    },
    /// Decide whether a tag is listed in trends: `hidden` leaves it out of
    /// trends, `banned` out of everything (its page answers 410 Gone),
    /// `listed` undoes either. Prints the tag's key and status as JSON.
    Moderate {
        #[command(flatten)]
        store: Store,
        /// The tag, with or without `#`, in any spelling.
        tag: String,
        /// listed, hidden or banned.
        #[arg(value_parser = ["listed", "hidden", "banned"])]
        status: String,
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
    Loadgen(Loadgen),
    /// Invoke a consumer function through `cargo lambda watch` with batches
    /// of a topic of the local AWS stack, as an MSK event source mapping
    /// does (`scripts/local-api` runs it).
    Trigger(Trigger),
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
    hashtag_lambda::logging::init_cli();
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
        Command::Extract => {
            commands::extract_lines(std::io::stdin().lock(), std::io::stdout().lock())
        }
        Command::Serve(serve) => commands::serve(serve).await,
        Command::Migrate {
            cluster_arn,
            secret_arn,
            database,
            local_stack,
        } => {
            let target = hashtag_aws::DataApiTarget {
                resource_arn: cluster_arn,
                secret_arn,
                database,
            };
            commands::migrate(target, local_stack).await
        }
        Command::Reconcile {
            store,
            mentions: true,
            ..
        } => commands::reconcile_mentions(&store).await,
        Command::Reconcile {
            store,
            reactions: true,
            ..
        } => commands::reconcile_reactions(&store).await,
        Command::Reconcile {
            store,
            repair,
            drained,
            ..
        } => commands::reconcile(&store, repair, drained).await,
        Command::ImportMentions { store, file } => commands::import_mentions(&store, &file).await,
        Command::Moderate { store, tag, status } => commands::moderate(&store, &tag, &status).await,
        Command::DeadLetters { store, limit } => commands::dead_letters(&store, limit).await,
        Command::Relay { every_seconds } => commands::relay(every_seconds).await,
        Command::Loadgen(options) => commands::loadgen(options).await,
        Command::Trigger(options) => trigger::run(options).await,
        Command::PublishRanking { store, file } => commands::publish_ranking(&store, &file).await,
    }
}
