//! The Data API operations over PostgreSQL connections: one pooled
//! connection per call outside transactions, a dedicated one per
//! transaction. Errors carry the Data API's exception names and statuses.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Map, Value};
use tokio::sync::Mutex;
use tokio_postgres::{Client, NoTls};

use crate::sql::rewrite;
use crate::values::{column, named_params, placeholder, plain, NamedParam, Param};

/// The Data API's limits that a client can run into.
const MAX_RESPONSE_BYTES: usize = 1024 * 1024;
const MAX_ROW_BYTES: usize = 64 * 1024;
/// A transaction unused for this long is rolled back and forgotten.
pub const TRANSACTION_IDLE: Duration = Duration::from_secs(180);

/// A Data API error: exception name, HTTP status, message.
#[derive(Debug)]
pub struct ApiError {
    pub kind: &'static str,
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub fn bad_request(message: impl Into<String>) -> Self {
        ApiError {
            kind: "BadRequestException",
            status: 400,
            message: message.into(),
        }
    }

    fn database(message: impl Into<String>) -> Self {
        ApiError {
            kind: "DatabaseErrorException",
            status: 400,
            message: message.into(),
        }
    }

    fn transaction_not_found(id: &str) -> Self {
        ApiError {
            kind: "TransactionNotFoundException",
            status: 404,
            message: format!("Transaction {id} is not found"),
        }
    }

    fn unavailable(message: impl Into<String>) -> Self {
        ApiError {
            kind: "DatabaseUnavailableException",
            status: 504,
            message: message.into(),
        }
    }
}

/// A PostgreSQL error as the Data API reports it.
fn pg_error(e: tokio_postgres::Error) -> ApiError {
    match e.as_db_error() {
        Some(db) => ApiError::database(format!(
            "ERROR: {}; SQLState: {}",
            db.message(),
            db.code().code()
        )),
        None if e.is_closed() => ApiError::unavailable("The database connection was closed"),
        None => ApiError::database(e.to_string()),
    }
}

struct Transaction {
    client: Mutex<Client>,
    last_used: std::sync::Mutex<Instant>,
}

/// Connections and open transactions.
pub struct Api {
    /// libpq-style connection string without the database name.
    postgres: String,
    default_database: String,
    pool: std::sync::Mutex<HashMap<String, Vec<Client>>>,
    transactions: std::sync::Mutex<HashMap<String, Arc<Transaction>>>,
    next_id: AtomicU64,
}

fn str_field<'a>(body: &'a Value, name: &str) -> Option<&'a str> {
    body[name].as_str().filter(|s| !s.is_empty())
}

impl Api {
    pub fn new(postgres: String, default_database: String) -> Self {
        Api {
            postgres,
            default_database,
            pool: Default::default(),
            transactions: Default::default(),
            next_id: AtomicU64::new(1),
        }
    }

    /// Runs one operation (the last path segment) on a JSON body.
    pub async fn call(&self, operation: &str, body: &Value) -> Result<Value, ApiError> {
        if str_field(body, "resourceArn").is_none() {
            return Err(ApiError::bad_request("resourceArn is required"));
        }
        if operation != "CommitTransaction"
            && operation != "RollbackTransaction"
            && str_field(body, "secretArn").is_none()
        {
            return Err(ApiError::bad_request("secretArn is required"));
        }
        match operation {
            "Execute" => self.execute(body).await,
            "BatchExecute" => self.batch_execute(body).await,
            "BeginTransaction" => self.begin(body).await,
            "CommitTransaction" => self.end(body, "COMMIT", "Transaction Committed").await,
            "RollbackTransaction" => self.end(body, "ROLLBACK", "Rollback Complete").await,
            other => Err(ApiError {
                kind: "UnknownOperationException",
                status: 404,
                message: format!("Unknown operation {other}"),
            }),
        }
    }

    async fn connect(&self, database: &str) -> Result<Client, ApiError> {
        if let Some(client) = self
            .pool
            .lock()
            .unwrap()
            .get_mut(database)
            .and_then(Vec::pop)
        {
            if !client.is_closed() {
                return Ok(client);
            }
        }
        let config = format!(
            "{} dbname='{}'",
            self.postgres,
            database.replace('\'', "\\'")
        );
        let (client, connection) =
            tokio_postgres::connect(&config, NoTls)
                .await
                .map_err(|e| match e.as_db_error() {
                    Some(db) if db.code().code() == "3D000" => ApiError {
                        kind: "DatabaseNotFoundException",
                        status: 404,
                        message: format!("Database {database} not found"),
                    },
                    _ => ApiError::unavailable(format!("cannot connect: {e}")),
                })?;
        tokio::spawn(connection);
        Ok(client)
    }

    fn give_back(&self, database: &str, client: Client) {
        if !client.is_closed() {
            self.pool
                .lock()
                .unwrap()
                .entry(database.to_string())
                .or_default()
                .push(client);
        }
    }

    fn database<'a>(&'a self, body: &'a Value) -> &'a str {
        str_field(body, "database").unwrap_or(&self.default_database)
    }

    /// The open transaction `id`, marked as used now.
    fn transaction(&self, id: &str) -> Result<Arc<Transaction>, ApiError> {
        let mut open = self.transactions.lock().unwrap();
        let tx = open
            .get(id)
            .cloned()
            .ok_or_else(|| ApiError::transaction_not_found(id))?;
        let mut last = tx.last_used.lock().unwrap();
        if last.elapsed() > TRANSACTION_IDLE {
            drop(last);
            open.remove(id); // dropping the connection rolls it back
            return Err(ApiError::transaction_not_found(id));
        }
        *last = Instant::now();
        drop(last);
        Ok(tx)
    }

    /// Forgets transactions idle for longer than [`TRANSACTION_IDLE`].
    pub fn expire_idle(&self) {
        self.transactions
            .lock()
            .unwrap()
            .retain(|_, tx| tx.last_used.lock().unwrap().elapsed() <= TRANSACTION_IDLE);
    }

    /// Runs `f` on the transaction's connection, or on a pooled one.
    async fn with_client<T>(
        &self,
        body: &Value,
        f: impl AsyncFnOnce(&Client) -> Result<T, ApiError>,
    ) -> Result<T, ApiError> {
        match str_field(body, "transactionId") {
            Some(id) => {
                let tx = self.transaction(id)?;
                let client = tx
                    .client
                    .try_lock()
                    .map_err(|_| ApiError::database("Transaction is still running a query"))?;
                f(&client).await
            }
            None => {
                let database = self.database(body).to_string();
                let client = self.connect(&database).await?;
                let result = f(&client).await;
                self.give_back(&database, client);
                result
            }
        }
    }

    async fn execute(&self, body: &Value) -> Result<Value, ApiError> {
        let sql = str_field(body, "sql").ok_or_else(|| ApiError::bad_request("sql is required"))?;
        let params = named_params(body.get("parameters")).map_err(ApiError::bad_request)?;
        let rewritten = rewrite(sql, |n| placeholder(&params, n)).map_err(ApiError::database)?;
        let values = bound_values(&params, &rewritten.bound);
        let metadata = body["includeResultMetadata"].as_bool() == Some(true);
        let as_json = body["formatRecordsAs"].as_str() == Some("JSON");
        self.with_client(body, async |client| {
            let types: Vec<_> = values.iter().map(|v| v.pg_type()).collect();
            let statement = client.prepare_typed(&rewritten.sql, &types).await.map_err(pg_error)?;
            let args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                values.iter().map(|v| *v as _).collect();
            let mut out = Map::new();
            if statement.columns().is_empty() {
                let updated = client.execute(&statement, &args).await.map_err(pg_error)?;
                out.insert("numberOfRecordsUpdated".into(), json!(updated));
                out.insert("generatedFields".into(), json!([]));
                return Ok(Value::Object(out));
            }
            let rows = client.query(&statement, &args).await.map_err(pg_error)?;
            let mut records = Vec::with_capacity(rows.len());
            let mut size = 0;
            for row in &rows {
                let fields = (0..row.len())
                    .map(|i| column(row, i))
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|m| ApiError { kind: "UnsupportedResultException", status: 400, message: m })?;
                let row_size = Value::Array(fields.clone()).to_string().len();
                if row_size > MAX_ROW_BYTES {
                    return Err(ApiError::database("Packet for query is too large"));
                }
                size += row_size;
                if size > MAX_RESPONSE_BYTES {
                    return Err(ApiError::database("Database returned more than the allowed response size limit"));
                }
                records.push(fields);
            }
            out.insert("numberOfRecordsUpdated".into(), json!(0));
            if as_json {
                let names: Vec<&str> = statement.columns().iter().map(|c| c.name()).collect();
                let objects: Vec<Value> = records
                    .iter()
                    .map(|r| {
                        Value::Object(names.iter().zip(r).map(|(n, f)| (n.to_string(), plain(f))).collect())
                    })
                    .collect();
                out.insert("formattedRecords".into(), json!(Value::Array(objects).to_string()));
            } else {
                out.insert("records".into(), json!(records));
            }
            if metadata {
                let columns: Vec<Value> = statement
                    .columns()
                    .iter()
                    .map(|c| json!({ "name": c.name(), "label": c.name(), "typeName": c.type_().name() }))
                    .collect();
                out.insert("columnMetadata".into(), json!(columns));
            }
            Ok(Value::Object(out))
        })
        .await
    }

    async fn batch_execute(&self, body: &Value) -> Result<Value, ApiError> {
        let sql = str_field(body, "sql").ok_or_else(|| ApiError::bad_request("sql is required"))?;
        let sets = body["parameterSets"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        let sets = sets
            .iter()
            .map(|set| named_params(Some(set)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(ApiError::bad_request)?;
        self.with_client(body, async |client| {
            let mut results = Vec::with_capacity(sets.len());
            for params in &sets {
                let rewritten =
                    rewrite(sql, |n| placeholder(params, n)).map_err(ApiError::database)?;
                let values = bound_values(params, &rewritten.bound);
                let types: Vec<_> = values.iter().map(|v| v.pg_type()).collect();
                let statement = client
                    .prepare_typed(&rewritten.sql, &types)
                    .await
                    .map_err(pg_error)?;
                let args: Vec<&(dyn tokio_postgres::types::ToSql + Sync)> =
                    values.iter().map(|v| *v as _).collect();
                client.execute(&statement, &args).await.map_err(pg_error)?;
                results.push(json!({ "generatedFields": [] }));
            }
            Ok(json!({ "updateResults": results }))
        })
        .await
    }

    async fn begin(&self, body: &Value) -> Result<Value, ApiError> {
        let client = self.connect(self.database(body)).await?;
        client.batch_execute("BEGIN").await.map_err(pg_error)?;
        let id = format!(
            "tx-{}-{}",
            self.next_id.fetch_add(1, Ordering::Relaxed),
            chrono::Utc::now().timestamp_micros()
        );
        let tx = Transaction {
            client: Mutex::new(client),
            last_used: std::sync::Mutex::new(Instant::now()),
        };
        self.transactions
            .lock()
            .unwrap()
            .insert(id.clone(), Arc::new(tx));
        Ok(json!({ "transactionId": id }))
    }

    async fn end(&self, body: &Value, sql: &str, status: &str) -> Result<Value, ApiError> {
        let id = str_field(body, "transactionId")
            .ok_or_else(|| ApiError::bad_request("transactionId is required"))?;
        let tx = self.transaction(id)?;
        self.transactions.lock().unwrap().remove(id);
        let client = tx.client.lock().await;
        client.batch_execute(sql).await.map_err(pg_error)?;
        Ok(json!({ "transactionStatus": status }))
    }
}

/// The values for `$1..$n`, in order.
fn bound_values<'a>(params: &'a [NamedParam], names: &[String]) -> Vec<&'a Param> {
    names
        .iter()
        .filter_map(|n| params.iter().find(|p| &p.name == n).map(|p| &p.value))
        .collect()
}
