//! Malformed wrangler configs, driven through `types` (which loads and
//! validates the config): each case asserts the file:line:col message, the
//! hint and exit status 2.

use crate::support::{filter_path, run, tempdir, write_files};

const PYPROJECT: &str = "[project]\nname = \"demo\"\nversion = \"0.1.0\"\ndependencies = []\n";

/// Run `types` (plus `args`) in a project holding `files`; return the run
/// with the temp path replaced by `[TEMP]` in stderr.
fn types_in(files: &[(&str, &str)], args: &[&str]) -> (i32, String) {
    let dir = tempdir();
    let mut all = vec![("pyproject.toml", PYPROJECT)];
    all.extend_from_slice(files);
    write_files(dir.path(), &all);
    let mut argv = vec!["types"];
    argv.extend_from_slice(args);
    let out = run(dir.path(), &argv);
    (out.code, filter_path(&out.stderr, dir.path()))
}

/// Assert a config error: exit 2 and every `needle` in stderr.
#[track_caller]
fn fails(file: &str, text: &str, args: &[&str], needles: &[&str]) {
    let (code, stderr) = types_in(&[(file, text)], args);
    assert_eq!(code, 2, "exit code\n{stderr}");
    for needle in needles {
        assert!(stderr.contains(needle), "missing {needle:?} in:\n{stderr}");
    }
    assert!(!stderr.contains("panicked"), "{stderr}");
}

const OK_HEAD: &str = "{\n  \"name\": \"w\",\n  \"main\": \"src/entry.py\",\n  \"compatibility_date\": \"2025-11-02\",\n  \"compatibility_flags\": [\"python_workers\"],\n";

fn jsonc(rest: &str) -> String {
    format!("{OK_HEAD}{rest}\n}}\n")
}

#[test]
fn jsonc_missing_comma() {
    fails(
        "wrangler.jsonc",
        "{\n  \"main\": \"src/entry.py\"\n  \"name\": \"x\"\n}\n",
        &[],
        &[
            "error: [TEMP]/wrangler.jsonc:2:25: invalid JSONC: Expected comma",
            "hint: fix the syntax",
        ],
    );
}

#[test]
fn jsonc_unterminated_object() {
    fails(
        "wrangler.jsonc",
        "{\n  \"main\": \"src/entry.py\",\n",
        &[],
        &["[TEMP]/wrangler.jsonc:1:1: invalid JSONC: Unterminated object"],
    );
}

#[test]
fn jsonc_single_quotes_are_not_json() {
    fails(
        "wrangler.jsonc",
        "{\n  // comments are fine\n  'main': \"src/entry.py\",\n}\n",
        &[],
        &["[TEMP]/wrangler.jsonc:3:3: invalid JSONC: Single-quoted strings are not allowed"],
    );
}

#[test]
fn jsonc_empty_file() {
    fails(
        "wrangler.jsonc",
        "  // nothing\n",
        &[],
        &["[TEMP]/wrangler.jsonc:1:1: the config file is empty"],
    );
}

#[test]
fn jsonc_top_level_array() {
    fails(
        "wrangler.json",
        "[1, 2]\n",
        &[],
        &["[TEMP]/wrangler.json:1:1: the config must be an object"],
    );
}

#[test]
fn toml_syntax_error() {
    fails(
        "wrangler.toml",
        "name = \"x\"\nmain = \"src/entry.py\nflags = 1\n",
        &[],
        &[
            "[TEMP]/wrangler.toml:2:21: invalid TOML: invalid basic string",
            "hint: fix the syntax",
        ],
    );
}

#[test]
fn toml_duplicate_key() {
    fails(
        "wrangler.toml",
        "main = \"src/entry.py\"\nmain = \"src/other.py\"\n",
        &[],
        &["[TEMP]/wrangler.toml:2:1: invalid TOML: duplicate key"],
    );
}

#[test]
fn vars_as_a_list() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"vars\": [\"A\", \"B\"]"),
        &[],
        &[
            "[TEMP]/wrangler.jsonc:6:11: invalid `vars`: invalid type: sequence, expected a map",
            "hint: `vars` is an object",
        ],
    );
}

#[test]
fn kv_namespaces_not_an_array() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"kv_namespaces\": { \"binding\": \"KV\" }"),
        &[],
        &[
            "[TEMP]/wrangler.jsonc:6:20: invalid `kv_namespaces`: invalid type: map, expected a sequence",
            "hint: `kv_namespaces` is an array",
        ],
    );
}

#[test]
fn kv_binding_missing_binding() {
    fails(
        "wrangler.jsonc",
        &jsonc(
            "  \"kv_namespaces\": [\n    { \"binding\": \"A\", \"id\": \"1\" },\n    { \"id\": \"2\" }\n  ]",
        ),
        &[],
        &["[TEMP]/wrangler.jsonc:8:5: invalid `kv_namespaces[1]`: missing field `binding`"],
    );
}

#[test]
fn compatibility_flags_a_string() {
    fails(
        "wrangler.jsonc",
        "{\n  \"main\": \"src/entry.py\",\n  \"compatibility_flags\": \"python_workers\"\n}\n",
        &[],
        &[
            "[TEMP]/wrangler.jsonc:3:26: invalid `compatibility_flags`: invalid type: string \"python_workers\", expected a sequence",
            "hint: `compatibility_flags` is an array of strings",
        ],
    );
}

#[test]
fn d1_database_id_wrong_type() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"d1_databases\": [{ \"binding\": \"DB\", \"database_id\": 42 }]"),
        &[],
        &[
            "[TEMP]/wrangler.jsonc:6:54: invalid `d1_databases[0].database_id`: invalid type: integer `42`, expected a string",
        ],
    );
}

#[test]
fn durable_object_missing_class_name() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"durable_objects\": { \"bindings\": [{ \"name\": \"D\" }] }"),
        &[],
        &[
            "[TEMP]/wrangler.jsonc:6:37: invalid `durable_objects.bindings[0]`: missing field `class_name`",
        ],
    );
}

#[test]
fn route_of_the_wrong_type() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"routes\": [\"a.com/*\", 7]"),
        &[],
        &[
            "[TEMP]/wrangler.jsonc:6:25: invalid `routes[1]`: invalid type: integer `7`, expected a route pattern string or an object with `pattern`",
        ],
    );
}

#[test]
fn queue_producer_missing_queue_in_toml() {
    fails(
        "wrangler.toml",
        "main = \"src/entry.py\"\ncompatibility_date = \"2025-11-02\"\ncompatibility_flags = [\"python_workers\"]\n\n[[queues.producers]]\nbinding = \"Q\"\n",
        &[],
        &["[TEMP]/wrangler.toml:5:1: invalid `queues.producers[0]`: missing field `queue`"],
    );
}

#[test]
fn secrets_required_not_a_list() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"secrets\": { \"required\": \"TOKEN\" }"),
        &[],
        &[
            "[TEMP]/wrangler.jsonc:6:28: invalid `secrets.required`: invalid type: string \"TOKEN\", expected a sequence",
        ],
    );
}

#[test]
fn missing_main() {
    fails(
        "wrangler.jsonc",
        "{\n  \"compatibility_date\": \"2025-11-02\",\n  \"compatibility_flags\": [\"python_workers\"]\n}\n",
        &[],
        &[
            "[TEMP]/wrangler.jsonc:1:1: `main` is not set",
            "hint: set \"main\" to the Worker's entry module",
        ],
    );
}

#[test]
fn main_is_not_python() {
    fails(
        "wrangler.toml",
        "main = \"src/index.ts\"\ncompatibility_date = \"2025-11-02\"\ncompatibility_flags = [\"python_workers\"]\n",
        &[],
        &["[TEMP]/wrangler.toml:1:8: `main` is \"src/index.ts\", which is not a Python module"],
    );
}

#[test]
fn missing_python_workers_flag() {
    fails(
        "wrangler.jsonc",
        "{\n  \"main\": \"src/entry.py\",\n  \"compatibility_date\": \"2025-11-02\",\n  \"compatibility_flags\": [\"nodejs_compat\"]\n}\n",
        &[],
        &[
            "[TEMP]/wrangler.jsonc:4:3: `python_workers` compat flag not specified in wrangler config",
            "hint: add \"python_workers\" to compatibility_flags",
        ],
    );
}

#[test]
fn bad_compatibility_date() {
    fails(
        "wrangler.jsonc",
        "{\n  \"main\": \"src/entry.py\",\n  \"compatibility_date\": \"2025-13-01\",\n  \"compatibility_flags\": [\"python_workers\"]\n}\n",
        &[],
        &[
            "[TEMP]/wrangler.jsonc:3:25: Invalid compatibility_date format: 2025-13-01",
            "hint: write compatibility_date as YYYY-MM-DD",
        ],
    );
}

#[test]
fn missing_compatibility_date() {
    fails(
        "wrangler.toml",
        "main = \"src/entry.py\"\ncompatibility_flags = [\"python_workers\"]\n",
        &[],
        &["[TEMP]/wrangler.toml:1:1: No compatibility_date specified in wrangler config"],
    );
}

#[test]
fn unknown_env_lists_available_envs() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"env\": { \"staging\": {}, \"production\": {} }"),
        &["--env", "qa"],
        &[
            "error: [TEMP]/wrangler.jsonc: environment `qa` not found in the config",
            "hint: available environments: production, staging",
        ],
    );
}

#[test]
fn error_inside_an_env_points_into_it() {
    fails(
        "wrangler.toml",
        "main = \"src/entry.py\"\ncompatibility_date = \"2025-11-02\"\ncompatibility_flags = [\"python_workers\"]\n\n[env.staging]\nvars = \"oops\"\n",
        &["-e", "staging"],
        &[
            "[TEMP]/wrangler.toml:6:8: invalid `env.staging.vars`: invalid type: string \"oops\", expected a map",
        ],
    );
}

#[test]
fn duplicate_binding_names() {
    fails(
        "wrangler.jsonc",
        &jsonc("  \"vars\": { \"DB\": \"x\" },\n  \"d1_databases\": [{ \"binding\": \"DB\" }]"),
        &[],
        &[
            "[TEMP]/wrangler.jsonc:7:20: binding name `DB` is already used (first at [TEMP]/wrangler.jsonc:6:19)",
        ],
    );
}

#[test]
fn no_wrangler_config() {
    let (code, stderr) = types_in(&[], &[]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains("error: no wrangler config found in [TEMP]: expected wrangler.json, wrangler.jsonc or wrangler.toml"),
        "{stderr}"
    );
    assert!(stderr.contains("hint: create wrangler.jsonc"), "{stderr}");
}

#[test]
fn config_flag_names_a_missing_file() {
    let (code, stderr) = types_in(&[], &["-c", "nope.jsonc"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("cannot read [TEMP]/nope.jsonc"), "{stderr}");
}

#[test]
fn bad_dev_vars_line() {
    let (code, stderr) = types_in(
        &[
            ("wrangler.jsonc", &jsonc("  \"vars\": {}")),
            (".dev.vars", "A=1\nB C\n"),
        ],
        &[],
    );
    assert_eq!(code, 2, "{stderr}");
    assert!(stderr.contains("[TEMP]/.dev.vars:2:"), "{stderr}");
}

#[test]
fn json_wins_over_jsonc_and_toml() {
    // wrangler's lookup order: wrangler.json, wrangler.jsonc, wrangler.toml.
    let (code, stderr) = types_in(
        &[
            (
                "wrangler.json",
                &jsonc("  \"vars\": { \"FROM_JSON\": \"1\" }"),
            ),
            ("wrangler.jsonc", "{ broken"),
            ("wrangler.toml", "broken = "),
        ],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    let (code, stderr) = types_in(
        &[("wrangler.jsonc", "{ broken"), ("wrangler.toml", "x")],
        &[],
    );
    assert_eq!(code, 2, "jsonc is read before toml\n{stderr}");
    assert!(stderr.contains("[TEMP]/wrangler.jsonc:1:3"), "{stderr}");
}

#[test]
fn unknown_keys_warn_and_succeed() {
    let (code, stderr) = types_in(
        &[(
            "wrangler.jsonc",
            &jsonc(
                "  \"kv_namespace\": [],\n  \"tsconfig\": \"t.json\",\n  \"vars\": { \"A\": \"1\" }",
            ),
        )],
        &[],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("warning: [TEMP]/wrangler.jsonc:6:3: unknown key `kv_namespace` in the wrangler config; it is ignored"),
        "{stderr}"
    );
    assert!(
        stderr.contains(
            "warning: [TEMP]/wrangler.jsonc:7:3: `tsconfig` is not supported by pywrangler-rs yet"
        ),
        "{stderr}"
    );
}

#[test]
fn bindings_are_not_inherited_by_envs_warning() {
    let (code, stderr) = types_in(
        &[(
            "wrangler.jsonc",
            &jsonc(
                "  \"kv_namespaces\": [{ \"binding\": \"KV\" }],\n  \"env\": { \"staging\": {} }",
            ),
        )],
        &["--env", "staging"],
    );
    assert_eq!(code, 0, "{stderr}");
    assert!(
        stderr.contains("[TEMP]/wrangler.jsonc:6:3: `kv_namespaces` exists at the top level but not in `env.staging`"),
        "{stderr}"
    );
}
