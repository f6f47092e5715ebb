//! The workflow routes of the local explorer API
//! (`/cdn-cgi/local/explorer/api/workflows…`): `wrangler workflows … --local`
//! reads and drives a running `dev` session through them, so they answer
//! in the envelope and shapes miniflare's explorer worker uses
//! (`resources/workflows.ts`), from the local workflow stores.

use std::sync::Arc;

use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::{Method, Request, StatusCode};
use serde_json::{Map, Value, json};

use super::builder::Shared;
use crate::bindings::workflows::{InstanceDetails, StoredStep, WorkflowConfig, WorkflowStore};
use crate::dev::bindings::OpError;

/// Where the API lives on the dev listener: wrangler 4.86.0 calls
/// `/cdn-cgi/explorer/api`, later releases `/cdn-cgi/local/explorer/api`.
pub const PREFIXES: [&str; 2] = ["/cdn-cgi/local/explorer/api", "/cdn-cgi/explorer/api"];

/// miniflare's `WORKFLOW_ERROR_NOT_FOUND`.
const NOT_FOUND: u32 = 10501;
/// Validation and operation failures.
const INVALID: u32 = 10001;
/// Largest request body read (params, event payloads).
const MAX_BODY: usize = 1 << 20;
/// The statuses an instance can have, as `describe` counts them.
const STATUSES: [&str; 8] = [
    "complete",
    "errored",
    "paused",
    "queued",
    "running",
    "terminated",
    "waiting",
    "waitingForPause",
];

/// Whether a request path belongs to the explorer API.
pub fn is_explorer(path: &str) -> bool {
    api_path(path).is_some()
}

/// The path after the API prefix.
fn api_path(path: &str) -> Option<&str> {
    PREFIXES.iter().find_map(|p| {
        path.strip_prefix(p)
            .filter(|rest| rest.is_empty() || rest.starts_with('/'))
    })
}

/// An API answer: HTTP status and the JSON envelope.
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

fn ok(result: Value) -> Answer {
    ok_with(result, None)
}

fn ok_with(result: Value, info: Option<Value>) -> Answer {
    let mut body = json!({"success": true, "errors": [], "messages": [], "result": result});
    if let Some(info) = info {
        body["result_info"] = info;
    }
    Answer {
        status: StatusCode::OK,
        body,
    }
}

fn error(status: StatusCode, code: u32, message: impl Into<String>) -> Answer {
    Answer {
        status,
        body: json!({
            "success": false,
            "errors": [{"code": code, "message": message.into()}],
            "messages": [],
            "result": null,
        }),
    }
}

fn no_workflow(name: &str) -> Answer {
    error(
        StatusCode::NOT_FOUND,
        NOT_FOUND,
        format!("Workflow '{name}' not found."),
    )
}

fn no_instance(id: &str) -> Answer {
    error(
        StatusCode::NOT_FOUND,
        NOT_FOUND,
        format!("Workflow instance '{id}' not found."),
    )
}

fn invalid(message: impl Into<String>) -> Answer {
    error(StatusCode::BAD_REQUEST, INVALID, message)
}

/// A store failure; `instance.not_found` becomes the 404 miniflare gives.
fn failed(e: &OpError, id: &str) -> Answer {
    let message = e.to_string();
    if message == "instance.not_found" {
        return no_instance(id);
    }
    error(StatusCode::INTERNAL_SERVER_ERROR, INVALID, message)
}

/// Answer one explorer API request.
pub async fn handle(shared: &Arc<Shared>, req: Request<Incoming>) -> Answer {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let query = req.uri().query().unwrap_or("").to_string();
    let body = match Limited::new(req.into_body(), MAX_BODY).collect().await {
        Ok(b) => b.to_bytes(),
        Err(e) => return invalid(format!("could not read the request body: {e}")),
    };
    let Some(generation) = shared.ready() else {
        return error(
            StatusCode::SERVICE_UNAVAILABLE,
            10000,
            "the Worker failed to build; fix the error `dev` printed and try again",
        );
    };
    let workflows = generation.bindings.workflows();
    let script = generation.settings.bindings.worker_name.clone();
    let segments: Vec<String> = api_path(&path)
        .unwrap_or("")
        .split('/')
        .filter(|s| !s.is_empty())
        .map(super::server::percent_decode)
        .collect();
    let api = Api {
        workflows: &workflows,
        script: &script,
    };
    api.route(&method, &segments, &query, &body)
}

/// The workflows of the current build.
pub struct Api<'a> {
    pub workflows: &'a [(WorkflowConfig, Arc<WorkflowStore>)],
    /// The Worker's name (`script_name`).
    pub script: &'a str,
}

impl Api<'_> {
    /// Route `segments` (the decoded path after the prefix).
    pub fn route(&self, method: &Method, segments: &[String], query: &str, body: &[u8]) -> Answer {
        let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
        let Some((&"workflows", rest)) = segs.split_first() else {
            return no_route();
        };
        if rest.is_empty() {
            return match *method {
                Method::GET => self.list(),
                _ => no_route(),
            };
        }
        let name = rest[0];
        let Some((config, store)) = self.workflows.iter().find(|(c, _)| c.name == name) else {
            return no_workflow(name);
        };
        match (method.clone(), &rest[1..]) {
            (Method::GET, []) => self.describe(config, store),
            (Method::DELETE, []) => match store.delete_all() {
                Ok(()) => ok(json!({"status": "ok", "success": true})),
                Err(e) => failed(&e, ""),
            },
            (Method::GET, ["instances"]) => list_instances(store, query),
            (Method::POST, ["instances"]) => trigger(store, body),
            (Method::POST, ["instances", "batch", "delete"]) => delete_batch(store, body),
            (Method::GET, ["instances", id]) => describe_instance(store, id),
            (Method::DELETE, ["instances", id]) => match store.delete(id) {
                Ok(true) => ok(json!({"success": true})),
                Ok(false) => no_instance(id),
                Err(e) => failed(&e, id),
            },
            (Method::PATCH, ["instances", id, "status"]) => change_status(store, id, body),
            (Method::POST, ["instances", id, "events", kind]) => send_event(store, id, kind, body),
            _ => no_route(),
        }
    }

    fn list(&self) -> Answer {
        let list: Vec<Value> = self
            .workflows
            .iter()
            .map(|(c, _)| json!({"name": c.name, "class_name": c.class_name, "script_name": self.script}))
            .collect();
        let count = list.len();
        ok_with(Value::Array(list), Some(json!({"count": count})))
    }

    fn describe(&self, config: &WorkflowConfig, store: &WorkflowStore) -> Answer {
        let instances = match store.instances() {
            Ok(i) => i,
            Err(e) => return failed(&e, ""),
        };
        let mut counts: Map<String, Value> =
            STATUSES.iter().map(|s| (s.to_string(), json!(0))).collect();
        for (status, n) in status_counts(&instances) {
            counts.insert(status, json!(n));
        }
        ok(json!({
            "name": config.name,
            "class_name": config.class_name,
            "script_name": self.script,
            "instances": counts,
        }))
    }
}

/// A path or method the API does not serve (only the workflow routes are).
fn no_route() -> Answer {
    error(StatusCode::NOT_FOUND, 10000, "Not Found")
}

fn status_counts(instances: &[(String, String, i64)]) -> Vec<(String, u64)> {
    let mut counts: Vec<(String, u64)> = Vec::new();
    for (_, status, _) in instances {
        match counts.iter_mut().find(|(s, _)| s == status) {
            Some((_, n)) => *n += 1,
            None => counts.push((status.clone(), 1)),
        }
    }
    counts
}

/// `GET …/instances?page&per_page&status`: newest first, as miniflare pages them.
fn list_instances(store: &WorkflowStore, query: &str) -> Answer {
    let mut page = 1u64;
    let mut per_page = 25u64;
    let mut status = None;
    for (k, v) in super::server::form_pairs(query) {
        match k.as_str() {
            "page" => match v.parse::<u64>() {
                Ok(n) if n >= 1 => page = n,
                _ => return invalid("page: Number must be greater than or equal to 1"),
            },
            "per_page" => match v.parse::<u64>() {
                Ok(n) if (1..=100).contains(&n) => per_page = n,
                _ => {
                    return invalid("per_page: Number must be between 1 and 100");
                }
            },
            "status" => {
                if !STATUSES.contains(&v.as_str()) {
                    return invalid(format!(
                        "status: Invalid enum value. Expected {}, received '{v}'",
                        STATUSES.map(|s| format!("'{s}'")).join(" | ")
                    ));
                }
                status = Some(v);
            }
            _ => {}
        }
    }
    let all = match store.instances() {
        Ok(i) => i,
        Err(e) => return failed(&e, ""),
    };
    let counts: Map<String, Value> = status_counts(&all)
        .into_iter()
        .map(|(s, n)| (s, json!(n)))
        .collect();
    let matching: Vec<&(String, String, i64)> = all
        .iter()
        .filter(|(_, s, _)| status.as_ref().is_none_or(|want| s == want))
        .collect();
    let total = matching.len() as u64;
    let skip = usize::try_from((page - 1).saturating_mul(per_page)).unwrap_or(usize::MAX);
    let listed: Vec<Value> = matching
        .into_iter()
        .skip(skip)
        .take(per_page as usize)
        .map(|(id, status, created)| json!({"id": id, "status": status, "created_on": iso(*created)}))
        .collect();
    ok_with(
        Value::Array(listed),
        Some(json!({
            "page": page,
            "per_page": per_page,
            "total_count": total,
            "total_pages": total.div_ceil(per_page).max(1),
            "status_counts": counts,
        })),
    )
}

/// `POST …/instances` with an optional `{id, params}` (an empty or
/// unreadable body creates an instance with a fresh id and no params).
fn trigger(store: &WorkflowStore, body: &[u8]) -> Answer {
    let args = serde_json::from_slice::<Value>(body)
        .ok()
        .filter(Value::is_object)
        .unwrap_or_else(|| json!({}));
    let args = json!({"id": args.get("id"), "params": args.get("params")});
    match store.handle("create", &args) {
        Ok(reply) => ok(json!({"id": reply.value["id"]})),
        Err(e) => failed(&e, ""),
    }
}

/// `PATCH …/instances/{id}/status` with `{action, from?, rollback?}`.
fn change_status(store: &WorkflowStore, id: &str, body: &[u8]) -> Answer {
    let Ok(body) = serde_json::from_slice::<Value>(body) else {
        return invalid("action: Required");
    };
    let Some(action) = body.get("action").and_then(Value::as_str) else {
        return invalid("action: Required");
    };
    if !["pause", "resume", "restart", "terminate"].contains(&action) {
        return invalid(format!(
            "Invalid action '{action}'. Must be one of: pause, resume, restart, terminate."
        ));
    }
    if body.get("rollback").is_some() && action != "terminate" {
        return invalid("'rollback' is only valid when terminating.");
    }
    if body.get("from").is_some_and(|f| !f.is_null()) {
        return invalid(
            "pywrangler-rs dev restarts an instance from its first step only; drop `from`",
        );
    }
    if body.get("rollback") == Some(&Value::Bool(true)) {
        return invalid(
            "pywrangler-rs dev does not run rollbacks on terminate; terminate without `rollback`",
        );
    }
    match store.handle(action, &json!({"id": id})) {
        Ok(_) => ok(json!({"success": true})),
        Err(e) => failed(&e, id),
    }
}

/// `POST …/instances/batch/delete` with `{instances: [id, …]}` (1 to 100):
/// `{deleted: [{id}], errors: [{id, code, message}]}`, one entry per id given.
fn delete_batch(store: &WorkflowStore, body: &[u8]) -> Answer {
    let body = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let Some(ids) = body.get("instances").and_then(Value::as_array) else {
        return invalid("instances: Required");
    };
    if ids.is_empty() || ids.len() > 100 {
        return invalid("instances: Array must contain between 1 and 100 element(s)");
    }
    let mut deleted = Vec::new();
    let mut errors = Vec::new();
    for id in ids {
        let Some(id) = id.as_str() else {
            return invalid("instances: Expected string");
        };
        match store.delete(id) {
            Ok(true) => deleted.push(json!({"id": id})),
            // Already deleted by an earlier duplicate of the same id.
            Ok(false) if deleted.iter().any(|d| d["id"] == id) => {
                deleted.push(json!({"id": id}));
            }
            Ok(false) => errors.push(json!({
                "id": id,
                "code": 10400,
                "message": "workflows.api.error.instance.not_found",
            })),
            Err(e) => errors.push(json!({"id": id, "code": INVALID, "message": e.to_string()})),
        }
    }
    ok(json!({"deleted": deleted, "errors": errors}))
}

/// `POST …/instances/{id}/events/{type}`: the body (JSON, optional) is the payload.
fn send_event(store: &WorkflowStore, id: &str, kind: &str, body: &[u8]) -> Answer {
    let payload = serde_json::from_slice::<Value>(body).unwrap_or(Value::Null);
    let args = json!({"id": id, "type": kind, "payload": payload});
    match store.handle("sendEvent", &args) {
        Ok(_) => ok(json!({"success": true})),
        Err(e) => failed(&e, id),
    }
}

/// `GET …/instances/{id}`: the `InstanceStatusAndLogs` wrangler renders.
fn describe_instance(store: &WorkflowStore, id: &str) -> Answer {
    match store.details(id) {
        Ok(Some(d)) => ok(instance_json(&d)),
        Ok(None) => no_instance(id),
        Err(e) => failed(&e, id),
    }
}

/// The store keeps no start/end times for runs and steps (only the
/// creation time, a sleep's wake-up time and an event's arrival), so those
/// are `null` where miniflare has a log timestamp.
fn instance_json(d: &InstanceDetails) -> Value {
    let steps: Vec<Value> = d.steps.iter().map(step_json).collect();
    json!({
        "status": d.status,
        "params": d.params,
        "queued": iso(d.created_ms),
        "start": null,
        "end": null,
        "output": if d.status == "complete" { d.output.clone().unwrap_or(Value::Null) } else { Value::Null },
        "error": if d.status == "errored" { d.error.clone().unwrap_or(Value::Null) } else { Value::Null },
        "step_count": steps.len(),
        "steps": steps,
    })
}

fn step_json(s: &StoredStep) -> Value {
    let state = s.state.as_str();
    if s.attempts >= 1 {
        let success = match state {
            "done" => json!(true),
            "failed" => json!(false),
            _ => Value::Null,
        };
        let mut step = json!({
            "name": s.name,
            "start": null,
            "end": null,
            "success": success,
            "type": "step",
            // Attempts are counted, not logged: none are listed, and a step
            // waiting to retry gets a config object so wrangler can render it.
            "config": if success.is_null() { json!({"retries": {"delay": 0}}) } else { Value::Null },
            "attempts": [],
        });
        if state == "done" {
            step["output"] = s.value.clone().unwrap_or(Value::Null);
        }
        return step;
    }
    match state {
        "sleeping" | "done" => json!({
            "name": s.name,
            "start": null,
            "end": if state == "done" { s.until.map(iso).unwrap_or(Value::Null) } else { Value::Null },
            "finished": state == "done",
            "type": "sleep",
            "error": null,
        }),
        _ => {
            let event = s.value.as_ref().filter(|_| state == "received");
            let end = event
                .and_then(|e| e.get("timestamp"))
                .and_then(Value::as_i64)
                .map(iso)
                .unwrap_or(Value::Null);
            json!({
                "name": s.name,
                "start": null,
                "end": end,
                "finished": state != "waiting",
                "type": "waitForEvent",
                "error": if state == "failed" { s.error.clone().unwrap_or(Value::Null) } else { Value::Null },
                "output": event.map(|e| json!({
                    "type": e.get("type").cloned().unwrap_or(Value::Null),
                    "payload": e.get("payload").cloned().unwrap_or(Value::Null),
                    "timestamp": end,
                })).unwrap_or(Value::Null),
            })
        }
    }
}

/// Milliseconds since the epoch as an ISO 8601 UTC timestamp.
fn iso(ms: i64) -> Value {
    chrono::DateTime::from_timestamp_millis(ms)
        .map(|t| json!(t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)))
        .unwrap_or(Value::Null)
}
