//! `pywrangler-rs init`: resolve the flags, scaffold through `crate::scaffold`,
//! make the project a git repository and print the next steps.

use std::path::{Path, PathBuf};

use crate::cli::InitArgs;
use crate::diagnostics::Exit;
use crate::printer;
use crate::scaffold::{self, GitInit, ScaffoldOptions, TemplateSource};

pub fn run(args: InitArgs) -> anyhow::Result<Exit> {
    let dest = args.dir.clone().unwrap_or_else(|| PathBuf::from("."));
    let template = TemplateSource::parse(&args.template)?;
    let name = scaffold::resolve_name(args.name.as_deref(), &dest)?;
    if matches!(template, TemplateSource::Git(_)) {
        printer::info(format!("Cloning template {} ...", template.describe()));
    }
    let done = scaffold::scaffold(&ScaffoldOptions {
        dest: dest.clone(),
        template: template.clone(),
        name: name.clone(),
        force: args.force,
    })?;
    for file in &done.files {
        printer::verbose(format!("wrote {}", dest.join(file).display()));
    }

    if !args.no_git {
        match scaffold::init_repo(&dest) {
            GitInit::Created => printer::verbose("initialised a git repository"),
            GitInit::AlreadyInRepo => {
                printer::verbose("already inside a git work tree; skipped `git init`")
            }
            GitInit::GitMissing => printer::warn("git not found in PATH; skipped `git init`"),
            GitInit::Failed(err) => printer::warn(format!("`git init` failed: {err}")),
        }
    }

    printer::success(format!(
        "Created Worker `{name}` from template `{}` in {} ({} files, compatibility_date {})",
        template.describe(),
        dest.display(),
        done.files.len(),
        done.compatibility_date,
    ));
    print_next_steps(&dest);
    Ok(Exit::Success)
}

/// The commands to run next; `cd` only when the project is not the current directory.
fn print_next_steps(dest: &Path) {
    let mut steps = Vec::new();
    if dest != Path::new(".") && dest != Path::new("") {
        steps.push(format!("cd {}", shell_quote(&dest.display().to_string())));
    }
    steps.push("pywrangler-rs sync      # vendor dependencies into python_modules/".into());
    steps.push("pywrangler-rs dev       # serve on http://127.0.0.1:8787".into());
    steps.push("pywrangler-rs deploy    # upload to Cloudflare".into());
    printer::info("\nNext steps:");
    for step in steps {
        printer::info(format!("  {step}"));
    }
}

/// Quote a path for a copy-pasteable `cd` when it holds shell-special characters.
fn shell_quote(text: &str) -> String {
    if text
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "-_./~".contains(c))
    {
        text.to_string()
    } else {
        format!("'{}'", text.replace('\'', r"'\''"))
    }
}
