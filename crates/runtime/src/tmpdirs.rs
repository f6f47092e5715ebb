//! Each guest's private `/tmp` is a host temp dir named after the process
//! that owns it (`pywrangler-tmp-<pid>-<random>`), so a run can sweep the dirs
//! a crashed run (`kill -9`) left behind without touching a live run's.

use std::path::{Path, PathBuf};

const PREFIX: &str = "pywrangler-tmp-";

/// A new instance dir in the system temp dir, owned by this process.
pub(crate) fn create() -> std::io::Result<tempfile::TempDir> {
    tempfile::Builder::new()
        .prefix(&format!("{PREFIX}{}-", std::process::id()))
        .tempdir()
}

/// The pid in an instance dir's name, if it is one.
fn owner(name: &str) -> Option<u32> {
    let (pid, rest) = name.strip_prefix(PREFIX)?.split_once('-')?;
    if rest.is_empty() || !pid.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    pid.parse().ok()
}

/// Whether process `pid` exists (a zombie counts as existing).
#[cfg(target_os = "linux")]
fn alive(pid: u32) -> bool {
    Path::new("/proc").join(pid.to_string()).exists()
}

/// Whether process `pid` exists: `kill -0` fails with "No such process" for a
/// gone one; anything unclear counts as alive, so a live run's dirs stay.
#[cfg(all(unix, not(target_os = "linux")))]
fn alive(pid: u32) -> bool {
    let out = std::process::Command::new("kill")
        .args(["-0", &pid.to_string()])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match out {
        Ok(o) => {
            o.status.success() || !String::from_utf8_lossy(&o.stderr).contains("No such process")
        }
        Err(_) => true,
    }
}

/// Whether process `pid` exists, asked of `tasklist` (present on every
/// Windows since XP); if it cannot answer, the process counts as alive.
#[cfg(windows)]
fn alive(pid: u32) -> bool {
    let out = std::process::Command::new("tasklist")
        .args(["/FI", &format!("PID eq {pid}"), "/FO", "CSV", "/NH"])
        .stdin(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .output();
    match out {
        Ok(o) if o.status.success() => tasklist_lists(&String::from_utf8_lossy(&o.stdout), pid),
        _ => true,
    }
}

/// Whether `tasklist /FO CSV /NH` output has a row (every field quoted) with
/// `pid` as a field. With no match tasklist prints a localised "INFO: …" line
/// instead, so only the presence of a row is read, never the wording.
#[cfg(any(windows, test))]
fn tasklist_lists(csv: &str, pid: u32) -> bool {
    let field = format!("\",\"{pid}\",\"");
    csv.lines()
        .any(|row| row.starts_with('"') && row.contains(&field))
}

/// Unknown elsewhere: counts as alive, so nothing is removed.
#[cfg(not(any(unix, windows)))]
fn alive(_pid: u32) -> bool {
    true
}

/// Instance dirs in `root` whose owner passes `pick`.
fn dirs_in(root: &Path, pick: impl Fn(u32) -> bool) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(root) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
        .filter(|e| e.file_name().to_str().and_then(owner).is_some_and(&pick))
        .map(|e| e.path())
        .collect()
}

/// Removes the instance dirs left in the system temp dir by processes that
/// no longer run (a run killed with `kill -9` cannot clean up); returns how
/// many were removed. Dirs of live processes are kept.
pub fn sweep_stale() -> usize {
    sweep_stale_in(&std::env::temp_dir())
}

fn sweep_stale_in(root: &Path) -> usize {
    let me = std::process::id();
    dirs_in(root, |pid| pid != me && !alive(pid))
        .into_iter()
        .filter(|d| std::fs::remove_dir_all(d).is_ok())
        .count()
}

/// Removes this process's instance dirs: used at exit when guests still
/// running could not be dropped (their dirs would otherwise stay behind).
pub fn remove_own() {
    let me = std::process::id();
    for dir in dirs_in(&std::env::temp_dir(), |pid| pid == me) {
        let _ = std::fs::remove_dir_all(dir);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_is_read_from_the_name() {
        assert_eq!(owner("pywrangler-tmp-1234-AbC9xy"), Some(1234));
        assert_eq!(owner("pywrangler-tmp-AbC9xy"), None, "older unnamed dirs");
        assert_eq!(owner("pywrangler-tmp-12a-x"), None);
        assert_eq!(owner("pywrangler-tmp-12-"), None);
        assert_eq!(owner("other-1234-x"), None);
    }

    #[test]
    fn tasklist_rows_are_matched_by_pid_not_by_wording() {
        let row = "\"pywrangler-rs.exe\",\"4242\",\"Console\",\"1\",\"52,116 K\"\r\n";
        assert!(tasklist_lists(row, 4242));
        assert!(
            !tasklist_lists(row, 424),
            "a prefix of the pid is another process"
        );
        let none = "INFO: No tasks are running which match the specified criteria.\r\n";
        assert!(!tasklist_lists(none, 4242));
        assert!(!tasklist_lists(
            "Information : aucune tâche \"4242\"\r\n",
            4242
        ));
    }

    #[cfg(unix)]
    #[test]
    fn sweep_removes_dead_owners_only() {
        let root = tempfile::tempdir().expect("tempdir");
        let mut child = std::process::Command::new("true").spawn().expect("spawn");
        let dead = child.id();
        child.wait().expect("wait");
        let dead_dir = root.path().join(format!("{PREFIX}{dead}-abc"));
        let live_dir = root
            .path()
            .join(format!("{PREFIX}{}-abc", std::process::id()));
        let unrelated = root.path().join("pywrangler-tmp-xyz");
        for d in [&dead_dir, &live_dir, &unrelated] {
            std::fs::create_dir_all(d.join("sub")).expect("mkdir");
        }
        assert_eq!(sweep_stale_in(root.path()), 1);
        assert!(!dead_dir.exists());
        assert!(live_dir.exists() && unrelated.exists());
    }
}
