//! `step.wait_for_event` and `instance.send_event` under `dev`: a waiting
//! instance is `waiting`, resumes when the Worker sends its event (also after
//! a `dev` restart), takes events sent early in order, and times out with
//! `WorkflowTimeoutError`.

use std::time::Duration;

use super::{Dev, serve};

const CONFIG: &str = r#"name = "events"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[[workflows]]
binding = "WF"
name = "approvals"
class_name = "Approval"
"#;

const WORKER: &str = r#"import json
from urllib.parse import urlparse, parse_qs
from workers import WorkerEntrypoint, WorkflowEntrypoint, Response


class Approval(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("prepare")
        async def prepare():
            return "prepared"

        before = await prepare()
        timeout = event.payload.get("timeout", "1 hour")
        first = await step.wait_for_event("approval", "approve", timeout=timeout)
        second = await step.wait_for_event("approval", "approve", timeout=timeout)
        return {
            "before": before,
            "payloads": [first.payload, second.payload],
            "type": first["type"],
            "has_time": first.timestamp.year >= 2024,
        }


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        url = urlparse(request.url)
        q = {k: v[0] for k, v in parse_qs(url.query).items()}
        if url.path == "/create":
            params = {"timeout": q["timeout"]} if "timeout" in q else {}
            inst = await self.env.WF.create(id=q["id"], params=params)
            return Response(inst.id)
        inst = await self.env.WF.get(q["id"])
        if url.path == "/send":
            await inst.send_event(type=q.get("type", "approve"), payload={"n": int(q["n"])})
            return Response("sent")
        return Response(json.dumps(await inst.status()))
"#;

fn status_of(dev: &Dev, id: &str, want: &str) -> serde_json::Value {
    let path = format!("/status?id={id}");
    let (s, body) = dev.wait_for(&path, Duration::from_secs(60), |s, b| {
        s == 200 && b.contains(&format!("\"status\": \"{want}\""))
    });
    assert_eq!(s, 200, "{body}\n{}", dev.log());
    let v: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["status"], want, "{v}\n{}", dev.log());
    v
}

#[test]
fn wait_for_event_resumes_on_send_event_times_out_and_survives_a_restart() {
    let (dir, dev) = serve(&[("wrangler.toml", CONFIG), ("src/entry.py", WORKER)], &[]);

    // Waits, is sent its events one at a time (another type is ignored).
    assert_eq!(dev.get("/create?id=one").1, "one");
    status_of(&dev, "one", "waiting");
    assert_eq!(dev.get("/send?id=one&type=reject&n=0").1, "sent");
    assert_eq!(dev.get("/send?id=one&n=1").1, "sent");
    assert_eq!(dev.get("/send?id=one&n=2").1, "sent");
    let done = status_of(&dev, "one", "complete");
    assert_eq!(
        done["output"],
        serde_json::json!({"before": "prepared", "payloads": [{"n": 1}, {"n": 2}],
                           "type": "approve", "has_time": true}),
        "{}",
        dev.log()
    );

    // Times out: the instance errors with the engine's error.
    dev.get("/create?id=late&timeout=300+millis");
    let errored = status_of(&dev, "late", "errored");
    assert_eq!(
        errored["error"],
        serde_json::json!({"name": "WorkflowTimeoutError", "message": "Execution timed out after 300ms"})
    );

    // Still waiting when `dev` stops: the event sent after the restart resumes it.
    dev.get("/create?id=durable");
    status_of(&dev, "durable", "waiting");
    dev.get("/send?id=durable&n=1");
    drop(dev);
    let dev = Dev::start(dir.path(), &[]);
    status_of(&dev, "durable", "waiting");
    dev.get("/send?id=durable&n=2");
    let resumed = status_of(&dev, "durable", "complete");
    assert_eq!(
        resumed["output"]["payloads"],
        serde_json::json!([{"n": 1}, {"n": 2}]),
        "{}",
        dev.log()
    );
}
