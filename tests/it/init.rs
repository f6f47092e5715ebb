//! `init`: every built-in template's files (snapshots), that they are valid
//! Python / JSONC / TOML, and the directory, name and template-source rules.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::support::{Run, cmd, run, tempdir, write_files};

const TEMPLATES: &[&str] = &["hello", "fastapi", "durable-object", "cron", "kv-d1"];

/// Today's UTC date as the system's `date` sees it (two readings, in case of midnight).
fn today_candidates() -> Vec<String> {
    let read = || {
        let out = Command::new("date")
            .args(["-u", "+%Y-%m-%d"])
            .output()
            .expect("date runs");
        String::from_utf8(out.stdout)
            .expect("utf8")
            .trim()
            .to_string()
    };
    vec![read(), read()]
}

/// Every file under `root` (skipping `.git`), relative, sorted.
fn tree(root: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![PathBuf::new()];
    while let Some(rel) = pending.pop() {
        for entry in std::fs::read_dir(root.join(&rel)).expect("read dir") {
            let entry = entry.expect("entry");
            let path = rel.join(entry.file_name());
            if entry.file_name() == ".git" {
                continue;
            }
            if entry.file_type().expect("type").is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out.sort();
    out
}

/// The file tree with contents, for a snapshot, with today's date filtered.
fn render_tree(root: &Path) -> String {
    let mut text = String::new();
    for rel in tree(root) {
        let contents = std::fs::read_to_string(root.join(&rel)).expect("utf8 file");
        text.push_str(&format!("=== {} ===\n{contents}\n", rel.display()));
    }
    for date in today_candidates() {
        text = text.replace(&date, "[DATE]");
    }
    text
}

fn init(cwd: &Path, args: &[&str]) -> Run {
    let mut full = vec!["init"];
    full.extend_from_slice(args);
    run(cwd, &full)
}

fn parse_jsonc(path: &Path) -> serde_json::Value {
    let text = std::fs::read_to_string(path).expect("read wrangler.jsonc");
    jsonc_parser::parse_to_serde_value::<serde_json::Value>(&text, &Default::default())
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// A git command for test fixtures, with an identity so commits work anywhere.
fn git(cwd: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(["-c", "user.name=t", "-c", "user.email=t@example.com"])
        .args(args)
        .current_dir(cwd)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?} failed");
}

#[test]
fn template_snapshots() {
    let dir = tempdir();
    for template in TEMPLATES {
        let out = init(
            dir.path(),
            &[
                template,
                "--template",
                template,
                "--no-git",
                "--name",
                "demo",
            ],
        );
        out.expect_code(0);
        insta::assert_snapshot!(
            format!("template_{template}"),
            render_tree(&dir.path().join(template))
        );
    }
}

#[test]
fn templates_are_valid_python_jsonc_and_toml() {
    let dir = tempdir();
    let today = today_candidates();
    for template in TEMPLATES {
        init(dir.path(), &[template, "--template", template, "--no-git"]).expect_code(0);
        let root = dir.path().join(template);

        // Python: every file compiles.
        for rel in tree(&root) {
            if rel.extension().is_some_and(|e| e == "py") {
                let out = Command::new("python3")
                    .args(["-m", "py_compile"])
                    .arg(root.join(&rel))
                    .output()
                    .expect("python3 runs");
                assert!(
                    out.status.success(),
                    "{template}/{}: {}",
                    rel.display(),
                    String::from_utf8_lossy(&out.stderr)
                );
            }
        }
        let entry = std::fs::read_to_string(root.join("src/entry.py")).expect("entry.py");
        assert!(
            entry.contains("class Default(WorkerEntrypoint)"),
            "{template}"
        );

        // wrangler.jsonc: parses, has the flag, today's date and the directory's name.
        let config = parse_jsonc(&root.join("wrangler.jsonc"));
        assert_eq!(config["name"], *template, "{template}");
        assert_eq!(config["main"], "src/entry.py");
        let date = config["compatibility_date"].as_str().expect("date string");
        assert!(today.iter().any(|d| d == date), "{template}: {date}");
        let flags = config["compatibility_flags"].as_array().expect("flags");
        assert!(flags.iter().any(|f| f == "python_workers"), "{template}");
        assert_eq!(config["observability"]["enabled"], true);
        assert!(
            !std::fs::read_to_string(root.join("wrangler.jsonc"))
                .expect("read")
                .contains("{{")
        );

        // pyproject.toml: valid TOML with the project table the tooling reads.
        let text = std::fs::read_to_string(root.join("pyproject.toml")).expect("pyproject");
        let pyproject: toml::Table = text.parse().expect("valid TOML");
        let project = pyproject["project"].as_table().expect("[project]");
        assert_eq!(project["name"].as_str(), Some(*template));
        assert_eq!(project["requires-python"].as_str(), Some(">=3.12"));
        assert!(project["dependencies"].is_array());

        // Our own config loader accepts it without a single warning (unknown keys warn).
        let types = run(&root, &["types"]);
        types.expect_code(0);
        assert!(
            !types.stderr.contains("warning"),
            "{template}: {}",
            types.stderr
        );

        let gitignore = std::fs::read_to_string(root.join(".gitignore")).expect("gitignore");
        for entry in [
            "python_modules/",
            ".venv-workers/",
            ".wrangler/",
            ".dev.vars",
            "__pycache__/",
        ] {
            assert!(gitignore.lines().any(|l| l == entry), "{template}: {entry}");
        }
    }
}

#[test]
fn template_bindings_match_their_code() {
    let dir = tempdir();
    for template in ["durable-object", "cron", "kv-d1", "fastapi"] {
        init(dir.path(), &[template, "--template", template, "--no-git"]).expect_code(0);
    }
    let config = |t: &str| parse_jsonc(&dir.path().join(t).join("wrangler.jsonc"));

    let dobj = config("durable-object");
    assert_eq!(
        dobj["durable_objects"]["bindings"][0]["class_name"],
        "Counter"
    );
    assert_eq!(dobj["migrations"][0]["new_sqlite_classes"][0], "Counter");

    let cron = config("cron");
    assert!(
        !cron["triggers"]["crons"]
            .as_array()
            .expect("crons")
            .is_empty()
    );

    let kv = config("kv-d1");
    assert_eq!(kv["kv_namespaces"][0]["binding"], "KV");
    assert_eq!(kv["d1_databases"][0]["binding"], "DB");
    assert_eq!(kv["d1_databases"][0]["database_name"], "kv-d1-db");
    let migrations = dir.path().join("kv-d1").join("migrations/0001_init.sql");
    assert!(
        std::fs::read_to_string(migrations)
            .expect("migration")
            .contains("CREATE TABLE")
    );
    let example = std::fs::read_to_string(dir.path().join("kv-d1/.dev.vars.example"))
        .expect(".dev.vars.example");
    assert!(example.contains("API_TOKEN="));

    let fastapi = std::fs::read_to_string(dir.path().join("fastapi/pyproject.toml")).expect("read");
    assert!(fastapi.contains("\"fastapi\""));
}

#[test]
fn refuses_a_non_empty_directory_without_force() {
    let dir = tempdir();
    write_files(dir.path(), &[("proj/notes.txt", "mine")]);
    let out = init(dir.path(), &["proj", "--no-git"]);
    out.expect_code(1);
    assert!(out.stderr.contains("`proj` is not empty"), "{}", out.stderr);
    assert!(out.stderr.contains("--force"), "{}", out.stderr);
    assert!(!dir.path().join("proj/wrangler.jsonc").exists());
    assert_eq!(
        tree(&dir.path().join("proj")),
        vec![PathBuf::from("notes.txt")]
    );

    // In the current directory the message shows its real path, not `.`.
    let here = dir.path().join("proj");
    let out = init(&here, &["--no-git"]);
    out.expect_code(1);
    let real = std::fs::canonicalize(&here).expect("canonical");
    assert!(
        out.stderr
            .contains(&format!("`{}` is not empty", real.display())),
        "{}",
        out.stderr
    );
}

#[test]
fn force_writes_into_a_non_empty_directory() {
    let dir = tempdir();
    write_files(
        dir.path(),
        &[
            ("proj/notes.txt", "mine"),
            ("proj/src/entry.py", "old = 1\n"),
        ],
    );
    init(dir.path(), &["proj", "--no-git", "--force"]).expect_code(0);
    let root = dir.path().join("proj");
    assert_eq!(
        std::fs::read_to_string(root.join("notes.txt")).expect("kept"),
        "mine"
    );
    let entry = std::fs::read_to_string(root.join("src/entry.py")).expect("entry");
    assert!(entry.contains("class Default(WorkerEntrypoint)"), "{entry}");
    // No temp files left behind by the atomic writes.
    assert!(
        tree(&root)
            .iter()
            .all(|p| !p.to_string_lossy().contains(".pywrangler-tmp-")),
        "{:?}",
        tree(&root)
    );
}

#[test]
fn a_directory_holding_only_git_counts_as_empty() {
    let dir = tempdir();
    let root = dir.path().join("proj");
    std::fs::create_dir(&root).expect("mkdir");
    git(&root, &["init", "--quiet"]);
    init(dir.path(), &["proj"]).expect_code(0);
    assert!(root.join("wrangler.jsonc").exists());
}

#[test]
fn name_flag_and_name_from_directory() {
    let dir = tempdir();
    init(dir.path(), &["a", "--no-git", "--name", "custom-name"]).expect_code(0);
    let config = parse_jsonc(&dir.path().join("a/wrangler.jsonc"));
    assert_eq!(config["name"], "custom-name");
    let pyproject = std::fs::read_to_string(dir.path().join("a/pyproject.toml")).expect("read");
    assert!(pyproject.contains("name = \"custom-name\""), "{pyproject}");

    init(dir.path(), &["My_Cool Project", "--no-git"]).expect_code(0);
    let config = parse_jsonc(&dir.path().join("My_Cool Project/wrangler.jsonc"));
    assert_eq!(config["name"], "my-cool-project");

    // No DIR: the current directory, named after itself.
    let here = dir.path().join("Here.Worker");
    std::fs::create_dir(&here).expect("mkdir");
    let out = init(&here, &["--no-git"]);
    out.expect_code(0);
    assert_eq!(
        parse_jsonc(&here.join("wrangler.jsonc"))["name"],
        "here-worker"
    );
    assert!(!out.stderr.contains("cd "), "{}", out.stderr);
}

#[test]
fn invalid_name_is_a_usage_error() {
    let dir = tempdir();
    let out = init(dir.path(), &["a", "--name", "Not_Valid", "--no-git"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("invalid Worker name `Not_Valid`"),
        "{}",
        out.stderr
    );
    assert!(out.stderr.contains("--name not-valid"), "{}", out.stderr);
    assert!(!dir.path().join("a").exists());
}

#[test]
fn unknown_template_lists_the_builtins() {
    let dir = tempdir();
    let out = init(dir.path(), &["a", "--template", "flask"]);
    out.expect_code(2);
    assert!(
        out.stderr.contains("unknown template `flask`"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr
            .contains("hello, fastapi, durable-object, cron, kv-d1"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("a").exists());
}

/// A small custom template on disk: nested files, a script, placeholders, a `.git`.
fn custom_template(root: &Path) {
    write_files(
        root,
        &[
            (
                "wrangler.jsonc",
                "{\"name\": \"{{name}}\", \"compatibility_date\": \"{{compatibility_date}}\", \"main\": \"src/entry.py\", \"compatibility_flags\": [\"python_workers\"]}\n",
            ),
            (
                "src/entry.py",
                "from workers import Response, WorkerEntrypoint\n\n\nclass Default(WorkerEntrypoint):\n    async def fetch(self, request):\n        return Response(f\"{{x}} {{name}}\")\n",
            ),
            ("scripts/run.sh", "#!/bin/sh\necho {{name}}\n"),
            (".git/HEAD", "ref: refs/heads/main\n"),
        ],
    );
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            root.join("scripts/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .expect("chmod");
    }
}

#[test]
fn local_directory_template() {
    let dir = tempdir();
    let template = dir.path().join("my-template");
    custom_template(&template);
    init(
        dir.path(),
        &[
            "out",
            "--template",
            template.to_str().expect("utf8"),
            "--no-git",
            "--name",
            "from-local",
        ],
    )
    .expect_code(0);
    let root = dir.path().join("out");
    assert_eq!(
        tree(&root),
        ["scripts/run.sh", "src/entry.py", "wrangler.jsonc"]
            .map(PathBuf::from)
            .to_vec()
    );
    assert!(!root.join(".git").exists(), ".git must not be copied");
    let config = parse_jsonc(&root.join("wrangler.jsonc"));
    assert_eq!(config["name"], "from-local");
    assert!(
        today_candidates()
            .iter()
            .any(|d| config["compatibility_date"] == *d)
    );
    let script = std::fs::read_to_string(root.join("scripts/run.sh")).expect("script");
    assert_eq!(script, "#!/bin/sh\necho from-local\n");
    // Unknown double braces (an f-string escape here) are left alone.
    let entry = std::fs::read_to_string(root.join("src/entry.py")).expect("entry");
    assert!(entry.contains("f\"{{x}} from-local\""), "{entry}");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = |p: &str| {
            std::fs::metadata(root.join(p))
                .expect("meta")
                .permissions()
                .mode()
                & 0o777
        };
        assert_eq!(mode("scripts/run.sh"), 0o755);
        assert_eq!(mode("wrangler.jsonc"), 0o644);
    }
}

#[test]
fn git_url_template_from_a_local_bare_repository() {
    let dir = tempdir();
    let work = dir.path().join("work");
    custom_template(&work);
    std::fs::remove_dir_all(work.join(".git")).expect("drop fake .git");
    git(&work, &["init", "--quiet"]);
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "template"]);
    git(
        dir.path(),
        &["clone", "--quiet", "--bare", "work", "tpl.git"],
    );

    let url = format!("file://{}", dir.path().join("tpl.git").display());
    let out = init(dir.path(), &["out", "--template", &url, "--no-git"]);
    out.expect_code(0);
    let root = dir.path().join("out");
    assert_eq!(
        tree(&root),
        ["scripts/run.sh", "src/entry.py", "wrangler.jsonc"]
            .map(PathBuf::from)
            .to_vec()
    );
    assert_eq!(parse_jsonc(&root.join("wrangler.jsonc"))["name"], "out");

    let missing = format!("file://{}", dir.path().join("nope.git").display());
    let out = init(dir.path(), &["out2", "--template", &missing, "--no-git"]);
    out.expect_code(1);
    assert!(
        out.stderr.contains("could not clone template"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("out2/wrangler.jsonc").exists());
}

#[test]
fn git_missing_is_a_clear_error_for_git_templates_and_a_warning_otherwise() {
    let dir = tempdir();
    let empty_path = dir.path().join("empty-path");
    std::fs::create_dir(&empty_path).expect("mkdir");
    let out = Run::from_output(
        cmd(dir.path())
            .env("PATH", &empty_path)
            .args(["init", "out", "--template", "https://example.com/t.git"])
            .output()
            .expect("runs"),
    );
    out.expect_code(1);
    assert!(out.stderr.contains("git is needed"), "{}", out.stderr);
    assert!(out.stderr.contains("hint: install git"), "{}", out.stderr);

    let out = Run::from_output(
        cmd(dir.path())
            .env("PATH", &empty_path)
            .args(["init", "plain"])
            .output()
            .expect("runs"),
    );
    out.expect_code(0);
    assert!(
        out.stderr.contains("warning: git not found"),
        "{}",
        out.stderr
    );
    assert!(!dir.path().join("plain/.git").exists());
}

#[test]
fn git_init_unless_disabled_or_already_in_a_repository() {
    let dir = tempdir();
    init(dir.path(), &["with-git"]).expect_code(0);
    assert!(dir.path().join("with-git/.git").is_dir());

    init(dir.path(), &["without-git", "--no-git"]).expect_code(0);
    assert!(!dir.path().join("without-git/.git").exists());

    // Inside an existing work tree: no nested repository.
    init(dir.path().join("with-git").as_path(), &["nested"]).expect_code(0);
    assert!(dir.path().join("with-git/nested/wrangler.jsonc").exists());
    assert!(!dir.path().join("with-git/nested/.git").exists());
}

#[test]
fn prints_next_steps() {
    let dir = tempdir();
    let out = init(dir.path(), &["proj", "--no-git"]);
    out.expect_code(0);
    for step in [
        "cd proj",
        "pywrangler-rs sync",
        "pywrangler-rs dev",
        "pywrangler-rs deploy",
    ] {
        assert!(out.stderr.contains(step), "{step}: {}", out.stderr);
    }
    assert!(out.stdout.is_empty(), "stdout is for data: {}", out.stdout);
}
