//! Which adapters a command runs on: the AWS ones when the environment
//! names them (`HASHTAG_TABLE`, `DB_*`, `KAFKA_BOOTSTRAP`, as for the Lambda
//! functions), else the embedded ones under `--data-dir`.

use std::sync::Arc;
use std::time::Duration;

use aws_config::SdkConfig;
use hashtag_aws::env::{aurora_store, dynamo_store, on_aws};
use hashtag_aws::AuroraPostStore;
use hashtag_core::ports::{EventPublisher, HashtagStore, PostStore, RecordSource};
use hashtag_core::usecases::{relay_outbox, RELAY_MIN_AGE_SECONDS};
use hashtag_http::auth::jwt::JwtVerifier;
use hashtag_http::auth::{Auth, LocalAccounts};
use hashtag_http::App;
use hashtag_kafka::{KafkaPublisher, KafkaSource};
use tokio::sync::watch;

use crate::{Serve, Store};

/// The post and hashtag stores of a command that reads or repairs them.
pub async fn stores(store: &Store) -> Result<(Arc<dyn PostStore>, Arc<dyn HashtagStore>), String> {
    if on_aws() {
        let config = hashtag_aws::sdk_config().await;
        let posts = aurora_store(&config).map_err(|e| e.to_string())?;
        let hashtags = dynamo_store(&config).map_err(|e| e.to_string())?;
        return Ok((Arc::new(posts), Arc::new(hashtags)));
    }
    let embedded = hashtag_embedded::open_existing(&store.data_dir, store.partitions)
        .map_err(|e| e.to_string())?;
    Ok((embedded.posts, embedded.hashtags))
}

/// The producer to `KAFKA_BOOTSTRAP`, which the commands that publish or
/// read Kafka need.
pub async fn kafka(config: &SdkConfig) -> Result<Arc<KafkaPublisher>, String> {
    hashtag_kafka::connect_from_env(config)
        .await
        .map_err(|e| e.to_string())?
        .ok_or_else(|| {
            "KAFKA_BOOTSTRAP must be set (for the local stack: source .local-aws/env)".into()
        })
}

/// The handlers on the embedded stores of `--data-dir`, with the data
/// directory's lock: one server per directory.
pub fn embedded_serving(options: &Serve) -> Result<(Serving, std::fs::File), String> {
    let store = &options.store;
    let lock = hashtag_embedded::lock(&store.data_dir).map_err(|e| e.to_string())?;
    let embedded =
        hashtag_embedded::open(&store.data_dir, store.partitions).map_err(|e| e.to_string())?;
    let key = signing_key(&store.data_dir)?;
    let accounts = LocalAccounts::new(embedded.posts.clone(), key, LOCAL_ISSUER.into());
    let app = App::new(
        embedded.posts.clone(),
        Some(embedded.hashtags.clone()),
        options.worker_id,
        options.max_body_bytes,
        Auth::Local(Arc::new(accounts)),
    )?
    .with_graph(embedded.hashtags.clone())
    .with_write_limit(options.writes_per_minute)
    .with_admins(&options.admins)
    .with_stream(Arc::new(embedded.log.clone()), None);
    let serving = Serving {
        app,
        hashtags: embedded.hashtags,
        records: Arc::new(embedded.log.clone()),
        publisher: Arc::new(embedded.log),
    };
    Ok((serving, lock))
}

/// The `iss` of the tokens `hashtag serve` signs.
const LOCAL_ISSUER: &str = "urn:hashtag:serve";

/// The key that signs sessions' tokens and CSRF tokens: `session.key` in
/// the data directory, made of 32 random bytes on first start and kept, so
/// that sessions outlive restarts. Readable by its owner only.
fn signing_key(data_dir: &std::path::Path) -> Result<Vec<u8>, String> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let path = data_dir.join("session.key");
    if let Ok(key) = std::fs::read(&path) {
        if key.len() >= 32 {
            return Ok(key);
        }
    }
    let key = hashtag_http::auth::random_token().map_err(|e| e.message)?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&path)
        .and_then(|mut f| f.write_all(key.as_bytes()).map(|_| f))
        .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
    file.flush().map_err(|e| e.to_string())?;
    Ok(key.into_bytes())
}

/// The AWS configuration, with the Aurora store and the Kafka producer of
/// the outbox relay.
pub async fn aws_relay() -> Result<(SdkConfig, AuroraPostStore, Arc<KafkaPublisher>), String> {
    if !on_aws() {
        return Err("the relay runs on the AWS adapters (HASHTAG_TABLE, DB_*, KAFKA_BOOTSTRAP); the embedded event log needs none".into());
    }
    let config = hashtag_aws::sdk_config().await;
    let kafka = kafka(&config).await?;
    let posts = aurora_store(&config).map_err(|e| e.to_string())?;
    Ok((config, posts, kafka))
}

/// What `hashtag serve` runs on.
pub struct Serving {
    /// The handlers' state.
    pub app: App,
    /// The hashtag store the consumers write.
    pub hashtags: Arc<dyn HashtagStore>,
    /// Where the consumers read records.
    pub records: Arc<dyn RecordSource>,
    /// Where the ranker publishes rankings: the same log or broker.
    pub publisher: Arc<dyn EventPublisher>,
}

/// How often `hashtag serve` on the AWS adapters relays the outbox.
const RELAY_EVERY: Duration = Duration::from_secs(5);

/// The handlers on the AWS adapters and the Kafka broker as the record
/// source, configured like the Lambda functions, with the outbox relay
/// running until `stop` turns true. The three share one SDK configuration
/// and one Kafka connection.
pub async fn aws_serving(stop: watch::Receiver<bool>) -> Result<Serving, String> {
    let (config, posts, kafka) = aws_relay().await?;
    tokio::spawn(relay_loop(posts, kafka.clone(), RELAY_EVERY, stop));
    let hashtags = Arc::new(dynamo_store(&config).map_err(|e| e.to_string())?);
    let publisher: Arc<dyn EventPublisher> = kafka.clone();
    let app = hashtag_lambda::aws_app(
        &config,
        Some(publisher),
        Some(hashtags.clone()),
        Some(hashtags.clone()),
        cognito_auth().await?,
    )
    .await
    .map_err(|e| e.to_string())?;
    Ok(Serving {
        app,
        hashtags,
        records: Arc::new(KafkaSource::new(kafka.clone())),
        publisher: kafka,
    })
}

/// Cognito's tokens verified by the server itself, as the HTTP API's JWT
/// authorizer does in front of the functions: `JWT_ISSUER` (the user
/// pool's issuer URL), `JWT_AUDIENCE` (app client ids, comma-separated)
/// and the issuer's keys, from `JWT_JWKS_FILE` or fetched once at start
/// from `JWT_JWKS_URL` (plain HTTP to this machine only, such as the local
/// stack's: keys fetched in the clear from elsewhere could be anyone's).
async fn cognito_auth() -> Result<Auth, String> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let (Some(issuer), Some(audience)) = (var("JWT_ISSUER"), var("JWT_AUDIENCE")) else {
        return Err("on the AWS adapters, writers are Cognito users: set JWT_ISSUER, JWT_AUDIENCE and JWT_JWKS_FILE (or JWT_JWKS_URL)".into());
    };
    let jwks = match (var("JWT_JWKS_FILE"), var("JWT_JWKS_URL")) {
        (Some(file), _) => std::fs::read_to_string(&file).map_err(|e| format!("{file}: {e}"))?,
        (None, Some(url)) => fetch(&url).await?,
        (None, None) => return Err("set JWT_JWKS_FILE or JWT_JWKS_URL".into()),
    };
    let audiences: Vec<String> = audience.split(',').map(|a| a.trim().to_string()).collect();
    let verifier = JwtVerifier::new(&issuer, &audiences, &jwks)?;
    Ok(Auth::Cognito(Arc::new(verifier)))
}

/// The body of `GET url` over plain HTTP/1.1.
async fn fetch(url: &str) -> Result<String, String> {
    use http_body_util::BodyExt;
    let failed = |e: &dyn std::fmt::Display| format!("GET {url}: {e}");
    let uri: http::Uri = url.parse().map_err(|e| failed(&e))?;
    if uri.scheme_str() != Some("http") {
        return Err(failed(
            &"only http:// is fetched; download the JWKS and give JWT_JWKS_FILE",
        ));
    }
    let host = uri.host().unwrap_or("127.0.0.1").to_string();
    let stream = tokio::net::TcpStream::connect((host.as_str(), uri.port_u16().unwrap_or(80)))
        .await
        .map_err(|e| failed(&e))?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
            .await
            .map_err(|e| failed(&e))?;
    tokio::spawn(connection);
    let request = http::Request::get(uri.path())
        .header(http::header::HOST, host)
        .body(http_body_util::Empty::<bytes::Bytes>::new())
        .map_err(|e| failed(&e))?;
    let response = sender.send_request(request).await.map_err(|e| failed(&e))?;
    if !response.status().is_success() {
        return Err(failed(&response.status()));
    }
    let body = response
        .into_body()
        .collect()
        .await
        .map_err(|e| failed(&e))?;
    String::from_utf8(body.to_bytes().to_vec()).map_err(|e| failed(&e))
}

/// Relays the outbox every `every` until `stop` turns true; failures are
/// logged and retried at the next round.
pub async fn relay_loop(
    posts: AuroraPostStore,
    kafka: Arc<KafkaPublisher>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) {
    while !*stop.borrow() {
        match relay_outbox(&posts, kafka.as_ref(), RELAY_MIN_AGE_SECONDS).await {
            Ok(r) if r.published == 0 => {}
            Ok(r) => tracing::info!(
                published = r.published,
                waiting = r.waiting,
                "outbox relayed"
            ),
            Err(e) => tracing::warn!(error = %e, "outbox relay failed; retrying"),
        }
        tokio::select! {
            _ = tokio::time::sleep(every) => {}
            _ = stop.changed() => {}
        }
    }
}

/// Ctrl-C or SIGTERM.
pub async fn wait_for_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    let Ok(mut term) = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
    else {
        let _ = ctrl_c.await;
        return;
    };
    tokio::select! {
        _ = ctrl_c => {}
        _ = term.recv() => {}
    }
}
