//! D1 on a real SQLite file, one per database: prepared queries in the
//! all/first/run/raw modes, `exec` of several statements and `batch` in one
//! transaction, with D1's result and `meta` shapes. Worker SQL (and
//! migration files) run under [`SqlGuard`]: D1's authorizer rules and its
//! per-query time limit.

use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant};

use rusqlite::fallible_iterator::FallibleIterator;
use rusqlite::{Batch, Connection};
use serde_json::{Value, json};

use crate::dev::bindings::Reply;
use crate::dev::bindings::sql_guard::{self, SqlFailure, SqlGuard};
use crate::dev::bindings::sqlite::{self, Rows};
use crate::dev::bindings::{OpError, OpResult};

/// One D1 database.
pub struct D1Database {
    conn: Mutex<Connection>,
    time_limit: Duration,
}

/// The rows and counters of one executed statement.
struct Executed {
    rows: Rows,
    changes: u64,
    last_row_id: i64,
    readonly: bool,
    duration_ms: f64,
}

impl D1Database {
    /// Open (or create) the database file at `path`.
    pub fn open(path: &Path) -> OpResult<D1Database> {
        let conn = sqlite::open(path)?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        sql_guard::harden(&conn)?;
        Ok(D1Database {
            conn: Mutex::new(conn),
            time_limit: sql_guard::DEFAULT_TIME_LIMIT,
        })
    }

    /// Stop each query after `limit` instead of D1's 30 s.
    pub fn with_time_limit(mut self, limit: Duration) -> D1Database {
        self.time_limit = limit;
        self
    }

    /// The connection, waiting for a query running on it until that query
    /// should have been stopped (D1's "overloaded" error after that).
    fn lock(&self) -> OpResult<MutexGuard<'_, Connection>> {
        sql_guard::lock_until(&self.conn, sql_guard::wait_deadline(self.time_limit)).ok_or_else(
            || OpError::failed("D1_ERROR: D1 DB is overloaded. Requests queued for too long."),
        )
    }

    /// Guard `conn` for one worker query (or exec, batch, migration file).
    fn guard<'c>(&self, conn: &'c Connection) -> SqlGuard<'c> {
        SqlGuard::new(conn, sql_guard::deadline(self.time_limit))
    }

    /// Dispatch one `d1.*` op.
    pub fn handle(&self, op: &str, args: &Value) -> OpResult<Reply> {
        match op {
            "query" => {
                let sql = str_arg(args, "sql")?;
                let params = params_arg(args)?;
                let mode = args.get("mode").and_then(Value::as_str).unwrap_or("all");
                let column = args.get("column").and_then(Value::as_str);
                let column_names = args
                    .get("column_names")
                    .and_then(Value::as_bool)
                    .unwrap_or(false);
                let conn = self.lock()?;
                let done = {
                    let guard = self.guard(&conn);
                    execute(&conn, &guard, sql, &params)?
                };
                Ok(Reply::value(match mode {
                    "first" => first(&done.rows, column)?,
                    "raw" => raw(&done.rows, column_names),
                    "run" | "all" => self.all_shaped(&conn, &done),
                    other => {
                        return Err(OpError::invalid(format!(
                            "unknown D1 query mode `{other}` (expected all, first, run or raw)"
                        )));
                    }
                }))
            }
            "exec" => {
                let sql = str_arg(args, "sql")?;
                Ok(Reply::value(self.exec(sql)?))
            }
            "batch" => {
                let statements = args
                    .get("statements")
                    .and_then(Value::as_array)
                    .ok_or_else(|| OpError::invalid("D1 batch needs a list of statements"))?;
                Ok(Reply::value(self.batch(statements)?))
            }
            other => Err(OpError::UnknownOp(format!("d1.{other}"))),
        }
    }

    /// Apply the `.sql` files of `dir` not yet recorded in `table` (wrangler's
    /// `d1_migrations` layout), in name order, each in a transaction and,
    /// like any SQL sent to D1, under D1's rules and time limit.
    /// Returns the names applied.
    pub fn apply_migrations(&self, dir: &Path, table: &str) -> OpResult<Vec<String>> {
        if !dir.is_dir() {
            return Ok(Vec::new());
        }
        if !table.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
            return Err(OpError::invalid(format!(
                "migrations_table `{table}` must be a plain SQL name"
            )));
        }
        let mut files: Vec<std::path::PathBuf> = std::fs::read_dir(dir)?
            .flatten()
            .map(|e| e.path())
            .filter(|p| p.extension().is_some_and(|e| e == "sql"))
            .collect();
        files.sort();
        let mut conn = self.lock()?;
        conn.execute_batch(&format!(
            "CREATE TABLE IF NOT EXISTS {table} (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                name TEXT UNIQUE,
                applied_at TIMESTAMP DEFAULT CURRENT_TIMESTAMP NOT NULL
            );"
        ))?;
        let mut applied = Vec::new();
        for file in files {
            let name = file
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            let done: i64 = conn.query_row(
                &format!("SELECT count(*) FROM {table} WHERE name = ?1"),
                [&name],
                |r| r.get(0),
            )?;
            if done > 0 {
                continue;
            }
            let sql = std::fs::read_to_string(&file)?;
            let tx = conn.transaction()?;
            {
                let guard = self.guard(&tx);
                tx.execute_batch(&sql).map_err(|e| {
                    let why = d1_failure(guard.failure(e));
                    OpError::failed(format!("migration {} failed: {why}", file.display()))
                })?;
            }
            tx.execute(&format!("INSERT INTO {table} (name) VALUES (?1)"), [&name])?;
            tx.commit()?;
            applied.push(name);
        }
        Ok(applied)
    }

    /// Run every statement in `sql` without results: `{count, duration}`.
    pub fn exec(&self, sql: &str) -> OpResult<Value> {
        let start = Instant::now();
        let conn = self.lock()?;
        let guard = self.guard(&conn);
        let fail = |e| d1_exec_error(d1_failure(guard.failure(e)));
        let mut batch = Batch::new(&conn, sql);
        let mut count = 0u64;
        loop {
            match batch.next() {
                Ok(Some(mut stmt)) => {
                    let mut rows = stmt.raw_query();
                    while rows.next().map_err(fail)?.is_some() {}
                    count += 1;
                }
                Ok(None) => break,
                Err(e) => return Err(fail(e)),
            }
        }
        Ok(json!({ "count": count, "duration": ms_since(start) }))
    }

    /// Run `statements` in one transaction; any failure rolls all back.
    pub fn batch(&self, statements: &[Value]) -> OpResult<Value> {
        let mut conn = self.lock()?;
        let tx = conn.transaction()?;
        // One deadline for the whole batch; `meta` is read between statements,
        // outside the guard (it reads pragmas worker SQL may not).
        let deadline = sql_guard::deadline(self.time_limit);
        let mut results = Vec::with_capacity(statements.len());
        for stmt in statements {
            let sql = str_arg(stmt, "sql")?;
            let params = params_arg(stmt)?;
            let done = execute(&tx, &SqlGuard::new(&tx, deadline), sql, &params)?;
            results.push(self.all_shaped(&tx, &done));
        }
        tx.commit()?;
        Ok(Value::Array(results))
    }

    fn all_shaped(&self, conn: &Connection, done: &Executed) -> Value {
        json!({
            "success": true,
            "results": done.rows.objects(),
            "meta": self.meta(conn, done),
        })
    }

    fn meta(&self, conn: &Connection, done: &Executed) -> Value {
        let size_after = conn
            .query_row(
                "SELECT page_count * page_size FROM pragma_page_count(), pragma_page_size()",
                [],
                |r| r.get::<_, i64>(0),
            )
            .unwrap_or(0);
        let (changes, written) = if done.readonly {
            (0, 0)
        } else {
            (done.changes, done.changes)
        };
        json!({
            "served_by": "pywrangler-rs-local",
            "served_by_region": "local",
            "served_by_primary": true,
            "timings": { "sql_duration_ms": done.duration_ms },
            "duration": done.duration_ms,
            "changes": changes,
            "last_row_id": done.last_row_id,
            "changed_db": !done.readonly && changes > 0,
            "size_after": size_after,
            "rows_read": done.rows.rows.len(),
            "rows_written": written,
        })
    }
}

fn execute(
    conn: &Connection,
    guard: &SqlGuard<'_>,
    sql: &str,
    params: &[Value],
) -> OpResult<Executed> {
    let start = Instant::now();
    let rows = sqlite::query(conn, sql, params).map_err(|e| match e {
        OpError::Sqlite(e) => d1_failure(guard.failure(e)),
        other => other,
    })?;
    Ok(Executed {
        readonly: rows.readonly,
        rows,
        changes: conn.changes(),
        last_row_id: conn.last_insert_rowid(),
        duration_ms: ms_since(start),
    })
}

fn first(rows: &Rows, column: Option<&str>) -> OpResult<Value> {
    let Some(row) = rows.rows.first() else {
        return Ok(Value::Null);
    };
    match column {
        None => Ok(rows.objects().into_iter().next().unwrap_or(Value::Null)),
        Some(name) => match rows.columns.iter().position(|c| c == name) {
            Some(i) => Ok(row[i].clone()),
            None => Err(OpError::failed(format!(
                "D1_COLUMN_NOTFOUND: Column not found ({name})"
            ))),
        },
    }
}

fn raw(rows: &Rows, column_names: bool) -> Value {
    let mut out = Vec::with_capacity(rows.rows.len() + 1);
    if column_names {
        out.push(json!(rows.columns));
    }
    out.extend(rows.rows.iter().map(|r| Value::Array(r.clone())));
    Value::Array(out)
}

fn d1_error(e: rusqlite::Error) -> OpError {
    let msg = match &e {
        rusqlite::Error::SqliteFailure(_, Some(m)) => m.clone(),
        other => other.to_string(),
    };
    OpError::failed(format!("D1_ERROR: {msg}: SQLITE_ERROR"))
}

/// A guarded statement's failure in D1's words.
fn d1_failure(failure: SqlFailure) -> OpError {
    match failure {
        SqlFailure::Denied(why) => OpError::failed(format!("D1_ERROR: {why}: SQLITE_AUTH")),
        SqlFailure::TimedOut => {
            OpError::failed("D1_ERROR: D1 DB exceeded its CPU time limit and was reset.")
        }
        SqlFailure::Other(e) => d1_error(e),
    }
}

fn d1_exec_error(e: OpError) -> OpError {
    match e {
        OpError::Failed(m) => OpError::failed(m.replacen("D1_ERROR", "D1_EXEC_ERROR", 1)),
        other => other,
    }
}

fn ms_since(start: Instant) -> f64 {
    start.elapsed().as_secs_f64() * 1000.0
}

fn str_arg<'a>(args: &'a Value, name: &str) -> OpResult<&'a str> {
    args.get(name)
        .and_then(Value::as_str)
        .ok_or_else(|| OpError::invalid(format!("D1: `{name}` must be a string")))
}

fn params_arg(args: &Value) -> OpResult<Vec<Value>> {
    match args.get("params") {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(a)) => Ok(a.clone()),
        Some(other) => Err(OpError::invalid(format!(
            "D1: params must be a list, got {other}"
        ))),
    }
}
