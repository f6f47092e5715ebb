//! Terminal output policy in one place: stdout is data, stderr is talk.
//! Honours `-q`, `-v`, `--color` and `NO_COLOR`; progress bars only on a terminal.

use std::io::IsTerminal;
use std::sync::OnceLock;

use owo_colors::OwoColorize;

/// How much to print.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Verbosity {
    Quiet,
    Normal,
    Verbose,
}

/// Global output settings, fixed once at start-up.
#[derive(Debug, Clone, Copy)]
pub struct Printer {
    pub verbosity: Verbosity,
    pub color: bool,
}

static PRINTER: OnceLock<Printer> = OnceLock::new();

impl Printer {
    /// Set the output settings, resolved from the global flags and the
    /// environment by `crate::settings::output`.
    pub fn init(verbose: u8, quiet: bool, color: bool) -> Printer {
        let verbosity = if quiet {
            Verbosity::Quiet
        } else if verbose > 0 {
            Verbosity::Verbose
        } else {
            Verbosity::Normal
        };
        let printer = Printer { verbosity, color };
        let _ = PRINTER.set(printer);
        printer
    }

    /// The settings in effect (defaults if `init` was not called, as in unit tests).
    pub fn get() -> Printer {
        *PRINTER.get_or_init(|| Printer {
            verbosity: Verbosity::Normal,
            color: false,
        })
    }

    pub fn is_quiet(&self) -> bool {
        self.verbosity == Verbosity::Quiet
    }

    pub fn is_verbose(&self) -> bool {
        self.verbosity == Verbosity::Verbose
    }

    /// Whether animated progress may be drawn (a terminal, not quiet).
    pub fn progress_enabled(&self) -> bool {
        !self.is_quiet() && std::io::stderr().is_terminal()
    }

    fn paint(&self, text: &str, style: Style) -> String {
        if !self.color {
            return text.to_string();
        }
        match style {
            Style::Error => text.red().bold().to_string(),
            Style::Warn => text.yellow().bold().to_string(),
            Style::Hint => text.cyan().bold().to_string(),
            Style::Success => text.green().bold().to_string(),
            Style::Dim => text.dimmed().to_string(),
        }
    }
}

#[derive(Clone, Copy)]
enum Style {
    Error,
    Warn,
    Hint,
    Success,
    Dim,
}

/// Normal progress talk on stderr (hidden by `-q`).
pub fn info(msg: impl AsRef<str>) {
    let p = Printer::get();
    if !p.is_quiet() {
        eprintln!("{}", msg.as_ref());
    }
}

/// A success line on stderr (hidden by `-q`).
pub fn success(msg: impl AsRef<str>) {
    let p = Printer::get();
    if !p.is_quiet() {
        eprintln!("{} {}", p.paint("✔", Style::Success), msg.as_ref());
    }
}

/// Detail shown only with `-v`.
pub fn verbose(msg: impl AsRef<str>) {
    let p = Printer::get();
    if p.is_verbose() {
        eprintln!("{}", p.paint(msg.as_ref(), Style::Dim));
    }
}

/// A warning on stderr (hidden by `-q`).
pub fn warn(msg: impl AsRef<str>) {
    let p = Printer::get();
    if !p.is_quiet() {
        eprintln!("{} {}", p.paint("warning:", Style::Warn), msg.as_ref());
    }
}

/// A warning with its `hint:` lines (hidden by `-q`).
pub fn warn_with_hints(msg: impl AsRef<str>, hints: &[String]) {
    let p = Printer::get();
    if !p.is_quiet() {
        eprintln!("{} {}", p.paint("warning:", Style::Warn), msg.as_ref());
        for hint in hints {
            eprintln!("{} {}", p.paint("hint:", Style::Hint), hint);
        }
    }
}

/// Text from outside (API responses, server bodies) made safe for a
/// terminal: control characters, including escape sequences, become visible
/// escapes (`\u{1b}`, `\n`) instead of acting on the terminal.
pub fn escape_control(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

/// An error line with its hints; always printed.
pub fn error(msg: impl AsRef<str>, hints: &[String]) {
    let p = Printer::get();
    eprintln!("{} {}", p.paint("error:", Style::Error), msg.as_ref());
    for hint in hints {
        eprintln!("{} {}", p.paint("hint:", Style::Hint), hint);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_control_neutralises_terminal_sequences() {
        assert_eq!(
            escape_control("ok \u{1b}[31mred\u{7}\0\r\n\u{9b}é"),
            "ok \\u{1b}[31mred\\u{7}\\u{0}\\r\\n\\u{9b}é"
        );
    }
}
