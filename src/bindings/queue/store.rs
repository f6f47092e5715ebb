//! Queues: producers append to a SQLite table; the dev server's consumer loop
//! takes visible messages in batches, hands them to the worker's `queue()`
//! handler, then acks, retries (with delay) or dead-letters them.

use std::path::Path;
use std::sync::Mutex;

use rusqlite::{Connection, params};
use serde_json::{Value, json};

use crate::dev::bindings::sqlite;
use crate::dev::bindings::{Clock, Reply};
use crate::dev::bindings::{OpError, OpResult};

const MAX_BATCH_MESSAGES: usize = 100;
const MAX_MESSAGE_BYTES: usize = 128 * 1024;
/// How long a delivered message stays invisible while its batch runs.
const LEASE_MS: i64 = 15 * 60 * 1000;

/// Every local queue, in one database.
pub struct QueueStore {
    conn: Mutex<Connection>,
    clock: Clock,
}

/// One message handed to a consumer.
#[derive(Debug, Clone, PartialEq)]
pub struct Message {
    /// Unique id.
    pub id: String,
    /// When it was sent, ms since the epoch.
    pub timestamp_ms: i64,
    /// The JSON body.
    pub body: Value,
    /// Delivery attempt, starting at 1.
    pub attempts: i64,
}

impl Message {
    /// The shape `pw_invoke` `queue` events carry.
    pub fn to_json(&self) -> Value {
        json!({ "id": self.id, "timestamp": self.timestamp_ms, "body": self.body, "attempts": self.attempts })
    }
}

impl QueueStore {
    /// Open (or create) the queue database at `path`.
    pub fn open(path: &Path, clock: Clock) -> OpResult<QueueStore> {
        let conn = sqlite::open(path)?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS messages (
                seq INTEGER PRIMARY KEY AUTOINCREMENT,
                id TEXT NOT NULL UNIQUE,
                queue TEXT NOT NULL,
                body TEXT NOT NULL,
                content_type TEXT,
                sent INTEGER NOT NULL,
                visible_at INTEGER NOT NULL,
                attempts INTEGER NOT NULL DEFAULT 0
            );
            CREATE INDEX IF NOT EXISTS messages_queue ON messages (queue, visible_at);",
        )?;
        // Messages leased by a process that died become visible again.
        let now = clock();
        conn.execute(
            "UPDATE messages SET visible_at = ?1 WHERE visible_at > ?1 + ?2",
            params![now, LEASE_MS / 2],
        )?;
        Ok(QueueStore {
            conn: Mutex::new(conn),
            clock,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Dispatch `queue.send` / `queue.sendBatch` for the producer bound to `queue`.
    pub fn handle(
        &self,
        op: &str,
        queue: &str,
        args: &Value,
        default_delay: i64,
    ) -> OpResult<Reply> {
        match op {
            "send" | "sendBatch" => {
                let messages = args
                    .get("messages")
                    .and_then(Value::as_array)
                    .ok_or_else(|| OpError::invalid("queue send needs `messages`"))?;
                if messages.len() > MAX_BATCH_MESSAGES {
                    return Err(OpError::failed(format!(
                        "Queue sendBatch failed: batch of {} messages exceeds the limit of {MAX_BATCH_MESSAGES}",
                        messages.len()
                    )));
                }
                self.send(queue, messages, default_delay)?;
                Ok(Reply::null())
            }
            other => Err(OpError::UnknownOp(format!("queue.{other}"))),
        }
    }

    /// Append messages (`{"body", "content_type"?, "delay_seconds"?}`) to `queue`.
    pub fn send(&self, queue: &str, messages: &[Value], default_delay: i64) -> OpResult<()> {
        let now = (self.clock)();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        for m in messages {
            let body = m.get("body").cloned().unwrap_or(Value::Null).to_string();
            if body.len() > MAX_MESSAGE_BYTES {
                return Err(OpError::failed(format!(
                    "Queue send failed: message of {} bytes exceeds the limit of {MAX_MESSAGE_BYTES}",
                    body.len()
                )));
            }
            let delay = m
                .get("delay_seconds")
                .and_then(Value::as_i64)
                .unwrap_or(default_delay)
                .max(0);
            tx.execute(
                "INSERT INTO messages (id, queue, body, content_type, sent, visible_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                params![
                    sqlite::random_hex(16),
                    queue,
                    body,
                    m.get("content_type").and_then(Value::as_str),
                    now,
                    now + delay * 1000
                ],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// How many messages of `queue` are visible now, and the send time of the oldest.
    pub fn pending(&self, queue: &str) -> OpResult<(usize, Option<i64>)> {
        let now = (self.clock)();
        let conn = self.lock();
        let (n, oldest): (i64, Option<i64>) = conn.query_row(
            "SELECT count(*), min(visible_at) FROM messages WHERE queue = ?1 AND visible_at <= ?2",
            params![queue, now],
            |r| Ok((r.get(0)?, r.get(1)?)),
        )?;
        Ok((n as usize, oldest))
    }

    /// Lease up to `max` visible messages of `queue`, oldest first.
    pub fn take_batch(&self, queue: &str, max: usize) -> OpResult<Vec<Message>> {
        let now = (self.clock)();
        let mut conn = self.lock();
        let tx = conn.transaction()?;
        let mut out = Vec::new();
        {
            let mut stmt = tx.prepare(
                "SELECT id, sent, body, attempts FROM messages
                 WHERE queue = ?1 AND visible_at <= ?2 ORDER BY visible_at, seq LIMIT ?3",
            )?;
            let rows = stmt.query_map(params![queue, now, max as i64], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, i64>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, i64>(3)?,
                ))
            })?;
            for row in rows {
                let (id, sent, body, attempts) = row?;
                out.push(Message {
                    id,
                    timestamp_ms: sent,
                    body: serde_json::from_str(&body).unwrap_or(Value::Null),
                    attempts: attempts + 1,
                });
            }
        }
        for m in &out {
            tx.execute(
                "UPDATE messages SET visible_at = ?2, attempts = attempts + 1 WHERE id = ?1",
                params![m.id, now + LEASE_MS],
            )?;
        }
        tx.commit()?;
        Ok(out)
    }

    /// Remove delivered messages.
    pub fn ack(&self, ids: &[String]) -> OpResult<()> {
        let conn = self.lock();
        for id in ids {
            conn.execute("DELETE FROM messages WHERE id = ?1", [id])?;
        }
        Ok(())
    }

    /// Make messages visible again after `delay_secs`, unless they ran out of
    /// attempts: those move to `dead_letter` (or are dropped). Returns the ids dropped.
    pub fn retry(
        &self,
        ids: &[String],
        delay_secs: i64,
        max_retries: i64,
        dead_letter: Option<&str>,
    ) -> OpResult<Vec<String>> {
        let now = (self.clock)();
        let conn = self.lock();
        let mut dropped = Vec::new();
        for id in ids {
            let attempts: i64 =
                match conn.query_row("SELECT attempts FROM messages WHERE id = ?1", [id], |r| {
                    r.get(0)
                }) {
                    Ok(a) => a,
                    Err(rusqlite::Error::QueryReturnedNoRows) => continue,
                    Err(e) => return Err(e.into()),
                };
            if attempts > max_retries {
                match dead_letter {
                    Some(dlq) => {
                        conn.execute(
                            "UPDATE messages SET queue = ?2, visible_at = ?3, attempts = 0 WHERE id = ?1",
                            params![id, dlq, now],
                        )?;
                    }
                    None => {
                        conn.execute("DELETE FROM messages WHERE id = ?1", [id])?;
                        dropped.push(id.clone());
                    }
                }
            } else {
                conn.execute(
                    "UPDATE messages SET visible_at = ?2 WHERE id = ?1",
                    params![id, now + delay_secs.max(0) * 1000],
                )?;
            }
        }
        Ok(dropped)
    }
}
