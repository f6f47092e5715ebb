//! Where every input goes in memory and the table, and which input defines each symbol (the
//! first one that exports it: load order is precedence).

use std::collections::HashMap;

use wasmparser::{ExternalKind, ValType};

use crate::LinkError;
use crate::consts::{ConstVal, eval};
use crate::input::Module;

/// Exports that are per-module entry points, never symbols another module can bind to.
pub(crate) const SPECIAL: [&str; 4] = [
    "__wasm_apply_data_relocs",
    "__wasm_call_ctors",
    "_initialize",
    "_start",
];

pub(crate) struct Layout {
    /// Each input's (`__memory_base`, `__table_base`).
    pub bases: Vec<(u32, u32)>,
    /// First byte after all data, 16-aligned.
    pub heap_base: u32,
    /// Initial memory in 64 KiB pages.
    pub memory_pages: u32,
    /// First table slot after every input's slots (where `GOT.func` slots start).
    pub table_end: u32,
}

fn align(x: u64, log2: u32) -> u64 {
    let a = 1u64 << log2.min(31);
    x.div_ceil(a) * a
}

impl Layout {
    /// Stack `[0, stack_size)`, then each input's data at its aligned memory base; table slot
    /// 0 null, then each input's slots at its aligned table base.
    pub fn new(mods: &[Module<'_>], stack_size: u32) -> Result<Self, LinkError> {
        let too_big = || LinkError::BadOption("the layout exceeds 4 GiB of memory or table".into());
        let mut mem = u64::from(stack_size);
        let mut tbl = 1u64;
        let mut bases = Vec::new();
        for m in mods {
            mem = align(mem, m.mem.memory_align);
            tbl = align(tbl, m.mem.table_align);
            bases.push((mem as u32, tbl as u32));
            mem += u64::from(m.mem.memory_size);
            tbl += u64::from(m.mem.table_size);
            if mem > u64::from(u32::MAX) || tbl > u64::from(u32::MAX) {
                return Err(too_big());
            }
        }
        let heap_base = align(mem, 4);
        if heap_base > u64::from(u32::MAX) {
            return Err(too_big());
        }
        Ok(Layout {
            bases,
            heap_base: heap_base as u32,
            memory_pages: heap_base.div_ceil(65536).max(1) as u32,
            table_end: tbl as u32,
        })
    }
}

/// Values a `dylink.0` loader provides itself, by symbol name.
pub(crate) fn linker_symbol(field: &str, heap_base: u32, stack_size: u32) -> Option<u32> {
    match field {
        "__heap_base" => Some(heap_base),
        "__stack_high" => Some(stack_size),
        "__stack_low" => Some(0),
        _ => None,
    }
}

/// The symbol table: first definer wins.
pub(crate) struct Symbols<'a> {
    /// Function name → (input, function index in it).
    pub funcs: HashMap<&'a str, (usize, u32)>,
    /// Data symbol name → absolute address.
    pub datas: HashMap<&'a str, u32>,
}

impl<'a> Symbols<'a> {
    /// Defined functions and data symbols (immutable i32 globals) every input exports.
    pub fn new(mods: &'a [Module<'a>], bases: &[(u32, u32)]) -> Self {
        let mut funcs: HashMap<&str, (usize, u32)> = HashMap::new();
        let mut datas: HashMap<&str, u32> = HashMap::new();
        for (mi, m) in mods.iter().enumerate() {
            let (memory_base, table_base) = bases[mi];
            for e in &m.exports {
                if SPECIAL.contains(&e.name) {
                    continue;
                }
                match e.kind {
                    ExternalKind::Func if e.index >= m.num_func_imports() => {
                        funcs.entry(e.name).or_insert((mi, e.index));
                    }
                    ExternalKind::Global if e.index >= m.num_global_imports() => {
                        let Some((ty, init)) =
                            m.globals.get((e.index - m.num_global_imports()) as usize)
                        else {
                            continue;
                        };
                        if ty.mutable || ty.content_type != ValType::I32 {
                            continue;
                        }
                        // A data symbol: relative to the module's memory base, unless its init
                        // already reads `__memory_base` (then it is absolute).
                        let mut reads_base = false;
                        let v = eval(init, |g| {
                            let imp = m.global_imports.get(g as usize)?;
                            reads_base = true;
                            match (imp.module, imp.field) {
                                ("env", "__memory_base") => Some(ConstVal::I32(memory_base as i32)),
                                ("env", "__table_base") => Some(ConstVal::I32(table_base as i32)),
                                _ => None,
                            }
                        });
                        if let Some(v) = v.and_then(ConstVal::as_u32) {
                            let abs = if reads_base {
                                v
                            } else {
                                memory_base.wrapping_add(v)
                            };
                            datas.entry(e.name).or_insert(abs);
                        }
                    }
                    _ => {}
                }
            }
        }
        Symbols { funcs, datas }
    }
}
