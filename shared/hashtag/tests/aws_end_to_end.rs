//! The service on its AWS adapters, against the local AWS stack: moto
//! (DynamoDB), PostgreSQL behind the local Data API (Aurora), tansu (MSK).
//! A user and posts go in through the register and create-post handlers,
//! the hashtag consumer runs on the batch read back from the broker
//! (delivered twice, with a malformed record), and the page comes out of
//! the summary handler. Then `hashtag serve` runs on the same adapters.

mod common;

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes as Body;
use common::aws::{retry, DataApiLocal, Moto, Postgres, Tansu};
use hashtag_aws::{AuroraPostStore, DynamoHashtagStore};
use hashtag_core::consumer::handle_post_batch;
use hashtag_core::domain::POSTS_TOPIC;
use hashtag_core::record::Batch;
use hashtag_core::usecases::PublishingPosts;
use hashtag_http::auth::{Auth, GatewayClaims};
use hashtag_http::{create_post, register, route_function, App, Function, DEFAULT_MAX_BODY_BYTES};
use hashtag_kafka::{KafkaAuth, KafkaPublisher};
use http::{Request, StatusCode};
use serde_json::{json, Value};

/// A JSON POST as API Gateway hands it over once its JWT authorizer has
/// verified a token of the identity `sub`.
fn json_request(path: &str, body: &Value, sub: &str) -> Request<Body> {
    let mut req = Request::builder()
        .method("POST")
        .uri(path)
        .header("content-type", "application/json")
        .body(Body::from(body.to_string()))
        .unwrap();
    let claims = [("sub".to_string(), sub.to_string())].into_iter().collect();
    req.extensions_mut().insert(GatewayClaims(claims));
    req
}

async fn body_json(res: http::Response<Body>) -> (StatusCode, Value) {
    let status = res.status();
    let body = res.into_body();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// The local AWS stack with the schema, table and topic in place.
struct Stack {
    moto: Moto,
    data_api: DataApiLocal,
    tansu: Tansu,
    _postgres: Postgres,
}

impl Stack {
    async fn start() -> (
        Stack,
        AuroraPostStore,
        DynamoHashtagStore,
        Arc<KafkaPublisher>,
    ) {
        let (moto, postgres, tansu) = (Moto::start(), Postgres::start(), Tansu::start());
        let data_api = DataApiLocal::start(&postgres);
        let publisher =
            retry(|| KafkaPublisher::connect(&tansu.bootstrap, KafkaAuth::Plaintext)).await;
        retry(|| publisher.ensure_topic(POSTS_TOPIC, 2)).await;
        retry(|| publisher.ensure_topic(hashtag_core::domain::TOP_POSTS_TOPIC, 2)).await;
        retry(|| publisher.ensure_topic(hashtag_core::reactions::REACTIONS_TOPIC, 2)).await;
        let posts = AuroraPostStore::new(data_api.client(), DataApiLocal::target());
        let publisher = Arc::new(publisher);
        retry(|| posts.migrate()).await;
        let hashtags = DynamoHashtagStore::new(moto.dynamodb(), "hashtags");
        hashtags.create_table().await.unwrap();
        let stack = Stack {
            moto,
            data_api,
            tansu,
            _postgres: postgres,
        };
        (stack, posts, hashtags, publisher)
    }

    /// The variables that point the service's binaries at this stack,
    /// with a new Cognito user pool whose tokens the server accepts.
    fn env(&self) -> Vec<(&'static str, String)> {
        let target = DataApiLocal::target();
        let pool = common::cognito::create_pool(&self.moto.endpoint);
        let stack = vec![
            ("AWS_REGION", "us-east-1".into()),
            ("AWS_ACCESS_KEY_ID", "test".into()),
            ("AWS_SECRET_ACCESS_KEY", "test".into()),
            ("AWS_ENDPOINT_URL_DYNAMODB", self.moto.endpoint.clone()),
            ("AWS_ENDPOINT_URL_RDS_DATA", self.data_api.endpoint.clone()),
            ("HASHTAG_TABLE", "hashtags".into()),
            ("DB_CLUSTER_ARN", target.resource_arn),
            ("DB_SECRET_ARN", target.secret_arn),
            ("DB_NAME", target.database),
            ("KAFKA_BOOTSTRAP", self.tansu.bootstrap.clone()),
        ];
        stack.into_iter().chain(pool).collect()
    }
}

#[tokio::test]
async fn posts_are_counted_through_the_aws_adapters() {
    let (stack, posts, hashtags, publisher) = Stack::start().await;
    let app = App::new(
        Arc::new(PublishingPosts::new(Arc::new(posts.clone()), publisher)),
        Some(Arc::new(hashtags.clone())),
        posts.lease_worker_id().await.unwrap(),
        DEFAULT_MAX_BODY_BYTES,
        Auth::Gateway,
    )
    .unwrap();
    const ALICE: &str = "6f1c2a54-1d0e-4b8f-9a57-2d3c4e5f6a71";

    let (status, user) = body_json(
        register(
            &app,
            json_request("/users", &json!({ "username": "alice" }), ALICE),
        )
        .await,
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{user}");
    let user_id = user["user_id"].clone();
    let mut post_ids = Vec::new();
    for caption in ["#Rust on #AWS", "more #rust", "no tags here"] {
        let body = json!({ "user_id": user_id, "caption": caption, "images": ["https://cdn.example.com/a.jpg"] });
        let (status, post) =
            body_json(create_post(&app, json_request("/posts", &body, ALICE)).await).await;
        assert_eq!(status, StatusCode::CREATED, "{post}");
        let id = post["post_id"]
            .as_str()
            .expect("ids are JSON strings")
            .to_string();
        post_ids.push(id);
    }
    assert!(
        posts.unpublished(10).await.unwrap().is_empty(),
        "every event was published"
    );

    // The batch MSK would deliver: every record, plus a malformed one.
    let mut records = stack.tansu.read_all(POSTS_TOPIC).await;
    assert_eq!(records.len(), 3);
    let mut bad = records[0].clone();
    bad.offset = records
        .iter()
        .filter(|r| r.partition == bad.partition)
        .map(|r| r.offset)
        .max()
        .unwrap()
        + 1;
    bad.value = b"not json".to_vec();
    records.push(bad);
    let event = Batch::from_log(POSTS_TOPIC, &records);
    let first = handle_post_batch(&hashtags, &event).await.unwrap();
    assert_eq!((first.processed, first.malformed), (3, 1));
    handle_post_batch(&hashtags, &event).await.unwrap(); // delivered again

    let page = Request::builder()
        .uri("/tags/rust")
        .body(Body::new())
        .unwrap();
    let (status, page) = body_json(route_function(Function::Summary, &app, page).await).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page["tag"], "Rust");
    assert_eq!(
        page["total_posts"], 2,
        "counted once despite the redelivery: {page}"
    );
    let listed: Vec<&str> = page["top_posts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["post_id"].as_str().expect("ids are JSON strings"))
        .collect();
    assert_eq!(
        listed,
        [post_ids[1].as_str(), post_ids[0].as_str()],
        "newest first"
    );
    let aws = Request::builder()
        .uri("/tags/aws")
        .body(Body::new())
        .unwrap();
    let (_, aws) = body_json(route_function(Function::Summary, &app, aws).await).await;
    assert_eq!(aws["total_posts"], 1);
}

#[tokio::test]
async fn the_server_runs_on_the_aws_adapters() {
    let (stack, _, _, _) = Stack::start().await;
    let dir = common::TempDir::new("serve-aws");
    let env = stack.env();
    let mut server = common::Server::start_with_env(&dir.0, &[], &env);
    let alice = server.register("alice");
    let first = server.create_post(&alice, "first #Rust with @Bob");
    // Generous: the first wait includes the broker's and the consumers' start on
    // a machine that may be running other tests.
    let page = server.wait_for_tag("rust", Duration::from_secs(90), |p| p["total_posts"] == 1);
    assert_eq!(page["tag"], "Rust");
    // The mention consumer read the same post from the broker, on its own
    // consumer group, and gave alice an outgoing edge (bob need not exist).
    let edges = server.wait_for_json("/users/alice/mentions", |b| {
        b["edges"].as_array().is_some_and(|e| !e.is_empty())
    })["edges"]
        .clone();
    assert_eq!(edges[0]["user"], "Bob", "{edges}");
    assert_eq!(edges[0]["mentions"], 1, "{edges}");
    let weight = edges[0]["weight"].as_f64().unwrap();
    assert!(
        weight > 0.99 && weight <= 1.0,
        "a fresh mention weighs 1: {edges}"
    );
    // A reaction: stored in Aurora with its outbox event, published on the
    // reactions topic, counted by the reaction consumer into DynamoDB.
    let post = server.create_post(&alice, "react here #rust");
    let reactions = format!("/posts/{post}/reactions");
    let reacted = server.post_json_as(&alice, &reactions, &json!({ "emoji": "🔥" }));
    assert_eq!(reacted.status, 201, "{}", reacted.body);
    let counts = server.wait_for_json(&reactions, |b| b["total"] == 1);
    assert_eq!(counts["counts"], json!({ "🔥": 1 }), "{counts}");
    // Two reactions to the older post: the ranker publishes the tag's
    // ranking through the broker, and the ranking consumer puts it first.
    for emoji in ["👍", "🎉"] {
        let path = format!("/posts/{first}/reactions");
        let res = server.post_json_as(&alice, &path, &json!({ "emoji": emoji }));
        assert_eq!(res.status, 201, "{}", res.body);
    }
    // Both posts listed, the older first: until the hashtag consumer has
    // counted the newer one, Top may be the recent list of the older alone.
    server.wait_for_tag("rust", Duration::from_secs(90), |p| {
        p["top_posts"][0]["post_id"] == first.as_str()
            && p["top_posts"][1]["post_id"] == post.as_str()
    });
    let recent = server.wait_for_json("/tags/rust?view=recent", |b| {
        b["top_posts"][0]["post_id"] == post.as_str()
    });
    assert_eq!(recent["top_posts"][0]["post_id"], post.as_str(), "{recent}");
    // The seed's live stream and health, on the broker and DynamoDB.
    let health = server.get("/health");
    assert_eq!(health.status, 200, "{}", health.body);
    assert!(
        health.json()["waiting_to_publish"].is_number(),
        "{}",
        health.body
    );
    let live = server.post_json_as(&alice, "/emoji", &json!({ "emoji_type": "👏" }));
    assert_eq!(live.status, 202, "{}", live.body);
    let windows = server.wait_for_json("/emoji/windows", |b| {
        b["windows"]
            .as_array()
            .is_some_and(|w| w.iter().any(|w| w["counts"]["👏"] == 1))
    });
    assert!(
        windows["windows"]
            .as_array()
            .unwrap()
            .iter()
            .any(|w| w["counts"]["👏"] == 1),
        "{windows}"
    );
    // A restart reads the topics again from their start: nothing counts twice.
    server.kill();
    let server = common::Server::start_with_env(&dir.0, &[], &env);
    server.create_post(&alice, "second #rust");
    server.wait_for_tag("rust", Duration::from_secs(90), |p| p["total_posts"] == 3);
    std::thread::sleep(Duration::from_secs(1)); // a second pass would show by now
    assert_eq!(server.get("/tags/rust").json()["total_posts"], 3);
    assert_eq!(
        server.get(&reactions).json()["total"],
        1,
        "the restart counted no reaction twice"
    );
    let edge = server.get("/users/alice/mentions?with=bob").json();
    assert_eq!(
        edge["mentions"], 1,
        "the restart counted no mention twice: {edge}"
    );
    // The consumer's lag is read from the broker: it has caught up.
    let metrics = server.get("/metrics").body;
    assert!(
        metrics
            .lines()
            .any(|l| l == "hashtag_consumer_lag_records{consumer=\"hashtag-consumer\"} 0"),
        "{metrics}"
    );
}
