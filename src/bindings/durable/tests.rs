//! Durable Objects: round trips through the real SQLite-backed store, driven by the
//! same JSON ops the guest sends.

#![allow(clippy::unwrap_used)]

use serde_json::{Value, json};

use crate::dev::bindings::test_support::*;

#[test]
fn durable_ids_storage_sql_and_alarms() {
    let f = fixture();
    let a = ok(
        &f.b,
        "do.id",
        "",
        json!({"class":"Counter","name":"a"}),
        b"",
    )
    .value;
    let a2 = ok(
        &f.b,
        "do.id",
        "",
        json!({"class":"Counter","name":"a"}),
        b"",
    )
    .value;
    let u1 = ok(&f.b, "do.id", "", json!({"class":"Counter"}), b"").value;
    let u2 = ok(&f.b, "do.id", "", json!({"class":"Counter"}), b"").value;
    assert_eq!(a, a2);
    assert_eq!(a["name"], json!("a"));
    assert_eq!(a["id"].as_str().expect("id").len(), 64);
    assert_ne!(u1, u2);
    let id = a["id"].as_str().expect("id").to_string();
    let other = crate::bindings::durable::id_from_name("Counter", "b");
    let e = call(
        &f.b,
        "do.id",
        "",
        json!({"class":"Counter","id":"xyz"}),
        b"",
    )
    .unwrap_err();
    assert!(e.to_string().contains("64 hex digits"), "{e}");

    let args = |extra: Value| {
        let mut v = json!({"class":"Counter","id":id});
        v.as_object_mut()
            .expect("obj")
            .extend(extra.as_object().expect("obj").clone());
        v
    };
    ok(
        &f.b,
        "do.storage.put",
        "",
        args(json!({"entries":{"count":1,"a:1":"x","a:2":[1,2],"b":{"k":true}}})),
        b"",
    );
    let got = ok(
        &f.b,
        "do.storage.get",
        "",
        args(json!({"keys":["count","missing"]})),
        b"",
    )
    .value;
    assert_eq!(got, json!({"values":{"count":1}}));
    // Another object's storage is separate.
    let got = ok(
        &f.b,
        "do.storage.get",
        "",
        json!({"class":"Counter","id":other,"keys":["count"]}),
        b"",
    )
    .value;
    assert_eq!(got, json!({"values":{}}));
    let l = ok(
        &f.b,
        "do.storage.list",
        "",
        args(json!({"prefix":"a:"})),
        b"",
    )
    .value;
    assert_eq!(l, json!({"entries":[["a:1","x"],["a:2",[1,2]]]}));
    let l = ok(
        &f.b,
        "do.storage.list",
        "",
        args(json!({"reverse":true,"limit":2})),
        b"",
    )
    .value;
    assert_eq!(l, json!({"entries":[["count",1],["b",{"k":true}]]}));
    let l = ok(
        &f.b,
        "do.storage.list",
        "",
        args(json!({"start":"a:2","end":"count"})),
        b"",
    )
    .value;
    assert_eq!(l, json!({"entries":[["a:2",[1,2]],["b",{"k":true}]]}));
    let d = ok(
        &f.b,
        "do.storage.delete",
        "",
        args(json!({"keys":["a:1","nope"]})),
        b"",
    )
    .value;
    assert_eq!(d, json!({"deleted":1}));

    let r = ok(
        &f.b,
        "do.storage.sql",
        "",
        args(json!({"sql":"CREATE TABLE IF NOT EXISTS hits (n INTEGER)","params":[]})),
        b"",
    )
    .value;
    assert_eq!(r["columns"], json!([]));
    ok(
        &f.b,
        "do.storage.sql",
        "",
        args(json!({"sql":"INSERT INTO hits VALUES (?), (?)","params":[5,6]})),
        b"",
    );
    let r = ok(
        &f.b,
        "do.storage.sql",
        "",
        args(json!({"sql":"SELECT sum(n) AS total FROM hits","params":[]})),
        b"",
    )
    .value;
    assert_eq!(r["columns"], json!(["total"]));
    assert_eq!(r["rows"], json!([[11]]));
    let e = call(
        &f.b,
        "do.storage.sql",
        "",
        args(json!({"sql":"SELECT * FROM _cf_KV"})),
        b"",
    )
    .unwrap_err();
    assert_eq!(
        e.to_string(),
        "access to _cf_KV.key is prohibited: SQLITE_AUTH"
    );

    assert_eq!(
        ok(&f.b, "do.alarm.get", "", args(json!({})), b"").value,
        json!({"time":null})
    );
    ok(
        &f.b,
        "do.alarm.set",
        "",
        args(json!({"time":T0 + 5000})),
        b"",
    );
    assert_eq!(
        ok(&f.b, "do.alarm.get", "", args(json!({})), b"").value,
        json!({"time":T0 + 5000})
    );
    let alarms = f.b.durable().all_alarms();
    assert_eq!(
        alarms,
        vec![crate::bindings::durable::storage::Alarm {
            class: "Counter".into(),
            id: id.clone(),
            time_ms: T0 + 5000
        }]
    );
    f.b.durable()
        .clear_alarm_if("Counter", &id, T0 + 1)
        .expect("clear");
    assert_eq!(
        f.b.durable().alarm("Counter", &id).expect("alarm"),
        Some(T0 + 5000)
    );
    ok(&f.b, "do.alarm.delete", "", args(json!({})), b"");
    assert!(f.b.durable().all_alarms().is_empty());
}
