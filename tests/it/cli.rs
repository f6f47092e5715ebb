//! The CLI surface: help, version, exit codes, the wrangler pass-through.

use crate::support::{run, tempdir};

#[test]
fn version_prints_name_and_version() {
    let dir = tempdir();
    let out = run(dir.path(), &["--version"]);
    out.expect_code(0);
    assert_eq!(
        out.stdout.trim(),
        format!("pywrangler-rs {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn help_snapshot() {
    let dir = tempdir();
    let out = run(dir.path(), &["--help"]);
    out.expect_code(0);
    insta::assert_snapshot!(out.stdout);
}

#[test]
fn dev_remote_is_refused_like_the_original() {
    let dir = tempdir();
    for args in [
        &["dev", "--remote"][..],
        &["dev", "-r"],
        &["dev", "--remote=true"],
        &["dev", "--remote", "true"],
    ] {
        let out = run(dir.path(), args);
        out.expect_code(1);
        assert!(
            out.stderr
                .contains("`pywrangler dev --remote` is not supported for Python Workers"),
            "{args:?}: {}",
            out.stderr
        );
    }
}

#[test]
fn unknown_command_without_npx_says_how_to_install() {
    let dir = tempdir();
    let out = crate::support::Run::from_output(
        crate::support::cmd(dir.path())
            .env("PATH", dir.path())
            .args(["whoami"])
            .output()
            .expect("runs"),
    );
    out.expect_code(1);
    assert!(
        out.stderr.contains("Command not found: npx"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("hint:"), "{}", out.stderr);
}

#[test]
fn unknown_command_passes_args_and_exit_code_through_npx() {
    let dir = tempdir();
    // A fake npx that records its argv and exits with a distinctive code.
    let npx = dir.path().join("npx");
    std::fs::write(&npx, "#!/bin/sh\necho \"$@\" > \"${0%/*}/argv\"\nexit 7\n").expect("write npx");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&npx, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    }
    let out = crate::support::Run::from_output(
        crate::support::cmd(dir.path())
            .env("PATH", dir.path())
            .args(["kv", "namespace", "list", "--json"])
            .output()
            .expect("runs"),
    );
    out.expect_code(7);
    let argv = std::fs::read_to_string(dir.path().join("argv")).expect("argv recorded");
    assert_eq!(argv.trim(), "--yes wrangler kv namespace list --json");
}

/// Regression: Ctrl-C during a pass-through killed pywrangler-rs at once while
/// npx was still stopping; now it waits and passes npx's exit code on.
#[cfg(unix)]
#[test]
fn ctrl_c_during_pass_through_waits_for_npx() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempdir();
    // A fake npx that says it started, then waits (bounded) for `go`.
    let npx = dir.path().join("npx");
    std::fs::write(
        &npx,
        "#!/bin/sh\nd=\"${0%/*}\"\n: > \"$d/started\"\ni=0\n\
         while [ ! -f \"$d/go\" ] && [ $i -lt 1000 ]; do sleep 0.01; i=$((i+1)); done\nexit 7\n",
    )
    .expect("write npx");
    std::fs::set_permissions(&npx, std::fs::Permissions::from_mode(0o755)).expect("chmod");
    let path = format!(
        "{}:{}",
        dir.path().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut child = crate::support::cmd(dir.path())
        .env("PATH", path)
        .args(["whoami"])
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("runs");
    for _ in 0..1000 {
        if dir.path().join("started").exists() {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert!(
        dir.path().join("started").exists(),
        "fake npx never started"
    );
    // SIGINT to pywrangler-rs alone (a terminal would send it to npx too).
    let sent = std::process::Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill");
    assert!(sent.success());
    // Give an unprotected process time to die before npx is let go.
    std::thread::sleep(std::time::Duration::from_millis(200));
    std::fs::write(dir.path().join("go"), "").expect("go");
    let status = child.wait().expect("wait");
    assert_eq!(status.code(), Some(7), "{status:?}");
}
