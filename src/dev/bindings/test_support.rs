//! The fixture the binding kinds' store tests share: every kind's local
//! store opened under a temp dir, driven by the same JSON ops the guest sends.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use serde_json::{Value, json};

use super::*;

pub(crate) struct Fixture {
    pub(crate) _dir: tempfile::TempDir,
    pub(crate) now: Arc<AtomicI64>,
    pub(crate) b: LocalBindings,
}

pub(crate) const T0: i64 = 1_700_000_000_000;

pub(crate) fn fixture() -> Fixture {
    let dir = tempfile::tempdir().expect("tempdir");
    let now = Arc::new(AtomicI64::new(T0));
    let b = open_at(dir.path(), now.clone());
    Fixture { _dir: dir, now, b }
}

pub(crate) fn config(dir: &std::path::Path) -> BindingsConfig {
    BindingsConfig {
        state_dir: dir.to_path_buf(),
        worker_name: "w".into(),
        kv: vec![("KV".into(), "ns1".into())],
        d1: vec![("DB".into(), "db-1".into())],
        d1_migrations: Vec::new(),
        r2: vec![("BUCKET".into(), "b".into())],
        durable_objects: vec![("COUNTER".into(), "Counter".into())],
        queue_producers: vec![("Q".into(), "jobs".into(), 0)],
        services: vec![crate::bindings::service::ServiceTarget {
            binding: "OTHER".into(),
            service: "elsewhere".into(),
            ..Default::default()
        }],
        ratelimits: Vec::new(),
        sql_time_limit: None,
        workflows: vec![crate::bindings::workflows::WorkflowConfig {
            binding: "WF".into(),
            name: "my-wf".into(),
            class_name: "Flow".into(),
            step_limit: crate::bindings::workflows::DEFAULT_STEP_LIMIT,
            implicit_dependencies: true,
        }],
        ..BindingsConfig::default()
    }
}

pub(crate) fn open_at(dir: &std::path::Path, now: Arc<AtomicI64>) -> LocalBindings {
    let clock: Clock = Arc::new(move || now.load(Ordering::SeqCst));
    LocalBindings::open(config(dir), clock).expect("open")
}

pub(crate) fn call(
    b: &LocalBindings,
    op: &str,
    binding: &str,
    args: Value,
    body: &[u8],
) -> OpResult<Reply> {
    b.call(
        &json!({"v":1,"op":op,"binding":binding,"args":args}),
        body.to_vec(),
        None,
    )
}

pub(crate) fn ok(b: &LocalBindings, op: &str, binding: &str, args: Value, body: &[u8]) -> Reply {
    call(b, op, binding, args, body).unwrap_or_else(|e| panic!("{op} failed: {e}"))
}

pub(crate) fn err(b: &LocalBindings, op: &str, args: Value, body: &[u8]) -> String {
    let binding = if op.starts_with("kv.") {
        "KV"
    } else {
        "BUCKET"
    };
    match call(b, op, binding, args, body) {
        Ok(r) => panic!("{op} should fail, got {:?}", r.value),
        Err(e) => e.to_string(),
    }
}
