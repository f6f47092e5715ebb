//! Shared SQLite plumbing for the local bindings: opening a database file with
//! the right pragmas, and converting between JSON values and SQLite values.

use std::path::Path;
use std::time::Duration;

use rusqlite::Connection;
use rusqlite::types::{Value as SqlValue, ValueRef};
use serde_json::Value;

use super::error::{OpError, OpResult};

/// Open (creating parent directories) a database used by several threads.
pub fn open(path: &Path) -> OpResult<Connection> {
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent)?;
    }
    let conn = Connection::open(path)?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.pragma_update(None, "journal_mode", "WAL")?;
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    Ok(conn)
}

/// Delete the SQLite database at `path` with its `-wal`/`-shm` companions
/// (missing files are fine).
pub fn remove_database(path: &Path) {
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
    }
}

/// A JSON parameter bound to a statement, as D1 converts them.
pub fn json_to_sql(value: &Value) -> OpResult<SqlValue> {
    Ok(match value {
        Value::Null => SqlValue::Null,
        Value::Bool(b) => SqlValue::Integer(i64::from(*b)),
        Value::Number(n) => match n.as_i64() {
            Some(i) => SqlValue::Integer(i),
            None => SqlValue::Real(n.as_f64().unwrap_or(f64::NAN)),
        },
        Value::String(s) => SqlValue::Text(s.clone()),
        Value::Array(items) if items.iter().all(|v| v.as_u64().is_some_and(|b| b < 256)) => {
            // Bytes cross the boundary as a list of ints (as D1 returns blobs).
            SqlValue::Blob(
                items
                    .iter()
                    .map(|v| v.as_u64().unwrap_or(0) as u8)
                    .collect(),
            )
        }
        other => {
            return Err(OpError::invalid(format!(
                "D1_TYPE_ERROR: Type '{}' not supported for value '{}'",
                json_type_name(other),
                other
            )));
        }
    })
}

fn json_type_name(v: &Value) -> &'static str {
    match v {
        Value::Array(_) | Value::Object(_) => "object",
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "boolean",
        Value::Null => "null",
    }
}

/// A column value as D1 returns it: blobs become a list of byte values.
pub fn sql_to_json(value: ValueRef<'_>) -> Value {
    match value {
        ValueRef::Null => Value::Null,
        ValueRef::Integer(i) => Value::from(i),
        // JS has one number type and Pyodide turns integral ones into `int`.
        ValueRef::Real(f) if f.fract() == 0.0 && f.abs() < 9_007_199_254_740_992.0 => {
            Value::from(f as i64)
        }
        ValueRef::Real(f) => serde_json::Number::from_f64(f)
            .map(Value::Number)
            .unwrap_or(Value::Null),
        ValueRef::Text(t) => Value::String(String::from_utf8_lossy(t).into_owned()),
        ValueRef::Blob(b) => Value::Array(b.iter().map(|x| Value::from(*x)).collect()),
    }
}

/// Rows of one statement, with its column names.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Rows {
    /// Column names in statement order.
    pub columns: Vec<String>,
    /// Row values in column order.
    pub rows: Vec<Vec<Value>>,
    /// Whether the statement could not have written anything.
    pub readonly: bool,
}

impl Rows {
    /// Rows as objects keyed by column name (later duplicates win, as in D1).
    pub fn objects(&self) -> Vec<Value> {
        self.rows
            .iter()
            .map(|row| {
                let mut obj = serde_json::Map::new();
                for (name, v) in self.columns.iter().zip(row) {
                    obj.insert(name.clone(), v.clone());
                }
                Value::Object(obj)
            })
            .collect()
    }
}

/// Run one statement of worker SQL with JSON params; returns its rows (if
/// any). Prepared afresh, never from the statement cache: the authorizer
/// only sees a statement when it is prepared, and a cached one may have been
/// prepared by the tool's own code without it.
pub fn query(conn: &Connection, sql: &str, params: &[Value]) -> OpResult<Rows> {
    let mut stmt = conn.prepare(sql)?;
    let expected = stmt.parameter_count();
    if expected != params.len() {
        return Err(OpError::failed(format!(
            "Wrong number of parameter bindings for SQL query: expected {expected}, got {}",
            params.len()
        )));
    }
    for (i, p) in params.iter().enumerate() {
        stmt.raw_bind_parameter(i + 1, json_to_sql(p)?)?;
    }
    let columns: Vec<String> = stmt.column_names().iter().map(|s| s.to_string()).collect();
    let mut out = Rows {
        columns,
        rows: Vec::new(),
        readonly: stmt.readonly(),
    };
    let mut rows = stmt.raw_query();
    while let Some(row) = rows.next()? {
        let mut values = Vec::with_capacity(out.columns.len());
        for i in 0..out.columns.len() {
            values.push(sql_to_json(row.get_ref(i)?));
        }
        out.rows.push(values);
    }
    Ok(out)
}

/// Current wall-clock time in milliseconds since the epoch.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

/// Random lowercase hex of `bytes` random bytes.
pub fn random_hex(bytes: usize) -> String {
    let mut buf = vec![0u8; bytes];
    // getrandom only fails on exotic platforms; fall back to the clock.
    if getrandom::fill(&mut buf).is_err() {
        let t = now_ms().to_le_bytes();
        for (i, b) in buf.iter_mut().enumerate() {
            *b = t[i % t.len()] ^ (i as u8);
        }
    }
    hex(&buf)
}

/// A random (version 4) UUID, as miniflare gives `version_metadata.id`.
pub fn uuid_v4() -> String {
    let h = random_hex(16);
    let mut b: Vec<char> = h.chars().collect();
    b[12] = '4';
    b[16] = ['8', '9', 'a', 'b'][usize::from(b[16].to_digit(16).unwrap_or(0) as u8 & 3)];
    let s: String = b.into_iter().collect();
    format!(
        "{}-{}-{}-{}-{}",
        &s[0..8],
        &s[8..12],
        &s[12..16],
        &s[16..20],
        &s[20..32]
    )
}

/// Lowercase hex encoding.
pub fn hex(bytes: &[u8]) -> String {
    use std::fmt::Write;
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        let _ = write!(s, "{b:02x}");
    }
    s
}
