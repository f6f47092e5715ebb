//! The local explorer API that `wrangler workflows … --local` calls on a
//! running `dev` (`/cdn-cgi/local/explorer/api/workflows…`): driven with the
//! paths, methods and bodies of wrangler's `workflows/local.ts` and commands,
//! asserting on the envelope and the result fields wrangler reads.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::{Dev, client, serve};

const CONFIG: &str = r#"name = "api"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[[workflows]]
binding = "WF"
name = "orders"
class_name = "Orders"
"#;

const WORKER: &str = r#"from workers import WorkerEntrypoint, WorkflowEntrypoint, Response


class Orders(WorkflowEntrypoint):
    async def run(self, event, step):
        @step.do("price")
        async def price():
            return event.payload.get("n", 0) * 10

        total = await price()
        await step.sleep("nap", "10 millis")
        approval = None
        if event.payload.get("wait"):
            approval = await step.wait_for_event("approval", "approve", timeout="1 hour")
            approval = approval.payload
        return {"total": total, "approval": approval}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("worker")
"#;

const API: &str = "/cdn-cgi/local/explorer/api";

/// One call as wrangler's `fetchLocalResult` makes it: `(status, envelope)`.
fn call(dev: &Dev, method: &str, path: &str, body: Option<Value>) -> (u16, Value) {
    let method = reqwest::Method::from_bytes(method.as_bytes()).expect("method");
    let mut req = client().request(method, dev.url(&format!("{API}{path}")));
    if let Some(body) = body {
        req = req
            .header("Content-Type", "application/json")
            .body(body.to_string());
    }
    let resp = req.send().expect("request");
    let status = resp.status().as_u16();
    let text = resp.text().expect("body");
    let v: Value = serde_json::from_str(&text)
        .unwrap_or_else(|e| panic!("{path}: not JSON ({e}): {text}\n{}", dev.log()));
    (status, v)
}

/// The `result` of a successful call.
fn result(dev: &Dev, method: &str, path: &str, body: Option<Value>) -> Value {
    let (status, v) = call(dev, method, path, body);
    assert_eq!(status, 200, "{method} {path}: {v}\n{}", dev.log());
    assert_eq!(v["success"], true, "{v}");
    assert_eq!(v["errors"], json!([]), "{v}");
    v["result"].clone()
}

/// Poll `instances describe` until the instance has `want` status.
fn wait_status(dev: &Dev, id: &str, want: &str) -> Value {
    wait_until(dev, id, want, |r| r["status"] == want)
}

/// Poll `instances describe` until it waits for its event (a sleep is `waiting` too).
fn wait_for_event(dev: &Dev, id: &str) -> Value {
    wait_until(dev, id, "waiting for its event", |r| {
        r["status"] == "waiting" && r["steps"][2]["type"] == "waitForEvent"
    })
}

fn wait_until(dev: &Dev, id: &str, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let path = format!("/workflows/orders/instances/{id}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let r = result(dev, "GET", &path, None);
        if done(&r) {
            return r;
        }
        assert!(
            Instant::now() < deadline,
            "{id} never became {what}: {r}\n{}",
            dev.log()
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn set_status(dev: &Dev, id: &str, action: &str) {
    let path = format!("/workflows/orders/instances/{id}/status");
    let r = result(dev, "PATCH", &path, Some(json!({"action": action})));
    assert_eq!(r, json!({"success": true}));
}

#[test]
fn wrangler_workflows_local_commands_drive_the_dev_session() {
    let (_dir, dev) = serve(&[("wrangler.toml", CONFIG), ("src/entry.py", WORKER)], &[]);

    // `workflows list --local`.
    let (status, list) = call(&dev, "GET", "/workflows", None);
    assert_eq!(status, 200, "{list}\n{}", dev.log());
    assert_eq!(
        list["result"],
        json!([{"name": "orders", "class_name": "Orders", "script_name": "api"}])
    );
    assert_eq!(list["result_info"]["count"], 1);
    // wrangler 4.86.0's prefix.
    let old = client()
        .get(dev.url("/cdn-cgi/explorer/api/workflows"))
        .send()
        .and_then(|r| r.text())
        .expect("old prefix");
    let old: Value = serde_json::from_str(&old).expect("json");
    assert_eq!(old["result"], list["result"]);

    // `workflows trigger orders '{"n": 4}' --id first --local` runs to completion.
    let created = result(
        &dev,
        "POST",
        "/workflows/orders/instances",
        Some(json!({"id": "first", "params": {"n": 4}})),
    );
    assert_eq!(created, json!({"id": "first"}));
    let done = wait_status(&dev, "first", "complete");
    assert_eq!(done["output"], json!({"total": 40, "approval": null}));
    assert_eq!(done["params"], json!({"n": 4}));
    assert!(
        done["queued"].as_str().is_some_and(|q| q.ends_with('Z')),
        "{done}"
    );
    assert_eq!(done["step_count"], 2);
    assert_eq!(done["steps"][0]["name"], "price");
    assert_eq!(done["steps"][0]["type"], "step");
    assert_eq!(done["steps"][0]["success"], true);
    assert_eq!(done["steps"][0]["output"], 40);
    assert_eq!(done["steps"][1]["name"], "nap");
    assert_eq!(done["steps"][1]["type"], "sleep");
    assert_eq!(done["steps"][1]["finished"], true);
    // `instances restart` runs it again from the top.
    set_status(&dev, "first", "restart");
    let again = wait_status(&dev, "first", "complete");
    assert_eq!(again["output"], done["output"]);

    // No id: one is made up. `send-event` resumes its `wait_for_event`.
    let waiting = result(
        &dev,
        "POST",
        "/workflows/orders/instances",
        Some(json!({"params": {"n": 1, "wait": true}})),
    );
    let id = waiting["id"].as_str().expect("id").to_string();
    let r = wait_for_event(&dev, &id);
    assert_eq!(r["steps"][2]["finished"], false, "{r}");

    // `instances list --local` (newest first) and its status filter.
    let (_, listed) = call(&dev, "GET", "/workflows/orders/instances?page=1", None);
    let ids: Vec<&str> = listed["result"]
        .as_array()
        .expect("list")
        .iter()
        .map(|i| i["id"].as_str().unwrap_or(""))
        .collect();
    assert_eq!(ids, [id.as_str(), "first"], "{listed}");
    assert_eq!(listed["result"][1]["status"], "complete");
    assert!(listed["result"][1]["created_on"].is_string(), "{listed}");
    assert_eq!(listed["result_info"]["total_count"], 2);
    let only_done = result(
        &dev,
        "GET",
        "/workflows/orders/instances?status=complete",
        None,
    );
    assert_eq!(only_done.as_array().map(Vec::len), Some(1), "{only_done}");
    let second_page = result(
        &dev,
        "GET",
        "/workflows/orders/instances?page=2&per_page=1",
        None,
    );
    assert_eq!(second_page[0]["id"], "first");

    // `describe orders --local`: counts by status.
    let wf = result(&dev, "GET", "/workflows/orders", None);
    assert_eq!(wf["name"], "orders");
    assert_eq!(wf["class_name"], "Orders");
    assert_eq!(wf["instances"]["complete"], 1, "{wf}");
    assert_eq!(wf["instances"]["waiting"], 1, "{wf}");
    assert_eq!(wf["instances"]["errored"], 0, "{wf}");

    // `instances pause` / `resume` while it waits, then `send-event`.
    set_status(&dev, &id, "pause");
    wait_status(&dev, &id, "paused");
    set_status(&dev, &id, "resume");
    wait_for_event(&dev, &id);
    let sent = result(
        &dev,
        "POST",
        &format!("/workflows/orders/instances/{id}/events/approve"),
        Some(json!({"ok": true})),
    );
    assert_eq!(sent, json!({"success": true}));
    let resumed = wait_status(&dev, &id, "complete");
    assert_eq!(
        resumed["output"],
        json!({"total": 10, "approval": {"ok": true}})
    );
    let wait = &resumed["steps"][2];
    assert_eq!(wait["finished"], true, "{resumed}");
    assert_eq!(wait["output"]["type"], "approve");
    assert_eq!(wait["output"]["payload"], json!({"ok": true}));

    // `instances terminate`.
    result(
        &dev,
        "POST",
        "/workflows/orders/instances",
        Some(json!({"id": "doomed", "params": {"wait": true}})),
    );
    wait_for_event(&dev, "doomed");
    set_status(&dev, "doomed", "terminate");
    wait_status(&dev, "doomed", "terminated");
    // A finished instance cannot be paused: the store's error, as a failure.
    let (status, v) = call(
        &dev,
        "PATCH",
        "/workflows/orders/instances/doomed/status",
        Some(json!({"action": "pause"})),
    );
    assert_eq!((status, &v["success"]), (500, &json!(false)), "{v}");

    // Errors wrangler prints as `Local API error: <message>`.
    let (status, v) = call(&dev, "GET", "/workflows/nope", None);
    assert_eq!(status, 404);
    assert_eq!(v["success"], false);
    assert_eq!(
        v["errors"],
        json!([{"code": 10501, "message": "Workflow 'nope' not found."}])
    );
    let (status, v) = call(&dev, "GET", "/workflows/orders/instances/ghost", None);
    assert_eq!(status, 404);
    assert_eq!(
        v["errors"][0]["message"],
        "Workflow instance 'ghost' not found."
    );
    let (status, v) = call(
        &dev,
        "POST",
        "/workflows/orders/instances/ghost/events/approve",
        Some(json!({})),
    );
    assert_eq!(
        (status, v["errors"][0]["code"].clone()),
        (404, json!(10501)),
        "{v}"
    );
    let (status, v) = call(
        &dev,
        "PATCH",
        "/workflows/orders/instances/first/status",
        Some(json!({"action": "explode"})),
    );
    assert_eq!(status, 400);
    assert_eq!(
        v["errors"][0]["message"],
        "Invalid action 'explode'. Must be one of: pause, resume, restart, terminate."
    );
    let (status, _) = call(&dev, "GET", "/workflows/orders/instances?per_page=0", None);
    assert_eq!(status, 400);

    // `instances delete first ghost --local` / `delete orders --local`.
    let batch = result(
        &dev,
        "POST",
        "/workflows/orders/instances/batch/delete",
        Some(json!({"instances": ["first", "ghost"]})),
    );
    assert_eq!(batch["deleted"], json!([{"id": "first"}]));
    assert_eq!(batch["errors"][0]["id"], "ghost");
    let (status, _) = call(&dev, "GET", "/workflows/orders/instances/first", None);
    assert_eq!(status, 404);
    result(
        &dev,
        "DELETE",
        &format!("/workflows/orders/instances/{id}"),
        None,
    );
    result(&dev, "DELETE", "/workflows/orders", None);
    assert_eq!(
        result(&dev, "GET", "/workflows/orders/instances", None),
        json!([])
    );

    // Other paths still reach the Worker.
    assert_eq!(dev.get("/cdn-cgi/local/explorer/apix").1, "worker");
}
