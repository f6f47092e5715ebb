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
