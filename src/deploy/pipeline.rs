//! The deploy pipeline over a loaded project: check, validate, bundle, report
//! sizes, then either write the dry-run output or upload.

use std::path::PathBuf;
use std::time::Instant;

use serde_json::Value;

use super::assets;
use super::bundle::{self, BundleInput, Rule};
use super::form;
use super::metadata::{self, MetadataOptions};
use super::size::SizeReport;
use super::upload::{self, UploadSpec};
use super::validate::{self, ValidationReport};
use crate::api::{self, Client};
use crate::config::Project;
use crate::diagnostics::UserError;
use crate::printer;

/// Resolved `deploy` settings (`crate::settings::DeploySettings`).
#[derive(Debug, Clone)]
pub struct DeployOptions {
    pub dry_run: bool,
    pub outdir: Option<PathBuf>,
    pub skip_validation: bool,
    pub keep_vars: bool,
    pub message: Option<String>,
    /// The limits validation judges against.
    pub limits: validate::Limits,
    /// How to reach the API.
    pub api: api::ApiSettings,
    /// First wait before retrying a failed assets upload request.
    pub asset_backoff: std::time::Duration,
}

/// Deploy `project`; prints the Worker's URLs on stdout.
pub fn run(project: &Project, opts: &DeployOptions) -> anyhow::Result<()> {
    for w in &project.warnings {
        printer::warn(w);
    }
    let cfg = &project.config;
    let config_file = project.wrangler_path.display().to_string();
    let Some(name) = project
        .worker_name()
        .filter(|n| !n.is_empty())
        .map(str::to_string)
    else {
        return Err(UserError::usage(format!("{config_file} has no `name`"))
            .hint("add `\"name\": \"my-worker\"` to the wrangler config")
            .into());
    };
    // The `python_workers` flag and `compatibility_date` were checked when
    // the config loaded (`PythonVersion::detect`, at file:line:col).
    refuse_dropped_settings(project)?;
    metadata::check_workflows(cfg).map_err(|m| {
        UserError::usage(format!("{config_file}: {m}")).hint(
            "remove `limits` here and set it in the config of the Worker that defines the workflow",
        )
    })?;
    let main_path = project.existing_main()?;
    let assets = assets::prepare(project)?;
    run_validation(project, opts)?;

    let input = BundleInput {
        python_modules: project.paths.python_modules.clone(),
        module_root: project.module_root(),
        main_path,
        config_path: Some(project.wrangler_path.clone()),
        user_rules: user_rules(project)?,
        python_modules_exclude: cfg.python_modules.exclude.clone(),
    };
    let bundle = bundle::collect(&input)
        .map_err(|e| anyhow::Error::new(e).context("cannot bundle the Worker"))?;
    for d in &bundle.ignored_duplicates {
        printer::warn(format!("ignoring duplicate module: {d}"));
    }
    if !project.paths.python_modules.is_dir() {
        printer::warn(
            "no python_modules/ directory: run `pywrangler-rs sync` to vendor the `workers` SDK and your dependencies",
        );
    }
    for m in &bundle.modules {
        printer::verbose(format!(
            "  {:<14} {:>10}  {}",
            m.kind.label(),
            m.content.len(),
            m.name
        ));
    }

    let mut meta = metadata::build(
        cfg,
        &bundle.main().name,
        &MetadataOptions {
            keep_vars: opts.keep_vars,
            message: opts.message.clone(),
        },
    );
    let report = SizeReport::measure(&bundle);
    printer::info(report.render(10).trim_end());
    if let Some(a) = &assets {
        printer::info(a.summary());
    }
    if let Some(limit) = report.over_limit() {
        printer::warn(format!(
            "the gzipped upload is over the {limit} Worker size limit; Cloudflare may reject it (see the table above for what to trim)"
        ));
    }

    if opts.dry_run {
        if let (Some(a), Some(m)) = (&assets, meta.as_object_mut()) {
            m.insert("assets".into(), a.metadata(None));
        }
        if let Some(dir) = &opts.outdir {
            form::write_outdir(dir, &bundle, &meta).map_err(|e| {
                UserError::new(format!(
                    "cannot write the dry-run output to {}: {e}",
                    dir.display()
                ))
            })?;
            printer::info(format!(
                "Wrote {} parts and metadata.json to {}",
                bundle.modules.len(),
                dir.display()
            ));
        }
        printer::info("--dry-run: exiting now.");
        return Ok(());
    }
    upload_and_report(project, opts, &name, meta, &bundle, assets.as_ref())
}

/// The upload replaces the Worker's bindings (`bindings_inherit=strict`): a
/// binding left out is deleted on Cloudflare. Refuse, naming each key, rather
/// than upload without something the config declares.
fn refuse_dropped_settings(project: &Project) -> anyhow::Result<()> {
    let mut blockers = project.deploy_blockers.clone();
    if project
        .config
        .unsafe_
        .as_ref()
        .is_some_and(|u| u.capnp.is_some())
    {
        blockers.push(format!(
            "{}: `unsafe.capnp` is not supported by pywrangler-rs",
            project.wrangler_path.display()
        ));
    }
    if blockers.is_empty() {
        return Ok(());
    }
    let mut message = format!(
        "{} would be left out of the upload, and Cloudflare removes what an upload leaves out:",
        if blockers.len() == 1 {
            "a config setting".to_string()
        } else {
            format!("{} config settings", blockers.len())
        }
    );
    for b in &blockers {
        message.push_str("\n  ");
        message.push_str(b);
    }
    Err(UserError::usage(message)
        .hint("fix or remove each key named above (check its spelling against the wrangler configuration reference)")
        .hint("if the setting is right and pywrangler-rs lacks it, deploy this Worker with `npx wrangler deploy`")
        .into())
}

fn run_validation(project: &Project, opts: &DeployOptions) -> anyhow::Result<()> {
    if opts.skip_validation {
        printer::warn(
            "skipping local validation (--skip-validation); startup errors will only show up at upload",
        );
        return Ok(());
    }
    match validate::validate(project, opts.limits) {
        Ok(ValidationReport::Passed {
            figures,
            limits,
            warnings,
        }) => {
            for w in warnings {
                printer::warn(w);
            }
            let unit = if figures.top_level_is_cpu {
                "CPU"
            } else {
                "wall"
            };
            printer::success(format!(
                "Validated the Worker locally: startup {:.0} ms CPU (a restore from the deploy snapshot; limit {:.0} ms), top level {:.0} ms {unit}, run once at deploy (limit {:.0} ms)",
                figures.startup_ms, limits.startup_ms, figures.top_level_ms, limits.top_level_ms
            ));
            Ok(())
        }
        Ok(ValidationReport::Unavailable { reason, hints }) => {
            printer::warn_with_hints(format!("local validation unavailable: {reason}"), &hints);
            Ok(())
        }
        Err(e) => Err(anyhow::Error::new(e).context("validation failed")),
    }
}

fn user_rules(project: &Project) -> anyhow::Result<Vec<Rule>> {
    let mut rules = Vec::new();
    for r in &project.config.rules {
        let Some(kind) = bundle::ModuleKind::from_rule_type(&r.kind) else {
            return Err(UserError::usage(format!(
                "{}: module rule type `{}` is not supported for Python Workers",
                project.wrangler_path.display(),
                r.kind
            ))
            .hint("use one of Text, Data, CompiledWasm, PythonModule, ESModule")
            .into());
        };
        rules.push(Rule {
            kind,
            globs: r.globs.clone(),
        });
    }
    Ok(rules)
}

fn upload_and_report(
    project: &Project,
    opts: &DeployOptions,
    name: &str,
    mut meta: Value,
    bundle: &bundle::Bundle,
    assets: Option<&assets::PreparedAssets>,
) -> anyhow::Result<()> {
    let cfg = &project.config;
    let settings = &opts.api;
    let creds = settings.credentials.clone()?;
    let client = Client::new(&settings.base_url, creds, settings.timeouts)?;
    let account_id = api::account::resolve(
        &client,
        cfg.account_id.as_deref(),
        settings.account_id.as_deref(),
    )?;
    super::preflight::check(&client, &account_id, cfg)?;
    if let Some(a) = assets {
        let jwt = assets::upload(&client, &account_id, name, a, opts.asset_backoff)?;
        if let Some(m) = meta.as_object_mut() {
            m.insert("assets".into(), a.metadata(Some(&jwt)));
        }
    }
    let (triggers, warnings) = metadata::triggers(cfg);
    for w in warnings {
        printer::warn(w);
    }
    let (service_tag, environment_tag) = match &project.env {
        Some(env) => (
            name.strip_suffix(&format!("-{env}")).map(str::to_string),
            Some(env.clone()),
        ),
        None => (None, None),
    };
    let spec = UploadSpec {
        account_id,
        script_name: name.to_string(),
        metadata: meta,
        migrations: metadata::migrations(cfg),
        required_secrets: cfg
            .secrets
            .as_ref()
            .map(|s| s.required.clone())
            .unwrap_or_default(),
        tail_consumers: metadata::tail_consumers(cfg),
        logpush: cfg.logpush,
        observability: metadata::observability(cfg),
        service_tag,
        environment_tag,
        triggers,
    };
    let start = Instant::now();
    let outcome = upload::deploy(&client, &spec, bundle)?;
    printer::success(format!(
        "Uploaded {name} ({:.2} sec){}",
        start.elapsed().as_secs_f64(),
        if outcome.first_deploy {
            ", a new Worker"
        } else {
            ""
        }
    ));
    for t in &outcome.targets {
        println!("{t}");
    }
    if let Some(v) = &outcome.version_id {
        printer::info(format!(
            "Current Version ID: {}",
            printer::escape_control(v)
        ));
    }
    Ok(())
}
