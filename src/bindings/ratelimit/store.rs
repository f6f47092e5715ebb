//! The rate limiting binding (`ratelimits[]`) as miniflare emulates it: fixed
//! windows aligned to the wall clock (`epoch = now / period`), counters kept
//! per `(key, period)` in the SQLite file of a `RateLimiterObject` named after
//! the namespace id, so bindings sharing a `namespace_id` share counters and
//! counts survive a restart within their window.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use rusqlite::{Connection, OptionalExtension, params};
use serde_json::{Value, json};

use crate::dev::bindings::{Clock, Reply, miniflare, sqlite};
use crate::dev::bindings::{OpError, OpResult};

/// The Durable Object namespace miniflare keeps rate limit counters in.
pub const NAMESPACE: &str = "miniflare-RateLimiterObject";

/// Periods (seconds) Cloudflare supports.
const PERIODS: [u64; 2] = [10, 60];

/// Option keys `limit()` accepts.
const OPTION_KEYS: [&str; 3] = ["key", "limit", "period"];

/// One configured `ratelimits[]` entry.
#[derive(Debug, Clone, PartialEq)]
pub struct RateLimitConfig {
    pub binding: String,
    pub namespace_id: String,
    /// Requests allowed per window.
    pub limit: u64,
    /// Window length in seconds (10 or 60).
    pub period: u64,
}

/// The counter store behind one binding.
pub struct RateLimiter {
    config: RateLimitConfig,
    conn: Mutex<Connection>,
    clock: Clock,
}

/// `v3/ratelimit/miniflare-RateLimiterObject/<idFromName(namespace_id)>.sqlite`.
pub fn path(v3: &Path, namespace_id: &str) -> PathBuf {
    v3.join("ratelimit").join(NAMESPACE).join(format!(
        "{}.sqlite",
        miniflare::object_id_from_name(NAMESPACE, namespace_id)
    ))
}

impl RateLimiter {
    /// Open (creating) the counters of `config.namespace_id` under `v3`.
    pub fn open(v3: &Path, config: RateLimitConfig, clock: Clock) -> OpResult<RateLimiter> {
        let conn = sqlite::open(&path(v3, &config.namespace_id))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS _mf_ratelimit_buckets (
                key TEXT NOT NULL,
                period INTEGER NOT NULL,
                epoch INTEGER NOT NULL,
                count INTEGER NOT NULL,
                PRIMARY KEY (key, period)
            );",
        )?;
        Ok(RateLimiter {
            config,
            conn: Mutex::new(conn),
            clock,
        })
    }

    /// `ratelimit.<op>`.
    pub fn handle(&self, op: &str, args: &Value) -> OpResult<Reply> {
        match op {
            "limit" => self.limit(args.get("options").unwrap_or(&Value::Null)),
            _ => Err(OpError::UnknownOp(format!("ratelimit.{op}"))),
        }
    }

    /// `limit({key?, limit?, period?})` → `{success}`: counts the call unless
    /// the window is already full.
    fn limit(&self, options: &Value) -> OpResult<Reply> {
        let empty = serde_json::Map::new();
        let options = match options {
            Value::Object(o) => o,
            Value::Null => &empty,
            other => {
                return Err(OpError::invalid(format!("bad rate limit options: {other}")));
            }
        };
        let unknown: Vec<&str> = options
            .keys()
            .map(String::as_str)
            .filter(|k| !OPTION_KEYS.contains(k))
            .collect();
        if !unknown.is_empty() {
            let keys: Vec<&str> = options.keys().map(String::as_str).collect();
            return Err(OpError::failed(format!(
                "bad rate limit options: [{}]",
                keys.join(",")
            )));
        }
        let key = match options.get("key") {
            None | Some(Value::Null) => String::new(),
            Some(Value::String(s)) => s.clone(),
            Some(other) => other.to_string(),
        };
        let limit = options
            .get("limit")
            .and_then(Value::as_u64)
            .unwrap_or(self.config.limit);
        let period = options
            .get("period")
            .and_then(Value::as_u64)
            .unwrap_or(self.config.period);
        if !PERIODS.contains(&period) {
            return Err(OpError::failed(format!("unsupported period: {period}")));
        }
        let epoch = (self.clock)().max(0) / (period as i64 * 1000);
        let conn = self.conn.lock().unwrap_or_else(|e| e.into_inner());
        let row: Option<(i64, i64)> = conn
            .query_row(
                "SELECT epoch, count FROM _mf_ratelimit_buckets WHERE key = ?1 AND period = ?2",
                params![key, period as i64],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let count = match row {
            Some((e, c)) if e == epoch => c,
            _ => 0,
        };
        let success = count < limit as i64;
        if success {
            conn.execute(
                "INSERT INTO _mf_ratelimit_buckets (key, period, epoch, count) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (key, period) DO UPDATE SET epoch = excluded.epoch, count = excluded.count",
                params![key, period as i64, epoch, count + 1],
            )?;
        }
        Ok(Reply::value(json!({ "success": success })))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicI64, Ordering};

    use super::*;

    fn limiter(dir: &Path, now: Arc<AtomicI64>, namespace: &str) -> RateLimiter {
        let clock: Clock = Arc::new(move || now.load(Ordering::SeqCst));
        let config = RateLimitConfig {
            binding: "RL".into(),
            namespace_id: namespace.into(),
            limit: 2,
            period: 10,
        };
        RateLimiter::open(dir, config, clock).expect("open")
    }

    fn call(rl: &RateLimiter, options: Value) -> OpResult<bool> {
        let reply = rl.handle("limit", &json!({ "options": options }))?;
        Ok(reply.value["success"].as_bool().expect("bool"))
    }

    #[test]
    fn fixed_windows_per_key_shared_by_namespace_and_kept_on_disk() {
        let dir = tempfile::tempdir().expect("tempdir");
        let now = Arc::new(AtomicI64::new(1_000_000_003_000));
        let rl = limiter(dir.path(), now.clone(), "1001");
        assert!(call(&rl, json!({"key": "a"})).expect("ok"));
        assert!(call(&rl, json!({"key": "a"})).expect("ok"));
        assert!(
            !call(&rl, json!({"key": "a"})).expect("ok"),
            "third in window"
        );
        assert!(
            call(&rl, json!({"key": "b"})).expect("ok"),
            "keys are separate"
        );
        // Another binding on the same namespace (or a restart) sees the counts.
        let again = limiter(dir.path(), now.clone(), "1001");
        assert!(!call(&again, json!({"key": "a"})).expect("ok"));
        let other = limiter(dir.path(), now.clone(), "2002");
        assert!(call(&other, json!({"key": "a"})).expect("ok"));
        // The window is aligned to the clock: 10 s later it starts over.
        now.fetch_add(10_000, Ordering::SeqCst);
        assert!(call(&rl, json!({"key": "a"})).expect("ok"));
        assert!(path(dir.path(), "1001").is_file());
    }

    #[test]
    fn options_are_checked_like_miniflare() {
        let dir = tempfile::tempdir().expect("tempdir");
        let rl = limiter(dir.path(), Arc::new(AtomicI64::new(0)), "1");
        let e = call(&rl, json!({"key": "a", "burst": 1})).expect_err("bad key");
        assert_eq!(e.to_string(), "bad rate limit options: [burst,key]");
        let e = call(&rl, json!({"key": "a", "period": 30})).expect_err("period");
        assert_eq!(e.to_string(), "unsupported period: 30");
        assert!(call(&rl, json!({"key": "a", "limit": 1, "period": 60})).expect("ok"));
        assert!(!call(&rl, json!({"key": "a", "limit": 1, "period": 60})).expect("ok"));
    }
}
