//! The resolve step between parsing and running (as uv's `settings.rs` and
//! ripgrep's low/high args): the raw clap flags, the environment snapshot
//! ([`EnvVars`]) and the loaded project become one settings value per
//! command, with one precedence everywhere: command line > environment >
//! config > default. Domain code gets these values and never sees clap
//! types or the environment.

mod deploy;
mod dev;
mod sync;

use std::io::IsTerminal;
use std::path::PathBuf;

pub use deploy::DeploySettings;
pub use dev::DevSettings;
pub use sync::SyncSettings;

use crate::cli::{ColorChoice, ConfigArgs, GlobalArgs};
use crate::env_vars::{self, EnvVars};

/// Where a setting's value came from, for messages that name it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// A command-line flag, e.g. `--port`.
    Cli(&'static str),
    /// An environment variable.
    Env(&'static str),
    /// A config key, e.g. `dev.port in the wrangler config`.
    Config(&'static str),
    /// The built-in default.
    Default,
}

impl std::fmt::Display for Source {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Source::Cli(flag) => f.write_str(flag),
            Source::Env(name) => write!(f, "${name}"),
            Source::Config(key) => write!(f, "{key} in the wrangler config"),
            Source::Default => f.write_str("the default"),
        }
    }
}

/// One setting's layers, highest first; [`Layers::pick`] takes the first
/// that is set: command line > environment > config > default.
#[derive(Debug)]
pub struct Layers<T> {
    pub cli: (Option<T>, &'static str),
    pub env: (Option<T>, &'static str),
    pub config: (Option<T>, &'static str),
}

impl<T> Layers<T> {
    /// No layer set yet; fill the ones a setting has.
    pub fn new() -> Layers<T> {
        Layers {
            cli: (None, ""),
            env: (None, ""),
            config: (None, ""),
        }
    }

    pub fn cli(mut self, flag: &'static str, value: Option<T>) -> Self {
        self.cli = (value, flag);
        self
    }

    pub fn env(mut self, name: &'static str, value: Option<T>) -> Self {
        self.env = (value, name);
        self
    }

    pub fn config(mut self, key: &'static str, value: Option<T>) -> Self {
        self.config = (value, key);
        self
    }

    /// The value of the highest layer that is set, else `default`.
    pub fn pick(self, default: T) -> (T, Source) {
        self.pick_set().unwrap_or((default, Source::Default))
    }

    /// The value of the highest layer that is set, if any (a setting with
    /// no default).
    pub fn pick_set(self) -> Option<(T, Source)> {
        match (self.cli, self.env, self.config) {
            ((Some(v), flag), _, _) => Some((v, Source::Cli(flag))),
            (_, (Some(v), name), _) => Some((v, Source::Env(name))),
            (_, _, (Some(v), key)) => Some((v, Source::Config(key))),
            _ => None,
        }
    }
}

/// Output settings: verbosity from the flags, color from `--color`, else
/// `NO_COLOR`, else whether stderr is a terminal.
pub fn init_printer(global: &GlobalArgs, env: &EnvVars) {
    let color = match global.color {
        ColorChoice::Always => true,
        ColorChoice::Never => false,
        ColorChoice::Auto => {
            env.get(env_vars::NO_COLOR).is_none() && std::io::stderr().is_terminal()
        }
    };
    crate::printer::Printer::init(global.verbose, global.quiet, color);
}

/// Which wrangler config and environment to load.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ConfigSelection {
    /// `-c/--config`, relative to the working directory.
    pub config: Option<PathBuf>,
    /// `-e/--env`, else `CLOUDFLARE_ENV` (as in wrangler).
    pub env: Option<String>,
}

impl ConfigSelection {
    pub fn resolve(args: &ConfigArgs, env: &EnvVars) -> ConfigSelection {
        let name = Layers::new()
            .cli("--env", args.env.clone())
            .env(
                env_vars::CLOUDFLARE_ENV,
                env.get(env_vars::CLOUDFLARE_ENV).map(str::to_string),
            )
            .pick_set();
        ConfigSelection {
            config: args.config.clone(),
            env: name.map(|(name, _)| name),
        }
    }
}

/// The working directory, read once per command.
pub fn current_dir() -> anyhow::Result<PathBuf> {
    use anyhow::Context as _;
    std::env::current_dir().context("cannot read the current directory")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn layers_pick_cli_then_env_then_config_then_default() {
        let all = || {
            Layers::new()
                .cli("--x", Some(1))
                .env("X", Some(2))
                .config("x", Some(3))
        };
        assert_eq!(all().pick(4), (1, Source::Cli("--x")));
        assert_eq!(
            Layers::new().env("X", Some(2)).config("x", Some(3)).pick(4),
            (2, Source::Env("X"))
        );
        assert_eq!(
            Layers::new().cli("--x", None).config("x", Some(3)).pick(4),
            (3, Source::Config("x"))
        );
        assert_eq!(Layers::<i32>::new().pick(4), (4, Source::Default));
    }

    #[test]
    fn env_flag_wins_over_cloudflare_env() {
        let env = EnvVars::from_pairs([("CLOUDFLARE_ENV", "staging")]);
        let flag = ConfigArgs {
            config: None,
            env: Some("prod".into()),
        };
        assert_eq!(
            ConfigSelection::resolve(&flag, &env).env.as_deref(),
            Some("prod")
        );
        let none = ConfigArgs::default();
        assert_eq!(
            ConfigSelection::resolve(&none, &env).env.as_deref(),
            Some("staging")
        );
        assert_eq!(
            ConfigSelection::resolve(&none, &EnvVars::default()).env,
            None
        );
    }
}
