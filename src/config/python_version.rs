//! Which Python the Worker runs on Cloudflare, chosen by compat flag or date
//! exactly as the original pywrangler 1.17.9 (`metadata.py`) does: newest rule
//! first, a matching flag or a date at/after the threshold wins.

use std::fmt;

/// A Python minor version that Python Workers can run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum PythonVersion {
    Py312,
    Py313,
    Py314,
}

/// Why the version could not be determined (the original's messages).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PythonVersionError {
    #[error("`python_workers` compat flag not specified in wrangler config")]
    MissingFlag,
    #[error("No compatibility_date specified in wrangler config")]
    MissingDate,
    #[error("Invalid compatibility_date format: {0} (expected YYYY-MM-DD)")]
    BadDate(String),
}

struct Rule {
    version: PythonVersion,
    flag: &'static str,
    since: Option<(u16, u8, u8)>,
}

const RULES: &[Rule] = &[
    Rule {
        version: PythonVersion::Py314,
        flag: "python_workers_314",
        since: Some((2026, 9, 8)),
    },
    Rule {
        version: PythonVersion::Py313,
        flag: "python_workers_20250116",
        since: Some((2025, 9, 29)),
    },
    Rule {
        version: PythonVersion::Py312,
        flag: "python_workers",
        since: None,
    },
];

impl PythonVersion {
    /// Select the version from `compatibility_date` and `compatibility_flags`.
    pub fn detect(
        date: Option<&str>,
        flags: &[impl AsRef<str>],
    ) -> Result<PythonVersion, PythonVersionError> {
        let has = |name: &str| flags.iter().any(|f| f.as_ref() == name);
        if !has("python_workers") {
            return Err(PythonVersionError::MissingFlag);
        }
        let date = date.ok_or(PythonVersionError::MissingDate)?;
        let date = parse_date(date).ok_or_else(|| PythonVersionError::BadDate(date.to_string()))?;
        for rule in RULES {
            if has(rule.flag) || rule.since.is_some_and(|since| date >= since) {
                return Ok(rule.version);
            }
        }
        Ok(PythonVersion::Py312)
    }

    /// `(3, minor)`.
    pub fn minor(self) -> u8 {
        match self {
            PythonVersion::Py312 => 12,
            PythonVersion::Py313 => 13,
            PythonVersion::Py314 => 14,
        }
    }

    /// The full interpreter version production runs (for uv's `--python-version`).
    pub fn full_version(self) -> &'static str {
        match self {
            PythonVersion::Py312 => "3.12.7",
            PythonVersion::Py313 => "3.13.2",
            PythonVersion::Py314 => "3.14.2",
        }
    }

    /// The Pyodide package index for this version (extra index for uv).
    pub fn pyodide_index(self) -> &'static str {
        match self {
            PythonVersion::Py312 => "https://index.pyodide.org/0.27.7",
            PythonVersion::Py313 => "https://index.pyodide.org/0.28.3",
            PythonVersion::Py314 => "https://index.pyodide.org/314.0.7",
        }
    }

    /// The Pyodide release (ABI) this version's packages are built for.
    pub fn pyodide_version(self) -> &'static str {
        match self {
            PythonVersion::Py312 => "0.27.7",
            PythonVersion::Py313 => "0.28.3",
            PythonVersion::Py314 => "314.0.7",
        }
    }
}

impl fmt::Display for PythonVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "3.{}", self.minor())
    }
}

/// Parse a strict `YYYY-MM-DD` date into a comparable tuple.
pub fn parse_date(s: &str) -> Option<(u16, u8, u8)> {
    let b = s.as_bytes();
    if b.len() != 10 || b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let digits = |r: std::ops::Range<usize>| -> Option<u32> {
        let part = &s[r];
        if part.bytes().all(|c| c.is_ascii_digit()) {
            part.parse().ok()
        } else {
            None
        }
    };
    let (y, m, d) = (digits(0..4)?, digits(5..7)?, digits(8..10)?);
    let leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    let days = match m {
        1 | 3 | 5 | 7 | 8 | 10 | 12 => 31,
        4 | 6 | 9 | 11 => 30,
        2 if leap => 29,
        2 => 28,
        _ => return None,
    };
    if d == 0 || d > days {
        return None;
    }
    Some((y as u16, m as u8, d as u8))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn detect(date: &str, flags: &[&str]) -> Result<PythonVersion, PythonVersionError> {
        PythonVersion::detect(Some(date), flags)
    }

    #[test]
    fn base_flag_before_any_threshold_is_312() {
        assert_eq!(
            detect("2024-01-01", &["python_workers"]),
            Ok(PythonVersion::Py312)
        );
    }

    #[test]
    fn py313_boundary() {
        assert_eq!(
            detect("2025-09-28", &["python_workers"]),
            Ok(PythonVersion::Py312)
        );
        assert_eq!(
            detect("2025-09-29", &["python_workers"]),
            Ok(PythonVersion::Py313)
        );
        assert_eq!(
            detect("2025-09-30", &["python_workers"]),
            Ok(PythonVersion::Py313)
        );
    }

    #[test]
    fn py314_boundary() {
        assert_eq!(
            detect("2026-09-07", &["python_workers"]),
            Ok(PythonVersion::Py313)
        );
        assert_eq!(
            detect("2026-09-08", &["python_workers"]),
            Ok(PythonVersion::Py314)
        );
        assert_eq!(
            detect("2027-01-01", &["python_workers"]),
            Ok(PythonVersion::Py314)
        );
    }

    #[test]
    fn flags_win_over_old_dates() {
        let old = "2024-06-01";
        assert_eq!(
            detect(old, &["python_workers", "python_workers_20250116"]),
            Ok(PythonVersion::Py313)
        );
        assert_eq!(
            detect(old, &["python_workers", "python_workers_314"]),
            Ok(PythonVersion::Py314)
        );
        assert_eq!(
            detect("2025-10-01", &["python_workers", "python_workers_314"]),
            Ok(PythonVersion::Py314)
        );
    }

    #[test]
    fn errors_match_the_original() {
        assert_eq!(
            detect("2025-01-01", &[]),
            Err(PythonVersionError::MissingFlag)
        );
        assert_eq!(
            detect("2025-01-01", &["python_workers_314"]),
            Err(PythonVersionError::MissingFlag)
        );
        assert_eq!(
            PythonVersion::detect(None, &["python_workers"]),
            Err(PythonVersionError::MissingDate)
        );
        for bad in [
            "2025/01/01",
            "2025-1-01",
            "2025-02-30",
            "2025-13-01",
            "latest",
            "",
        ] {
            assert_eq!(
                detect(bad, &["python_workers"]),
                Err(PythonVersionError::BadDate(bad.to_string())),
                "{bad}"
            );
        }
        assert_eq!(
            PythonVersionError::MissingFlag.to_string(),
            "`python_workers` compat flag not specified in wrangler config"
        );
    }

    #[test]
    fn leap_days() {
        assert!(parse_date("2024-02-29").is_some());
        assert!(parse_date("2025-02-29").is_none());
        assert!(parse_date("2000-02-29").is_some());
        assert!(parse_date("1900-02-29").is_none());
    }
}
