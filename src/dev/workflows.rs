//! The local Workflows engine: runs every due instance's `run()` in the
//! worker (a `workflow` event), and records how it ended. A run that reaches
//! a sleep or a retry delay suspends; it is replayed from the top when its
//! time comes, completed steps answering from storage
//! (`bindings/workflows.rs`). Instances left running by a stopped `dev`
//! are due again at start-up, so they resume.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::builder::Shared;
use super::pool::Generation;
use super::server::{event_error_info, report_to_terminal};
use crate::bindings::workflows::{DueInstance, RunOutcome, WorkflowConfig, WorkflowStore};

const TICK: Duration = Duration::from_millis(100);

/// Run due workflow instances, forever.
pub async fn workflow_loop(shared: Arc<Shared>) {
    // Workflows whose interrupted instances were rescheduled by this process.
    let mut resumed: HashSet<String> = HashSet::new();
    loop {
        tokio::time::sleep(TICK).await;
        let Some(generation) = shared.ready() else {
            continue;
        };
        for (wf, store) in generation.bindings.workflows() {
            if resumed.insert(wf.name.clone()) {
                match store.resume_interrupted() {
                    Ok(0) => {}
                    Ok(n) => crate::printer::info(format!(
                        "Resuming {n} instance(s) of workflow {}",
                        wf.name
                    )),
                    Err(e) => crate::printer::warn(format!("workflow {}: {e}", wf.name)),
                }
            }
            let due = match store.take_due() {
                Ok(d) => d,
                Err(e) => {
                    crate::printer::warn(format!("workflow {}: {e}", wf.name));
                    continue;
                }
            };
            for d in due {
                tokio::spawn(run_instance(
                    generation.clone(),
                    wf.clone(),
                    store.clone(),
                    d,
                ));
            }
        }
    }
}

/// The `workflow` event for one instance (docs/runtime-abi.md).
pub fn event(wf: &WorkflowConfig, d: &DueInstance) -> Value {
    json!({
        "v": 1, "kind": "workflow", "class": wf.class_name, "workflow": wf.name,
        "instance_id": d.id, "payload": d.params, "timestamp": d.created_ms,
        "implicit_dependencies": wf.implicit_dependencies,
    })
}

async fn run_instance(
    generation: Arc<Generation>,
    wf: WorkflowConfig,
    store: Arc<WorkflowStore>,
    d: DueInstance,
) {
    let header = event(&wf, &d);
    let short: String = d.id.chars().take(8).collect();
    let label = format!("[workflow {}:{short}] ", wf.name);
    let result = generation
        .run(label, move |inst| {
            inst.invoke(&header, &[])
                .map(|(reply, _)| reply.get("result").cloned().unwrap_or(Value::Null))
        })
        .await;
    let outcome = match result {
        Ok(v) => outcome(&v),
        Err(e) => {
            let info = event_error_info(&e);
            report_to_terminal(&info);
            RunOutcome::Errored(json!({ "name": info.r#type, "message": info.message }))
        }
    };
    match &outcome {
        RunOutcome::Complete(_) => {
            crate::printer::info(format!("WORKFLOW {} {} complete", wf.name, d.id))
        }
        RunOutcome::Errored(e) => crate::printer::warn(format!(
            "workflow {} instance {} errored: {}",
            wf.name,
            d.id,
            e.get("message").and_then(Value::as_str).unwrap_or("")
        )),
        _ => {}
    }
    if let Err(e) = store.finish(&d.id, &outcome) {
        crate::printer::warn(format!("workflow {}: {e}", wf.name));
    }
}

/// The guest's `workflow` result: `{"state": "complete", "output"}`,
/// `{"state": "errored", "error": {name, message}}`,
/// `{"state": "suspended", "until": ms, "sleeping": bool}` or `{"state": "aborted"}`.
pub fn outcome(v: &Value) -> RunOutcome {
    match v.get("state").and_then(Value::as_str) {
        Some("complete") => RunOutcome::Complete(v.get("output").cloned().unwrap_or(Value::Null)),
        Some("suspended") => RunOutcome::Suspended {
            until: v.get("until").and_then(Value::as_i64).unwrap_or(0),
            sleeping: v.get("sleeping").and_then(Value::as_bool).unwrap_or(false),
        },
        Some("aborted") => RunOutcome::Aborted,
        Some("errored") => RunOutcome::Errored(v.get("error").cloned().unwrap_or(Value::Null)),
        _ => RunOutcome::Errored(json!({
            "name": "Error",
            "message": format!("the workflow event returned an unexpected result: {v}"),
        })),
    }
}
