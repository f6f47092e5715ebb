//! Workflows (`workflows[]`): the config entry, `env.<NAME>` as a
//! `Workflow`, the store of instances and step results ([`store`]; the
//! engine that runs them is `crate::dev::workflows`), the `workflow` upload
//! binding and the stub. A workflow whose class lives in another Worker has
//! no local engine: its binding is listed as not emulated.

pub mod store;

use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

pub use store::{
    DEFAULT_STEP_LIMIT, DueInstance, InstanceDetails, RunOutcome, StoredStep, WorkflowConfig,
    WorkflowStore,
};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;
use crate::dev::bindings::{BindingsConfig, Clock, HostCall, LocalBindings, OpResult, Reply};

/// `workflows[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct WorkflowBinding {
    pub binding: String,
    /// The workflow's name on Cloudflare.
    pub name: String,
    /// The `WorkflowEntrypoint` class exported by the Worker.
    pub class_name: String,
    /// Set when the class lives in another Worker.
    #[serde(default)]
    pub script_name: Option<String>,
    #[serde(default)]
    pub remote: Option<bool>,
    #[serde(default)]
    pub limits: Option<WorkflowLimits>,
}

/// `workflows[].limits`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct WorkflowLimits {
    pub steps: Option<u64>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::Workflow],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "workflow",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "workflows",
        &cfg.workflows,
        BindingKind::Workflow,
        |b| &b.binding,
    );
}

/// Workflows whose class lives in this worker run on the local engine.
fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    let cfg = d.cfg;
    let flag = |f: &str| cfg.compatibility_flags.iter().any(|x| x == f);
    let implicit = !flag("no_python_workflows_implicit_dependencies")
        && (flag("python_workflows_implicit_dependencies")
            || cfg
                .compatibility_date
                .as_deref()
                .is_some_and(|date| date >= "2026-02-25"));
    for w in &cfg.workflows {
        if w.script_name
            .as_ref()
            .is_some_and(|s| Some(s) != cfg.name.as_ref())
        {
            d.notes.not_emulated.push(w.binding.clone());
            d.env.insert(w.binding.clone(), json!({"type": "workflow"}));
            continue;
        }
        d.local.workflows.push(WorkflowConfig {
            binding: w.binding.clone(),
            name: w.name.clone(),
            class_name: w.class_name.clone(),
            step_limit: w
                .limits
                .as_ref()
                .and_then(|l| l.steps)
                .unwrap_or(DEFAULT_STEP_LIMIT),
            implicit_dependencies: implicit,
        });
        d.env.insert(
            w.binding.clone(),
            json!({"type": "workflow", "name": w.name, "class_name": w.class_name}),
        );
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for w in &cfg.workflows {
        out.push(compact(json!({
            "type": "workflow",
            "name": w.binding,
            "workflow_name": w.name,
            "class_name": w.class_name,
            "script_name": w.script_name,
        })));
    }
}

fn stub(_: &mut Stub<'_>, _: &str, _: BindingKind) -> (String, String) {
    ("Workflow".into(), "workflow".into())
}

/// One store per workflow name under `v3` (bindings may share a workflow).
pub(crate) fn open_local(
    config: &BindingsConfig,
    v3: &Path,
    clock: &Clock,
) -> OpResult<HashMap<String, Arc<WorkflowStore>>> {
    let mut out = HashMap::new();
    for w in &config.workflows {
        if !out.contains_key(&w.name) {
            let store = WorkflowStore::open(v3, &w.name, w.step_limit, clock.clone())?;
            out.insert(w.name.clone(), Arc::new(store));
        }
    }
    Ok(out)
}

/// Binding ops name the binding; the engine's step ops (made from inside
/// `run()`) name the workflow in `args.workflow`.
fn host_call(b: &LocalBindings, call: HostCall<'_>) -> OpResult<Reply> {
    let name = if call.binding.is_empty() {
        call.args
            .get("workflow")
            .and_then(Value::as_str)
            .unwrap_or("")
    } else {
        b.config
            .workflows
            .iter()
            .find(|w| w.binding == call.binding)
            .map(|w| w.name.as_str())
            .unwrap_or("")
    };
    let shown = if call.binding.is_empty() {
        name
    } else {
        call.binding
    };
    b.workflows
        .get(name)
        .ok_or_else(|| crate::dev::bindings::no_binding("workflow", shown))?
        .handle(call.op, call.args)
}
