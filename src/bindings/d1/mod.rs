//! D1 (`d1_databases[]`): the config entry, `env.<NAME>` as a `D1Database`,
//! the local SQLite database in miniflare's layout with migrations applied
//! at start-up ([`store`]), the `d1` upload binding and the stub.

pub mod store;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::{Declared, DevEnv, HostOps, Kind, Stub};
use crate::config::{BindingKind, WranglerConfig};
use crate::deploy::metadata::compact;
use crate::dev::bindings::{BindingsConfig, HostCall, LocalBindings, OpResult, Reply};
use crate::dev::bindings::{file_name, miniflare};

/// `d1_databases[]`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct D1Database {
    pub binding: String,
    #[serde(default)]
    pub database_name: Option<String>,
    #[serde(default)]
    pub database_id: Option<String>,
    #[serde(default)]
    pub preview_database_id: Option<String>,
    /// Directory of `.sql` migrations (wrangler's default: `migrations`).
    #[serde(default)]
    pub migrations_dir: Option<String>,
    #[serde(default)]
    pub migrations_table: Option<String>,
    /// Sent as `internalEnv` (Cloudflare-internal D1 environments).
    #[serde(default)]
    pub database_internal_env: Option<String>,
    #[serde(default)]
    pub remote: Option<bool>,
}

pub const KIND: Kind = Kind {
    kinds: &[BindingKind::D1Database],
    declared,
    dev,
    upload,
    stub,
    host: Some(HostOps {
        family: "d1",
        call: host_call,
    }),
};

fn declared<'a>(cfg: &'a WranglerConfig, out: &mut Vec<Declared<'a>>) {
    super::declare_list(
        out,
        "d1_databases",
        &cfg.d1_databases,
        BindingKind::D1Database,
        |b| &b.binding,
    );
}

fn dev(d: &mut DevEnv<'_>) -> anyhow::Result<()> {
    for d1 in &d.cfg.d1_databases {
        let id = d1
            .preview_database_id
            .clone()
            .or_else(|| d1.database_id.clone())
            .unwrap_or_else(|| d1.binding.clone());
        d.local.d1.push((d1.binding.clone(), id));
        if let Some(dir) = &d1.migrations_dir {
            d.local.d1_migrations.push((
                d1.binding.clone(),
                d.config_dir.join(dir),
                d1.migrations_table
                    .clone()
                    .unwrap_or_else(|| "d1_migrations".into()),
            ));
        }
        d.env.insert(d1.binding.clone(), json!({"type": "d1"}));
    }
    Ok(())
}

fn upload(cfg: &WranglerConfig, _: BindingKind, out: &mut Vec<Value>) {
    for d in &cfg.d1_databases {
        out.push(match &d.database_id {
            Some(id) => compact(json!({
                "name": d.binding,
                "type": "d1",
                "id": id,
                "internalEnv": d.database_internal_env,
            })),
            None => super::inherit(&d.binding),
        });
    }
}

fn stub(s: &mut Stub<'_>, name: &str, _: BindingKind) -> (String, String) {
    let b = s.cfg.d1_databases.iter().find(|b| b.binding == name);
    let note = match b.and_then(|b| b.database_name.as_deref()) {
        Some(db) => format!("D1 database {db}"),
        None => "D1 database".into(),
    };
    ("D1Database".into(), note)
}

/// Open each configured database under the state's `v3` folder and apply
/// its migrations.
pub(crate) fn open_local(
    config: &BindingsConfig,
    v3: &Path,
    sql_limit: Duration,
) -> OpResult<HashMap<String, store::D1Database>> {
    let mut d1 = HashMap::new();
    for (binding, id) in &config.d1 {
        let path = miniflare::d1_path(v3, id);
        let old = v3.join("d1").join(format!("{}.sqlite", file_name(id)));
        miniflare::adopt_old_file(&old, &path)?;
        d1.insert(
            binding.clone(),
            store::D1Database::open(&path)?.with_time_limit(sql_limit),
        );
    }
    for (binding, dir, table) in &config.d1_migrations {
        if let Some(db) = d1.get(binding) {
            for name in db.apply_migrations(dir, table)? {
                crate::printer::info(format!("Applied D1 migration {name} to {binding} (local)"));
            }
        }
    }
    Ok(d1)
}

fn host_call(b: &LocalBindings, c: HostCall<'_>) -> OpResult<Reply> {
    b.d1.get(c.binding)
        .ok_or_else(|| c.no_binding("D1 database"))?
        .handle(c.op, c.args)
}
