//! `.dev.vars`: local secrets in dotenv format, next to the wrangler config.
//! Like wrangler, `--env NAME` prefers `.dev.vars.NAME` when it exists.

use std::path::{Path, PathBuf};

use super::error::{ConfigError, Location};

/// The `.dev.vars` file that applies to `env` in `dir`, if any exists.
pub fn dev_vars_path(dir: &Path, env: Option<&str>) -> Option<PathBuf> {
    if let Some(env) = env {
        let specific = dir.join(format!(".dev.vars.{env}"));
        if specific.is_file() {
            return Some(specific);
        }
    }
    let plain = dir.join(".dev.vars");
    plain.is_file().then_some(plain)
}

/// Read the `.dev.vars` that applies to `env` in `dir` as `(name, value)`
/// pairs in file order; no file means no pairs.
pub fn read_dev_vars(dir: &Path, env: Option<&str>) -> Result<Vec<(String, String)>, ConfigError> {
    let Some(path) = dev_vars_path(dir, env) else {
        return Ok(Vec::new());
    };
    let text = std::fs::read_to_string(&path).map_err(|source| ConfigError::Read {
        path: path.clone(),
        source,
    })?;
    let mut out = Vec::new();
    for item in dotenvy::from_read_iter(text.as_bytes()) {
        match item {
            Ok(pair) => out.push(pair),
            Err(dotenvy::Error::LineParse(line, index)) => {
                let start = text.find(line.as_str()).unwrap_or(0);
                return Err(ConfigError::invalid(
                    Location::at(&path, &text, start + index),
                    format!("invalid line in {}: `{}`", path.display(), line.trim()),
                    Some("write one NAME=value per line (quote values with spaces)".into()),
                ));
            }
            Err(e) => {
                return Err(ConfigError::invalid(
                    Location::at(&path, &text, 0),
                    format!("cannot parse: {e}"),
                    Some("write one NAME=value per line".into()),
                ));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_specific_file_wins() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".dev.vars"), "A=1\n# c\nB=\"two words\"\n").expect("w");
        std::fs::write(dir.path().join(".dev.vars.stg"), "C=3\n").expect("w");
        let plain = read_dev_vars(dir.path(), None).expect("reads");
        assert_eq!(
            plain,
            [("A".into(), "1".into()), ("B".into(), "two words".into())]
        );
        assert_eq!(
            read_dev_vars(dir.path(), Some("stg")).expect("reads"),
            [("C".into(), "3".into())]
        );
        assert_eq!(
            read_dev_vars(dir.path(), Some("other"))
                .expect("reads")
                .len(),
            2
        );
    }

    #[test]
    fn windows_line_endings_are_not_part_of_values() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(
            dir.path().join(".dev.vars"),
            "A=1\r\n# c\r\nB=\"two words\"\r\nC=x",
        )
        .expect("w");
        assert_eq!(
            read_dev_vars(dir.path(), None).expect("reads"),
            [
                ("A".into(), "1".into()),
                ("B".into(), "two words".into()),
                ("C".into(), "x".into())
            ]
        );
    }

    #[test]
    fn bad_lines_name_the_file() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join(".dev.vars"), "A=1\nB C\n").expect("w");
        let err = read_dev_vars(dir.path(), None).expect_err("bad");
        assert!(err.to_string().contains(".dev.vars:2:"), "{err}");
    }
}
