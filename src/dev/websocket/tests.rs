//! The socket registry's host ops without a connection: workerd's errors,
//! the hibernation limits, which sockets an object lists, the event queue.

use serde_json::{Value, json};

use super::{Caller, Owner, Sockets};

fn plain() -> Caller {
    Caller {
        instance: 7,
        object: None,
    }
}

fn room() -> Caller {
    Caller {
        instance: 8,
        object: Some(("Room".into(), "a".repeat(64))),
    }
}

fn op(s: &Sockets, c: &Caller, name: &str, args: Value) -> Result<Value, String> {
    s.host_op(c, name, &args, Vec::new(), None)
        .map(|r| r.value)
        .map_err(|e| e.to_string())
}

fn pair(s: &Sockets, c: &Caller) -> u64 {
    op(s, c, "ws.pair", json!({})).expect("pair")["socket"]
        .as_u64()
        .expect("id")
}

#[test]
fn send_needs_accept_and_fails_after_close() {
    let s = Sockets::new();
    let id = pair(&s, &plain());
    let err = op(&s, &plain(), "ws.send", json!({"socket": id})).expect_err("must fail");
    assert!(
        err.starts_with("You must call one of accept() or state.acceptWebSocket()"),
        "{err}"
    );
    op(&s, &plain(), "ws.accept", json!({"socket": id})).expect("accept");
    assert!(s.instance_has_sockets(7));
    op(&s, &plain(), "ws.send", json!({"socket": id})).expect("send");
    op(
        &s,
        &plain(),
        "ws.close",
        json!({"socket": id, "code": 1000}),
    )
    .expect("close");
    let err = op(&s, &plain(), "ws.send", json!({"socket": id})).expect_err("must fail");
    assert_eq!(err, "Can't call WebSocket send() after close().");
}

#[test]
fn close_codes_and_reasons_are_checked() {
    let s = Sockets::new();
    let id = pair(&s, &plain());
    let err = op(
        &s,
        &plain(),
        "ws.close",
        json!({"socket": id, "code": 1006}),
    )
    .expect_err("must fail");
    assert!(err.contains("1000, or between 3000 and 4999"), "{err}");
    let long = "x".repeat(124);
    let err = op(
        &s,
        &plain(),
        "ws.close",
        json!({"socket": id, "reason": long}),
    )
    .expect_err("must fail");
    assert!(err.contains("123 bytes"), "{err}");
}

#[test]
fn hibernation_needs_an_object_and_keeps_tags() {
    let s = Sockets::new();
    let id = pair(&s, &plain());
    let err = op(
        &s,
        &plain(),
        "ws.accept",
        json!({"socket": id, "hibernate": true}),
    )
    .expect_err("must fail");
    assert!(err.contains("Durable Object"), "{err}");
    let tags: Vec<String> = (0..11).map(|i| format!("t{i}")).collect();
    let err = op(
        &s,
        &room(),
        "ws.accept",
        json!({"socket": id, "hibernate": true, "tags": tags}),
    )
    .expect_err("must fail");
    assert!(err.contains("more than 10 tags"), "{err}");
    op(
        &s,
        &room(),
        "ws.accept",
        json!({"socket": id, "hibernate": true, "tags": ["x", "all"]}),
    )
    .expect("accept");
    let err = op(&s, &room(), "ws.accept", json!({"socket": id})).expect_err("must fail");
    assert_eq!(err, "Can't accept() WebSocket after enabling hibernation.");
    let other = pair(&s, &room());
    op(
        &s,
        &room(),
        "ws.accept",
        json!({"socket": other, "hibernate": true, "tags": ["all"]}),
    )
    .expect("accept");
    assert_eq!(
        op(&s, &room(), "ws.list", json!({})).expect("list")["sockets"],
        json!([id, other])
    );
    assert_eq!(
        op(&s, &room(), "ws.list", json!({"tag": "x"})).expect("list")["sockets"],
        json!([id])
    );
    assert_eq!(
        op(&s, &room(), "ws.tags", json!({"socket": id})).expect("tags")["tags"],
        json!(["x", "all"])
    );
    // Another object sees none of them; a plain instance has no list.
    let elsewhere = Caller {
        instance: 8,
        object: Some(("Room".into(), "b".repeat(64))),
    };
    assert_eq!(
        op(&s, &elsewhere, "ws.list", json!({})).expect("list")["sockets"],
        json!([])
    );
    assert!(op(&s, &plain(), "ws.list", json!({})).is_err());
    assert!(!s.object_has_plain_sockets("Room", &"a".repeat(64)));
}

#[test]
fn attachments_are_bounded_and_kept() {
    let s = Sockets::new();
    let id = pair(&s, &room());
    let big = vec![b'1'; 16 * 1024 + 1];
    assert!(
        s.host_op(&room(), "ws.attach", &json!({"socket": id}), big, None)
            .is_err()
    );
    s.host_op(
        &room(),
        "ws.attach",
        &json!({"socket": id}),
        b"{\"n\":1}".to_vec(),
        None,
    )
    .expect("attach");
    let r = s
        .host_op(
            &room(),
            "ws.attachment",
            &json!({"socket": id}),
            Vec::new(),
            None,
        )
        .expect("get");
    assert_eq!(
        (r.value, r.body),
        (json!({"present": true}), b"{\"n\":1}".to_vec())
    );
}

#[test]
fn events_queue_in_order_and_a_close_finishes_the_socket() {
    let s = Sockets::new();
    let a = pair(&s, &plain());
    let b = pair(&s, &plain());
    for id in [a, b] {
        op(&s, &plain(), "ws.accept", json!({"socket": id})).expect("accept");
    }
    let owner = Owner::Instance(7);
    s.push(b, json!({"event": "message", "n": 1}), Vec::new());
    s.push(a, json!({"event": "message", "n": 2}), Vec::new());
    s.push(b, json!({"event": "close", "n": 3}), Vec::new());
    let order: Vec<Value> = std::iter::from_fn(|| s.pop(&owner))
        .map(|(h, _)| h["n"].clone())
        .collect();
    assert_eq!(order, [json!(1), json!(2), json!(3)]);
    s.forget_finished();
    // b is gone, a is still open: the instance stays pinned.
    assert!(op(&s, &plain(), "ws.send", json!({"socket": b})).is_err());
    assert!(s.instance_has_sockets(7));
    // A poll with nothing queued returns null once its timeout passes.
    let r = op(&s, &plain(), "ws.poll", json!({"timeout_ms": 1})).expect("poll");
    assert_eq!(r, Value::Null);
}

#[test]
fn auto_response_answers_only_its_request() {
    let s = Sockets::new();
    let id = pair(&s, &room());
    op(
        &s,
        &room(),
        "ws.accept",
        json!({"socket": id, "hibernate": true}),
    )
    .expect("accept");
    op(
        &s,
        &room(),
        "ws.auto.set",
        json!({"request": "ping", "response": "pong"}),
    )
    .expect("set");
    assert_eq!(s.auto_response(id, "hello"), None);
    assert_eq!(s.auto_response(id, "ping").as_deref(), Some("pong"));
    let t = op(&s, &room(), "ws.auto.time", json!({"socket": id})).expect("time");
    assert!(t["time"].as_f64().is_some(), "{t}");
}
