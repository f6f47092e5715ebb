//! Static assets (`assets` in the wrangler config), shared by `deploy` and
//! `dev`: the manifest wrangler uploads (`manifest`), the router's choice
//! between the Worker and the assets (`routing`), and the asset worker's
//! path resolution and responses (`serve`), so both commands agree on which
//! files exist and how a path maps to one.

pub mod manifest;
pub mod routing;
pub mod rules;
pub mod serve;

use std::path::PathBuf;

use crate::config::{
    ConfigError, HtmlHandling, NotFoundHandling, Project, RunWorkerFirst, StaticRouting,
    parse_static_routing,
};

/// The first compatibility date on which browser navigations prefer assets
/// (`assets_navigation_prefers_asset_serving`).
const NAVIGATION_PREFERS_ASSETS_FROM: &str = "2025-04-01";

/// Resolved `assets` settings.
#[derive(Debug, Clone)]
pub struct AssetsOptions {
    /// The assets directory (absolute or relative to the cwd), known to exist.
    pub dir: PathBuf,
    /// `assets.binding`.
    pub binding: Option<String>,
    pub html_handling: HtmlHandling,
    pub not_found_handling: NotFoundHandling,
    pub worker_first: WorkerFirst,
    /// Whether a `Sec-Fetch-Mode: navigate` request gets `not_found_handling`
    /// from the assets instead of reaching the Worker (compat flag).
    pub navigation_prefers_assets: bool,
}

/// `assets.run_worker_first`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WorkerFirst {
    /// Assets first (the default).
    Never,
    /// `true`: every request goes to the Worker.
    Always,
    /// Rules: matching requests go to the Worker (or, for `!` rules, the assets).
    Rules(StaticRouting),
}

impl AssetsOptions {
    /// The project's assets, if configured; fails (at the config's
    /// file:line:col) when the directory is missing.
    pub fn from_project(project: &Project) -> Result<Option<AssetsOptions>, ConfigError> {
        let Some(dir) = project.assets_dir()? else {
            return Ok(None);
        };
        let Some(assets) = &project.config.assets else {
            return Ok(None);
        };
        let cfg = &project.config;
        let worker_first = match &assets.run_worker_first {
            None | Some(RunWorkerFirst::All(false)) => WorkerFirst::Never,
            Some(RunWorkerFirst::All(true)) => WorkerFirst::Always,
            // Checked when the config was loaded.
            Some(RunWorkerFirst::Rules(r)) => {
                WorkerFirst::Rules(parse_static_routing(r).unwrap_or_default())
            }
        };
        let has_flag = |f: &str| cfg.compatibility_flags.iter().any(|x| x == f);
        let navigation_prefers_assets = !has_flag("assets_navigation_has_no_effect")
            && (has_flag("assets_navigation_prefers_asset_serving")
                || cfg
                    .compatibility_date
                    .as_deref()
                    .is_some_and(|d| d >= NAVIGATION_PREFERS_ASSETS_FROM));
        Ok(Some(AssetsOptions {
            dir,
            binding: assets.binding.clone(),
            html_handling: assets
                .html_handling
                .unwrap_or(HtmlHandling::AutoTrailingSlash),
            not_found_handling: assets.not_found_handling.unwrap_or(NotFoundHandling::None),
            worker_first,
            navigation_prefers_assets,
        }))
    }
}
