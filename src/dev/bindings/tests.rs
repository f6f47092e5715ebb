//! The router: ops of no kind, and the kinds whose stores live outside the
//! registry (workflows), through the same JSON ops the guest sends.

#![allow(clippy::unwrap_used)]

use std::sync::Arc;
use std::sync::atomic::AtomicI64;

use serde_json::{Value, json};

use super::test_support::*;
use super::*;

#[test]
fn service_to_another_worker_and_unknown_ops_are_clear_errors() {
    let f = fixture();
    let e = call(
        &f.b,
        "service.call",
        "OTHER",
        json!({"method":"hi","args":[]}),
        b"",
    )
    .unwrap_err();
    assert!(e.to_string().contains("not running locally"), "{e}");
    let e = call(&f.b, "teleport", "", json!({}), b"").unwrap_err();
    assert!(matches!(e, OpError::UnknownOp(_)));
    let e = call(&f.b, "do.call", "", json!({"class":"Counter","id":crate::bindings::durable::id_from_name("Counter","x"),"method":"inc","args":[]}), b"").unwrap_err();
    assert!(e.to_string().contains("not ready"), "{e}");
}

#[test]
fn workflow_ops_reach_the_store_by_binding_and_by_workflow_name() {
    let dir = tempfile::tempdir().unwrap();
    let b = open_at(dir.path(), Arc::new(AtomicI64::new(0)));
    let call = |header: Value| b.call(&header, Vec::new(), None);
    let created =
        call(json!({"v": 1, "op": "workflow.create", "binding": "WF", "args": {"id": "i1"}}))
            .unwrap();
    assert_eq!(created.value, json!({"id": "i1"}));
    let (wf, store) = b.workflows().pop().unwrap();
    assert_eq!(wf.class_name, "Flow");
    assert_eq!(store.take_due().unwrap().len(), 1);
    let step = json!({"v": 1, "op": "workflow.step.get",
                      "args": {"workflow": "my-wf", "instance": "i1", "key": "k-1", "name": "s"}});
    assert_eq!(call(step).unwrap().value["status"], "pending");
    let e = call(json!({"v": 1, "op": "workflow.get", "binding": "NOPE", "args": {"id": "i1"}}))
        .unwrap_err();
    assert!(e.to_string().contains("NOPE"), "{e}");
    assert!(dir.path().join("v3/workflows/my-wf.sqlite").is_file());
}
