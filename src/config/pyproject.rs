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

/// A minimal `[project]` table, for hints.
const PROJECT_EXAMPLE: &str =
    "\n    [project]\n    name = \"my-worker\"\n    version = \"0.1.0\"\n    dependencies = []";

#[derive(Deserialize)]
struct RawPyproject {
    #[serde(default)]
    project: Option<toml::Spanned<RawProject>>,
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
    #[serde(default)]
    dynamic: Vec<String>,
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
        let Some(project) = typed.project else {
            return Err(ConfigError::invalid(
                Location::at(path, text, 0),
                "pyproject.toml has no [project] table: pywrangler-rs installs the Worker's packages from [project] dependencies",
                Some(format!(
                    "add a [project] table to pyproject.toml:{PROJECT_EXAMPLE}"
                )),
            ));
        };
        let at = Location::at(path, text, project.span().start);
        let project = project.into_inner();
        if project.name.is_none() {
            return Err(ConfigError::invalid(
                at,
                "[project] has no `name` (uv needs it to resolve the dependencies)",
                Some("add `name = \"my-worker\"` under [project]".into()),
            ));
        }
        if project.version.is_none() && !project.dynamic.iter().any(|d| d == "version") {
            return Err(ConfigError::invalid(
                at,
                "[project] has no `version` (uv needs it to resolve the dependencies)",
                Some("add `version = \"0.1.0\"` under [project]".into()),
            ));
        }
        let project = Some(project);
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
        let text = super::source::read_text(path)?;
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
    }

    /// Regression: an empty pyproject.toml, or one without `[project]`, got
    /// uv's "packages are not currently supported" from `sync`.
    #[test]
    fn a_missing_project_table_says_so() {
        let path = Path::new("pyproject.toml");
        for text in ["", "\n", "[tool.pywrangler]\nallow-build = true\n"] {
            let err = Pyproject::parse(path, text).expect_err("no [project]");
            assert!(
                err.to_string()
                    .starts_with("pyproject.toml:1:1: pyproject.toml has no [project] table"),
                "{err}"
            );
            assert!(
                err.hint().unwrap_or_default().contains("[project]\n"),
                "{err}"
            );
        }
        let err = Pyproject::parse(path, "[tool.x]\n\n[project]\nversion = \"1\"\n")
            .expect_err("no name");
        assert_eq!(
            err.to_string(),
            "pyproject.toml:3:1: [project] has no `name` (uv needs it to resolve the dependencies)"
        );
        let err = Pyproject::parse(path, "[project]\nname = \"w\"\n").expect_err("no version");
        assert!(err.to_string().contains("has no `version`"), "{err}");
        let dynamic = "[project]\nname = \"w\"\ndynamic = [\"version\"]\n";
        assert!(Pyproject::parse(path, dynamic).is_ok());
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
