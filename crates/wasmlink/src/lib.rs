//! A static linker for WebAssembly `dylink.0` (PIC) shared libraries: N modules built with
//! `wasm-ld --shared --experimental-pic` in, ONE self-contained core module out.
//!
//! It does at build time what a dynamic loader (Emscripten's `dlopen`, a `dylink.0` host) does
//! at run time: lay out the stack, each module's data and table slots, resolve `env` function
//! imports, `GOT.mem`/`GOT.func` entries and the base globals to constants, then merge every
//! module's functions, globals, element and data segments into one module with one memory and
//! one table, plus an `_initialize` that applies data relocations and runs constructors in load
//! order. pywrangler uses it to build the CPython 3.14 guest (our PIC main + `libpython3.14.so`)
//! and, later, to add a project's native extension modules.
//!
//! ```no_run
//! use pywrangler_wasmlink::{Input, Options, link};
//! let inputs = vec![
//!     Input::new("main", std::fs::read("main.so")?),
//!     Input::new("py", std::fs::read("libpython3.14.so")?),
//! ];
//! let opts = Options { keep_exports: vec!["memory".into(), "_initialize".into()], ..Options::default() };
//! let linked = link(&inputs, &opts)?;
//! std::fs::write("out.wasm", &linked.wasm)?;
//! eprintln!("{}", linked.report);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

mod consts;
mod emit;
mod error;
mod gc;
mod imports;
mod input;
mod layout;
mod resolve;
mod side;
mod table;
#[cfg(test)]
mod tests;

use std::fmt;

pub use error::{LinkError, Undefined};
pub use input::{MemInfo, needed_libraries};
pub use side::{dylink_section, import_side_module_env};
pub use table::{ExtEntry, ext_table};

/// Changes whenever the same inputs and [`Options`] may give a different output (a fix or a
/// new transformation); include it in the key of any cache of linked modules.
/// 2: unreachable functions dropped; exported data symbols hold absolute addresses.
pub const OUTPUT_VERSION: u32 = 2;

/// One input shared library.
#[derive(Debug, Clone)]
pub struct Input {
    /// A short label used in errors and the report (e.g. `main`, `py`). Must be unique.
    pub name: String,
    /// The module bytes (a core module with a `dylink.0` custom section).
    pub bytes: Vec<u8>,
    /// A prefix for this input's `env` function imports: an import `X` binds to `<prefix>X`
    /// when some input defines that, else to `X`. Lets a module built for another C ABI
    /// (Emscripten's `clock_gettime` takes an `int` clock id, wasi-libc's a pointer) reach
    /// adapters without renaming anything in it.
    pub abi_prefix: Option<String>,
}

impl Input {
    /// An input labelled `name`.
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Input {
            name: name.into(),
            bytes,
            abi_prefix: None,
        }
    }

    /// The same input, its `env` function imports preferring `<prefix>X` over `X`.
    pub fn with_abi_prefix(mut self, prefix: impl Into<String>) -> Self {
        self.abi_prefix = Some(prefix.into());
        self
    }
}

/// How to link.
#[derive(Debug, Clone)]
pub struct Options {
    /// Bytes of stack at the bottom of memory, `[0, stack_size)`; the stack pointer starts at
    /// `stack_size` and grows down. A multiple of 16.
    pub stack_size: u32,
    /// The exports of the output, in this order; every other export is dropped. `memory` is
    /// the linked memory, `_initialize` the generated initialiser, `__indirect_function_table`
    /// the table; any other name is the first input's export of that name.
    pub keep_exports: Vec<String>,
    /// Drop the inputs' start functions instead of running them at instantiation. `wasm-ld`'s
    /// `-shared` start function only zero-fills `.bss`, which a fresh linked memory already is.
    pub drop_start: bool,
    /// Bind undefined, non-weak `env` function imports to functions that trap when called,
    /// instead of failing the link. (Weak undefined functions always become such stubs.)
    pub undefined_traps: bool,
    /// Drop defined functions nothing reachable from the kept exports, the initialisers or
    /// the table calls (what `wasm-opt --remove-unused-module-elements` did for functions).
    pub remove_unused: bool,
    /// Link inputs that use wasm exception handling (legacy `try`/`catch`/`throw` or
    /// `try_table`) by removing it: `try` bodies run as plain blocks, handlers are dropped,
    /// `throw`/`rethrow`/`throw_ref` trap, exception tags disappear. Code that never throws
    /// runs unchanged; code that throws (a Rust panic, a C++ exception, `longjmp`) traps.
    /// Without it such inputs are refused.
    pub strip_exceptions: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            stack_size: 8 * 1024 * 1024,
            keep_exports: Vec::new(),
            drop_start: true,
            undefined_traps: false,
            remove_unused: true,
            strip_exceptions: false,
        }
    }
}

/// The linked module and what the linker decided.
#[derive(Debug, Clone)]
pub struct Linked {
    /// The output core module.
    pub wasm: Vec<u8>,
    /// Layout and resolution facts.
    pub report: Report,
}

/// Where one input landed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Placement {
    /// The input's name.
    pub name: String,
    /// Its `__memory_base` (absolute address of its data).
    pub memory_base: u32,
    /// Bytes of data it reserved (`dylink.0` memory size).
    pub memory_size: u32,
    /// Its `__table_base` (first table slot).
    pub table_base: u32,
    /// Table slots it reserved.
    pub table_size: u32,
    /// Functions it defines.
    pub functions: u32,
}

/// Layout and resolution facts of a link.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Report {
    /// Each input, in load order.
    pub placements: Vec<Placement>,
    /// `__heap_base`: first free byte after all data, 16-aligned.
    pub heap_base: u32,
    /// Initial memory size in 64 KiB pages (no maximum).
    pub memory_pages: u32,
    /// Table size (slot 0 is null, then every input's slots, then `GOT.func` slots).
    pub table_size: u32,
    /// Distinct `GOT.mem` symbols resolved.
    pub got_mem: usize,
    /// Distinct `GOT.func` symbols, each given its own table slot.
    pub got_func: usize,
    /// Imports the output keeps (e.g. WASI), deduplicated.
    pub imports: usize,
    /// Functions in the output, imported ones included.
    pub functions: u32,
    /// `env` functions no input defines, bound to trapping stubs (weak ones, or all with
    /// [`Options::undefined_traps`]).
    pub trap_stubs: Vec<String>,
    /// Defined functions dropped as unreachable ([`Options::remove_unused`]).
    pub removed_functions: u32,
    /// Inputs whose start function was dropped.
    pub dropped_starts: Vec<String>,
    /// Inputs whose exception handling was removed ([`Options::strip_exceptions`]), with the
    /// number of `try` blocks and throws rewritten in each.
    pub exceptions_stripped: Vec<(String, u32)>,
    /// Inputs whose `__wasm_first_page_end` was corrected (the LLD 22 `-shared` bug).
    pub first_page_end_patched: Vec<String>,
    /// Output size in bytes.
    pub size: usize,
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "linked")?;
        for p in &self.placements {
            write!(
                f,
                " {}(mem {:#x}+{}, table {}+{}, {} funcs)",
                p.name, p.memory_base, p.memory_size, p.table_base, p.table_size, p.functions
            )?;
        }
        write!(
            f,
            "; heap_base {:#x}, {} pages, table {}, GOT.mem {}, GOT.func {}, {} imports, {} functions ({} unused removed), {} trap stubs, {} bytes",
            self.heap_base,
            self.memory_pages,
            self.table_size,
            self.got_mem,
            self.got_func,
            self.imports,
            self.functions,
            self.removed_functions,
            self.trap_stubs.len(),
            self.size
        )?;
        if !self.dropped_starts.is_empty() {
            write!(f, "; dropped start of {}", self.dropped_starts.join(", "))?;
        }
        if !self.exceptions_stripped.is_empty() {
            let list: Vec<String> = self
                .exceptions_stripped
                .iter()
                .map(|(n, c)| format!("{n} ({c})"))
                .collect();
            write!(f, "; exceptions stripped in {}", list.join(", "))?;
        }
        if !self.first_page_end_patched.is_empty() {
            write!(
                f,
                "; patched __wasm_first_page_end in {}",
                self.first_page_end_patched.join(", ")
            )?;
        }
        Ok(())
    }
}

/// The features the output must validate with: MVP plus mutable globals, sign extension,
/// non-trapping float-to-int, bulk memory, multi-value and extended-const. No GC, no
/// reference types, so the result runs in an engine built without them.
pub fn output_features() -> wasmparser::WasmFeatures {
    use wasmparser::WasmFeatures as F;
    F::WASM1
        | F::SIGN_EXTENSION
        | F::SATURATING_FLOAT_TO_INT
        | F::BULK_MEMORY
        | F::MULTI_VALUE
        | F::EXTENDED_CONST
}

/// Link `inputs` (load order = symbol precedence: the first input defining a symbol wins)
/// into one core module.
pub fn link(inputs: &[Input], opts: &Options) -> Result<Linked, LinkError> {
    if inputs.is_empty() {
        return Err(LinkError::NoInputs);
    }
    for (i, a) in inputs.iter().enumerate() {
        if inputs[..i].iter().any(|b| b.name == a.name) {
            return Err(LinkError::DuplicateName(a.name.clone()));
        }
    }
    if !opts.stack_size.is_multiple_of(16) {
        return Err(LinkError::BadOption(format!(
            "stack size {} is not a multiple of 16",
            opts.stack_size
        )));
    }
    let modules = inputs
        .iter()
        .map(|i| {
            input::Module::parse(
                &i.name,
                &i.bytes,
                i.abi_prefix.as_deref(),
                opts.strip_exceptions,
            )
        })
        .collect::<Result<Vec<_>, _>>()?;
    let mut plan = resolve::Plan::new(&modules, opts)?;
    if opts.remove_unused {
        let live = gc::live(&modules, &plan, &opts.keep_exports)?;
        plan.apply_renumber(&gc::renumber(&live));
    }
    let (wasm, mut report) = emit::emit(&modules, &plan, opts)?;
    wasmparser::Validator::new_with_features(output_features())
        .validate_all(&wasm)
        .map_err(|e| LinkError::Invalid(e.to_string()))?;
    report.size = wasm.len();
    Ok(Linked { wasm, report })
}
