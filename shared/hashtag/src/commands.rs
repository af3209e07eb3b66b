//! The `hashtag` subcommands, one function each.

use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use hashtag_core::consumer::validate_ranking;
use hashtag_core::domain::{Ranking, POSTS_TOPIC, TOP_POSTS_TOPIC};
use hashtag_core::extract::{tag_display, tag_key};
use hashtag_core::reactions::REACTIONS_TOPIC;
use hashtag_core::usecases::{relay_outbox, RELAY_MIN_AGE_SECONDS};

use crate::server::{self, ConnectionLimits, ConsumerSettings};
use crate::wiring::{
    aws_relay, aws_serving, embedded_serving, kafka, relay_loop, stores, wait_for_signal,
};
use crate::{Loadgen, Serve, Store};

/// `hashtag serve`: every route and both consumers, until Ctrl-C or SIGTERM.
pub async fn serve(options: Serve) -> Result<(), String> {
    if options.batch_size == 0 || options.batch_size > 10_000 {
        return Err("--batch-size must be 1..=10000, as for MSK".into());
    }
    let (stop, stopped) = tokio::sync::watch::channel(false);
    // The embedded data directory's lock, held until the server stops.
    let (serving, _lock) = if hashtag_aws::env::on_aws() {
        (aws_serving(stopped.clone()).await?, None)
    } else {
        let (serving, lock) = embedded_serving(&options)?;
        (serving, Some(lock))
    };
    let listen = &options.listen;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .map_err(|e| format!("cannot listen on {listen}: {e}"))?;
    let addr = listener.local_addr().map_err(|e| e.to_string())?;
    println!("listening on http://{addr}");
    tracing::info!(%addr, data_dir = %options.store.data_dir.display(), "serving");
    tokio::spawn(async move {
        wait_for_signal().await;
        tracing::info!("shutting down");
        let _ = stop.send(true);
    });
    let consumers = ConsumerSettings {
        batch_size: options.batch_size,
        max_batch_size: options.max_batch_size,
        window: Duration::from_millis(options.batching_window_ms),
    };
    let limits = ConnectionLimits {
        header_timeout: Duration::from_secs(options.header_timeout_seconds.max(1)),
        body_timeout: Duration::from_secs(options.body_timeout_seconds.max(1)),
        max_connections: options.max_connections.max(1),
    };
    server::run(listener, serving, consumers, limits, stopped).await
}

/// `hashtag migrate`: the Aurora schema, and with `local_stack` the table
/// and topics that on AWS the template and the MSK operators provide.
pub async fn migrate(target: hashtag_aws::DataApiTarget, local_stack: bool) -> Result<(), String> {
    let config = hashtag_aws::sdk_config().await;
    let store = hashtag_aws::AuroraPostStore::new(aws_sdk_rdsdata::Client::new(&config), target);
    let applied = store.migrate().await.map_err(|e| e.to_string())?;
    println!("applied {applied} migration(s)");
    if !local_stack {
        return Ok(());
    }
    let table = std::env::var("HASHTAG_TABLE").map_err(|_| "HASHTAG_TABLE must be set")?;
    hashtag_aws::DynamoHashtagStore::new(aws_sdk_dynamodb::Client::new(&config), &table)
        .create_table()
        .await
        .map_err(|e| e.to_string())?;
    println!("table {table} ready");
    let kafka = kafka(&config).await?;
    for topic in [POSTS_TOPIC, TOP_POSTS_TOPIC, REACTIONS_TOPIC] {
        kafka
            .ensure_topic(topic, 4)
            .await
            .map_err(|e| e.to_string())?;
        println!("topic {topic} ready");
    }
    Ok(())
}

/// `hashtag reconcile`: drift per tag as JSON; exit status 3 if any is left.
pub async fn reconcile(store: &Store, repair: bool, drained: bool) -> Result<(), String> {
    use hashtag_core::reconcile::Recount;
    let (posts, hashtags) = stores(store).await?;
    let recount = if drained {
        Recount::EveryPost
    } else {
        Recount::Reached
    };
    let report =
        hashtag_core::reconcile::reconcile(posts.as_ref(), hashtags.as_ref(), recount, repair)
            .await
            .map_err(|e| e.to_string())?;
    print_json(&report)?;
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

/// `hashtag reconcile --mentions`.
pub async fn reconcile_mentions(store: &Store) -> Result<(), String> {
    let (posts, hashtags) = stores(store).await?;
    let report = hashtag_core::reconcile::reconcile_mentions(
        posts.as_ref(),
        hashtags.as_ref(),
        &hashtag_core::mentions::Decay::configured(),
    )
    .await
    .map_err(|e| e.to_string())?;
    print_json(&report)?;
    if !report.drift.is_empty() {
        eprintln!("{} of {} edges drift", report.drift.len(), report.edges);
        std::process::exit(3);
    }
    Ok(())
}

/// `hashtag reconcile --reactions`.
pub async fn reconcile_reactions(store: &Store) -> Result<(), String> {
    let (posts, hashtags) = stores(store).await?;
    let report = hashtag_core::reconcile::reconcile_reactions(posts.as_ref(), hashtags.as_ref())
        .await
        .map_err(|e| e.to_string())?;
    print_json(&report)?;
    if !report.drift.is_empty() {
        eprintln!("{} of {} posts drift", report.drift.len(), report.posts);
        std::process::exit(3);
    }
    Ok(())
}

/// `hashtag import-mentions FILE`: hashes the file (its source name, see
/// [`hashtag_core::mention_import::ImportSource`]), then imports it, both
/// streamed from disk.
pub async fn import_mentions(store: &Store, file: &Path) -> Result<(), String> {
    use hashtag_core::mention_import::ImportSource;
    use std::io::Read;
    let open = || {
        std::fs::File::open(file)
            .map(std::io::BufReader::new)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))
    };
    let mut source = ImportSource::default();
    let mut reader = open()?;
    let mut buf = vec![0; 64 * 1024];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| format!("cannot read {}: {e}", file.display()))?;
        if n == 0 {
            break;
        }
        source.update(&buf[..n]);
    }
    let (_, hashtags) = stores(store).await?;
    let report = hashtag_core::mention_import::import_mentions(
        hashtags.as_ref(),
        &source.finish(),
        open()?,
        &hashtag_core::mentions::Decay::configured(),
        hashtag_core::domain::now_ms(),
    )
    .await
    .map_err(|e| e.to_string())?;
    print_json(&report)?;
    if report.rejected > 0 {
        eprintln!("{} of {} rows rejected", report.rejected, report.rows);
        std::process::exit(3);
    }
    Ok(())
}

fn print_json(value: &impl serde::Serialize) -> Result<(), String> {
    println!(
        "{}",
        serde_json::to_string_pretty(value).map_err(|e| e.to_string())?
    );
    Ok(())
}

/// `hashtag dead-letters`: set-aside records as JSON lines, newest first.
pub async fn dead_letters(store: &Store, limit: usize) -> Result<(), String> {
    let (_, hashtags) = stores(store).await?;
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

/// `hashtag moderate TAG STATUS`.
pub async fn moderate(store: &Store, tag: &str, status: &str) -> Result<(), String> {
    use hashtag_core::trends::Moderation;
    let status = Moderation::parse(status).ok_or_else(|| format!("unknown status {status}"))?;
    let key = hashtag_core::extract::tag_key(tag);
    if key.is_empty() || key.len() > hashtag_core::domain::MAX_TAG_BYTES {
        return Err(format!("{tag:?} is not a tag"));
    }
    let (_, hashtags) = stores(store).await?;
    hashtags
        .set_moderation(&key, status)
        .await
        .map_err(|e| e.to_string())?;
    print_json(&serde_json::json!({"tag": key, "status": status}))
}

/// `hashtag relay`: the outbox published once, or every `every_seconds`.
pub async fn relay(every_seconds: Option<u64>) -> Result<(), String> {
    let (_, posts, kafka) = aws_relay().await?;
    let Some(secs) = every_seconds else {
        let relayed = relay_outbox(&posts, kafka.as_ref(), RELAY_MIN_AGE_SECONDS)
            .await
            .map_err(|e| e.to_string())?;
        println!(
            "published {} event(s); {} waiting",
            relayed.published, relayed.waiting
        );
        return Ok(());
    };
    let (stop, stopped) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        wait_for_signal().await;
        let _ = stop.send(true);
    });
    relay_loop(posts, kafka, Duration::from_secs(secs.max(1)), stopped).await;
    Ok(())
}

/// `hashtag loadgen`: a generated stream through a running server's API,
/// then its counts checked; exit status 3 if any differs.
pub async fn loadgen(options: Loadgen) -> Result<(), String> {
    let config = hashtag_tools::loadgen::LoadConfig {
        server: options.server,
        users: options.users,
        posts: options.posts,
        concurrency: options.concurrency,
        shape: hashtag_tools::workload::Shape {
            vocabulary: options.vocabulary,
            zipf: options.zipf,
            seed: options.seed,
        },
        probe_every: options.probe_every,
        drain_timeout: Duration::from_secs(options.drain_timeout_seconds),
        lag_threshold: options.lag_threshold,
        reactions: options.reactions,
        top_probes: options.top_probes,
    };
    let summary = hashtag_tools::loadgen::run(&config)
        .await
        .map_err(|e| e.to_string())?;
    println!(
        "{}",
        serde_json::to_string_pretty(&summary).map_err(|e| e.to_string())?
    );
    let reaction_mismatches = summary.reactions.as_ref().map_or(0, |r| r.mismatches.len());
    if !summary.mismatches.is_empty()
        || !summary.edge_mismatches.is_empty()
        || reaction_mismatches > 0
    {
        eprintln!(
            "{} tags, {} mention edges and {reaction_mismatches} posts' reactions differ from what was sent",
            summary.mismatches.len(),
            summary.edge_mismatches.len()
        );
        std::process::exit(3);
    }
    Ok(())
}

/// The rankings of a file (one ranking or a list), or of stdin for `-`.
fn read_rankings(file: &Path) -> Result<Vec<Ranking>, String> {
    let text = if file.as_os_str() == "-" {
        let mut s = String::new();
        std::io::stdin()
            .read_to_string(&mut s)
            .map_err(|e| format!("reading stdin: {e}"))?;
        s
    } else {
        std::fs::read_to_string(file).map_err(|e| format!("reading {}: {e}", file.display()))?
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
    Ok(rankings)
}

/// Where `publish-ranking` appends.
enum RankingSink {
    Kafka(Arc<hashtag_kafka::KafkaPublisher>),
    Log(hashtag_embedded::EventLog),
}

/// `hashtag publish-ranking`: rankings appended to the top-posts topic: of
/// the Kafka broker on the AWS adapters (`TOP_POSTS_TOPIC`, else
/// `top-posts`), else of a data directory's event log.
pub async fn publish_ranking(store: &Store, file: &Path) -> Result<(), String> {
    let rankings = read_rankings(file)?;
    let sink = if hashtag_aws::env::on_aws() {
        RankingSink::Kafka(kafka(&hashtag_aws::sdk_config().await).await?)
    } else {
        let embedded = hashtag_embedded::open_existing(&store.data_dir, store.partitions)
            .map_err(|e| e.to_string())?;
        RankingSink::Log(embedded.log)
    };
    let topic = hashtag_core::popularity::top_posts_topic();
    for r in &rankings {
        let value = serde_json::to_vec(r).map_err(|e| e.to_string())?;
        let key = tag_key(&r.tag).into_bytes();
        let published = match &sink {
            RankingSink::Kafka(kafka) => kafka.publish(topic, &key, &value).await,
            RankingSink::Log(log) => log.publish(topic, key, value).await,
        };
        let (partition, offset) = published.map_err(|e| e.to_string())?;
        println!(
            "published ranking for #{} to {topic}-{partition} at offset {offset}",
            tag_display(&r.tag)
        );
    }
    Ok(())
}

/// The `extract` subcommand: a bad line yields `{"line", "error"}` and the
/// command goes on, then exits with an error status.
pub fn extract_lines(
    input: impl std::io::BufRead,
    output: impl std::io::Write,
) -> Result<(), String> {
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
    // Lines as bytes: a line that is not UTF-8 is one bad line, not the
    // end of the run.
    for (n, line) in input.split(b'\n').enumerate() {
        let line = line.map_err(|e| format!("reading stdin: {e}"))?;
        if line.trim_ascii().is_empty() {
            continue;
        }
        let parsed = std::str::from_utf8(&line)
            .map_err(|e| format!("the line is not UTF-8: {e}"))
            .and_then(|line| {
                serde_json::from_str::<In>(line)
                    .map_err(|e| format!("expected {{\"text\": string}}: {e}"))
            });
        let written = match parsed {
            Ok(input) => {
                let (hashtags, mentions) =
                    hashtag_core::extract::hashtags_and_mentions(&input.text);
                let record = Out {
                    text: &input.text,
                    hashtags,
                    mentions,
                };
                serde_json::to_writer(&mut out, &record)
            }
            Err(error) => {
                bad += 1;
                serde_json::to_writer(
                    &mut out,
                    &serde_json::json!({ "line": n + 1, "error": error }),
                )
            }
        };
        written.map_err(|e| format!("writing stdout: {e}"))?;
        std::io::Write::write_all(&mut out, b"\n").map_err(|e| format!("writing stdout: {e}"))?;
    }
    std::io::Write::flush(&mut out).map_err(|e| format!("writing stdout: {e}"))?;
    if bad > 0 {
        return Err(format!(
            "{bad} input line(s) were not UTF-8 JSON {{\"text\": string}}"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_line_that_is_not_utf8_is_reported_and_the_run_goes_on() {
        let input = b"{\"text\":\"#a\"}\n{\"text\":\"\xff\"}\nnot json\n{\"text\":\"#b\"}\n";
        let mut out = Vec::new();
        let result = super::extract_lines(&input[..], &mut out);
        assert!(result.unwrap_err().contains("2 input line(s)"));
        let lines: Vec<serde_json::Value> = out
            .split(|b| *b == b'\n')
            .filter(|l| !l.is_empty())
            .map(|l| serde_json::from_slice(l).unwrap())
            .collect();
        assert_eq!(lines.len(), 4);
        assert_eq!(lines[0]["hashtags"][0], "a");
        assert_eq!(lines[1]["line"], 2);
        assert!(lines[1]["error"].as_str().unwrap().contains("not UTF-8"));
        assert_eq!(lines[2]["line"], 3);
        assert_eq!(lines[3]["hashtags"][0], "b");
    }
}
