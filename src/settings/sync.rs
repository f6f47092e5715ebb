//! `sync`'s settings, also used (without flags) by `dev` and `deploy`, which
//! sync before they build.

use std::path::PathBuf;

use super::Layers;
use crate::cli::SyncArgs;
use crate::config::Project;
use crate::env_vars::{self, EnvVars};
use crate::sync::SyncOptions;
use crate::uv::UvConfig;

/// What `sync` does.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    pub options: SyncOptions,
    /// `--json`: a summary on stdout.
    pub json: bool,
}

impl SyncSettings {
    /// `sync`'s flags over the environment over `[tool.pywrangler]` over the defaults.
    pub fn resolve(args: &SyncArgs, project: &Project, env: &EnvVars) -> SyncSettings {
        let flag = match (args.allow_build, args.no_allow_build) {
            (true, _) => Some(true),
            (_, true) => Some(false),
            _ => None,
        };
        let mut options = Self::options(flag, project, env);
        options.force = args.force;
        options.upgrade = args.upgrade;
        options.host_venv = !args.no_host_venv;
        SyncSettings {
            options,
            json: args.json,
        }
    }

    /// The sync `dev` and `deploy` run before a build (no flags; no host venv).
    pub fn implied(project: &Project, env: &EnvVars) -> SyncOptions {
        Self::options(None, project, env)
    }

    fn options(allow_build: Option<bool>, project: &Project, env: &EnvVars) -> SyncOptions {
        let (allow_build, _) = Layers::new()
            .cli("--allow-build", allow_build)
            .config(
                "[tool.pywrangler] allow-build",
                project.pyproject.allow_build,
            )
            .pick(false);
        SyncOptions {
            force: false,
            upgrade: false,
            allow_build,
            host_venv: false,
            index: env
                .get(env_vars::PYWRANGLER_PYODIDE_INDEX)
                .map(str::to_string),
            uv: UvConfig {
                program: env.get(env_vars::PYWRANGLER_UV).map(PathBuf::from),
                python_downloads_set: env.is_set(env_vars::UV_PYTHON_DOWNLOADS),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::ConfigArgs;

    fn project(allow_build: Option<bool>) -> Project {
        let dir = tempfile::tempdir().expect("tmp");
        let tool = match allow_build {
            Some(v) => format!("\n[tool.pywrangler]\nallow-build = {v}\n"),
            None => String::new(),
        };
        std::fs::write(
            dir.path().join("pyproject.toml"),
            format!("[project]\nname = \"w\"\nversion = \"0.1.0\"\n{tool}"),
        )
        .expect("pyproject");
        std::fs::write(
            dir.path().join("wrangler.toml"),
            "name = \"w\"\nmain = \"src/entry.py\"\ncompatibility_date = \"2025-10-01\"\ncompatibility_flags = [\"python_workers\"]\n",
        )
        .expect("wrangler");
        Project::load(dir.path(), None, None).expect("project")
    }

    fn args(allow: bool, no_allow: bool) -> SyncArgs {
        SyncArgs {
            config: ConfigArgs::default(),
            force: false,
            upgrade: false,
            allow_build: allow,
            no_allow_build: no_allow,
            no_host_venv: false,
            json: false,
        }
    }

    #[test]
    fn allow_build_flag_over_pyproject_over_default() {
        let env = EnvVars::default();
        let allowed = project(Some(true));
        assert!(
            SyncSettings::resolve(&args(false, false), &allowed, &env)
                .options
                .allow_build
        );
        assert!(
            !SyncSettings::resolve(&args(false, true), &allowed, &env)
                .options
                .allow_build
        );
        let unset = project(None);
        assert!(
            !SyncSettings::resolve(&args(false, false), &unset, &env)
                .options
                .allow_build
        );
        assert!(
            SyncSettings::resolve(&args(true, false), &unset, &env)
                .options
                .allow_build
        );
        assert!(SyncSettings::implied(&allowed, &env).allow_build);
    }

    #[test]
    fn index_and_uv_come_from_the_environment() {
        let env = EnvVars::from_pairs([
            ("PYWRANGLER_PYODIDE_INDEX", " wheels "),
            ("PYWRANGLER_UV", "/opt/uv"),
            ("UV_PYTHON_DOWNLOADS", ""),
        ]);
        let opts = SyncSettings::implied(&project(None), &env);
        assert_eq!(opts.index.as_deref(), Some("wheels"));
        assert_eq!(opts.uv.program, Some(PathBuf::from("/opt/uv")));
        assert!(opts.uv.python_downloads_set);
        let none = SyncSettings::implied(&project(None), &EnvVars::default());
        assert_eq!((none.index, none.uv.program), (None, None));
        assert!(!none.uv.python_downloads_set);
    }
}
