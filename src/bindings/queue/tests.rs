//! Queues: round trips through the real SQLite-backed store, driven by the
//! same JSON ops the guest sends.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::Ordering;

use serde_json::{Value, json};

use crate::dev::bindings::test_support::*;

#[test]
fn queue_batches_acks_retries_and_dead_letters() {
    let f = fixture();
    let msgs: Vec<Value> = (0..5).map(|i| json!({"body":{"n":i}})).collect();
    ok(&f.b, "queue.sendBatch", "Q", json!({"messages":msgs}), b"");
    ok(
        &f.b,
        "queue.send",
        "Q",
        json!({"messages":[{"body":"later","delay_seconds":30}]}),
        b"",
    );
    let q = f.b.queues();
    assert_eq!(q.pending("jobs").expect("pending").0, 5);
    let batch = q.take_batch("jobs", 3).expect("batch");
    assert_eq!(
        batch.iter().map(|m| m.body.clone()).collect::<Vec<_>>(),
        vec![json!({"n":0}), json!({"n":1}), json!({"n":2})]
    );
    assert!(
        batch
            .iter()
            .all(|m| m.attempts == 1 && m.timestamp_ms == T0)
    );
    assert_eq!(
        q.pending("jobs").expect("pending").0,
        2,
        "leased messages are invisible"
    );
    q.ack(&[batch[0].id.clone(), batch[1].id.clone()])
        .expect("ack");
    q.retry(&[batch[2].id.clone()], 0, 1, None).expect("retry");
    let b2 = q.take_batch("jobs", 10).expect("batch");
    assert_eq!(b2.len(), 3);
    let retried = b2
        .iter()
        .find(|m| m.id == batch[2].id)
        .expect("retried message comes back");
    assert_eq!(retried.attempts, 2);
    // Out of retries: dropped without a dead-letter queue.
    let dropped = q
        .retry(std::slice::from_ref(&retried.id), 0, 1, None)
        .expect("retry");
    assert_eq!(dropped, vec![retried.id.clone()]);
    // Out of retries with a dead-letter queue: moved there.
    let others: Vec<String> = b2
        .iter()
        .filter(|m| m.id != retried.id)
        .map(|m| m.id.clone())
        .collect();
    q.retry(&others, 0, 0, Some("dlq")).expect("retry");
    assert_eq!(q.pending("dlq").expect("pending").0, 2);
    f.now.fetch_add(31_000, Ordering::SeqCst);
    let late = q.take_batch("jobs", 10).expect("batch");
    assert_eq!(late.len(), 1);
    assert_eq!(late[0].body, json!("later"));
    let e = call(&f.b, "queue.send", "NOPE", json!({"messages":[]}), b"").unwrap_err();
    assert!(e.to_string().contains("queue producer"), "{e}");
}
