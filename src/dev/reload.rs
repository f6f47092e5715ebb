//! Hot reload: watch the sources, `python_modules/`, `pyproject.toml`, the
//! wrangler config and `.dev.vars` (debounced), rebuild, and swap the new
//! generation in atomically. Requests in flight finish on the old one.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use notify::event::{EventKind, ModifyKind};
use notify::{RecommendedWatcher, RecursiveMode, Watcher as _};

use super::builder::{self, BuildError, Current, Shared};
use super::server::report_to_terminal;

/// Keeps the watcher alive; dropping it stops watching.
pub struct Watcher {
    _watcher: RecommendedWatcher,
}

/// Quiet time after the first change before rebuilding (editors write in bursts).
const DEBOUNCE: Duration = Duration::from_millis(25);

/// Only content changes count; reads (our own rebuild reads every file) do not.
fn is_change(kind: &EventKind) -> bool {
    match kind {
        EventKind::Create(_) | EventKind::Remove(_) => true,
        EventKind::Modify(ModifyKind::Metadata(_)) => false,
        EventKind::Modify(_) => true,
        _ => false,
    }
}

/// Files directly in the project root that matter (the rest of the root,
/// e.g. logs, is ignored unless it is also the module root).
fn root_file_matters(name: &str) -> bool {
    name == "pyproject.toml"
        || name.starts_with("wrangler.")
        || name.starts_with(".dev.vars")
        || name == ".env"
        || name.starts_with(".env.")
}

fn relevant(path: &Path, roots: &[PathBuf]) -> bool {
    if let (Some(parent), Some(name)) = (path.parent(), path.file_name())
        && roots.iter().any(|r| r == parent)
        && !root_file_matters(&name.to_string_lossy())
    {
        return false;
    }
    !ignored(path)
}

/// Our own state and caches, VCS and venv dirs, compiled and editor swap
/// files. Looks at path components, never at `/` in the text: Windows
/// separates with `\`, and a `.wrangler` state write must not reload there either.
fn ignored(path: &Path) -> bool {
    let mut components = path.components().peekable();
    while let Some(c) = components.next() {
        let std::path::Component::Normal(name) = c else {
            continue;
        };
        let name = name.to_string_lossy();
        if components.peek().is_none() {
            return name.ends_with(".pyc") || name.ends_with('~') || name.ends_with(".swp");
        }
        if matches!(name.as_ref(), ".wrangler" | "__pycache__" | ".git")
            || name.starts_with(".venv")
        {
            return true;
        }
    }
    false
}

/// Start watching; each batch of relevant changes triggers one rebuild.
pub fn start(shared: Arc<Shared>, handle: tokio::runtime::Handle) -> anyhow::Result<Watcher> {
    let Some(generation) = shared.ready().or(None) else {
        return start_paths(shared.clone(), handle, watch_roots_from_flags(&shared));
    };
    let s = &generation.settings;
    let mut paths = vec![(s.root.clone(), RecursiveMode::NonRecursive)];
    paths.push((s.module_root.clone(), RecursiveMode::Recursive));
    if s.paths.python_modules.is_dir() {
        paths.push((s.paths.python_modules.clone(), RecursiveMode::Recursive));
    }
    if let Some(dir) = s.config_path.parent()
        && dir != s.root
    {
        paths.push((dir.to_path_buf(), RecursiveMode::NonRecursive));
    }
    start_paths(shared, handle, paths)
}

fn watch_roots_from_flags(shared: &Shared) -> Vec<(PathBuf, RecursiveMode)> {
    // The first build failed before settings existed: watch the whole tree.
    vec![(shared.flags.cwd.clone(), RecursiveMode::Recursive)]
}

fn start_paths(
    shared: Arc<Shared>,
    handle: tokio::runtime::Handle,
    paths: Vec<(PathBuf, RecursiveMode)>,
) -> anyhow::Result<Watcher> {
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<PathBuf>>();
    // Directories watched non-recursively: only their config files count.
    let flat: Vec<PathBuf> = paths
        .iter()
        .filter(|(_, m)| *m == RecursiveMode::NonRecursive)
        .map(|(p, _)| p.clone())
        .collect();
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res
            && is_change(&event.kind)
        {
            let changed: Vec<PathBuf> = event
                .paths
                .into_iter()
                .filter(|p| relevant(p, &flat))
                .collect();
            if !changed.is_empty() {
                let _ = tx.send(changed);
            }
        }
    })?;
    for (path, mode) in &paths {
        if path.exists() {
            watcher.watch(path, *mode)?;
        }
    }
    handle.spawn(async move {
        while let Some(mut changed) = rx.recv().await {
            // Coalesce the burst: wait until DEBOUNCE passes with no new event.
            while let Ok(Some(more)) = tokio::time::timeout(DEBOUNCE, rx.recv()).await {
                changed.extend(more);
            }
            reload(&shared, &changed).await;
        }
    });
    Ok(Watcher { _watcher: watcher })
}

async fn reload(shared: &Arc<Shared>, changed: &[PathBuf]) {
    let started = Instant::now();
    let first = changed
        .first()
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    crate::printer::info(format!("Change detected ({first}), reloading…"));
    let s = shared.clone();
    let id = shared.next_id();
    let sync = changed
        .iter()
        .any(|p| p.file_name().is_some_and(|n| n == "pyproject.toml"));
    let busy = super::listen::Busy::enter();
    let built = tokio::task::spawn_blocking(move || {
        let _busy = busy;
        builder::build(&s.flags, &s.runtime, id, sync)
    })
    .await;
    match built {
        Ok(Ok(generation)) => {
            shared.swap(Current::Ready(generation));
            crate::printer::success(format!(
                "Reloaded in {:.0}ms",
                started.elapsed().as_secs_f64() * 1000.0
            ));
        }
        Ok(Err(BuildError::Broken(info))) => {
            report_to_terminal(&info);
            shared.swap(Current::Broken(Arc::new(info)));
            crate::printer::warn(
                "the Worker is broken; serving the error page until the next change",
            );
        }
        Ok(Err(BuildError::Fatal(e))) => {
            let info = super::error_page::ErrorInfo {
                status: 500,
                title: "Reload failed".into(),
                r#type: "Error".into(),
                message: format!("{e:#}"),
                detail: format!("{e:#}"),
            };
            report_to_terminal(&info);
            shared.swap(Current::Broken(Arc::new(info)));
        }
        Err(e) => crate::printer::warn(format!("reload task failed: {e}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A path from parts, joined with the host's separator (`\` on Windows).
    fn native(parts: &[&str]) -> PathBuf {
        parts.iter().collect()
    }

    #[test]
    fn state_caches_and_editor_files_do_not_reload() {
        // Only the project root is watched flat; `src` is watched recursively.
        let roots = [native(&["", "work", "app"])];
        for parts in [
            &[
                "",
                "work",
                "app",
                ".wrangler",
                "state",
                "v3",
                "d1",
                "db.sqlite",
            ][..],
            &[
                "",
                "work",
                "app",
                "src",
                "__pycache__",
                "entry.cpython-313.pyc",
            ],
            &["", "work", "app", "src", ".git", "index"],
            &["", "work", "app", "src", ".venv-workers", "x.py"],
            &["", "work", "app", "src", "entry.py~"],
            &["", "work", "app", "src", ".entry.py.swp"],
            &["", "work", "app", "src", "mod.pyc"],
            &["", "work", "app", "server.log"],
        ] {
            assert!(!relevant(&native(parts), &roots), "{parts:?}");
        }
        for parts in [
            &["", "work", "app", "src", "entry.py"][..],
            &["", "work", "app", "src", "pkg", "wrangler_helpers.py"],
            &["", "work", "app", "src", "gitlab.py"],
            &["", "work", "app", "wrangler.toml"],
            &["", "work", "app", ".dev.vars"],
        ] {
            assert!(relevant(&native(parts), &roots), "{parts:?}");
        }
    }
}
