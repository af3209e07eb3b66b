//! Local AWS services for tests, on 127.0.0.1 and free ports: moto for
//! DynamoDB. Each is a child process, killed on drop.

use std::net::{TcpListener, TcpStream};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use aws_config::BehaviorVersion;

/// SDK configuration for a local endpoint, with test credentials.
fn local_config(endpoint: &str) -> aws_config::SdkConfig {
    aws_config::SdkConfig::builder()
        .behavior_version(BehaviorVersion::latest())
        .http_client(hashtag_aws::https_client())
        .endpoint_url(endpoint)
        .region(aws_config::Region::new("us-east-1"))
        .credentials_provider(aws_sdk_dynamodb::config::SharedCredentialsProvider::new(
            aws_sdk_dynamodb::config::Credentials::new("test", "test", None, None, "tests"),
        ))
        .build()
}

/// A free TCP port on 127.0.0.1 (free when asked; the server binds it next).
pub fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Waits until something accepts connections on `port`.
pub fn wait_for_port(port: u16, child: &mut Child, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("{what} exited early: {status}");
        }
        assert!(
            Instant::now() < deadline,
            "{what} did not start on port {port}"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// A server process listening on a port of 127.0.0.1, killed on drop.
struct Spawned(Child);

impl Spawned {
    /// Runs `command` (whose stdout and stderr go nowhere) and waits until
    /// it accepts connections on `port`.
    fn start(mut command: Command, port: u16, what: &str) -> Spawned {
        let mut child = command
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("start {what} (run scripts/test, which installs it): {e}"));
        wait_for_port(port, &mut child, what);
        Spawned(child)
    }
}

impl Drop for Spawned {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A moto server (DynamoDB and other AWS APIs).
pub struct Moto {
    _process: Spawned,
    pub endpoint: String,
}

impl Moto {
    /// Starts `moto_server`, which scripts/test installs into its venv and
    /// puts on PATH.
    pub fn start() -> Moto {
        let port = free_port();
        let mut command = Command::new("moto_server");
        command.args(["-H", "127.0.0.1", "-p", &port.to_string()]);
        Moto {
            _process: Spawned::start(command, port, "moto_server"),
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A DynamoDB client on this server, with test credentials.
    pub fn dynamodb(&self) -> aws_sdk_dynamodb::Client {
        aws_sdk_dynamodb::Client::new(&local_config(&self.endpoint))
    }
}

/// The directory holding PostgreSQL's server programs: `initdb` on PATH, or
/// Debian's /usr/lib/postgresql/<version>/bin (newest first).
fn postgres_bin_dir() -> std::path::PathBuf {
    // The directory initdb really lives in: PATH may hold a symlink to it
    // without the other server programs beside it.
    if let Some(dir) = std::env::var_os("PATH")
        .and_then(|path| std::env::split_paths(&path).find(|d| d.join("initdb").is_file()))
        .and_then(|d| std::fs::canonicalize(d.join("initdb")).ok())
        .and_then(|initdb| Some(initdb.parent()?.to_path_buf()))
    {
        return dir;
    }
    let mut versions: Vec<_> = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .map(|e| e.path().join("bin"))
        .filter(|bin| bin.join("initdb").is_file())
        .collect();
    versions.sort_by_key(|p| {
        p.parent()
            .and_then(|v| v.file_name()?.to_str()?.parse::<u32>().ok())
            .unwrap_or(0)
    });
    versions
        .pop()
        .expect("PostgreSQL is not installed (scripts/test installs it)")
}

/// PostgreSQL refuses to run as root: as root, run it as `postgres`.
fn as_postgres_user(program: std::path::PathBuf) -> Command {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .is_ok_and(|o| o.stdout.trim_ascii() == b"0");
    if root {
        let mut cmd = Command::new("setpriv");
        cmd.args(["--reuid=postgres", "--regid=postgres", "--init-groups"])
            .arg(program);
        cmd
    } else {
        Command::new(program)
    }
}

/// A throwaway PostgreSQL server in a temp directory.
pub struct Postgres {
    child: Child,
    dir: super::TempDir,
    pub port: u16,
}

impl Postgres {
    pub fn start() -> Postgres {
        let bin = postgres_bin_dir();
        let dir = super::TempDir::new("postgres");
        let _ = Command::new("chown")
            .args(["-R", "postgres"])
            .arg(&dir.0)
            .status();
        let data = dir.0.join("data");
        let status = as_postgres_user(bin.join("initdb"))
            .args(["-U", "postgres", "-A", "trust", "--no-sync", "-D"])
            .arg(&data)
            .stdout(Stdio::null())
            .status()
            .expect("run initdb");
        assert!(status.success(), "initdb failed");
        let port = free_port();
        let mut child = as_postgres_user(bin.join("postgres"))
            .arg("-D")
            .arg(&data)
            .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-F", "-k"])
            .arg(&dir.0)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start postgres");
        wait_for_port(port, &mut child, "postgres");
        Postgres { child, dir, port }
    }
}

impl Drop for Postgres {
    fn drop(&mut self) {
        // SIGINT: a fast shutdown that also stops the server's children.
        let _ = Command::new("kill")
            .args(["-INT", &self.child.id().to_string()])
            .status();
        let _ = self.child.wait();
        let _ = &self.dir;
    }
}

/// The project's local RDS Data API (`data-api-local`) over a PostgreSQL.
pub struct DataApiLocal {
    _process: Spawned,
    pub endpoint: String,
}

impl DataApiLocal {
    /// Starts the binary built next to this test's `hashtag` binary.
    pub fn start(postgres: &Postgres) -> DataApiLocal {
        let bin =
            std::path::Path::new(env!("CARGO_BIN_EXE_hashtag")).with_file_name("data-api-local");
        assert!(
            bin.is_file(),
            "{} is missing: run `cargo build -p data-api-local` (scripts/test does)",
            bin.display()
        );
        let port = free_port();
        let mut command = Command::new(bin);
        command
            .args(["--listen", &format!("127.0.0.1:{port}"), "--postgres"])
            .arg(format!(
                "host=127.0.0.1 port={} user=postgres",
                postgres.port
            ));
        DataApiLocal {
            _process: Spawned::start(command, port, "data-api-local"),
            endpoint: format!("http://127.0.0.1:{port}"),
        }
    }

    /// A Data API client on this endpoint, with test credentials.
    pub fn client(&self) -> aws_sdk_rdsdata::Client {
        aws_sdk_rdsdata::Client::new(&local_config(&self.endpoint))
    }

    /// The Data API target of the local cluster's `postgres` database.
    pub fn target() -> hashtag_aws::DataApiTarget {
        hashtag_aws::DataApiTarget {
            resource_arn: "arn:aws:rds:us-east-1:123456789012:cluster:local".into(),
            secret_arn: "arn:aws:secretsmanager:us-east-1:123456789012:secret:local".into(),
            database: "postgres".into(),
        }
    }
}

/// A tansu broker (Kafka-compatible): in memory, or on a SQLite file so
/// that its topics survive a restart.
pub struct Tansu {
    process: Option<Spawned>,
    storage: String,
    port: u16,
    /// Working directory of a durable broker (its SQLite file).
    dir: Option<super::TempDir>,
    pub bootstrap: String,
}

impl Tansu {
    /// Starts `tansu` in memory; scripts/test installs it (cargo install,
    /// cached) and puts it on PATH.
    pub fn start() -> Tansu {
        Tansu::start_with("memory://tansu/".into(), None)
    }

    /// Starts `tansu` on a SQLite file of its own: a broker that can be
    /// killed and restarted without losing a record.
    pub fn start_durable() -> Tansu {
        // tansu reads the file's path relative to its working directory.
        let dir = super::TempDir::new("tansu");
        Tansu::start_with("sqlite://tansu.db".into(), Some(dir))
    }

    fn start_with(storage: String, dir: Option<super::TempDir>) -> Tansu {
        let port = free_port();
        let mut tansu = Tansu {
            process: None,
            storage,
            port,
            dir,
            bootstrap: format!("127.0.0.1:{port}"),
        };
        tansu.restart();
        tansu
    }

    /// Kills the broker (SIGKILL: nothing is flushed on the way out).
    pub fn stop(&mut self) {
        self.process = None;
    }

    /// Starts the broker again on the same port and storage.
    pub fn restart(&mut self) {
        let url = format!("tcp://127.0.0.1:{}", self.port);
        let mut command = Command::new("tansu");
        command
            .args(["broker", "--listener-url", &url])
            .args(["--advertised-listener-url", &url])
            .args(["--storage-engine", &self.storage, "--silent"]);
        if let Some(dir) = &self.dir {
            command.current_dir(&dir.0);
        }
        self.process = Some(Spawned::start(command, self.port, "tansu"));
    }

    /// Every record of `topic`, partition by partition, as the embedded
    /// log's records (from which an MSK event is built).
    pub async fn read_all(&self, topic: &str) -> Vec<hashtag_embedded::event_log::LogRecord> {
        use rskafka::client::partition::{OffsetAt, UnknownTopicHandling};
        let client = rskafka::client::ClientBuilder::new(vec![self.bootstrap.clone()])
            .build()
            .await
            .unwrap();
        let topics = client.list_topics().await.unwrap();
        let partitions = &topics.iter().find(|t| t.name == topic).unwrap().partitions;
        let mut out = Vec::new();
        for &p in partitions {
            let partition = client
                .partition_client(topic, p, UnknownTopicHandling::Error)
                .await
                .unwrap();
            let end = partition.get_offset(OffsetAt::Latest).await.unwrap();
            let mut next = 0;
            while next < end {
                let (records, _) = partition
                    .fetch_records(next, 1..10_000_000, 1_000)
                    .await
                    .unwrap();
                next = records.iter().map(|r| r.offset + 1).max().unwrap_or(next);
                out.extend(
                    records
                        .into_iter()
                        .map(|r| hashtag_embedded::event_log::LogRecord {
                            partition: p as u32,
                            offset: r.offset,
                            key: r.record.key,
                            value: r.record.value.unwrap_or_default(),
                            timestamp_ms: r.record.timestamp.timestamp_millis(),
                        }),
                );
            }
        }
        out
    }
}

/// Retries `f` until it succeeds or 10 s pass: servers that accept
/// connections may still be starting.
pub async fn retry<T, E: std::fmt::Debug, F: std::future::Future<Output = Result<T, E>>>(
    mut f: impl FnMut() -> F,
) -> T {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        match f().await {
            Ok(v) => return v,
            Err(e) if Instant::now() > deadline => panic!("still failing: {e:?}"),
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    }
}
