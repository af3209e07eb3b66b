//! `data-api-local`: the RDS Data API's JSON protocol (ExecuteStatement,
//! BatchExecuteStatement, Begin/Commit/RollbackTransaction) over a
//! PostgreSQL server, so the service's Data API adapter runs against real
//! PostgreSQL locally. No usable emulator exists in the package registries.
//!
//! Usage: `data-api-local --listen 127.0.0.1:PORT --postgres "host=... port=... user=..."
//! [--database NAME]`. Prints `listening on http://ADDR` once ready.

mod api;
mod sql;
mod values;

use std::convert::Infallible;
use std::sync::Arc;

use http_body_util::{BodyExt, Full, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

use api::{Api, ApiError, TRANSACTION_IDLE};

/// The Data API's request size limit.
const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

fn reply(status: u16, kind: Option<&str>, body: serde_json::Value) -> Response<Full<Bytes>> {
    let mut res = Response::builder()
        .status(status)
        .header("content-type", "application/json")
        .header("x-amzn-requestid", "local");
    if let Some(kind) = kind {
        res = res.header("x-amzn-errortype", kind);
    }
    res.body(Full::new(Bytes::from(body.to_string())))
        .unwrap_or_else(|_| Response::new(Full::new(Bytes::new())))
}

async fn handle(
    api: Arc<Api>,
    req: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let operation = req.uri().path().trim_start_matches('/').to_string();
    let result = async {
        let body = Limited::new(req.into_body(), MAX_REQUEST_BYTES)
            .collect()
            .await
            .map_err(|_| ApiError::bad_request("Request size exceeds the 4 MiB limit"))?
            .to_bytes();
        let body: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| ApiError::bad_request(format!("Invalid JSON body: {e}")))?;
        api.call(&operation, &body).await
    }
    .await;
    Ok(match result {
        Ok(body) => reply(200, None, body),
        Err(e) => reply(
            e.status,
            Some(e.kind),
            serde_json::json!({ "message": e.message }),
        ),
    })
}

fn arg(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let listen = arg(&args, "--listen").unwrap_or_else(|| "127.0.0.1:8081".into());
    let postgres =
        arg(&args, "--postgres").ok_or("--postgres \"host=... port=... user=...\" is required")?;
    let database = arg(&args, "--database").unwrap_or_else(|| "postgres".into());
    let api = Arc::new(Api::new(postgres, database));
    let listener = tokio::net::TcpListener::bind(&listen).await?;
    println!("listening on http://{}", listener.local_addr()?);
    let reaper = api.clone();
    tokio::spawn(async move {
        loop {
            tokio::time::sleep(TRANSACTION_IDLE / 6).await;
            reaper.expire_idle();
        }
    });
    loop {
        let (stream, _) = listener.accept().await?;
        let api = api.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |req| handle(api.clone(), req));
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(TokioIo::new(stream), service)
                .await;
        });
    }
}
