//! How long the API client waits: a connect timeout, an idle timeout (no
//! byte sent or received) and a budget for retries, overridable through
//! `PYWRANGLER_API_TIMEOUT` (tests use a fraction of a second).

use std::time::Duration;

use super::env;
use crate::printer::escape_control;

/// How long the client waits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Timeouts {
    /// TCP + TLS connect.
    pub connect: Duration,
    /// Longest time a request may go without sending or receiving a byte
    /// (including the wait for the response after the upload).
    pub idle: Duration,
    /// Retries stop once failed attempts and backoff have used this much time.
    pub retry_budget: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts::with_idle(Duration::from_secs(30))
    }
}

impl Timeouts {
    /// Connect within `min(10 s, idle)`, retry for at most twice `idle`.
    pub fn with_idle(idle: Duration) -> Timeouts {
        Timeouts {
            connect: idle.min(Duration::from_secs(10)),
            idle,
            retry_budget: idle * 2,
        }
    }

    /// The defaults, or `setting` (`PYWRANGLER_API_TIMEOUT`) seconds of idle time.
    pub fn from_setting(setting: Option<&str>) -> Result<Timeouts, crate::diagnostics::UserError> {
        match setting {
            Some(v) if !v.trim().is_empty() => Timeouts::parse(v).ok_or_else(|| {
                crate::diagnostics::UserError::usage(format!(
                    "{} must be a positive number of seconds, not `{}`",
                    env::TIMEOUT,
                    escape_control(v.trim())
                ))
                .hint(format!(
                    "e.g. {}=60, or unset it for the default (30)",
                    env::TIMEOUT
                ))
            }),
            _ => Ok(Timeouts::default()),
        }
    }

    fn parse(v: &str) -> Option<Timeouts> {
        let secs: f64 = v.trim().parse().ok()?;
        (secs.is_finite() && secs > 0.0 && secs <= 86_400.0)
            .then(|| Timeouts::with_idle(Duration::from_secs_f64(secs)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timeouts_parse_seconds_and_refuse_nonsense() {
        assert_eq!(
            Timeouts::parse("0.5"),
            Some(Timeouts {
                connect: Duration::from_millis(500),
                idle: Duration::from_millis(500),
                retry_budget: Duration::from_secs(1),
            })
        );
        assert_eq!(
            Timeouts::parse(" 120 ").map(|t| t.connect),
            Some(Duration::from_secs(10))
        );
        for bad in ["0", "-1", "abc", "NaN", "inf", "1e9"] {
            assert_eq!(Timeouts::parse(bad), None, "{bad}");
        }
        let d = Timeouts::default();
        // A dead API costs two idle periods, about a minute.
        assert_eq!(d.idle * 2, Duration::from_secs(60));
        assert_eq!(d.retry_budget, Duration::from_secs(60));
    }
}
