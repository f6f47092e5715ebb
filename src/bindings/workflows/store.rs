//! Workflows: one SQLite file per workflow (`v3/workflows/<name>.sqlite`)
//! holding its instances and every finished step, so a `run()` replayed after
//! a sleep, a retry delay or a `dev` restart gets completed steps' stored
//! results instead of running them again. The engine loop
//! (`src/dev/workflows.rs`) runs due instances; this module is the store and
//! the `workflow.*` host ops (docs/runtime-abi.md).

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::dev::bindings::sqlite;
use crate::dev::bindings::{Clock, Reply};
use crate::dev::bindings::{OpError, OpResult};

/// Workflows' default step limit (`DEFAULT_STEP_LIMIT` in workers-sdk).
pub const DEFAULT_STEP_LIMIT: u64 = 10_000;
const MAX_ID_LEN: usize = 100;
const MAX_STEP_NAME: usize = 256;

/// A `steps` row: state, value, error, attempts, wake-up time.
type StepRow = (String, Option<String>, Option<String>, i64, Option<i64>);
/// An `instances` row: status, params, creation time, output, error.
type InstanceRow = (String, String, i64, Option<String>, Option<String>);
/// A wait's `steps` row: state, value (the event), error, deadline.
type WaitRow = (String, Option<String>, Option<String>, Option<i64>);

/// One configured workflow: its binding(s) share it by `name`.
#[derive(Debug, Clone, PartialEq)]
pub struct WorkflowConfig {
    /// The `env` binding name.
    pub binding: String,
    /// The workflow's name.
    pub name: String,
    /// The `WorkflowEntrypoint` export that runs it.
    pub class_name: String,
    /// `limits.steps` (default [`DEFAULT_STEP_LIMIT`]).
    pub step_limit: u64,
    /// `step.do` resolves dependencies from parameter names
    /// (`python_workflows_implicit_dependencies`, implied from 2026-02-25).
    pub implicit_dependencies: bool,
}

/// An instance the engine should run now.
#[derive(Debug, Clone, PartialEq)]
pub struct DueInstance {
    /// Instance id.
    pub id: String,
    /// `params` given to `create()`.
    pub params: Value,
    /// Creation time, ms since the epoch (the event's `timestamp`).
    pub created_ms: i64,
}

/// How one `run()` of an instance ended.
#[derive(Debug, Clone, PartialEq)]
pub enum RunOutcome {
    /// `run()` returned.
    Complete(Value),
    /// `run()` raised: `{name, message}`.
    Errored(Value),
    /// `run()` stopped at a sleep (`waiting`) or a retry delay (`running`)
    /// and must be replayed at `until`.
    Suspended { until: i64, sleeping: bool },
    /// The instance was paused or terminated while running: leave it.
    Aborted,
}

/// One instance as the local explorer API describes it.
#[derive(Debug, Clone, PartialEq)]
pub struct InstanceDetails {
    pub status: String,
    pub params: Value,
    pub created_ms: i64,
    pub output: Option<Value>,
    pub error: Option<Value>,
    pub steps: Vec<StoredStep>,
}

/// One `steps` row. `step.do` rows have `attempts >= 1` (states `done`,
/// `failed`, `retrying`); sleeps and waits have none: a sleep is `sleeping`
/// or `done`, a wait `waiting` (its `value` the event type), `received` (its
/// `value` the event) or `failed` (timed out).
#[derive(Debug, Clone, PartialEq)]
pub struct StoredStep {
    pub name: String,
    pub state: String,
    pub value: Option<Value>,
    pub error: Option<Value>,
    pub attempts: i64,
    /// Wake-up time (ms) of a sleep, a wait's deadline, a retry's time.
    pub until: Option<i64>,
}

/// The instances and step results of one workflow.
pub struct WorkflowStore {
    conn: Mutex<Connection>,
    clock: Clock,
    step_limit: u64,
}

impl WorkflowStore {
    /// Open (or create) `<root>/workflows/<name>.sqlite`.
    pub fn open(root: &Path, name: &str, step_limit: u64, clock: Clock) -> OpResult<Self> {
        let path = root
            .join("workflows")
            .join(format!("{}.sqlite", crate::dev::bindings::file_name(name)));
        let conn = sqlite::open(&path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS instances (
                id TEXT PRIMARY KEY,
                status TEXT NOT NULL,
                params TEXT NOT NULL,
                created INTEGER NOT NULL,
                wake_at INTEGER,
                output TEXT,
                error TEXT
            );
            CREATE INDEX IF NOT EXISTS instances_wake ON instances (wake_at);
            CREATE TABLE IF NOT EXISTS steps (
                instance TEXT NOT NULL,
                key TEXT NOT NULL,
                name TEXT NOT NULL,
                state TEXT NOT NULL,
                value TEXT,
                error TEXT,
                attempts INTEGER NOT NULL DEFAULT 0,
                until INTEGER,
                seq INTEGER NOT NULL,
                PRIMARY KEY (instance, key)
            );
            CREATE TABLE IF NOT EXISTS events (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                instance TEXT NOT NULL,
                type TEXT NOT NULL,
                payload TEXT NOT NULL,
                timestamp INTEGER NOT NULL
            );
            CREATE INDEX IF NOT EXISTS events_by_type ON events (instance, type, seq);",
        )?;
        Ok(WorkflowStore {
            conn: Mutex::new(conn),
            clock,
            step_limit,
        })
    }

    /// Schedule instances that were running when the last `dev` stopped
    /// (called once per process: a reload's new store must not re-run an
    /// instance the previous build is still running).
    pub fn resume_interrupted(&self) -> OpResult<usize> {
        let now = (self.clock)();
        Ok(self.lock().execute(
            "UPDATE instances SET wake_at = ?1
             WHERE status IN ('queued', 'running') AND wake_at IS NULL",
            [now],
        )?)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Dispatch one `workflow.<op>` host call.
    pub fn handle(&self, op: &str, args: &Value) -> OpResult<Reply> {
        let value = match op {
            "create" => json!({ "id": self.create(args)? }),
            "createBatch" => {
                let list = args
                    .get("instances")
                    .and_then(Value::as_array)
                    .ok_or_else(|| OpError::invalid("createBatch needs `instances`"))?;
                if list.is_empty() {
                    return Err(OpError::failed(
                        "WorkflowError: batchCreate should have at least 1 instance",
                    ));
                }
                let mut ids = Vec::new();
                for item in list {
                    ids.push(json!({ "id": self.create(item)? }));
                }
                Value::Array(ids)
            }
            "get" => {
                let id = id_arg(args)?;
                self.require(id)?;
                json!({ "id": id })
            }
            "status" => self.status(id_arg(args)?)?,
            "pause" | "resume" | "terminate" | "restart" => {
                self.control(op, id_arg(args)?)?;
                Value::Null
            }
            "step.get" => self.step_get(args)?,
            "step.put" => {
                let (instance, key) = step_ids(args)?;
                let value = args.get("value").cloned().unwrap_or(Value::Null);
                self.step_finish(instance, key, args, "done", Some(&value), None)?;
                Value::Null
            }
            "step.fail" => self.step_fail(args)?,
            "sleep" => self.sleep(args)?,
            "sendEvent" => {
                self.send_event(args)?;
                Value::Null
            }
            "wait" => self.wait_for_event(args)?,
            other => return Err(OpError::UnknownOp(format!("workflow.{other}"))),
        };
        Ok(Reply::value(value))
    }

    fn create(&self, args: &Value) -> OpResult<String> {
        let id = match args.get("id") {
            None | Some(Value::Null) => sqlite::uuid_v4(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        if !valid_id(&id) {
            return Err(OpError::failed("Workflow instance has invalid id"));
        }
        let params = args.get("params").cloned().unwrap_or(Value::Null);
        let now = (self.clock)();
        let conn = self.lock();
        let inserted = conn.execute(
            "INSERT OR IGNORE INTO instances (id, status, params, created, wake_at)
             VALUES (?1, 'queued', ?2, ?3, ?3)",
            params![id, params.to_string(), now],
        )?;
        if inserted == 0 {
            return Err(OpError::failed(format!(
                "instance.already_exists: an instance with id \"{id}\" already exists"
            )));
        }
        Ok(id)
    }

    fn require(&self, id: &str) -> OpResult<String> {
        self.lock()
            .query_row("SELECT status FROM instances WHERE id = ?1", [id], |r| {
                r.get(0)
            })
            .optional()?
            .ok_or_else(|| OpError::failed("instance.not_found"))
    }

    /// `instance.status()`: `{status, output, error, __LOCAL_DEV_STEP_OUTPUTS}`.
    pub fn status(&self, id: &str) -> OpResult<Value> {
        let conn = self.lock();
        let row: Option<(String, Option<String>, Option<String>)> = conn
            .query_row(
                "SELECT status, output, error FROM instances WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        let (status, output, error) = row.ok_or_else(|| OpError::failed("instance.not_found"))?;
        let mut stmt = conn.prepare_cached(
            "SELECT value FROM steps WHERE instance = ?1 AND state = 'done' AND value IS NOT NULL ORDER BY seq",
        )?;
        let steps: Vec<Value> = stmt
            .query_map([id], |r| r.get::<_, String>(0))?
            .filter_map(Result::ok)
            .map(|s| parse(&s))
            .collect();
        Ok(json!({
            "status": status,
            "output": output.as_deref().map(parse).unwrap_or(Value::Null),
            "error": error.as_deref().map(parse).unwrap_or(Value::Null),
            "__LOCAL_DEV_STEP_OUTPUTS": steps,
        }))
    }

    fn control(&self, op: &str, id: &str) -> OpResult<()> {
        let status = self.require(id)?;
        let finished = matches!(status.as_str(), "complete" | "errored" | "terminated");
        let now = (self.clock)();
        let conn = self.lock();
        match op {
            "pause" if !finished => {
                conn.execute(
                    "UPDATE instances SET status = 'paused', wake_at = NULL WHERE id = ?1",
                    [id],
                )?;
            }
            "resume" if status == "paused" => {
                conn.execute(
                    "UPDATE instances SET status = 'queued', wake_at = ?2 WHERE id = ?1",
                    params![id, now],
                )?;
            }
            "terminate" if !finished => {
                conn.execute(
                    "UPDATE instances SET status = 'terminated', wake_at = NULL WHERE id = ?1",
                    [id],
                )?;
            }
            "restart" => {
                let tx = conn.unchecked_transaction()?;
                tx.execute("DELETE FROM steps WHERE instance = ?1", [id])?;
                tx.execute(
                    "UPDATE instances SET status = 'queued', wake_at = ?2, output = NULL, error = NULL
                     WHERE id = ?1",
                    params![id, now],
                )?;
                tx.commit()?;
            }
            "pause" | "terminate" => {
                return Err(OpError::failed(format!(
                    "Cannot {op} instance since it is in a finite state ({status})"
                )));
            }
            _ => {}
        }
        Ok(())
    }

    /// Every instance as `(id, status, created ms)`, newest first (the
    /// local explorer API's instance list).
    pub fn instances(&self) -> OpResult<Vec<(String, String, i64)>> {
        let conn = self.lock();
        let mut stmt = conn.prepare_cached(
            "SELECT id, status, created FROM instances ORDER BY created DESC, rowid DESC",
        )?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    /// One instance with its steps in the order they were first reached, for
    /// the local explorer API; `None` when there is no such instance.
    pub fn details(&self, id: &str) -> OpResult<Option<InstanceDetails>> {
        let conn = self.lock();
        let row: Option<InstanceRow> = conn
            .query_row(
                "SELECT status, params, created, output, error FROM instances WHERE id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        let Some((status, params, created_ms, output, error)) = row else {
            return Ok(None);
        };
        let mut stmt = conn.prepare_cached(
            "SELECT name, state, value, error, attempts, until FROM steps
             WHERE instance = ?1 ORDER BY seq",
        )?;
        let steps = stmt
            .query_map([id], |r| {
                Ok(StoredStep {
                    name: r.get(0)?,
                    state: r.get(1)?,
                    value: r.get::<_, Option<String>>(2)?.as_deref().map(parse),
                    error: r.get::<_, Option<String>>(3)?.as_deref().map(parse),
                    attempts: r.get(4)?,
                    until: r.get(5)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(Some(InstanceDetails {
            status,
            params: parse(&params),
            created_ms,
            output: output.as_deref().map(parse),
            error: error.as_deref().map(parse),
            steps,
        }))
    }

    /// Delete one instance, its steps and queued events; false when there
    /// was no such instance.
    pub fn delete(&self, id: &str) -> OpResult<bool> {
        let conn = self.lock();
        let tx = conn.unchecked_transaction()?;
        let gone = tx.execute("DELETE FROM instances WHERE id = ?1", [id])?;
        tx.execute("DELETE FROM steps WHERE instance = ?1", [id])?;
        tx.execute("DELETE FROM events WHERE instance = ?1", [id])?;
        tx.commit()?;
        Ok(gone > 0)
    }

    /// Delete every instance of the workflow.
    pub fn delete_all(&self) -> OpResult<()> {
        self.lock()
            .execute_batch("DELETE FROM instances; DELETE FROM steps; DELETE FROM events;")?;
        Ok(())
    }

    /// Instances whose time to run has come; each is marked `running` and
    /// taken off the schedule until [`finish`](Self::finish).
    pub fn take_due(&self) -> OpResult<Vec<DueInstance>> {
        let now = (self.clock)();
        let conn = self.lock();
        let tx = conn.unchecked_transaction()?;
        let mut due = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT id, params, created FROM instances
                 WHERE wake_at IS NOT NULL AND wake_at <= ?1
                   AND status IN ('queued', 'running', 'waiting')
                 ORDER BY wake_at, created",
            )?;
            let rows = stmt.query_map([now], |r| {
                Ok(DueInstance {
                    id: r.get(0)?,
                    params: parse(&r.get::<_, String>(1)?),
                    created_ms: r.get(2)?,
                })
            })?;
            for row in rows {
                due.push(row?);
            }
        }
        for d in &due {
            tx.execute(
                "UPDATE instances SET status = 'running', wake_at = NULL WHERE id = ?1",
                [&d.id],
            )?;
        }
        tx.commit()?;
        Ok(due)
    }

    /// Record how a run ended (unless the instance was paused or terminated
    /// meanwhile).
    pub fn finish(&self, id: &str, outcome: &RunOutcome) -> OpResult<()> {
        let conn = self.lock();
        let sql = "UPDATE instances SET status = ?2, output = ?3, error = ?4, wake_at = ?5
                   WHERE id = ?1 AND status = 'running'";
        match outcome {
            RunOutcome::Complete(v) => conn.execute(
                sql,
                params![id, "complete", v.to_string(), None::<String>, None::<i64>],
            )?,
            RunOutcome::Errored(e) => conn.execute(
                sql,
                params![id, "errored", None::<String>, e.to_string(), None::<i64>],
            )?,
            RunOutcome::Suspended { until, sleeping } => conn.execute(
                sql,
                params![
                    id,
                    if *sleeping { "waiting" } else { "running" },
                    None::<String>,
                    None::<String>,
                    until
                ],
            )?,
            RunOutcome::Aborted => 0,
        };
        if let RunOutcome::Suspended { sleeping: true, .. } = outcome {
            // An event sent while this run was on its way to the wait.
            wake_if_event_waiting(&conn, id, (self.clock)())?;
        }
        Ok(())
    }

    fn running(&self, conn: &Connection, instance: &str) -> OpResult<bool> {
        let status: Option<String> = conn
            .query_row(
                "SELECT status FROM instances WHERE id = ?1",
                [instance],
                |r| r.get(0),
            )
            .optional()?;
        Ok(status.as_deref() == Some("running"))
    }

    /// `step.get`: the stored state of one step of the running instance.
    fn step_get(&self, args: &Value) -> OpResult<Value> {
        let (instance, key) = step_ids(args)?;
        let name = args.get("name").and_then(Value::as_str).unwrap_or("");
        check_step_name(name)?;
        let conn = self.lock();
        if !self.running(&conn, instance)? {
            return Ok(json!({ "status": "aborted" }));
        }
        let row: Option<StepRow> = conn
            .query_row(
                "SELECT state, value, error, attempts, until FROM steps WHERE instance = ?1 AND key = ?2",
                params![instance, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?)),
            )
            .optional()?;
        Ok(match row {
            Some((state, value, _, _, _)) if state == "done" => {
                json!({ "status": "done", "value": value.as_deref().map(parse).unwrap_or(Value::Null) })
            }
            Some((state, _, error, _, _)) if state == "failed" => {
                json!({ "status": "failed", "error": error.as_deref().map(parse).unwrap_or(Value::Null) })
            }
            Some((_, _, _, attempts, until)) => {
                json!({ "status": "pending", "attempts": attempts, "retry_at": until, "now": (self.clock)() })
            }
            None => {
                self.check_step_limit(&conn, instance)?;
                json!({ "status": "pending", "attempts": 0, "retry_at": null, "now": (self.clock)() })
            }
        })
    }

    /// Workflows' error once `instance` has as many steps as its limit.
    fn check_step_limit(&self, conn: &Connection, instance: &str) -> OpResult<()> {
        let count: i64 = conn.query_row(
            "SELECT count(*) FROM steps WHERE instance = ?1",
            [instance],
            |r| r.get(0),
        )?;
        if count as u64 >= self.step_limit {
            return Err(OpError::failed(format!(
                "The limit of {} steps has been reached. This limit can be changed in your worker configuration.",
                self.step_limit
            )));
        }
        Ok(())
    }

    fn step_finish(
        &self,
        instance: &str,
        key: &str,
        args: &Value,
        state: &str,
        value: Option<&Value>,
        error: Option<&Value>,
    ) -> OpResult<()> {
        let name = args.get("name").and_then(Value::as_str).unwrap_or("");
        let attempts = args.get("attempts").and_then(Value::as_i64).unwrap_or(1);
        let conn = self.lock();
        conn.execute(
            "INSERT INTO steps (instance, key, name, state, value, error, attempts, until, seq)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, NULL,
                     (SELECT coalesce(max(seq), 0) + 1 FROM steps WHERE instance = ?1))
             ON CONFLICT(instance, key) DO UPDATE SET
                state = ?4, value = ?5, error = ?6, attempts = ?7, until = NULL",
            params![
                instance,
                key,
                name,
                state,
                value.map(Value::to_string),
                error.map(Value::to_string),
                attempts
            ],
        )?;
        Ok(())
    }

    /// `step.fail`: a failed attempt; `delay_ms: null` makes it final.
    /// Returns `{retry_at}` (null when final).
    fn step_fail(&self, args: &Value) -> OpResult<Value> {
        let (instance, key) = step_ids(args)?;
        let error = args.get("error").cloned().unwrap_or(Value::Null);
        let Some(delay) = args.get("delay_ms").and_then(Value::as_i64) else {
            self.step_finish(instance, key, args, "failed", None, Some(&error))?;
            return Ok(json!({ "retry_at": null }));
        };
        let until = (self.clock)() + delay.max(0);
        let name = args.get("name").and_then(Value::as_str).unwrap_or("");
        let attempts = args.get("attempts").and_then(Value::as_i64).unwrap_or(1);
        let conn = self.lock();
        conn.execute(
            "INSERT INTO steps (instance, key, name, state, error, attempts, until, seq)
             VALUES (?1, ?2, ?3, 'retrying', ?4, ?5, ?6,
                     (SELECT coalesce(max(seq), 0) + 1 FROM steps WHERE instance = ?1))
             ON CONFLICT(instance, key) DO UPDATE SET
                state = 'retrying', error = ?4, attempts = ?5, until = ?6",
            params![instance, key, name, error.to_string(), attempts, until],
        )?;
        Ok(json!({ "retry_at": until }))
    }

    /// `instance.send_event(type, payload)`: queue the event (per type,
    /// first in first out) and wake the instance if it waits for it.
    fn send_event(&self, args: &Value) -> OpResult<()> {
        let id = id_arg(args)?;
        self.require(id)?;
        let kind = args
            .get("type")
            .and_then(Value::as_str)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| OpError::invalid("sendEvent needs an event `type`"))?;
        let payload = args.get("payload").cloned().unwrap_or(Value::Null);
        let now = (self.clock)();
        let conn = self.lock();
        conn.execute(
            "INSERT INTO events (instance, type, payload, timestamp) VALUES (?1, ?2, ?3, ?4)",
            params![id, kind, payload.to_string(), now],
        )?;
        wake_if_event_waiting(&conn, id, now)
    }

    /// `step.wait_for_event`: `{key, name, type, timeout_ms}`. The first call
    /// records the wait and its deadline; each call consumes the oldest
    /// queued event of the type. Returns `{done, value}` (the event
    /// `{payload, type, timestamp}`), `{error}` once timed out (kept, so a
    /// replay raises it again), or `{done: false, until}`.
    fn wait_for_event(&self, args: &Value) -> OpResult<Value> {
        let (instance, key) = step_ids(args)?;
        let name = args.get("name").and_then(Value::as_str).unwrap_or("");
        check_step_name(name)?;
        let kind = args
            .get("type")
            .and_then(Value::as_str)
            .ok_or_else(|| OpError::invalid("wait needs an event `type`"))?;
        let timeout = number(args.get("timeout_ms")).unwrap_or(24 * 3600 * 1000);
        let now = (self.clock)();
        let conn = self.lock();
        if !self.running(&conn, instance)? {
            return Ok(json!({ "done": false, "aborted": true, "until": now }));
        }
        let stored: Option<WaitRow> = conn
            .query_row(
                "SELECT state, value, error, until FROM steps WHERE instance = ?1 AND key = ?2",
                params![instance, key],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let until = match stored {
            // `received`, not `done`: an event is no step output in `status()`.
            Some((state, value, _, _)) if state == "received" => {
                return Ok(json!({ "done": true, "value": value.as_deref().map(parse) }));
            }
            Some((state, _, error, _)) if state == "failed" => {
                return Ok(json!({ "done": false, "error": error.as_deref().map(parse) }));
            }
            Some((_, _, _, Some(until))) => until,
            _ => {
                self.check_step_limit(&conn, instance)?;
                let until = now + timeout.max(0);
                conn.execute(
                    "INSERT INTO steps (instance, key, name, state, value, until, seq)
                     VALUES (?1, ?2, ?3, 'waiting', ?4, ?5,
                             (SELECT coalesce(max(seq), 0) + 1 FROM steps WHERE instance = ?1))",
                    params![instance, key, name, kind, until],
                )?;
                until
            }
        };
        let event: Option<(i64, String, i64)> = conn
            .query_row(
                "SELECT seq, payload, timestamp FROM events
                 WHERE instance = ?1 AND type = ?2 ORDER BY seq LIMIT 1",
                params![instance, kind],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
            )
            .optional()?;
        if let Some((seq, payload, timestamp)) = event {
            let value = json!({ "payload": parse(&payload), "type": kind, "timestamp": timestamp });
            let tx = conn.unchecked_transaction()?;
            tx.execute("DELETE FROM events WHERE seq = ?1", [seq])?;
            tx.execute(
                "UPDATE steps SET state = 'received', value = ?3, until = NULL
                 WHERE instance = ?1 AND key = ?2",
                params![instance, key, value.to_string()],
            )?;
            tx.commit()?;
            return Ok(json!({ "done": true, "value": value }));
        }
        if until <= now {
            let error = json!({
                "name": "WorkflowTimeoutError",
                "message": format!("Execution timed out after {timeout}ms"),
            });
            conn.execute(
                "UPDATE steps SET state = 'failed', value = NULL, error = ?3, until = NULL
                 WHERE instance = ?1 AND key = ?2",
                params![instance, key, error.to_string()],
            )?;
            return Ok(json!({ "done": false, "error": error }));
        }
        Ok(json!({ "done": false, "until": until }))
    }

    /// `sleep`: `{ms}` or `{until}`; the first call records the wake-up
    /// time. Returns `{done, until}`.
    fn sleep(&self, args: &Value) -> OpResult<Value> {
        let (instance, key) = step_ids(args)?;
        let name = args.get("name").and_then(Value::as_str).unwrap_or("");
        check_step_name(name)?;
        let now = (self.clock)();
        let conn = self.lock();
        if !self.running(&conn, instance)? {
            return Ok(json!({ "done": false, "aborted": true, "until": now }));
        }
        let stored: Option<(String, Option<i64>)> = conn
            .query_row(
                "SELECT state, until FROM steps WHERE instance = ?1 AND key = ?2",
                params![instance, key],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let until = match stored {
            Some((state, until)) if state == "done" => {
                return Ok(json!({ "done": true, "until": until }));
            }
            Some((_, Some(until))) => until,
            _ => {
                let until = if let Some(ms) = number(args.get("ms")) {
                    now + ms.max(0)
                } else if let Some(t) = number(args.get("until")) {
                    if t < now {
                        return Err(OpError::failed(
                            "You can't sleep until a time in the past, time-traveler",
                        ));
                    }
                    t
                } else {
                    return Err(OpError::invalid("sleep needs `ms` or `until`"));
                };
                conn.execute(
                    "INSERT INTO steps (instance, key, name, state, until, seq)
                     VALUES (?1, ?2, ?3, 'sleeping', ?4,
                             (SELECT coalesce(max(seq), 0) + 1 FROM steps WHERE instance = ?1))",
                    params![instance, key, name, until],
                )?;
                until
            }
        };
        if until <= now {
            conn.execute(
                "UPDATE steps SET state = 'done' WHERE instance = ?1 AND key = ?2",
                params![instance, key],
            )?;
            return Ok(json!({ "done": true, "until": until }));
        }
        Ok(json!({ "done": false, "until": until }))
    }
}

/// Wake a `waiting` instance now if one of its pending waits has an event
/// queued (a waiting step keeps its event type in `value`).
fn wake_if_event_waiting(conn: &Connection, id: &str, now: i64) -> OpResult<()> {
    conn.execute(
        "UPDATE instances SET wake_at = ?2
         WHERE id = ?1 AND status = 'waiting'
           AND EXISTS (SELECT 1 FROM steps s JOIN events e
                         ON e.instance = s.instance AND e.type = s.value
                       WHERE s.instance = ?1 AND s.state = 'waiting')",
        params![id, now],
    )?;
    Ok(())
}

fn number(v: Option<&Value>) -> Option<i64> {
    v.and_then(|v| v.as_i64().or_else(|| v.as_f64().map(|f| f as i64)))
}

fn parse(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or(Value::Null)
}

/// `^[a-zA-Z0-9_][a-zA-Z0-9-_]*$`, at most 100 characters.
fn valid_id(id: &str) -> bool {
    let ok = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    !id.is_empty() && id.len() <= MAX_ID_LEN && !id.starts_with('-') && id.chars().all(ok)
}

fn check_step_name(name: &str) -> OpResult<()> {
    if name.chars().count() > MAX_STEP_NAME || name.chars().any(char::is_control) {
        return Err(OpError::failed(format!(
            "Step name \"{name}\" exceeds max length ({MAX_STEP_NAME} chars) or invalid characters found"
        )));
    }
    Ok(())
}

fn id_arg(args: &Value) -> OpResult<&str> {
    args.get("id")
        .and_then(Value::as_str)
        .ok_or_else(|| OpError::invalid("workflow op needs the instance `id`"))
}

fn step_ids(args: &Value) -> OpResult<(&str, &str)> {
    let instance = args
        .get("instance")
        .and_then(Value::as_str)
        .ok_or_else(|| OpError::invalid("workflow step op needs `instance`"))?;
    let key = args
        .get("key")
        .and_then(Value::as_str)
        .ok_or_else(|| OpError::invalid("workflow step op needs `key`"))?;
    Ok((instance, key))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    fn store(dir: &Path, now: Arc<AtomicI64>) -> WorkflowStore {
        let clock: Clock = Arc::new(move || now.load(Ordering::SeqCst));
        WorkflowStore::open(dir, "my-wf", DEFAULT_STEP_LIMIT, clock).unwrap()
    }

    fn op(s: &WorkflowStore, op: &str, args: Value) -> Value {
        s.handle(op, &args).unwrap().value
    }

    #[test]
    fn create_runs_and_completes_with_its_output() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_000));
        let s = store(dir.path(), now.clone());
        let id = op(&s, "create", json!({"id": "a1", "params": {"x": 1}}))["id"].clone();
        assert_eq!(id, json!("a1"));
        assert_eq!(op(&s, "status", json!({"id": "a1"}))["status"], "queued");
        let due = s.take_due().unwrap();
        assert_eq!(due.len(), 1);
        assert_eq!(due[0].params, json!({"x": 1}));
        assert!(
            s.take_due().unwrap().is_empty(),
            "a running instance is not due twice"
        );
        assert_eq!(op(&s, "status", json!({"id": "a1"}))["status"], "running");
        s.finish("a1", &RunOutcome::Complete(json!("done")))
            .unwrap();
        let st = op(&s, "status", json!({"id": "a1"}));
        assert_eq!(st["status"], "complete");
        assert_eq!(st["output"], "done");
        assert_eq!(st["error"], Value::Null);
    }

    #[test]
    fn ids_are_checked_and_unique() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), Arc::new(AtomicI64::new(0)));
        for bad in ["-x", "a b", "", &"a".repeat(101)] {
            let e = s.handle("create", &json!({"id": bad})).unwrap_err();
            assert!(e.to_string().contains("invalid id"), "{bad}: {e}");
        }
        op(&s, "create", json!({"id": "same"}));
        let e = s.handle("create", &json!({"id": "same"})).unwrap_err();
        assert!(e.to_string().contains("already_exists"), "{e}");
        let e = s.handle("get", &json!({"id": "nope"})).unwrap_err();
        assert_eq!(e.to_string(), "instance.not_found");
        let generated = op(&s, "create", json!({}))["id"]
            .as_str()
            .unwrap()
            .to_string();
        assert_eq!(generated.len(), 36);
        let e = s
            .handle("createBatch", &json!({"instances": []}))
            .unwrap_err();
        assert!(e.to_string().contains("at least 1 instance"), "{e}");
    }

    #[test]
    fn finished_steps_are_replayed_from_storage_after_reopening() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(0));
        {
            let s = store(dir.path(), now.clone());
            op(&s, "create", json!({"id": "r"}));
            s.take_due().unwrap();
            let k = json!({"instance": "r", "key": "k-1", "name": "one"});
            assert_eq!(op(&s, "step.get", k.clone())["status"], "pending");
            let mut put = k.clone();
            put["value"] = json!({"n": 7});
            op(&s, "step.put", put);
            // `dev` stops while the instance runs.
        }
        let s = store(dir.path(), now.clone());
        assert!(
            s.take_due().unwrap().is_empty(),
            "not before resume_interrupted"
        );
        assert_eq!(s.resume_interrupted().unwrap(), 1);
        let due = s.take_due().unwrap();
        assert_eq!(due.len(), 1, "a running instance resumes after a restart");
        let got = op(
            &s,
            "step.get",
            json!({"instance": "r", "key": "k-1", "name": "one"}),
        );
        assert_eq!(got, json!({"status": "done", "value": {"n": 7}}));
        let st = op(&s, "status", json!({"id": "r"}));
        assert_eq!(st["__LOCAL_DEV_STEP_OUTPUTS"], json!([{"n": 7}]));
    }

    #[test]
    fn retries_and_sleeps_wait_for_their_time() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(10_000));
        let s = store(dir.path(), now.clone());
        op(&s, "create", json!({"id": "w"}));
        s.take_due().unwrap();
        let k = json!({"instance": "w", "key": "f-1", "name": "flaky", "attempts": 1,
                       "error": {"name": "Error", "message": "boom"}, "delay_ms": 500});
        assert_eq!(op(&s, "step.fail", k)["retry_at"], 10_500);
        let got = op(
            &s,
            "step.get",
            json!({"instance": "w", "key": "f-1", "name": "flaky"}),
        );
        assert_eq!(got["attempts"], 1);
        assert_eq!(got["retry_at"], 10_500);
        let sl = json!({"instance": "w", "key": "s-1", "name": "nap", "ms": 1000});
        assert_eq!(
            op(&s, "sleep", sl.clone()),
            json!({"done": false, "until": 11_000})
        );
        s.finish(
            "w",
            &RunOutcome::Suspended {
                until: 11_000,
                sleeping: true,
            },
        )
        .unwrap();
        assert_eq!(op(&s, "status", json!({"id": "w"}))["status"], "waiting");
        assert!(s.take_due().unwrap().is_empty());
        now.store(11_000, Ordering::SeqCst);
        assert_eq!(s.take_due().unwrap().len(), 1);
        // The sleep's end was stored at the first call, not re-measured.
        assert_eq!(op(&s, "sleep", sl), json!({"done": true, "until": 11_000}));
        let past = json!({"instance": "w", "key": "u-1", "name": "then", "until": 5});
        let e = s.handle("sleep", &past).unwrap_err();
        assert!(e.to_string().contains("time-traveler"), "{e}");
    }

    #[test]
    fn terminate_stops_a_running_instance_and_restart_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let s = store(dir.path(), Arc::new(AtomicI64::new(0)));
        op(&s, "create", json!({"id": "t"}));
        s.take_due().unwrap();
        op(
            &s,
            "step.put",
            json!({"instance": "t", "key": "a-1", "name": "a", "value": 1}),
        );
        op(&s, "terminate", json!({"id": "t"}));
        let got = op(
            &s,
            "step.get",
            json!({"instance": "t", "key": "b-1", "name": "b"}),
        );
        assert_eq!(got["status"], "aborted");
        s.finish("t", &RunOutcome::Complete(json!(1))).unwrap();
        assert_eq!(op(&s, "status", json!({"id": "t"}))["status"], "terminated");
        let e = s.handle("terminate", &json!({"id": "t"})).unwrap_err();
        assert!(e.to_string().contains("finite state"), "{e}");
        op(&s, "restart", json!({"id": "t"}));
        assert_eq!(op(&s, "status", json!({"id": "t"}))["status"], "queued");
        assert_eq!(s.take_due().unwrap().len(), 1);
        let got = op(
            &s,
            "step.get",
            json!({"instance": "t", "key": "a-1", "name": "a"}),
        );
        assert_eq!(got["status"], "pending", "restart forgets stored steps");
    }

    #[test]
    fn the_step_limit_is_enforced() {
        let dir = tempfile::tempdir().unwrap();
        let clock: Clock = Arc::new(|| 0);
        let s = WorkflowStore::open(dir.path(), "lim", 1, clock).unwrap();
        op(&s, "create", json!({"id": "l"}));
        s.take_due().unwrap();
        op(
            &s,
            "step.put",
            json!({"instance": "l", "key": "a-1", "name": "a", "value": 1}),
        );
        let e = s
            .handle(
                "step.get",
                &json!({"instance": "l", "key": "b-1", "name": "b"}),
            )
            .unwrap_err();
        assert!(e.to_string().contains("The limit of 1 steps"), "{e}");
        // A `wait_for_event` is a step too.
        let e = s
            .handle(
                "wait",
                &json!({"instance": "l", "key": "w-1", "name": "w", "type": "go", "timeout_ms": 5_000}),
            )
            .unwrap_err();
        assert!(e.to_string().contains("The limit of 1 steps"), "{e}");
    }

    #[test]
    fn wait_for_event_consumes_queued_events_per_type_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_000));
        let s = store(dir.path(), now.clone());
        op(&s, "create", json!({"id": "e"}));
        // Sent before the wait: queued.
        op(
            &s,
            "sendEvent",
            json!({"id": "e", "type": "go", "payload": {"n": 1}}),
        );
        op(
            &s,
            "sendEvent",
            json!({"id": "e", "type": "other", "payload": 0}),
        );
        op(
            &s,
            "sendEvent",
            json!({"id": "e", "type": "go", "payload": {"n": 2}}),
        );
        s.take_due().unwrap();
        let wait = |key: &str| {
            op(
                &s,
                "wait",
                json!({"instance": "e", "key": key, "name": "w", "type": "go", "timeout_ms": 5_000}),
            )
        };
        let first = wait("w-1");
        assert_eq!(first["done"], true);
        assert_eq!(first["value"]["payload"], json!({"n": 1}));
        assert_eq!(first["value"]["type"], "go");
        assert_eq!(first["value"]["timestamp"], 1_000);
        assert_eq!(wait("w-2")["value"]["payload"], json!({"n": 2}));
        // Replays answer from storage, consuming nothing more.
        assert_eq!(wait("w-1")["value"]["payload"], json!({"n": 1}));
        assert_eq!(wait("w-3"), json!({"done": false, "until": 6_000}));
        // Events are no step outputs.
        let st = op(&s, "status", json!({"id": "e"}));
        assert_eq!(st["__LOCAL_DEV_STEP_OUTPUTS"], json!([]));
        let err = s
            .handle("sendEvent", &json!({"id": "nope", "type": "go"}))
            .unwrap_err();
        assert_eq!(err.to_string(), "instance.not_found");
    }

    #[test]
    fn a_waiting_instance_wakes_on_its_event_and_times_out_otherwise() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_000));
        let s = store(dir.path(), now.clone());
        op(&s, "create", json!({"id": "a"}));
        s.take_due().unwrap();
        let args =
            json!({"instance": "a", "key": "k-1", "name": "w", "type": "go", "timeout_ms": 500});
        assert_eq!(op(&s, "wait", args.clone())["until"], 1_500);
        s.finish(
            "a",
            &RunOutcome::Suspended {
                until: 1_500,
                sleeping: true,
            },
        )
        .unwrap();
        assert_eq!(op(&s, "status", json!({"id": "a"}))["status"], "waiting");
        assert!(s.take_due().unwrap().is_empty());
        // An event of another type does not wake it; its own does.
        op(&s, "sendEvent", json!({"id": "a", "type": "other"}));
        assert!(s.take_due().unwrap().is_empty());
        op(
            &s,
            "sendEvent",
            json!({"id": "a", "type": "go", "payload": "yes"}),
        );
        assert_eq!(s.take_due().unwrap().len(), 1);
        assert_eq!(op(&s, "wait", args)["value"]["payload"], "yes");

        // A second instance is never sent its event: it times out at the deadline.
        op(&s, "create", json!({"id": "b"}));
        s.take_due().unwrap();
        let args =
            json!({"instance": "b", "key": "k-1", "name": "w", "type": "go", "timeout_ms": 500});
        op(&s, "wait", args.clone());
        s.finish(
            "b",
            &RunOutcome::Suspended {
                until: 1_500,
                sleeping: true,
            },
        )
        .unwrap();
        now.store(1_500, Ordering::SeqCst);
        assert_eq!(s.take_due().unwrap().len(), 1);
        let timed_out = op(&s, "wait", args.clone());
        assert_eq!(
            timed_out["error"],
            json!({"name": "WorkflowTimeoutError", "message": "Execution timed out after 500ms"})
        );
        // Kept: a replay raises it again even if the event comes later.
        op(&s, "sendEvent", json!({"id": "b", "type": "go"}));
        assert_eq!(op(&s, "wait", args)["error"], timed_out["error"]);
    }

    #[test]
    fn an_event_sent_while_the_run_heads_for_the_wait_is_not_missed() {
        let dir = tempfile::tempdir().unwrap();
        let now = Arc::new(AtomicI64::new(1_000));
        let s = store(dir.path(), now.clone());
        op(&s, "create", json!({"id": "r"}));
        s.take_due().unwrap();
        let args =
            json!({"instance": "r", "key": "k-1", "name": "w", "type": "go", "timeout_ms": 60_000});
        op(&s, "wait", args.clone());
        // The event arrives before the run has reported its suspension.
        op(
            &s,
            "sendEvent",
            json!({"id": "r", "type": "go", "payload": 7}),
        );
        s.finish(
            "r",
            &RunOutcome::Suspended {
                until: 61_000,
                sleeping: true,
            },
        )
        .unwrap();
        assert_eq!(
            s.take_due().unwrap().len(),
            1,
            "woken at once, not at the deadline"
        );
        assert_eq!(op(&s, "wait", args)["value"]["payload"], 7);
    }
}
