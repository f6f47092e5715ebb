//! Checks on `assets` with wrangler's messages (`validateAssetsConfig`,
//! `assets.ts`, `parseStaticRouting.ts`): the directory is required and must
//! be a directory, and `run_worker_first` rules must parse as the router
//! parses them. The directory's existence is checked only by the commands that
//! read it (`dev`, `deploy`), as wrangler does, so `sync` and `types` work
//! before a front-end build has produced it.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Location};
use super::model::{RunWorkerFirst, WranglerConfig};
use super::source::{SourceDoc, push_pointer};

/// Most `run_worker_first` rules (`MAX_ROUTES_RULES`).
pub const MAX_ROUTES_RULES: usize = 100;
/// Longest `run_worker_first` rule (`MAX_ROUTES_RULE_LENGTH`).
pub const MAX_ROUTES_RULE_LENGTH: usize = 100;

/// `run_worker_first` rules split the way the router uses them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StaticRouting {
    /// Patterns (`/api/*`) whose requests go to the Worker.
    pub user_worker: Vec<String>,
    /// Patterns (the `!/…` rules, without the `!`) whose requests go to the assets.
    pub asset_worker: Vec<String>,
}

/// Split and check `run_worker_first` rules; the error is wrangler's message.
pub fn parse_static_routing(rules: &[String]) -> Result<StaticRouting, String> {
    if rules.is_empty() {
        return Err(
            "No `run_worker_first` rules were provided; must provide at least 1 rule.".into(),
        );
    }
    if rules.len() > MAX_ROUTES_RULES {
        return Err(format!(
            "Too many `run_worker_first` rules were provided; {} rules provided exceeds max of {MAX_ROUTES_RULES}.",
            rules.len()
        ));
    }
    let mut out = StaticRouting::default();
    let mut raw_negative = Vec::new();
    let mut invalid = Vec::new();
    for rule in rules {
        if let Some(rest) = rule.strip_prefix('!') {
            if rest.starts_with('/') {
                out.asset_worker.push(rest.to_string());
                raw_negative.push(rule.clone());
            } else {
                invalid.push(format!("'{rule}': negative rules must start with '!/'"));
            }
        } else if rule.starts_with('/') {
            out.user_worker.push(rule.clone());
        } else {
            invalid.push(format!("'{rule}': rules must start with '/' or '!/'"));
        }
    }
    if !out.asset_worker.is_empty() && out.user_worker.is_empty() {
        return Err("Only negative `run_worker_first` rules were provided; must provide at least 1 non-negative rule".into());
    }
    invalid.extend(invalid_rules(&out.user_worker));
    invalid.extend(invalid_rules(&raw_negative));
    if !invalid.is_empty() {
        return Err(format!(
            "Invalid routes in `run_worker_first`:\n{}",
            invalid.join("\n")
        ));
    }
    Ok(out)
}

/// Too long, duplicated, or made redundant by a `*` rule.
fn invalid_rules(rules: &[String]) -> Vec<String> {
    let mut invalid = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for rule in rules {
        if rule.len() > MAX_ROUTES_RULE_LENGTH {
            invalid.push(format!(
                "'{rule}': all rules must be less than {MAX_ROUTES_RULE_LENGTH} characters in length"
            ));
        }
        if seen.contains(&rule.as_str()) {
            invalid.push(format!(
                "'{rule}': rule is a duplicate; rules must be unique"
            ));
        }
        if let Some(prefix) = rule.strip_suffix('*') {
            for other in rules {
                if other != rule && other.starts_with(prefix) {
                    invalid.push(format!("'{other}': rule '{rule}' makes it redundant"));
                }
            }
        }
        seen.push(rule);
    }
    invalid
}

/// Check `assets` in the resolved config; returns where `assets.directory`
/// is written (for the existence check at `dev`/`deploy`) and any warnings.
pub fn validate(
    doc: &SourceDoc,
    cfg: &WranglerConfig,
    scopes: &[&str],
    warnings: &mut Vec<String>,
) -> Result<Option<Location>, ConfigError> {
    let Some(assets) = &cfg.assets else {
        return Ok(None);
    };
    let pointer = scopes
        .iter()
        .map(|s| push_pointer(s, "assets"))
        .find(|p| doc.has(p))
        .unwrap_or_else(|| "/assets".into());
    if doc.has("/site") || scopes.iter().any(|s| doc.has(&push_pointer(s, "site"))) {
        return Err(ConfigError::invalid(
            doc.key_location(&pointer),
            "Cannot use assets and Workers Sites in the same Worker.",
            Some("remove `site` and serve the files through `assets`".into()),
        ));
    }
    if assets.directory.as_deref().is_none_or(str::is_empty) {
        return Err(ConfigError::invalid(
            doc.key_location(&pointer),
            "The `assets` property in your configuration is missing the required `directory` property.",
            Some("add `\"directory\": \"./public\"` (the folder of static files, relative to the config file)".into()),
        ));
    }
    match &assets.run_worker_first {
        Some(RunWorkerFirst::Rules(rules)) => {
            if let Err(message) = parse_static_routing(rules) {
                return Err(ConfigError::invalid(
                    doc.value_location(&push_pointer(&pointer, "run_worker_first")),
                    message,
                    Some("write rules like [\"/api/*\", \"!/api/docs/*\"]: `/…` goes to the Worker, `!/…` to the assets".into()),
                ));
            }
        }
        Some(RunWorkerFirst::All(true)) if assets.binding.is_none() => {
            warnings.push(format!(
                "{}: run_worker_first=true set without an assets binding; every request goes to the Worker, \
                 which cannot reach the assets without `assets.binding`",
                doc.key_location(&push_pointer(&pointer, "run_worker_first"))
            ));
        }
        _ => {}
    }
    Ok(Some(
        doc.value_location(&push_pointer(&pointer, "directory")),
    ))
}

/// The assets directory (relative to `config_dir`), checked as `dev` and
/// `deploy` check it; `at` is where the config names it.
pub fn check_directory(
    config_dir: &Path,
    directory: &str,
    at: &Location,
) -> Result<PathBuf, ConfigError> {
    let dir = config_dir.join(directory);
    let shown = dir.display();
    match std::fs::metadata(&dir) {
        Err(_) => Err(ConfigError::invalid(
            at.clone(),
            format!("The directory specified by the \"assets.directory\" field in your configuration file does not exist:\n{shown}"),
            Some("create the directory (or run your front-end build first), or point `assets.directory` at the folder of static files".into()),
        )),
        Ok(m) if !m.is_dir() => Err(ConfigError::invalid(
            at.clone(),
            format!("The path specified by the \"assets.directory\" field in your configuration file doesn't point to a directory:\n{shown}"),
            Some("point `assets.directory` at a folder, not a file".into()),
        )),
        Ok(_) => Ok(dir),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules(r: &[&str]) -> Vec<String> {
        r.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn routing_rules_split_into_worker_and_asset_rules() {
        let r = parse_static_routing(&rules(&["/api/*", "!/api/docs/*"])).expect("valid");
        assert_eq!(r.user_worker, ["/api/*"]);
        assert_eq!(r.asset_worker, ["/api/docs/*"]);
    }

    #[test]
    fn routing_rules_are_checked_like_wrangler() {
        let err = |r: &[&str]| parse_static_routing(&rules(r)).expect_err("invalid");
        assert!(err(&[]).starts_with("No `run_worker_first` rules"));
        assert!(err(&["!/assets"]).starts_with("Only negative `run_worker_first` rules"));
        assert!(err(&["api"]).contains("'api': rules must start with '/' or '!/'"));
        assert!(err(&["/a", "!api"]).contains("'!api': negative rules must start with '!/'"));
        assert!(err(&["/a", "/a"]).contains("'/a': rule is a duplicate; rules must be unique"));
        assert!(err(&["/api/*", "/api/x"]).contains("'/api/x': rule '/api/*' makes it redundant"));
        let long = format!("/{}", "a".repeat(100));
        assert!(err(&[long.as_str()]).contains("all rules must be less than 100 characters"));
        let many: Vec<String> = (0..101).map(|i| format!("/r{i}")).collect();
        assert!(
            parse_static_routing(&many)
                .expect_err("too many")
                .starts_with("Too many `run_worker_first` rules")
        );
    }
}
