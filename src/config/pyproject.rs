//! `pyproject.toml`: the project root marker and the dependency list that
//! `sync` resolves, plus `[tool.pywrangler]` settings.

use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::error::{ConfigError, Location};

/// The parts of `pyproject.toml` pywrangler-rs reads.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Pyproject {
    /// `[project] name`.
    pub name: Option<String>,
    /// `[project] version`.
    pub version: Option<String>,
    /// `[project] dependencies` (PEP 508 strings, unparsed).
    pub dependencies: Vec<String>,
    /// `[project] requires-python`.
    pub requires_python: Option<String>,
    /// `[tool.pywrangler] allow-build`; the CLI flag overrides it.
    pub allow_build: Option<bool>,
    /// Whether `[tool.uv.sources]` is present (uv honours it when resolving).
    pub uv_sources: bool,
    /// The whole document, for anything not modelled here.
    pub raw: toml::Table,
}

#[derive(Deserialize)]
struct RawPyproject {
    #[serde(default)]
    project: Option<RawProject>,
    #[serde(default)]
    tool: Option<RawTool>,
}

#[derive(Deserialize)]
struct RawProject {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dependencies: Vec<String>,
    #[serde(default, rename = "requires-python")]
    requires_python: Option<String>,
}

#[derive(Deserialize)]
struct RawTool {
    #[serde(default)]
    pywrangler: Option<RawPywrangler>,
    #[serde(default)]
    uv: Option<toml::Table>,
}

#[derive(Deserialize)]
struct RawPywrangler {
    #[serde(default, rename = "allow-build")]
    allow_build: Option<bool>,
}

impl Pyproject {
    /// Parse `text`, read from `path`.
    pub fn parse(path: &Path, text: &str) -> Result<Pyproject, ConfigError> {
        let located = |e: toml::de::Error| {
            let offset = e.span().map_or(0, |s| s.start);
            ConfigError::invalid(
                Location::at(path, text, offset),
                format!("invalid pyproject.toml: {}", e.message().trim()),
                Some("fix pyproject.toml at that position (see https://packaging.python.org/en/latest/specifications/pyproject-toml/)".into()),
            )
        };
        let raw: toml::Table = toml::from_str(text).map_err(located)?;
        let typed: RawPyproject = toml::from_str(text).map_err(located)?;
        let project = typed.project;
        let tool = typed.tool;
        Ok(Pyproject {
            name: project.as_ref().and_then(|p| p.name.clone()),
            version: project.as_ref().and_then(|p| p.version.clone()),
            dependencies: project
                .as_ref()
                .map(|p| p.dependencies.clone())
                .unwrap_or_default(),
            requires_python: project.and_then(|p| p.requires_python),
            allow_build: tool
                .as_ref()
                .and_then(|t| t.pywrangler.as_ref())
                .and_then(|p| p.allow_build),
            uv_sources: tool
                .as_ref()
                .and_then(|t| t.uv.as_ref())
                .is_some_and(|uv| uv.contains_key("sources")),
            raw,
        })
    }

    /// Read and parse `path`.
    pub fn read(path: &Path) -> Result<Pyproject, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Pyproject::parse(path, &text)
    }
}

/// Walk up from `start` to the first directory holding `pyproject.toml`.
pub fn find_pyproject(start: &Path) -> Option<PathBuf> {
    start
        .ancestors()
        .map(|dir| dir.join("pyproject.toml"))
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_project_and_tool_settings() {
        let text = r#"
[project]
name = "demo"
version = "0.1.0"
requires-python = ">=3.12"
dependencies = ["fastapi", "httpx>=0.27"]

[tool.pywrangler]
allow-build = true

[tool.uv.sources]
mylib = { path = "../mylib" }
"#;
        let p = Pyproject::parse(Path::new("pyproject.toml"), text).expect("parses");
        assert_eq!(p.name.as_deref(), Some("demo"));
        assert_eq!(p.dependencies, ["fastapi", "httpx>=0.27"]);
        assert_eq!(p.requires_python.as_deref(), Some(">=3.12"));
        assert_eq!(p.allow_build, Some(true));
        assert!(p.uv_sources);
        let bare = Pyproject::parse(Path::new("pyproject.toml"), "").expect("empty is fine");
        assert_eq!(bare, Pyproject::default());
    }

    #[test]
    fn type_errors_have_positions() {
        let text = "[project]\nname = \"x\"\ndependencies = \"fastapi\"\n";
        let err = Pyproject::parse(Path::new("pyproject.toml"), text).expect_err("string deps");
        assert!(
            err.to_string()
                .starts_with("pyproject.toml:3:16: invalid pyproject.toml"),
            "{err}"
        );
    }
}
