//! The router in front of a Worker with assets (`router-worker`): whether a
//! request goes to the Worker, to the assets, or to the assets only if one
//! would be served. `run_worker_first` rules are globs where `*` matches any
//! run of characters and the rest is literal, anchored to the whole path.

use super::WorkerFirst;

/// Where the router sends a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// Straight to the Worker.
    Worker,
    /// To the assets, whatever they answer (a `!/…` rule matched).
    Assets,
    /// To the assets if one would be served (`canFetch`), else the Worker.
    AssetsFirst {
        /// Whether `not_found_handling` counts when asking (static routing
        /// is configured); otherwise only navigations may use it.
        not_found_applies: bool,
    },
}

/// Route a request for `pathname` (as the client sent it).
pub fn route(worker_first: &WorkerFirst, pathname: &str) -> Route {
    match worker_first {
        WorkerFirst::Always => Route::Worker,
        WorkerFirst::Never => Route::AssetsFirst {
            not_found_applies: false,
        },
        WorkerFirst::Rules(r) => {
            if r.asset_worker.iter().any(|g| glob_match(g, pathname)) {
                Route::Assets
            } else if r.user_worker.iter().any(|g| glob_match(g, pathname)) {
                Route::Worker
            } else {
                Route::AssetsFirst {
                    not_found_applies: true,
                }
            }
        }
    }
}

/// `*` matches any characters (including `/`); everything else is literal.
pub fn glob_match(pattern: &str, text: &str) -> bool {
    let mut parts = pattern.split('*');
    let first = parts.next().unwrap_or("");
    let Some(mut rest) = text.strip_prefix(first) else {
        return false;
    };
    let parts: Vec<&str> = parts.collect();
    let Some((last, middle)) = parts.split_last() else {
        return rest.is_empty();
    };
    for p in middle {
        match rest.find(p) {
            Some(i) => rest = &rest[i + p.len()..],
            None => return false,
        }
    }
    rest.len() >= last.len() && rest.ends_with(last)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::StaticRouting;

    #[test]
    fn globs_are_anchored_and_star_crosses_slashes() {
        assert!(glob_match("/api/*", "/api/"));
        assert!(glob_match("/api/*", "/api/a/b"));
        assert!(!glob_match("/api/*", "/api"));
        assert!(!glob_match("/api/*", "/x/api/a"));
        assert!(glob_match("/exact", "/exact"));
        assert!(!glob_match("/exact", "/exact/"));
        assert!(glob_match("/*.json", "/a/b.json"));
        assert!(glob_match("/a*b*c", "/aXbYc"));
        assert!(!glob_match("/a*b*c", "/aXcYb"));
        assert!(glob_match("/a*a", "/aa"));
        assert!(!glob_match("/a*aa", "/aa"));
        assert!(glob_match("/v?.html", "/v?.html"), "`?` is literal");
    }

    #[test]
    fn negative_rules_win_over_positive_ones() {
        let rules = WorkerFirst::Rules(StaticRouting {
            user_worker: vec!["/api/*".into()],
            asset_worker: vec!["/api/docs/*".into()],
        });
        assert_eq!(route(&rules, "/api/users"), Route::Worker);
        assert_eq!(route(&rules, "/api/docs/x"), Route::Assets);
        assert_eq!(
            route(&rules, "/index.html"),
            Route::AssetsFirst {
                not_found_applies: true
            }
        );
        assert_eq!(route(&WorkerFirst::Always, "/"), Route::Worker);
    }
}
