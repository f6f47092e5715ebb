//! Every environment variable pywrangler-rs reads, in one list: its name,
//! what it does and who reads it. `main` takes one snapshot of them
//! ([`EnvVars::from_process`]); the settings layer (`crate::settings`) is the
//! only code that looks into it. The README's table is rendered from [`ALL`]
//! and a test keeps the two equal.

use std::collections::BTreeMap;
use std::ffi::{OsStr, OsString};

/// Wrangler environment to use when `-e/--env` is not given.
pub const CLOUDFLARE_ENV: &str = "CLOUDFLARE_ENV";
/// API token for deploy.
pub const CLOUDFLARE_API_TOKEN: &str = "CLOUDFLARE_API_TOKEN";
/// Global API key for deploy (with [`CLOUDFLARE_EMAIL`]).
pub const CLOUDFLARE_API_KEY: &str = "CLOUDFLARE_API_KEY";
/// The account e-mail that goes with [`CLOUDFLARE_API_KEY`].
pub const CLOUDFLARE_EMAIL: &str = "CLOUDFLARE_EMAIL";
/// Account to deploy to when the config has no `account_id`.
pub const CLOUDFLARE_ACCOUNT_ID: &str = "CLOUDFLARE_ACCOUNT_ID";
/// The API's base URL (tests point it at a local fake).
pub const CLOUDFLARE_API_BASE_URL: &str = "CLOUDFLARE_API_BASE_URL";
/// Seconds an API request may go without progress.
pub const PYWRANGLER_API_TIMEOUT: &str = "PYWRANGLER_API_TIMEOUT";
/// First wait before retrying a failed assets upload request, milliseconds.
pub const PYWRANGLER_ASSETS_RETRY_DELAY_MS: &str = "PYWRANGLER_ASSETS_RETRY_DELAY_MS";
/// The uv binary to use.
pub const PYWRANGLER_UV: &str = "PYWRANGLER_UV";
/// uv's own switch; set to `never` for uv unless the user set it.
pub const UV_PYTHON_DOWNLOADS: &str = "UV_PYTHON_DOWNLOADS";
/// The Pyodide package index: a URL or a local directory of wheels.
pub const PYWRANGLER_PYODIDE_INDEX: &str = "PYWRANGLER_PYODIDE_INDEX";
/// `dev`'s request body limit in bytes.
pub const PYWRANGLER_DEV_MAX_REQUEST_BODY: &str = "PYWRANGLER_DEV_MAX_REQUEST_BODY";
/// `dev`'s wall-clock limit per event, milliseconds.
pub const PYWRANGLER_DEV_WALL_LIMIT_MS: &str = "PYWRANGLER_DEV_WALL_LIMIT_MS";
/// Longest one D1 query or Durable Object `sql.exec` may run in `dev`.
pub const PYWRANGLER_SQL_TIME_LIMIT_MS: &str = "PYWRANGLER_SQL_TIME_LIMIT_MS";
/// Deploy validation: the startup limit, milliseconds of CPU.
pub const PYWRANGLER_STARTUP_LIMIT_MS: &str = "PYWRANGLER_STARTUP_LIMIT_MS";
/// Deploy validation: the top-level limit, milliseconds of CPU.
pub const PYWRANGLER_TOP_LEVEL_CPU_LIMIT_MS: &str = "PYWRANGLER_TOP_LEVEL_CPU_LIMIT_MS";
/// Prefix of Hyperdrive's local connection strings (`…_<BINDING>`).
pub const HYPERDRIVE_LOCAL: &str = "CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_";
/// The deprecated spelling of [`HYPERDRIVE_LOCAL`], still read by wrangler.
pub const HYPERDRIVE_LOCAL_DEPRECATED: &str = "WRANGLER_HYPERDRIVE_LOCAL_CONNECTION_STRING_";
/// Disables colors.
pub const NO_COLOR: &str = "NO_COLOR";
/// Read by the runtime crate: the built guest directories.
pub const PYWRANGLER_GUEST_DIR: &str = "PYWRANGLER_GUEST_DIR";
/// Read by the runtime crate: the cache root.
pub const PYWRANGLER_CACHE_DIR: &str = "PYWRANGLER_CACHE_DIR";
/// Read by the runtime crate: shim packages to use instead of the embedded ones.
pub const PYWRANGLER_SHIM_DIR: &str = "PYWRANGLER_SHIM_DIR";
/// Read by the runtime crate: print step timings.
pub const PYWRANGLER_RUNTIME_TRACE: &str = "PYWRANGLER_RUNTIME_TRACE";
/// Read by the runtime crate's build script.
pub const PYWRANGLER_SKIP_GUEST_BUILD: &str = "PYWRANGLER_SKIP_GUEST_BUILD";

/// Who reads a variable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reader {
    /// The CLI, once at start-up, through [`EnvVars`].
    Cli,
    /// The runtime crate (`crates/runtime`), where it is found (see
    /// docs/architecture.md, "Settings", for why these stay there).
    Runtime,
    /// The runtime crate's build script, when pywrangler-rs is compiled.
    Build,
}

/// One documented variable.
#[derive(Debug, Clone, Copy)]
pub struct EnvVar {
    /// The name; for a prefix, the part before the binding name.
    pub name: &'static str,
    /// True when the variable is a family `NAME<SUFFIX>`.
    pub prefix: bool,
    /// What it does (the README's text).
    #[cfg_attr(not(test), expect(dead_code, reason = "read by the README check"))]
    pub what: &'static str,
    /// Who reads it.
    pub reader: Reader,
}

const fn var(name: &'static str, reader: Reader, what: &'static str) -> EnvVar {
    EnvVar {
        name,
        prefix: false,
        what,
        reader,
    }
}

/// Every variable, in the README's order.
pub const ALL: &[EnvVar] = &[
    var(
        PYWRANGLER_UV,
        Reader::Cli,
        "the uv binary to use (else `uv` on PATH, else `python3 -m uv`)",
    ),
    var(
        UV_PYTHON_DOWNLOADS,
        Reader::Cli,
        "uv's own setting; unless you set it, uv runs with `never` (sync never downloads an interpreter)",
    ),
    var(
        PYWRANGLER_PYODIDE_INDEX,
        Reader::Cli,
        "Pyodide package index (URL or local wheel dir) for `sync`",
    ),
    var(
        PYWRANGLER_GUEST_DIR,
        Reader::Runtime,
        "built guest directories, a path list (`/g/313:/g/314`, outputs of `scripts/build-guest` and `scripts/build-guest-314`); the one matching the project's Python version is used",
    ),
    var(
        PYWRANGLER_CACHE_DIR,
        Reader::Runtime,
        "cache root (default `~/.cache/pywrangler-rs`)",
    ),
    var(
        PYWRANGLER_SHIM_DIR,
        Reader::Runtime,
        "a directory of Python shim packages (`crates/runtime/python`) used instead of the embedded ones, for working on the shim without rebuilding",
    ),
    var(
        PYWRANGLER_RUNTIME_TRACE,
        Reader::Runtime,
        "non-empty: print the runtime's step timings (snapshot build, restore, compile) on stderr",
    ),
    var(
        PYWRANGLER_SKIP_GUEST_BUILD,
        Reader::Build,
        "at `cargo build` time: do not build the guests (the binary then needs `PYWRANGLER_GUEST_DIR`)",
    ),
    var(
        PYWRANGLER_DEV_MAX_REQUEST_BODY,
        Reader::Cli,
        "`dev`'s request body limit in bytes (default 104857600, Cloudflare's 100 MB on Free/Pro; 413 above it)",
    ),
    var(
        PYWRANGLER_DEV_WALL_LIMIT_MS,
        Reader::Cli,
        "`dev`'s wall-clock limit per event (default 60 s, or twice `limits.cpu_ms`)",
    ),
    var(
        PYWRANGLER_SQL_TIME_LIMIT_MS,
        Reader::Cli,
        "longest one D1 query or Durable Object `sql.exec` may run in `dev` (default 30000, D1's limit)",
    ),
    var(
        PYWRANGLER_STARTUP_LIMIT_MS,
        Reader::Cli,
        "deploy validation's startup limit, ms of CPU (default 1000, Cloudflare's)",
    ),
    var(
        PYWRANGLER_TOP_LEVEL_CPU_LIMIT_MS,
        Reader::Cli,
        "deploy validation's limit on the top level, ms of CPU (default 10000)",
    ),
    EnvVar {
        name: HYPERDRIVE_LOCAL,
        prefix: true,
        what: "`dev`: the local Postgres for Hyperdrive binding `<BINDING>` (wins over `localConnectionString`; the `WRANGLER_` spelling is read too)",
        reader: Reader::Cli,
    },
    EnvVar {
        name: HYPERDRIVE_LOCAL_DEPRECATED,
        prefix: true,
        what: "the deprecated spelling of the one above",
        reader: Reader::Cli,
    },
    var(
        CLOUDFLARE_API_TOKEN,
        Reader::Cli,
        "deploy credentials: an API token",
    ),
    var(
        CLOUDFLARE_API_KEY,
        Reader::Cli,
        "deploy credentials: a global API key (with `CLOUDFLARE_EMAIL`)",
    ),
    var(
        CLOUDFLARE_EMAIL,
        Reader::Cli,
        "the account e-mail for `CLOUDFLARE_API_KEY`",
    ),
    var(
        CLOUDFLARE_ACCOUNT_ID,
        Reader::Cli,
        "account for deploy when the config has no `account_id` (as in wrangler, the config wins)",
    ),
    var(
        CLOUDFLARE_API_BASE_URL,
        Reader::Cli,
        "API base URL for deploy",
    ),
    var(
        PYWRANGLER_API_TIMEOUT,
        Reader::Cli,
        "seconds an API request may go without progress before it times out (default 30; connect ≤ 10 s; retries stop after twice this)",
    ),
    var(
        PYWRANGLER_ASSETS_RETRY_DELAY_MS,
        Reader::Cli,
        "first wait before `deploy` retries a failed assets upload request, ms (default 1000, wrangler's; doubles per retry, 5 retries; a 524 gateway timeout adds 5× this, doubling)",
    ),
    var(
        CLOUDFLARE_ENV,
        Reader::Cli,
        "environment to use when `-e/--env` is not given (as in wrangler)",
    ),
    var(NO_COLOR, Reader::Cli, "disable colors"),
];

/// A snapshot of the variables in [`ALL`] that the CLI reads, taken once.
#[derive(Debug, Clone, Default)]
pub struct EnvVars {
    values: BTreeMap<String, OsString>,
}

impl EnvVars {
    /// Read the process environment (the only place the CLI does).
    pub fn from_process() -> EnvVars {
        EnvVars::from_pairs(std::env::vars_os())
    }

    /// A snapshot of `pairs`, keeping only the variables the CLI reads.
    pub fn from_pairs<K, V>(pairs: impl IntoIterator<Item = (K, V)>) -> EnvVars
    where
        K: Into<OsString>,
        V: Into<OsString>,
    {
        let values = pairs
            .into_iter()
            .filter_map(|(k, v)| {
                let k = k.into().into_string().ok()?;
                lookup(&k).is_some().then(|| (k, v.into()))
            })
            .collect();
        EnvVars { values }
    }

    /// The raw value of `name`, set or not (even when empty).
    pub fn os(&self, name: &str) -> Option<&OsStr> {
        debug_assert!(lookup(name).is_some(), "{name} is not in env_vars::ALL");
        self.values.get(name).map(OsString::as_os_str)
    }

    /// The value of `name`, trimmed, when it is set to something other than
    /// blanks (a value that is not UTF-8 reads as `\u{fffd}`, which no
    /// setting accepts, so its message names the variable).
    pub fn get(&self, name: &str) -> Option<&str> {
        self.os(name)
            .map(|v| v.to_str().unwrap_or("\u{fffd}").trim())
            .filter(|v| !v.is_empty())
    }

    /// Whether `name` is set at all (even to an empty string).
    pub fn is_set(&self, name: &str) -> bool {
        self.os(name).is_some()
    }

    /// `(suffix, value)` of every non-empty variable of the family `prefix`,
    /// e.g. `("DB", "postgres://…")` for Hyperdrive's local strings.
    pub fn suffixes<'a>(&'a self, prefix: &'a str) -> impl Iterator<Item = (&'a str, &'a str)> {
        debug_assert!(ALL.iter().any(|v| v.prefix && v.name == prefix), "{prefix}");
        self.values.iter().filter_map(move |(k, v)| {
            let suffix = k.strip_prefix(prefix).filter(|s| !s.is_empty())?;
            let value = v.to_str().filter(|v| !v.is_empty())?;
            Some((suffix, value))
        })
    }
}

/// The entry `name` belongs to, if the CLI reads it.
fn lookup(name: &str) -> Option<&'static EnvVar> {
    ALL.iter().find(|v| {
        v.reader == Reader::Cli
            && if v.prefix {
                name.len() > v.name.len() && name.starts_with(v.name)
            } else {
                name == v.name
            }
    })
}

/// The README's table (Markdown), rendered from [`ALL`].
#[cfg(test)]
pub fn markdown_table() -> String {
    let mut out = String::from("| variable | meaning |\n|---|---|\n");
    for v in ALL {
        let name = if v.prefix {
            format!("`{}<BINDING>`", v.name)
        } else {
            format!("`{}`", v.name)
        };
        let reader = match v.reader {
            Reader::Cli => "",
            Reader::Runtime => " (read by the runtime)",
            Reader::Build => " (read when building pywrangler-rs)",
        };
        out.push_str(&format!("| {name} | {}{reader} |\n", v.what));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_readme_table_is_rendered_from_the_list() {
        let readme = include_str!("../README.md");
        let start = "<!-- env-vars:start (generated from src/env_vars.rs; a test checks it) -->\n";
        let end = "<!-- env-vars:end -->";
        let table = readme
            .split_once(start)
            .and_then(|(_, rest)| rest.split_once(end))
            .map(|(table, _)| table)
            .expect("README.md has the env-vars markers");
        assert_eq!(
            table,
            markdown_table(),
            "README.md's environment variable table differs from src/env_vars.rs; replace it with:\n{}",
            markdown_table()
        );
    }

    #[test]
    fn every_name_is_listed_once() {
        let mut names: Vec<_> = ALL.iter().map(|v| v.name).collect();
        names.sort_unstable();
        let before = names.len();
        names.dedup();
        assert_eq!(before, names.len(), "a variable is listed twice");
    }

    #[test]
    fn the_snapshot_keeps_only_listed_variables() {
        let env = EnvVars::from_pairs([
            ("PYWRANGLER_UV", "/bin/uv"),
            ("HOME", "/home/x"),
            ("NO_COLOR", ""),
            (
                "CLOUDFLARE_HYPERDRIVE_LOCAL_CONNECTION_STRING_DB",
                "postgres://x",
            ),
            ("PYWRANGLER_API_TIMEOUT", "  "),
        ]);
        assert_eq!(env.get(PYWRANGLER_UV), Some("/bin/uv"));
        assert!(!env.values.contains_key("HOME"));
        assert!(env.is_set(NO_COLOR) && env.get(NO_COLOR).is_none());
        assert_eq!(env.get(PYWRANGLER_API_TIMEOUT), None, "blank is unset");
        assert_eq!(
            env.suffixes(HYPERDRIVE_LOCAL).collect::<Vec<_>>(),
            vec![("DB", "postgres://x")]
        );
    }
}
