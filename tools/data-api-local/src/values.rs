//! Values between the Data API's JSON `Field`s and PostgreSQL: parameters
//! are bound with the type their JSON member implies (`longValue` as
//! `bigint`, `stringValue` as `text` or as its type hint), and result
//! columns come back as the member their PostgreSQL type maps to.

use base64::Engine;
use serde_json::{json, Value};
use tokio_postgres::types::{to_sql_checked, IsNull, ToSql, Type};
use tokio_postgres::Row;

use crate::sql::Placeholder;

/// A bound parameter value.
#[derive(Debug)]
pub enum Param {
    Long(i64),
    Double(f64),
    Bool(bool),
    Text(String),
    Blob(Vec<u8>),
    Null,
}

impl Param {
    /// The type the statement is prepared with for this value.
    pub fn pg_type(&self) -> Type {
        match self {
            Param::Long(_) => Type::INT8,
            Param::Double(_) => Type::FLOAT8,
            Param::Bool(_) => Type::BOOL,
            Param::Text(_) | Param::Null => Type::TEXT,
            Param::Blob(_) => Type::BYTEA,
        }
    }
}

impl ToSql for Param {
    fn to_sql(
        &self,
        ty: &Type,
        out: &mut tokio_postgres::types::private::BytesMut,
    ) -> Result<IsNull, Box<dyn std::error::Error + Sync + Send>> {
        match self {
            Param::Long(v) => v.to_sql(ty, out),
            Param::Double(v) => v.to_sql(ty, out),
            Param::Bool(v) => v.to_sql(ty, out),
            Param::Text(v) => v.to_sql(ty, out),
            Param::Blob(v) => v.to_sql(ty, out),
            Param::Null => Ok(IsNull::Yes),
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    to_sql_checked!();
}

/// A named parameter as sent: `{"name", "value": Field, "typeHint"}`.
pub struct NamedParam {
    pub name: String,
    pub value: Param,
    pub hint: Option<&'static str>,
}

/// The SQL type a `typeHint` casts a string to.
fn hint_type(hint: &str) -> Result<&'static str, String> {
    Ok(match hint {
        "DATE" => "DATE",
        "DECIMAL" => "NUMERIC",
        "JSON" => "JSONB",
        "TIME" => "TIME",
        "TIMESTAMP" => "TIMESTAMP",
        "UUID" => "UUID",
        other => return Err(format!("Invalid typeHint: {other}")),
    })
}

/// Parses one `Field` union (exactly one member).
pub fn field(value: &Value) -> Result<Param, String> {
    let object = value
        .as_object()
        .ok_or("A parameter value must be an object")?;
    let mut members = object.iter();
    let (Some((kind, v)), None) = (members.next(), members.next()) else {
        return Err("A parameter value must have exactly one member".into());
    };
    let bad = || format!("Invalid {kind}: {v}");
    Ok(match kind.as_str() {
        "longValue" => Param::Long(v.as_i64().ok_or_else(bad)?),
        "doubleValue" => Param::Double(v.as_f64().ok_or_else(bad)?),
        "booleanValue" => Param::Bool(v.as_bool().ok_or_else(bad)?),
        "stringValue" => Param::Text(v.as_str().ok_or_else(bad)?.to_string()),
        "blobValue" => Param::Blob(
            base64::engine::general_purpose::STANDARD
                .decode(v.as_str().ok_or_else(bad)?)
                .map_err(|_| bad())?,
        ),
        "isNull" if v.as_bool() == Some(true) => Param::Null,
        "arrayValue" => return Err("Array parameters are not supported".into()),
        _ => return Err(bad()),
    })
}

/// Parses a request's `parameters` list.
pub fn named_params(list: Option<&Value>) -> Result<Vec<NamedParam>, String> {
    let Some(list) = list else {
        return Ok(Vec::new());
    };
    let list = list.as_array().ok_or("parameters must be a list")?;
    list.iter()
        .map(|p| {
            let name = p["name"].as_str().ok_or("A parameter needs a name")?;
            let hint = p["typeHint"].as_str().map(hint_type).transpose()?;
            Ok(NamedParam {
                name: name.to_string(),
                value: field(&p["value"])?,
                hint,
            })
        })
        .collect()
}

/// How `name` is bound, given the request's parameters.
pub fn placeholder(params: &[NamedParam], name: &str) -> Option<Placeholder> {
    let p = params.iter().find(|p| p.name == name)?;
    Some(match (&p.value, p.hint) {
        (Param::Null, _) => Placeholder::Null,
        (Param::Text(_), Some(ty)) => Placeholder::Cast(ty),
        _ => Placeholder::Bound,
    })
}

/// Formats a timestamp the way the Data API returns it.
fn timestamp(t: chrono::NaiveDateTime) -> String {
    t.format("%Y-%m-%d %H:%M:%S%.f").to_string()
}

/// Column `i` of `row` as a `Field`, or the name of an unsupported type.
pub fn column(row: &Row, i: usize) -> Result<Value, String> {
    let ty = row.columns()[i].type_();
    fn get<'a, T: tokio_postgres::types::FromSql<'a>>(
        row: &'a Row,
        i: usize,
    ) -> Result<Option<T>, String> {
        row.try_get(i).map_err(|e| e.to_string())
    }
    let value = match *ty {
        Type::BOOL => get::<bool>(row, i)?.map(|v| json!({ "booleanValue": v })),
        Type::INT2 => get::<i16>(row, i)?.map(|v| json!({ "longValue": v })),
        Type::INT4 => get::<i32>(row, i)?.map(|v| json!({ "longValue": v })),
        Type::INT8 => get::<i64>(row, i)?.map(|v| json!({ "longValue": v })),
        Type::OID => get::<u32>(row, i)?.map(|v| json!({ "longValue": v })),
        Type::FLOAT4 => get::<f32>(row, i)?.map(|v| json!({ "doubleValue": v })),
        Type::FLOAT8 => get::<f64>(row, i)?.map(|v| json!({ "doubleValue": v })),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => {
            get::<String>(row, i)?.map(|v| json!({ "stringValue": v }))
        }
        Type::BYTEA => get::<Vec<u8>>(row, i)?
            .map(|v| json!({ "blobValue": base64::engine::general_purpose::STANDARD.encode(v) })),
        Type::TIMESTAMP => {
            get::<chrono::NaiveDateTime>(row, i)?.map(|v| json!({ "stringValue": timestamp(v) }))
        }
        Type::TIMESTAMPTZ => get::<chrono::DateTime<chrono::Utc>>(row, i)?
            .map(|v| json!({ "stringValue": timestamp(v.naive_utc()) })),
        Type::DATE => get::<chrono::NaiveDate>(row, i)?
            .map(|v| json!({ "stringValue": v.format("%Y-%m-%d").to_string() })),
        Type::TIME => get::<chrono::NaiveTime>(row, i)?
            .map(|v| json!({ "stringValue": v.format("%H:%M:%S%.f").to_string() })),
        Type::JSON | Type::JSONB => {
            get::<Value>(row, i)?.map(|v| json!({ "stringValue": v.to_string() }))
        }
        _ => {
            return Err(format!(
                "The result contains the unsupported data type {}.",
                ty.name()
            ))
        }
    };
    Ok(value.unwrap_or_else(|| json!({ "isNull": true })))
}

/// A column's plain JSON value, for `formatRecordsAs: JSON`.
pub fn plain(field: &Value) -> Value {
    let Some((kind, v)) = field.as_object().and_then(|o| o.iter().next()) else {
        return Value::Null;
    };
    if kind == "isNull" {
        Value::Null
    } else {
        v.clone()
    }
}
