//! Why a link failed, naming the input and the symbol so the fix is obvious.

use std::fmt;

/// One import no input defines.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Undefined {
    /// The input that imports it.
    pub input: String,
    /// Import module (`env`, `GOT.mem`, `GOT.func`).
    pub module: String,
    /// Import field (the symbol name).
    pub field: String,
}

impl fmt::Display for Undefined {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}.{}", self.input, self.module, self.field)
    }
}

/// A link failure. Every variant names the input (by its [`crate::Input::name`]) it concerns.
#[derive(Debug, thiserror::Error)]
pub enum LinkError {
    /// No inputs were given.
    #[error("nothing to link: give at least one input module")]
    NoInputs,
    /// An option is out of range.
    #[error("invalid option: {0}")]
    BadOption(String),
    /// Two inputs share a name (names label layout, errors and the report).
    #[error("two inputs are named `{0}`: give each input a distinct name")]
    DuplicateName(String),
    /// The input is not well-formed WebAssembly.
    #[error("{input}: not a valid WebAssembly module: {source}")]
    Parse {
        /// Input name.
        input: String,
        /// The parser's complaint.
        #[source]
        source: wasmparser::BinaryReaderError,
    },
    /// The input has no `dylink.0` section, so it is not a PIC shared library.
    #[error(
        "{input}: no `dylink.0` section: not a WebAssembly shared library (link it with `wasm-ld --shared --experimental-pic`)"
    )]
    NotShared {
        /// Input name.
        input: String,
    },
    /// The input uses something this linker does not support yet.
    #[error("{input}: unsupported: {what}")]
    Unsupported {
        /// Input name.
        input: String,
        /// What, precisely.
        what: String,
    },
    /// Imports no input defines (and that are not weak).
    #[error("{} undefined symbol(s): {}", .0.len(), list(.0))]
    Undefined(Vec<Undefined>),
    /// An import's function type differs from its definition's.
    #[error(
        "{input}: imports `{symbol}` as {expected} but `{definer}` defines it as {found} (a C prototype mismatch)"
    )]
    SignatureMismatch {
        /// The importing input.
        input: String,
        /// Symbol name.
        symbol: String,
        /// The type the importer declares.
        expected: String,
        /// The type the definition has.
        found: String,
        /// The defining input.
        definer: String,
    },
    /// The same non-`env` import appears with two different types.
    #[error(
        "{input}: imports `{module}.{field}` as {found} but an earlier input imports it as {expected}"
    )]
    ImportTypeClash {
        /// The input with the second, differing import.
        input: String,
        /// Import module.
        module: String,
        /// Import field.
        field: String,
        /// The first type seen.
        expected: String,
        /// This input's type.
        found: String,
    },
    /// Code writes a global the linker turned into a constant (a GOT entry or a base).
    #[error(
        "{input}: function `{function}` writes global `{global}`, which the linker resolves to a constant"
    )]
    WritesConstGlobal {
        /// Input name.
        input: String,
        /// The function's name (or `#index` in the input).
        function: String,
        /// The global's import name.
        global: String,
    },
    /// A requested export exists in no input.
    #[error("export `{0}` was requested but no input defines it")]
    MissingExport(String),
    /// Re-encoding an input's code failed.
    #[error("{input}: cannot re-encode: {message}")]
    Reencode {
        /// Input name.
        input: String,
        /// What went wrong.
        message: String,
    },
    /// The output does not validate: a linker bug or an input feature the output's feature set lacks.
    #[error(
        "the linked module does not validate ({0}); the inputs may use a feature outside MVP + sign-ext, bulk memory, multi-value, nontrapping float-to-int, extended-const"
    )]
    Invalid(String),
}

fn list(u: &[Undefined]) -> String {
    const SHOWN: usize = 20;
    let mut s: Vec<String> = u.iter().take(SHOWN).map(ToString::to_string).collect();
    if u.len() > SHOWN {
        s.push(format!("… and {} more", u.len() - SHOWN));
    }
    s.join(", ")
}

impl LinkError {
    /// The inputs (by [`crate::Input::name`]) this failure is attributed to; empty when it
    /// concerns the link as a whole.
    pub fn inputs(&self) -> Vec<&str> {
        match self {
            LinkError::NoInputs
            | LinkError::BadOption(_)
            | LinkError::MissingExport(_)
            | LinkError::Invalid(_) => Vec::new(),
            LinkError::DuplicateName(n) => vec![n.as_str()],
            LinkError::Parse { input, .. }
            | LinkError::NotShared { input }
            | LinkError::Unsupported { input, .. }
            | LinkError::SignatureMismatch { input, .. }
            | LinkError::ImportTypeClash { input, .. }
            | LinkError::WritesConstGlobal { input, .. }
            | LinkError::Reencode { input, .. } => vec![input.as_str()],
            LinkError::Undefined(list) => {
                let mut v: Vec<&str> = list.iter().map(|u| u.input.as_str()).collect();
                v.dedup();
                v
            }
        }
    }
}
