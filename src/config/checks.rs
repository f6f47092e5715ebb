//! Checks on the values a config sends elsewhere, run at load after the shape
//! checks: the Worker name and resource names (wrangler's rules; the Worker
//! name goes into API paths), control bytes in names and vars, the
//! compatibility date and cron expressions. Files the config names (`main`,
//! `base_dir`, `migrations_dir`) are checked by the commands that open them
//! ([`FileRefs`]), so `types` and `sync` work before those files exist.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::error::{ConfigError, Location};
use super::model::WranglerConfig;
use super::source::{SourceDoc, push_pointer};

/// wrangler's `bucketFormatMessage`.
const BUCKET_FORMAT: &str = "Bucket names must begin and end with an alphanumeric character, only contain lowercase letters, numbers, and hyphens, and be between 3 and 63 characters long.";

/// Run every check on `cfg`, the config resolved for `scope` (`""` or
/// `/env/<name>`); `scopes` lists where inheritable keys are looked up.
pub(super) fn check(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    scope: &str,
    scopes: &[&str],
) -> Result<(), ConfigError> {
    let at = |rel: &str| format!("{scope}{rel}");
    check_worker_name(doc, cfg, scope)?;
    if let Some(account) = cfg.account_id.as_deref()
        && !account.chars().all(|c| c.is_ascii_alphanumeric())
    {
        return Err(ConfigError::invalid(
            doc.value_location(&super::load::pointer_in(doc, scopes, "account_id")),
            format!(
                "`account_id` is {}, which is not an account ID",
                quoted(account)
            ),
            Some("use the 32-character account ID from the Cloudflare dashboard (letters and digits only)".into()),
        ));
    }
    for (name, _, rel) in cfg.binding_names() {
        if name.chars().any(char::is_control) {
            return Err(ConfigError::invalid(
                doc.key_location(&at(&rel)),
                format!(
                    "the binding name {} contains a control character",
                    quoted(name)
                ),
                Some("binding names are identifiers like MY_KV: letters, digits and `_`".into()),
            ));
        }
    }
    for (name, value) in &cfg.vars {
        if has_nul(value) {
            return Err(ConfigError::invalid(
                doc.value_location(&push_pointer(&at("/vars"), name)),
                format!("the value of var `{name}` contains a NUL byte (\\u0000)"),
                Some(
                    "remove the NUL byte; vars are text or JSON sent to the Worker as they are"
                        .into(),
                ),
            ));
        }
    }
    check_resource_names(doc, cfg, scope)?;
    check_compatibility_date(doc, cfg, scopes)?;
    check_crons(doc, cfg, scopes)
}

/// wrangler's `isValidName` (`/^$|^[a-z0-9_][a-z0-9-_]*$/`): the rule for
/// Worker names, which Cloudflare's API puts in its URLs.
pub fn is_valid_worker_name(name: &str) -> bool {
    let lower_alnum = |c: char| c.is_ascii_lowercase() || c.is_ascii_digit();
    let mut chars = name.chars();
    match chars.next() {
        None => true,
        Some(first) if lower_alnum(first) || first == '_' => {
            chars.all(|c| lower_alnum(c) || c == '-' || c == '_')
        }
        Some(_) => false,
    }
}

/// wrangler's `isValidR2BucketName` (`/^[a-z0-9][a-z0-9-]{1,61}[a-z0-9]$/`).
pub fn is_valid_r2_bucket_name(name: &str) -> bool {
    let b = name.as_bytes();
    let edge = |c: &u8| c.is_ascii_lowercase() || c.is_ascii_digit();
    (3..=63).contains(&b.len())
        && b.first().is_some_and(edge)
        && b.last().is_some_and(edge)
        && b.iter().all(|c| edge(c) || *c == b'-')
}

/// wrangler's `isValidWorkflowName`: 1-64 characters of `[a-zA-Z0-9_-]`, not
/// starting with `-`. The name goes into the API path deploy PUTs.
pub fn is_valid_workflow_name(name: &str) -> bool {
    let word = |c: char| c.is_ascii_alphanumeric() || c == '_';
    name.len() <= 64
        && name.chars().next().is_some_and(word)
        && name.chars().all(|c| word(c) || c == '-')
}

/// wrangler's `workflowNameFormatMessage`.
const WORKFLOW_FORMAT: &str = "Workflow names must be 1-64 characters long, start with a letter, number, or underscore, and may only contain letters, numbers, underscores, or hyphens.";

/// A value as JSON (`"x/../y"`), as wrangler prints it in its messages.
fn quoted(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_else(|_| format!("\"{s}\""))
}

fn name_message(field: &str, value: &str) -> String {
    format!(
        "Expected \"{field}\" to be of type string, alphanumeric and lowercase with dashes only but got {}.",
        quoted(value)
    )
}

fn check_worker_name(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    scope: &str,
) -> Result<(), ConfigError> {
    let hint = || {
        Some(
            "use lowercase letters, digits, `-` and `_`, e.g. \"my-worker\" (the name is part of Cloudflare API URLs and of the workers.dev hostname)"
                .to_string(),
        )
    };
    // Each `name` as written: the top level's and the environment's own.
    let mut written = vec![String::from("/name")];
    if !scope.is_empty() {
        written.push(format!("{scope}/name"));
    }
    for pointer in &written {
        if let Some(Value::String(name)) = doc.value.pointer(pointer)
            && !is_valid_worker_name(name)
        {
            let field = dotted(pointer);
            return Err(ConfigError::invalid(
                doc.value_location(pointer),
                name_message(&field, name),
                hint(),
            ));
        }
    }
    // Under `--env` without its own `name`, the Worker is `<name>-<env>`.
    if let (Some(env), Some(name)) = (env_name(scope), cfg.name.as_deref())
        && doc.value.pointer(&format!("{scope}/name")).is_none()
        && !is_valid_worker_name(name)
    {
        return Err(ConfigError::invalid(
            doc.key_location(scope),
            format!(
                "the Worker name for environment `{env}` is {} (the top-level name plus \"-{env}\"), which is not alphanumeric and lowercase with dashes only",
                quoted(name)
            ),
            Some(format!(
                "set \"name\" inside `env.{env}`, or rename the environment using lowercase letters, digits, `-` and `_`"
            )),
        ));
    }
    Ok(())
}

fn check_resource_names(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    scope: &str,
) -> Result<(), ConfigError> {
    // (pointer relative to the scope, value, rule)
    enum Rule {
        Worker,
        Bucket,
        Workflow,
        NonEmpty,
    }
    let mut names: Vec<(String, &str, Rule)> = Vec::new();
    for (i, b) in cfg.r2_buckets.iter().enumerate() {
        if let Some(n) = &b.bucket_name {
            names.push((format!("/r2_buckets/{i}/bucket_name"), n, Rule::Bucket));
        }
        if let Some(n) = &b.preview_bucket_name {
            names.push((
                format!("/r2_buckets/{i}/preview_bucket_name"),
                n,
                Rule::Bucket,
            ));
        }
    }
    for (i, s) in cfg.services.iter().enumerate() {
        names.push((format!("/services/{i}/service"), &s.service, Rule::Worker));
    }
    for (i, d) in cfg.durable_objects.bindings.iter().enumerate() {
        if let Some(n) = &d.script_name {
            names.push((
                format!("/durable_objects/bindings/{i}/script_name"),
                n,
                Rule::Worker,
            ));
        }
    }
    for (i, w) in cfg.workflows.iter().enumerate() {
        names.push((format!("/workflows/{i}/name"), &w.name, Rule::Workflow));
        if let Some(n) = &w.script_name {
            names.push((format!("/workflows/{i}/script_name"), n, Rule::Worker));
        }
    }
    for (i, t) in cfg.tail_consumers.iter().enumerate() {
        names.push((
            format!("/tail_consumers/{i}/service"),
            &t.service,
            Rule::Worker,
        ));
    }
    for (i, p) in cfg.queues.producers.iter().enumerate() {
        names.push((
            format!("/queues/producers/{i}/queue"),
            &p.queue,
            Rule::NonEmpty,
        ));
    }
    for (i, c) in cfg.queues.consumers.iter().enumerate() {
        names.push((
            format!("/queues/consumers/{i}/queue"),
            &c.queue,
            Rule::NonEmpty,
        ));
        if let Some(n) = &c.dead_letter_queue {
            names.push((
                format!("/queues/consumers/{i}/dead_letter_queue"),
                n,
                Rule::NonEmpty,
            ));
        }
    }
    for (i, d) in cfg.d1_databases.iter().enumerate() {
        for (key, v) in [
            ("database_name", &d.database_name),
            ("database_id", &d.database_id),
            ("preview_database_id", &d.preview_database_id),
        ] {
            if let Some(n) = v {
                names.push((format!("/d1_databases/{i}/{key}"), n, Rule::NonEmpty));
            }
        }
    }
    for (i, k) in cfg.kv_namespaces.iter().enumerate() {
        for (key, v) in [("id", &k.id), ("preview_id", &k.preview_id)] {
            if let Some(n) = v {
                names.push((format!("/kv_namespaces/{i}/{key}"), n, Rule::NonEmpty));
            }
        }
    }
    for (rel, value, rule) in names {
        let pointer = format!("{scope}{rel}");
        let field = dotted(&pointer);
        let (message, hint) = match rule {
            Rule::Bucket if !is_valid_r2_bucket_name(value) => (
                format!("{field}={} is invalid. {BUCKET_FORMAT}", quoted(value)),
                "rename the bucket in the config to match the bucket's real name (e.g. \"my-bucket\")",
            ),
            Rule::Workflow if !is_valid_workflow_name(value) => (
                format!(
                    "\"{}\" binding \"name\" field is invalid ({}). {WORKFLOW_FORMAT}",
                    dotted(pointer.trim_end_matches("/name")),
                    quoted(value)
                ),
                "rename the workflow: letters, digits, `_` and `-`, e.g. \"my-workflow\"",
            ),
            Rule::Worker if value.is_empty() || !is_valid_worker_name(value) => (
                name_message(&field, value),
                "name the Worker exactly as it is deployed: lowercase letters, digits, `-` and `_`",
            ),
            _ if value.is_empty() => (
                format!("`{field}` is empty"),
                "set it to the name or ID of the resource it refers to",
            ),
            _ if value.chars().any(char::is_control) => (
                format!(
                    "`{field}` is {}, which contains a control character",
                    quoted(value)
                ),
                "remove the control character; resource names and IDs are plain text",
            ),
            _ => continue,
        };
        return Err(ConfigError::invalid(
            doc.value_location(&pointer),
            message,
            Some(hint.into()),
        ));
    }
    Ok(())
}

/// miniflare refuses a compatibility date after today (UTC) and so does the
/// Cloudflare API; catch it at load instead of at start-up or upload.
fn check_compatibility_date(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    scopes: &[&str],
) -> Result<(), ConfigError> {
    let Some(date) = cfg.compatibility_date.as_deref() else {
        return Ok(());
    };
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    if date <= today.as_str() {
        return Ok(());
    }
    Err(ConfigError::invalid(
        doc.value_location(&super::load::pointer_in(doc, scopes, "compatibility_date")),
        format!("Compatibility date \"{date}\" is in the future and unsupported"),
        Some(format!(
            "set compatibility_date to today's date ({today}) or an earlier one"
        )),
    ))
}

/// Cron Triggers take five fields (minute, hour, day of month, month, day of
/// week); `dev --test-scheduled` runs them with croner, so check with it too.
pub fn parse_cron(expr: &str) -> Result<croner::Cron, String> {
    let fields = expr.split_whitespace().count();
    if fields != 5 {
        return Err(format!("it has {fields} fields, not 5"));
    }
    croner::parser::CronParser::builder()
        .seconds(croner::parser::Seconds::Disallowed)
        .year(croner::parser::Year::Disallowed)
        .build()
        .parse(expr)
        .map_err(|e| e.to_string())
}

fn check_crons(doc: &SourceDoc, cfg: &WranglerConfig, scopes: &[&str]) -> Result<(), ConfigError> {
    let Some(triggers) = &cfg.triggers else {
        return Ok(());
    };
    let base = super::load::pointer_in(doc, scopes, "triggers");
    for (i, expr) in triggers.crons.iter().enumerate() {
        if let Err(why) = parse_cron(expr) {
            let pointer = format!("{base}/crons/{i}");
            return Err(ConfigError::invalid(
                doc.value_location(&pointer),
                format!(
                    "`{}` is {}, which is not a valid cron expression: {why}",
                    dotted(&pointer),
                    quoted(expr)
                ),
                Some(
                    "write five fields: minute hour day-of-month month day-of-week, e.g. \"*/5 * * * *\" or \"0 12 * * MON-FRI\""
                        .into(),
                ),
            ));
        }
    }
    Ok(())
}

fn has_nul(value: &Value) -> bool {
    match value {
        Value::String(s) => s.contains('\0'),
        Value::Array(items) => items.iter().any(has_nul),
        Value::Object(map) => map.iter().any(|(k, v)| k.contains('\0') || has_nul(v)),
        _ => false,
    }
}

/// The environment named by `scope` (`/env/<name>`), if any.
fn env_name(scope: &str) -> Option<String> {
    let token = scope.strip_prefix("/env/")?;
    Some(token.replace("~1", "/").replace("~0", "~"))
}

/// `env.staging.r2_buckets[0].bucket_name` for a pointer.
fn dotted(pointer: &str) -> String {
    let mut s = String::new();
    for token in pointer.split('/').skip(1) {
        let token = token.replace("~1", "/").replace("~0", "~");
        if token.parse::<usize>().is_ok() && !s.is_empty() {
            s.push_str(&format!("[{token}]"));
        } else {
            if !s.is_empty() {
                s.push('.');
            }
            s.push_str(&token);
        }
    }
    s
}

/// Where the config names the files that commands open later, so a missing
/// one is reported at its file:line:col by the command that needs it.
#[derive(Debug, Clone, Default)]
pub struct FileRefs {
    main: Option<Location>,
    base_dir: Option<Location>,
    /// One per `d1_databases` entry, in order.
    migrations_dirs: Vec<Location>,
}

/// Record where `cfg`'s file settings are written.
pub(super) fn file_refs(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    scope: &str,
    scopes: &[&str],
) -> FileRefs {
    let inherited = |key: &str| {
        let pointer = super::load::pointer_in(doc, scopes, key);
        doc.value_location(&pointer)
    };
    FileRefs {
        main: cfg.main.as_ref().map(|_| inherited("main")),
        base_dir: cfg.base_dir.as_ref().map(|_| inherited("base_dir")),
        migrations_dirs: (0..cfg.d1_databases.len())
            .map(|i| doc.value_location(&format!("{scope}/d1_databases/{i}/migrations_dir")))
            .collect(),
    }
}

/// `main` resolved against `dir`, checked to be an existing file inside
/// `base_dir` (when set). Absolute paths and `../` are allowed, as in wrangler.
pub(super) fn existing_main(
    dir: &Path,
    cfg: &WranglerConfig,
    refs: &FileRefs,
) -> Result<PathBuf, ConfigError> {
    let main = cfg.main.as_deref().unwrap_or_default();
    let path = super::main_path(dir, cfg);
    let loc = || {
        refs.main
            .clone()
            .unwrap_or_else(|| Location::at(dir, "", 0))
    };
    if !path.is_file() {
        let what = if path.is_dir() {
            "is a directory, not a Python file"
        } else {
            "was not found"
        };
        return Err(ConfigError::invalid(
            loc(),
            format!("The entry-point file at \"{main}\" {what} ({})", path.display()),
            Some(
                "create the Worker's entry module there, or point \"main\" at it (relative to the config file)"
                    .into(),
            ),
        ));
    }
    let Some(base) = cfg.base_dir.as_deref() else {
        return Ok(path);
    };
    let base_path = dir.join(base);
    let base_loc = refs.base_dir.clone().unwrap_or_else(loc);
    let Ok(base_real) = base_path.canonicalize() else {
        return Err(ConfigError::invalid(
            base_loc,
            format!(
                "`base_dir` \"{base}\" does not exist ({})",
                base_path.display()
            ),
            Some("point \"base_dir\" at the directory that holds the Worker's modules".into()),
        ));
    };
    let main_real = path.canonicalize().unwrap_or_else(|_| path.clone());
    if !main_real.starts_with(&base_real) {
        return Err(ConfigError::invalid(
            loc(),
            format!("`main` \"{main}\" is outside `base_dir` \"{base}\""),
            Some("move the entry module under base_dir, or set base_dir to a directory that contains it".into()),
        ));
    }
    Ok(path)
}

/// Check that each D1 `migrations_dir` that is set exists: `dev` applies
/// those migrations at start-up, and a typo would otherwise apply none.
pub(super) fn existing_migrations_dirs(
    dir: &Path,
    cfg: &WranglerConfig,
    refs: &FileRefs,
) -> Result<(), ConfigError> {
    for (i, d1) in cfg.d1_databases.iter().enumerate() {
        let Some(rel) = d1.migrations_dir.as_deref() else {
            continue;
        };
        let path = dir.join(rel);
        if path.is_dir() {
            continue;
        }
        let name = d1.database_name.as_deref().unwrap_or(&d1.binding);
        return Err(ConfigError::invalid(
            refs.migrations_dirs
                .get(i)
                .cloned()
                .unwrap_or_else(|| Location::at(dir, "", 0)),
            format!(
                "`migrations_dir` \"{rel}\" of D1 binding `{}` does not exist ({})",
                d1.binding,
                path.display()
            ),
            Some(format!(
                "fix the path, remove \"migrations_dir\", or create the first migration with `npx wrangler d1 migrations create {name} <message>`"
            )),
        ));
    }
    Ok(())
}

#[cfg(test)]
#[path = "checks_tests.rs"]
mod tests;
