//! Regression tests for deploy against a hostile or broken world (issue 10):
//! names that would steer API paths, an API that never answers, stalls or
//! sends garbage or echoes the token, and symlink loops in the project.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::{basic, project};
use crate::support::fake_cf::{self, FakeCf, Misbehave};
use crate::support::{Run, cmd};

/// Small enough that a dead API fails in about a second.
const TIMEOUT_SECS: &str = "0.5";
/// A run that takes longer than this has hung (the old client needed 20 minutes).
const HANG: Duration = Duration::from_secs(60);

/// `deploy` with the fake's credentials, a short API timeout, killed if it hangs.
fn deploy_bounded(root: &Path, cf: &FakeCf, extra_env: &[(&str, &str)]) -> (Run, Duration) {
    let mut c = cmd(root);
    c.args(["deploy", "--skip-validation", "--no-sync", "-v"])
        .env("CLOUDFLARE_API_TOKEN", fake_cf::TOKEN)
        .env("CLOUDFLARE_API_BASE_URL", cf.base_url())
        .env("PYWRANGLER_API_TIMEOUT", TIMEOUT_SECS)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in extra_env {
        c.env(k, v);
    }
    let start = Instant::now();
    let mut child = c.spawn().expect("binary runs");
    // Poll with a bound: a hang fails the test instead of wedging the suite.
    while child.try_wait().expect("wait").is_none() {
        if start.elapsed() > HANG {
            let _ = child.kill();
            let out = child.wait_with_output().expect("output");
            panic!(
                "deploy still running after {HANG:?}\n--- stderr\n{}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("output");
    (Run::from_output(out), start.elapsed())
}

#[test]
fn regression_traversal_in_account_id_stays_inside_its_path_segment() {
    // `x/../../memberships` used to reach `/client/v4/memberships/...`.
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    let (run, _) = deploy_bounded(
        dir.path(),
        &cf,
        &[("CLOUDFLARE_ACCOUNT_ID", "x/../../memberships")],
    );
    run.expect_code(1);
    let paths: Vec<String> = cf.calls().into_iter().map(|c| c.path).collect();
    assert!(!paths.is_empty());
    for p in &paths {
        assert!(
            p.starts_with("/client/v4/accounts/x%2F..%2F..%2Fmemberships/workers/"),
            "a request left the account's path: {paths:#?}"
        );
    }
}

#[test]
fn regression_api_that_never_answers_times_out_quickly_and_says_so() {
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    cf.misbehave(
        Some("PUT"),
        "/workers/scripts/hello",
        Misbehave::NeverAnswer,
    );
    let (run, took) = deploy_bounded(dir.path(), &cf, &[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("timeout: no response within 0.5 s after sending"),
        "{}",
        run.stderr
    );
    // One retry, then the retry budget (twice the timeout) is spent.
    assert!(run.stderr.contains("after 2 attempts"), "{}", run.stderr);
    assert!(
        run.stderr.contains("PYWRANGLER_API_TIMEOUT"),
        "the hint names the knob: {}",
        run.stderr
    );
    let puts = cf.calls().iter().filter(|c| c.method == "PUT").count();
    assert_eq!(puts, 2);
    assert!(took < Duration::from_secs(30), "took {took:?}");
}

#[test]
fn regression_dead_api_fails_on_the_first_request() {
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    cf.misbehave(None, "/", Misbehave::NeverAnswer);
    let (run, _) = deploy_bounded(dir.path(), &cf, &[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("GET /memberships failed (no response after 2 attempts)"),
        "{}",
        run.stderr
    );
    assert!(
        run.stderr.contains("timeout: no response within 0.5 s"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_stalled_body_is_a_timeout_not_an_empty_body() {
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    cf.misbehave(Some("GET"), "/workers/services/hello", Misbehave::StallBody);
    let (run, _) = deploy_bounded(dir.path(), &cf, &[]);
    run.expect_code(1);
    assert!(
        run.stderr
            .contains("timeout: the response body (HTTP 200) stalled for 0.5 s after 14 bytes"),
        "{}",
        run.stderr
    );
    assert!(
        !run.stderr.contains("empty response body"),
        "{}",
        run.stderr
    );
}

#[test]
fn a_slow_answer_that_keeps_coming_is_not_a_timeout() {
    // The bound is on idle time, not total time: the upload's answer in
    // 8-byte pieces 0.1 s apart takes about 2 s, four times the timeout.
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    cf.misbehave(
        Some("PUT"),
        "/workers/scripts/hello",
        Misbehave::Trickle(Duration::from_millis(100)),
    );
    let (run, took) = deploy_bounded(dir.path(), &cf, &[]);
    run.expect_code(0);
    assert!(!run.stderr.contains("timeout"), "{}", run.stderr);
    assert_eq!(cf.calls().iter().filter(|c| c.method == "PUT").count(), 1);
    assert!(took > Duration::from_secs(1), "took {took:?}");
}

#[test]
fn regression_garbage_body_prints_control_bytes_escaped() {
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    cf.misbehave(
        Some("GET"),
        "/workers/services/hello",
        Misbehave::Garbage(b"\x1b[2J\x1b]0;pwned\x07<html>\x00oops\x9b</html>".to_vec()),
    );
    let (run, _) = deploy_bounded(dir.path(), &cf, &[]);
    run.expect_code(1);
    for raw in ['\u{1b}', '\u{7}', '\0'] {
        assert!(!run.stderr.contains(raw), "raw {raw:?} in {:?}", run.stderr);
    }
    assert!(
        run.stderr
            .contains("\\u{1b}[2J\\u{1b}]0;pwned\\u{7}<html>\\u{0}oops"),
        "{}",
        run.stderr
    );
}

#[test]
fn regression_token_echoed_in_a_successful_response_is_redacted() {
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    cf.echo_token();
    let (run, _) = deploy_bounded(dir.path(), &cf, &[]);
    run.expect_code(0);
    assert!(
        !run.stdout.contains(fake_cf::TOKEN) && !run.stderr.contains(fake_cf::TOKEN),
        "--- stdout\n{}\n--- stderr\n{}",
        run.stdout,
        run.stderr
    );
    // The echoed subdomain and the verbose API messages show where it was.
    assert!(
        run.stdout
            .contains("https://hello.sub-<redacted>.workers.dev"),
        "{}",
        run.stdout
    );
    assert!(
        run.stderr.contains("you sent Bearer <redacted>"),
        "{}",
        run.stderr
    );
}

#[test]
fn bad_api_timeout_is_a_usage_error() {
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    let cf = FakeCf::start();
    let (run, _) = deploy_bounded(dir.path(), &cf, &[("PYWRANGLER_API_TIMEOUT", "soon")]);
    run.expect_code(2);
    assert!(
        run.stderr
            .contains("PYWRANGLER_API_TIMEOUT must be a positive number of seconds"),
        "{}",
        run.stderr
    );
    assert!(cf.calls().is_empty());
}

#[cfg(unix)]
#[test]
fn regression_symlink_loop_fails_the_bundle_instead_of_uploading_copies() {
    // `src/up -> ..` used to upload 40 nested copies and exit 0.
    let dir = crate::support::tempdir();
    project(dir.path(), &basic());
    std::os::unix::fs::symlink("..", dir.path().join("src/up")).expect("symlink");
    let cf = FakeCf::start();
    let (run, _) = deploy_bounded(dir.path(), &cf, &[]);
    run.expect_code(1);
    assert!(run.stderr.contains("symlink loop at "), "{}", run.stderr);
    assert!(run.stderr.contains("src/up"), "{}", run.stderr);
    assert!(
        run.stderr.contains("hint: remove the link"),
        "{}",
        run.stderr
    );
    assert!(cf.uploads().is_empty());
}
