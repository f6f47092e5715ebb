//! Where pywrangler-rs keeps its per-user cache (guests, compiled code,
//! snapshots), chosen the way uv chooses its own: `$HOME/.cache` on Linux and
//! macOS, `%LOCALAPPDATA%` on Windows, which has no `HOME`.

use std::ffi::OsString;
use std::path::PathBuf;

/// Environment variable that overrides the cache directory on every platform.
pub const CACHE_DIR_ENV: &str = "PYWRANGLER_CACHE_DIR";

/// The platform families whose cache conventions differ.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Platform {
    /// Linux, macOS and the other Unixes: `$HOME/.cache/pywrangler-rs`.
    Unix,
    /// Windows: `%LOCALAPPDATA%\pywrangler-rs\cache`.
    Windows,
}

impl Platform {
    /// The platform this binary was built for.
    pub const fn current() -> Platform {
        if cfg!(windows) {
            Platform::Windows
        } else {
            Platform::Unix
        }
    }
}

/// The user cache dir for this machine: `$PYWRANGLER_CACHE_DIR`, else the
/// platform's default, else a dir in the system temp dir (no home at all).
pub fn user_cache_dir() -> PathBuf {
    user_cache_dir_for(
        Platform::current(),
        |name| std::env::var_os(name),
        std::env::temp_dir(),
    )
}

/// [`user_cache_dir`] with the platform, the environment and the temp dir
/// passed in, so every platform's choice can be tested on any host.
pub fn user_cache_dir_for(
    platform: Platform,
    var: impl Fn(&str) -> Option<OsString>,
    temp_dir: PathBuf,
) -> PathBuf {
    // Relative or empty values would put the cache wherever the command runs.
    let absolute = |name: &str| {
        var(name)
            .map(PathBuf::from)
            .filter(|p| is_absolute(platform, p))
    };
    if let Some(dir) = var(CACHE_DIR_ENV).filter(|v| !v.is_empty()) {
        return PathBuf::from(dir);
    }
    let default = match platform {
        Platform::Unix => absolute("HOME").map(|home| home.join(".cache").join("pywrangler-rs")),
        Platform::Windows => absolute("LOCALAPPDATA")
            .or_else(|| absolute("USERPROFILE").map(|p| p.join("AppData").join("Local")))
            .map(|local| local.join("pywrangler-rs").join("cache")),
    };
    default.unwrap_or_else(|| temp_dir.join("pywrangler-rs"))
}

/// `Path::is_absolute` for `platform` rather than for the host, so Windows
/// paths can be judged in tests run on Linux.
fn is_absolute(platform: Platform, path: &std::path::Path) -> bool {
    match platform {
        Platform::Unix => path.to_string_lossy().starts_with('/'),
        Platform::Windows => {
            let s = path.to_string_lossy();
            let b = s.as_bytes();
            // `C:\…`, `C:/…` or a UNC path `\\server\share\…`.
            (b.len() >= 3
                && b[0].is_ascii_alphabetic()
                && b[1] == b':'
                && matches!(b[2], b'\\' | b'/'))
                || s.starts_with("\\\\")
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pick(platform: Platform, vars: &[(&str, &str)]) -> PathBuf {
        let vars: Vec<(String, OsString)> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), OsString::from(v)))
            .collect();
        user_cache_dir_for(
            platform,
            |name| vars.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()),
            PathBuf::from("TEMP"),
        )
    }

    #[test]
    fn override_wins_everywhere() {
        for platform in [Platform::Unix, Platform::Windows] {
            let got = pick(
                platform,
                &[
                    (CACHE_DIR_ENV, "/c"),
                    ("HOME", "/h"),
                    ("LOCALAPPDATA", "C:\\L"),
                ],
            );
            assert_eq!(got, PathBuf::from("/c"), "{platform:?}");
        }
        let empty = pick(Platform::Unix, &[(CACHE_DIR_ENV, ""), ("HOME", "/h")]);
        assert_eq!(
            empty,
            PathBuf::from("/h").join(".cache").join("pywrangler-rs")
        );
    }

    #[test]
    fn unix_and_macos_use_home_dot_cache_like_uv() {
        assert_eq!(
            pick(Platform::Unix, &[("HOME", "/home/ada")]),
            PathBuf::from("/home/ada")
                .join(".cache")
                .join("pywrangler-rs")
        );
        // A relative or missing HOME falls back to the temp dir.
        assert_eq!(
            pick(Platform::Unix, &[("HOME", "ada")]),
            PathBuf::from("TEMP").join("pywrangler-rs")
        );
        assert_eq!(
            pick(Platform::Unix, &[]),
            PathBuf::from("TEMP").join("pywrangler-rs")
        );
    }

    #[test]
    fn windows_uses_localappdata_and_ignores_home() {
        let local = "C:\\Users\\ada\\AppData\\Local";
        assert_eq!(
            pick(
                Platform::Windows,
                &[("HOME", "/home/ada"), ("LOCALAPPDATA", local)]
            ),
            PathBuf::from(local).join("pywrangler-rs").join("cache")
        );
        assert_eq!(
            pick(Platform::Windows, &[("USERPROFILE", "C:\\Users\\ada")]),
            PathBuf::from("C:\\Users\\ada")
                .join("AppData")
                .join("Local")
                .join("pywrangler-rs")
                .join("cache")
        );
        assert_eq!(
            pick(Platform::Windows, &[("HOME", "/home/ada")]),
            PathBuf::from("TEMP").join("pywrangler-rs"),
            "Windows has no HOME; one set by a Unix-like shell is not the profile"
        );
        assert_eq!(
            pick(Platform::Windows, &[("LOCALAPPDATA", "relative")]),
            PathBuf::from("TEMP").join("pywrangler-rs")
        );
    }
}
