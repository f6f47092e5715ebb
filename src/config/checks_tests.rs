//! Unit tests for the load-time checks (names, control bytes, dates, crons),
//! the file checks `dev`/`deploy` run, the UTF-8 reader and the linear-time
//! duplicate-name check. Each regression test names the bug it pins.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use super::*;
use crate::config::{ConfigError, Project, WranglerFile, load_wrangler};

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> PathBuf {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(&p, bytes).expect("write");
    p
}

fn load(
    name: &str,
    text: impl AsRef<[u8]>,
    env: Option<&str>,
) -> Result<WranglerFile, ConfigError> {
    let dir = tempfile::tempdir().expect("tempdir");
    let p = write(dir.path(), name, text);
    load_wrangler(&p, env)
}

/// The error text, with the temp dir's path cut down to the file name.
#[track_caller]
fn err(name: &str, text: impl AsRef<[u8]>, env: Option<&str>) -> (String, String) {
    let e = load(name, text, env).expect_err("config error");
    let message = e.to_string();
    let start = message.find(name).unwrap_or(0);
    (message[start..].to_string(), e.hint().unwrap_or_default())
}

const HEAD: &str = "  \"main\": \"src/entry.py\",\n  \"compatibility_date\": \"2025-11-02\",\n  \"compatibility_flags\": [\"python_workers\"],\n";

fn jsonc(rest: &str) -> String {
    format!("{{\n{HEAD}{rest}\n}}\n")
}

#[test]
fn worker_name_rule_is_wranglers() {
    for ok in ["", "a", "my-worker", "_x", "w_1-2", "0abc"] {
        assert!(is_valid_worker_name(ok), "{ok:?}");
    }
    for bad in [
        "x/../../memberships",
        "-a",
        "A",
        "a.b",
        "a b",
        "a\0",
        "é",
        "a%2f",
    ] {
        assert!(!is_valid_worker_name(bad), "{bad:?}");
    }
}

#[test]
fn workflow_name_rule_is_wranglers() {
    for ok in ["a", "My_Workflow-2", "_x", &"w".repeat(64)] {
        assert!(is_valid_workflow_name(ok), "{ok:?}");
    }
    for bad in ["", "-a", "a/b", "a.b", "a b", &"w".repeat(65)] {
        assert!(!is_valid_workflow_name(bad), "{bad:?}");
    }
}

#[test]
fn bucket_rule_is_wranglers() {
    for ok in ["abc", "my-bucket", "0-9", &"a".repeat(63)] {
        assert!(is_valid_r2_bucket_name(ok), "{ok:?}");
    }
    for bad in [
        "ab",
        "-ab",
        "ab-",
        "My-bucket",
        "a_b",
        "a/b",
        &"a".repeat(64),
    ] {
        assert!(!is_valid_r2_bucket_name(bad), "{bad:?}");
    }
}

#[test]
fn crons_take_five_fields() {
    for ok in [
        "*/5 * * * *",
        "0 12 * * MON-FRI",
        "59 23 L * *",
        "0 0 1 JAN *",
        "0 17 * * sun",
    ] {
        assert!(parse_cron(ok).is_ok(), "{ok:?}: {:?}", parse_cron(ok).err());
    }
    for bad in [
        "",
        "* * *",
        "0 * * * * *",
        "61 * * * *",
        "* * * * 9",
        "every day",
        "@daily",
    ] {
        assert!(parse_cron(bad).is_err(), "{bad:?}");
    }
}

#[test]
fn dotted_paths() {
    assert_eq!(
        dotted("/env/staging/r2_buckets/0/bucket_name"),
        "env.staging.r2_buckets[0].bucket_name"
    );
    assert_eq!(env_name("/env/a~1b").as_deref(), Some("a/b"));
    assert_eq!(env_name(""), None);
}

/// Regression (issue 10, item 2): `"name": "x/../../memberships"` made
/// `deploy` call other API endpoints.
#[test]
fn a_worker_name_with_path_segments_is_rejected_where_written() {
    let (message, hint) = err(
        "wrangler.jsonc",
        jsonc("  \"name\": \"x/../../memberships\""),
        None,
    );
    assert_eq!(
        message,
        "wrangler.jsonc:5:11: Expected \"name\" to be of type string, alphanumeric and lowercase with dashes only but got \"x/../../memberships\"."
    );
    assert!(hint.contains("lowercase letters, digits"), "{hint}");

    // An environment's own name, in TOML.
    let toml = "name = \"ok\"\nmain = \"src/entry.py\"\ncompatibility_date = \"2025-11-02\"\ncompatibility_flags = [\"python_workers\"]\n[env.staging]\nname = \"Up/Per\"\n";
    let (message, _) = err("wrangler.toml", toml, Some("staging"));
    assert!(
        message.starts_with("wrangler.toml:6:8: Expected \"env.staging.name\""),
        "{message}"
    );
    // As in wrangler, only the chosen environment is checked.
    assert!(load("wrangler.toml", toml, None).is_ok());
}

#[test]
fn an_env_whose_derived_name_is_invalid_points_at_the_env() {
    let text = jsonc("  \"name\": \"app\",\n  \"env\": { \"a/../b\": {} }");
    let (message, hint) = err("wrangler.jsonc", &text, Some("a/../b"));
    assert!(
        message.starts_with(
            "wrangler.jsonc:6:12: the Worker name for environment `a/../b` is \"app-a/../b\""
        ),
        "{message}"
    );
    assert!(hint.contains("set \"name\" inside `env.a/../b`"), "{hint}");
    // Its own valid name fixes it.
    let fixed = jsonc("  \"name\": \"app\",\n  \"env\": { \"a/../b\": { \"name\": \"app-b\" } }");
    let w = load("wrangler.jsonc", fixed, Some("a/../b")).expect("own name");
    assert_eq!(w.config.name.as_deref(), Some("app-b"));
    // A plain lowercase env is fine.
    let ok = jsonc("  \"name\": \"app\",\n  \"env\": { \"staging\": {} }");
    let w = load("wrangler.jsonc", ok, Some("staging")).expect("loads");
    assert_eq!(w.config.name.as_deref(), Some("app-staging"));
}

#[test]
fn resource_names_follow_wranglers_rules() {
    let cases = [
        (
            "  \"r2_buckets\": [{ \"binding\": \"B\", \"bucket_name\": \"My_Bucket\" }]",
            "wrangler.jsonc:5:51: r2_buckets[0].bucket_name=\"My_Bucket\" is invalid. Bucket names must begin and end with an alphanumeric character",
        ),
        (
            "  \"r2_buckets\": [{ \"binding\": \"B\", \"bucket_name\": \"ok-bucket\", \"preview_bucket_name\": \"a/b\" }]",
            "wrangler.jsonc:5:87: r2_buckets[0].preview_bucket_name=\"a/b\" is invalid.",
        ),
        (
            "  \"services\": [{ \"binding\": \"S\", \"service\": \"../x\" }]",
            "wrangler.jsonc:5:45: Expected \"services[0].service\" to be of type string, alphanumeric and lowercase with dashes only but got \"../x\".",
        ),
        (
            "  \"services\": [{ \"binding\": \"S\", \"service\": \"\" }]",
            "Expected \"services[0].service\"",
        ),
        (
            "  \"durable_objects\": { \"bindings\": [{ \"name\": \"D\", \"class_name\": \"C\", \"script_name\": \"a?b\" }] }",
            "Expected \"durable_objects.bindings[0].script_name\"",
        ),
        (
            "  \"tail_consumers\": [{ \"service\": \"Tail\" }]",
            "Expected \"tail_consumers[0].service\"",
        ),
        (
            "  \"queues\": { \"producers\": [{ \"binding\": \"Q\", \"queue\": \"\" }] }",
            "wrangler.jsonc:5:56: `queues.producers[0].queue` is empty",
        ),
        (
            "  \"queues\": { \"consumers\": [{ \"queue\": \"q\", \"dead_letter_queue\": \"d\\u0000\" }] }",
            "`queues.consumers[0].dead_letter_queue` is \"d\\u0000\", which contains a control character",
        ),
        (
            "  \"d1_databases\": [{ \"binding\": \"DB\", \"database_name\": \"a\\nb\" }]",
            "`d1_databases[0].database_name` is \"a\\nb\", which contains a control character",
        ),
        (
            "  \"workflows\": [{ \"binding\": \"WF\", \"name\": \"../wf\", \"class_name\": \"W\" }]",
            "wrangler.jsonc:5:44: \"workflows[0]\" binding \"name\" field is invalid (\"../wf\"). Workflow names must be 1-64 characters long",
        ),
        (
            "  \"workflows\": [{ \"binding\": \"WF\", \"name\": \"wf\", \"class_name\": \"W\", \"script_name\": \"a b\" }]",
            "Expected \"workflows[0].script_name\"",
        ),
        (
            "  \"account_id\": \"../zones\"",
            "wrangler.jsonc:5:17: `account_id` is \"../zones\", which is not an account ID",
        ),
    ];
    for (rest, expected) in cases {
        let (message, _) = err("wrangler.jsonc", jsonc(rest), None);
        assert!(message.contains(expected), "{rest}\n{message}");
    }
    let good = jsonc(
        "  \"name\": \"w\",\n  \"r2_buckets\": [{ \"binding\": \"B\", \"bucket_name\": \"my-bucket\" }],\n  \"services\": [{ \"binding\": \"S\", \"service\": \"other_worker-2\" }],\n  \"queues\": { \"producers\": [{ \"binding\": \"Q\", \"queue\": \"Jobs.Queue\" }] }",
    );
    load("wrangler.jsonc", good, None).expect("valid names load");
}

/// Regression (issue 10, item 12): NUL bytes in names and vars were accepted.
#[test]
fn nul_bytes_in_names_and_vars_are_rejected() {
    let (message, _) = err(
        "wrangler.jsonc",
        jsonc("  \"vars\": { \"A\\u0000B\": \"x\" }"),
        None,
    );
    assert!(
        message.starts_with(
            "wrangler.jsonc:5:13: the binding name \"A\\u0000B\" contains a control character"
        ),
        "{message}"
    );
    let (message, _) = err(
        "wrangler.jsonc",
        jsonc("  \"vars\": { \"A\": \"x\\u0000y\" }"),
        None,
    );
    assert!(
        message.starts_with("wrangler.jsonc:5:18: the value of var `A` contains a NUL byte"),
        "{message}"
    );
    let (message, _) = err(
        "wrangler.jsonc",
        jsonc("  \"vars\": { \"A\": { \"k\": [\"\\u0000\"] } }"),
        None,
    );
    assert!(
        message.contains("the value of var `A` contains a NUL byte"),
        "{message}"
    );
    let (message, _) = err(
        "wrangler.jsonc",
        jsonc("  \"kv_namespaces\": [{ \"binding\": \"K\\u0000\" }]"),
        None,
    );
    assert!(
        message.contains("the binding name \"K\\u0000\""),
        "{message}"
    );
    // Other escapes in values are ordinary text.
    load(
        "wrangler.jsonc",
        jsonc("  \"vars\": { \"A\": \"tab\\tnew\\nline\" }"),
        None,
    )
    .expect("tabs and newlines are fine");
}

/// Regression (issue 10, item 12): a compatibility date in the future loaded
/// (miniflare and the API refuse it).
#[test]
fn a_future_compatibility_date_is_rejected() {
    let text = "{\n  \"main\": \"src/entry.py\",\n  \"compatibility_date\": \"2999-01-01\",\n  \"compatibility_flags\": [\"python_workers\"]\n}\n";
    let (message, hint) = err("wrangler.jsonc", text, None);
    assert_eq!(
        message,
        "wrangler.jsonc:3:25: Compatibility date \"2999-01-01\" is in the future and unsupported"
    );
    assert!(hint.contains("today's date"), "{hint}");
    let today = chrono::Utc::now()
        .date_naive()
        .format("%Y-%m-%d")
        .to_string();
    let text = text.replace("2999-01-01", &today);
    load("wrangler.jsonc", text, None).expect("today is fine");
}

/// Regression (issue 10, item 12): invalid crons loaded and never fired.
#[test]
fn invalid_crons_are_rejected_at_their_position() {
    let text = "main = \"src/entry.py\"\ncompatibility_date = \"2025-11-02\"\ncompatibility_flags = [\"python_workers\"]\n[triggers]\ncrons = [\"*/5 * * * *\", \"61 * * * *\"]\n";
    let (message, hint) = err("wrangler.toml", text, None);
    assert!(
        message.starts_with("wrangler.toml:5:25: `triggers.crons[1]` is \"61 * * * *\", which is not a valid cron expression"),
        "{message}"
    );
    assert!(hint.contains("five fields"), "{hint}");
    let (message, _) = err("wrangler.toml", text.replace("61 * * * *", "* * *"), None);
    assert!(message.contains("it has 3 fields, not 5"), "{message}");
}

/// A project on disk: pyproject, the given config, and `files`.
fn project(config: &str, files: &[&str]) -> (tempfile::TempDir, Project) {
    let dir = tempfile::tempdir().expect("tempdir");
    write(
        dir.path(),
        "pyproject.toml",
        "[project]\nname = \"w\"\nversion = \"0.1.0\"\ndependencies = []\n",
    );
    write(dir.path(), "wrangler.jsonc", config);
    for f in files {
        write(dir.path(), f, "");
    }
    let p = Project::load(dir.path(), None, None).expect("loads");
    (dir, p)
}

/// Regression (issue 10, item 12): a missing `main` loaded fine and `dev`
/// served a 500; commands that need it now fail at its position.
#[test]
fn existing_main_names_the_config_position() {
    let (_dir, p) = project(&jsonc("  \"name\": \"w\""), &[]);
    let e = p.existing_main().expect_err("missing");
    let message = e.to_string();
    assert!(
        message.contains(
            "wrangler.jsonc:2:11: The entry-point file at \"src/entry.py\" was not found ("
        ),
        "{message}"
    );
    assert!(matches!(e, ConfigError::Invalid { .. }));

    let (_dir, p) = project(&jsonc("  \"name\": \"w\""), &["src/entry.py"]);
    assert_eq!(
        p.existing_main().expect("exists"),
        p.config_dir().join("src/entry.py")
    );

    // A directory is not an entry module.
    let (dir, p) = project(&jsonc("  \"name\": \"w\""), &[]);
    std::fs::create_dir_all(dir.path().join("src/entry.py")).expect("mkdir");
    let message = p.existing_main().expect_err("dir").to_string();
    assert!(message.contains("is a directory"), "{message}");
}

#[test]
fn absolute_and_parent_mains_work_when_they_exist() {
    let outside = tempfile::tempdir().expect("tempdir");
    let abs = write(outside.path(), "entry.py", "");
    let config = format!(
        "{{\"main\": {}, \"compatibility_date\": \"2025-11-02\", \"compatibility_flags\": [\"python_workers\"]}}",
        serde_json::to_string(&abs.display().to_string()).expect("json")
    );
    let (_dir, p) = project(&config, &[]);
    assert_eq!(p.existing_main().expect("absolute main"), abs);

    let (dir, _) = project(&jsonc(""), &[]);
    let sub = dir.path().join("app");
    write(
        &sub,
        "wrangler.jsonc",
        jsonc("").replace("src/entry.py", "../shared/entry.py"),
    );
    write(dir.path(), "shared/entry.py", "");
    let p = Project::load(&sub, Some(Path::new("wrangler.jsonc")), None).expect("loads");
    assert!(p.existing_main().is_ok());
    assert_eq!(p.main_module_name(), "entry");
}

#[test]
fn main_outside_base_dir_is_an_error() {
    let (_dir, p) = project(
        &jsonc("  \"base_dir\": \"lib\""),
        &["src/entry.py", "lib/x.py"],
    );
    let message = p.existing_main().expect_err("outside").to_string();
    assert!(
        message
            .contains("wrangler.jsonc:2:11: `main` \"src/entry.py\" is outside `base_dir` \"lib\""),
        "{message}"
    );
    let (_dir, p) = project(&jsonc("  \"base_dir\": \"nope\""), &["src/entry.py"]);
    let message = p.existing_main().expect_err("missing base").to_string();
    assert!(
        message.contains("wrangler.jsonc:5:15: `base_dir` \"nope\" does not exist"),
        "{message}"
    );
}

/// Regression (issue 10, item 12): a `migrations_dir` that is set but missing
/// silently applied nothing in `dev`.
#[test]
fn a_missing_migrations_dir_is_an_error_for_dev() {
    let config = jsonc(
        "  \"d1_databases\": [{ \"binding\": \"DB\", \"database_name\": \"notes\", \"migrations_dir\": \"db/migrations\" }]",
    );
    let (dir, p) = project(&config, &["src/entry.py"]);
    let e = p.check_migrations_dirs().expect_err("missing");
    assert!(
        e.to_string().contains("wrangler.jsonc:5:83: `migrations_dir` \"db/migrations\" of D1 binding `DB` does not exist"),
        "{e}"
    );
    assert!(
        e.hint()
            .unwrap_or_default()
            .contains("npx wrangler d1 migrations create notes"),
        "{:?}",
        e.hint()
    );
    std::fs::create_dir_all(dir.path().join("db/migrations")).expect("mkdir");
    p.check_migrations_dirs().expect("exists now");
}

/// Regression (issue 10, item 12): a UTF-8 BOM gave a syntax error, UTF-16 and
/// invalid UTF-8 got "check that the path exists and is readable".
#[test]
fn encodings() {
    let text = jsonc("  \"name\": \"w\"");
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(text.as_bytes());
    let w = load("wrangler.jsonc", &bom, None).expect("a UTF-8 BOM is accepted");
    assert_eq!(w.config.name.as_deref(), Some("w"));
    // Positions after a BOM count as an editor shows them.
    let mut bad = b"\xef\xbb\xbf".to_vec();
    bad.extend_from_slice(b"{ \"name\": 1 }");
    let (message, _) = err("wrangler.jsonc", &bad, None);
    assert!(
        message.starts_with("wrangler.jsonc:1:11: invalid `name`"),
        "{message}"
    );

    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain(text.encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    let (message, hint) = err("wrangler.jsonc", &utf16, None);
    assert_eq!(
        message,
        "wrangler.jsonc:1:1: the file is encoded as UTF-16 LE (it starts with a UTF-16 LE byte order mark), not UTF-8"
    );
    assert!(hint.contains("save the file as UTF-8"), "{hint}");

    let no_bom: Vec<u8> = text.encode_utf16().flat_map(u16::to_be_bytes).collect();
    let (message, _) = err("wrangler.toml", &no_bom, None);
    assert!(
        message.starts_with("wrangler.toml:1:1: the file contains a NUL byte"),
        "{message}"
    );

    let latin1 = b"name = \"w\"\n# caf\xe9\n";
    let (message, _) = err("wrangler.toml", latin1, None);
    assert_eq!(
        message,
        "wrangler.toml:2:6: the file is not valid UTF-8 (byte 0xe9)"
    );
}

#[test]
fn pyproject_encodings_too() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut bom = b"\xef\xbb\xbf".to_vec();
    bom.extend_from_slice(b"[project]\nname = \"w\"\nversion = \"1\"\n");
    write(dir.path(), "pyproject.toml", &bom);
    write(dir.path(), "wrangler.jsonc", jsonc(""));
    Project::load(dir.path(), None, None).expect("BOM pyproject loads");
    write(dir.path(), "pyproject.toml", [0xfe, 0xff, 0, b'[']);
    let e = Project::load(dir.path(), None, None).expect_err("UTF-16");
    assert!(
        e.to_string()
            .contains("pyproject.toml:1:1: the file is encoded as UTF-16 BE"),
        "{e}"
    );
}

/// Regression (issue 10, item 12): loading was quadratic in the number of
/// vars because the duplicate-name check scanned every earlier name: 60,000
/// vars took 9.1 s to load (release), 100,000 about 25 s. Linear, 100,000
/// load in 0.3–7.5 s (idle to heavily loaded 2 cores); the 15 s bound catches the
/// quadratic version and leaves room for busy machines.
#[test]
fn a_hundred_thousand_vars_load_in_linear_time() {
    let mut text = String::from("{\n");
    text.push_str(HEAD);
    text.push_str("  \"vars\": {\n");
    for i in 0..100_000 {
        text.push_str(&format!("    \"VAR_{i}\": \"value {i}\",\n"));
    }
    text.push_str("  }\n}\n");
    let t = Instant::now();
    let w = load("wrangler.jsonc", &text, None).expect("loads");
    let took = t.elapsed();
    assert_eq!(w.config.vars.len(), 100_000);
    assert!(took < Duration::from_secs(15), "100k vars took {took:?}");
    // A duplicate among them is still found (JSONC keys are unique, so use a secret).
    let dup = text.replace(
        "  \"vars\": {",
        "  \"secrets\": { \"required\": [\"VAR_99999\"] },\n  \"vars\": {",
    );
    let (message, _) = err("wrangler.jsonc", &dup, None);
    assert!(
        message.contains("binding name `VAR_99999` is already used"),
        "{message}"
    );
}
