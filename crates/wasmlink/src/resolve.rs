//! The link plan: memory/table layout, symbol resolution and every index of the output, decided
//! before a single byte is written. `emit` then only follows it.

use std::collections::HashMap;

use wasmparser::{ExternalKind, FuncType, GlobalType, ValType};

use crate::consts::{ConstVal, eval};
use crate::imports::{Classified, FuncRes, GlobRes, classify};
use crate::input::Module;
use crate::layout::{Layout, Symbols};
use crate::{LinkError, Options};

/// The global LLD 22 initialises relative to `__memory_base` in `-shared` output although the
/// page size it stands for is absolute (wasi-libc's `sbrk` and `sysconf(_SC_PAGESIZE)` read it).
pub(crate) const FIRST_PAGE_END: &str = "GOT.data.internal.__wasm_first_page_end";

/// What an input's global index became.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum GTarget {
    /// A constant: `global.get` becomes the constant itself.
    Const(ConstVal),
    /// An output global.
    Out(u32),
}

/// How an output global is initialised.
#[derive(Debug, Clone)]
pub(crate) enum GInit {
    Const(ConstVal),
    /// Module `module`'s defined global `index` (its init expression, re-encoded).
    Expr {
        module: usize,
        index: u32,
    },
}

#[derive(Debug, Clone)]
pub(crate) struct OutGlobal {
    pub ty: GlobalType,
    pub init: GInit,
    pub name: Option<String>,
}

/// Per-input index maps.
pub(crate) struct ModulePlan {
    pub memory_base: u32,
    pub table_base: u32,
    /// Input type index → output type index.
    pub type_map: Vec<u32>,
    /// Input function index (imports first) → output function index.
    pub func_map: Vec<u32>,
    /// Input global index → constant or output global.
    pub global_map: Vec<GTarget>,
    /// Output index of this input's first element segment.
    pub elem_base: u32,
    /// Output index of this input's first data segment.
    pub data_base: u32,
    /// Output index of this input's first defined function.
    pub func_base: u32,
    /// Global import names (for errors).
    pub global_import_names: Vec<String>,
}

/// A function import the output keeps (e.g. WASI).
pub(crate) struct KeptFunc<'a> {
    pub module: &'a str,
    pub field: &'a str,
    pub ty: u32,
    /// A name for the name section, from the first input that named it.
    pub name: Option<&'a str>,
}

pub(crate) struct KeptGlobal<'a> {
    pub module: &'a str,
    pub field: &'a str,
    pub ty: GlobalType,
}

pub(crate) struct Plan<'a> {
    /// Output function types, deduplicated, in first-use order.
    pub types: Vec<FuncType>,
    pub kept_funcs: Vec<KeptFunc<'a>>,
    pub kept_globals: Vec<KeptGlobal<'a>>,
    /// Trap stubs: (symbol, output type index).
    pub stubs: Vec<(String, u32)>,
    pub modules: Vec<ModulePlan>,
    /// Output globals after the kept global imports.
    pub globals: Vec<OutGlobal>,
    /// First `GOT.func` slot and the output function index of each slot.
    pub got_func_base: u32,
    pub got_func_slots: Vec<u32>,
    pub got_mem: usize,
    pub heap_base: u32,
    pub memory_pages: u32,
    pub table_size: u32,
    /// Output function index of the generated `_initialize`, its callees in order, and its type.
    pub init_func: u32,
    pub init_calls: Vec<u32>,
    pub void_type: u32,
    /// Output function index of the generated start function and its callees (start kept).
    pub start: Option<(u32, Vec<u32>)>,
    pub dropped_starts: Vec<String>,
    pub first_page_end_patched: Vec<String>,
    /// Total output functions.
    pub num_funcs: u32,
    /// Data symbol → absolute address (what an exported data symbol's global holds).
    pub datas: HashMap<&'a str, u32>,
    /// Output index of each trap stub ([`crate::gc::DEAD`] when removed).
    pub stub_index: Vec<u32>,
    /// Defined functions dropped as unreachable.
    pub removed_funcs: u32,
}

pub(crate) fn type_string(t: &FuncType) -> String {
    let list = |v: &[ValType]| {
        v.iter()
            .map(|t| t.to_string())
            .collect::<Vec<_>>()
            .join(" ")
    };
    format!("[{}] -> [{}]", list(t.params()), list(t.results()))
}

impl<'a> Plan<'a> {
    pub fn new(mods: &'a [Module<'a>], opts: &Options) -> Result<Self, LinkError> {
        let unsupported = |m: &Module<'_>, what: String| LinkError::Unsupported {
            input: m.name.to_string(),
            what,
        };
        let too_big = || LinkError::BadOption("the layout exceeds 4 GiB of memory or table".into());

        let layout = Layout::new(mods, opts.stack_size)?;
        let syms = Symbols::new(mods, &layout.bases);

        // Types, deduplicated across inputs.
        let mut types: Vec<FuncType> = Vec::new();
        let mut type_ids: HashMap<FuncType, u32> = HashMap::new();
        let mut intern = |t: &FuncType, types: &mut Vec<FuncType>| -> u32 {
            *type_ids.entry(t.clone()).or_insert_with(|| {
                types.push(t.clone());
                types.len() as u32 - 1
            })
        };
        let type_maps: Vec<Vec<u32>> = mods
            .iter()
            .map(|m| m.types.iter().map(|t| intern(t, &mut types)).collect())
            .collect();
        let void_type = intern(&FuncType::new([], []), &mut types);

        let Classified {
            kept_funcs,
            kept_globals,
            stubs,
            mut got_func_names,
            mut got_mem_names,
            uses_sp,
            func_res,
            glob_res,
        } = classify(mods, &layout, &syms, &types, &type_maps, opts)?;
        let Layout {
            bases,
            heap_base,
            memory_pages,
            table_end,
        } = layout;
        let Symbols { funcs, datas } = syms;
        let tbl = u64::from(table_end);

        // GOT.func slots after every module's table range, by symbol name.
        got_func_names.sort_unstable();
        got_func_names.dedup();
        got_mem_names.sort_unstable();
        got_mem_names.dedup();
        let got_func_base = tbl as u32;
        let table_size = u32::try_from(tbl + got_func_names.len() as u64).map_err(|_| too_big())?;
        let got_slot = |name: &str| -> Option<u32> {
            got_func_names
                .binary_search(&name)
                .ok()
                .map(|i| got_func_base + i as u32)
        };

        // Function index space: kept imports, stubs, each module's functions, generated ones.
        let mut next = kept_funcs.len() as u32 + stubs.len() as u32;
        let mut func_bases = Vec::new();
        for m in mods {
            func_bases.push(next);
            next += m.funcs.len() as u32;
        }
        let init_func = next;
        next += 1;
        let def_index = |module: usize, index: u32| {
            func_bases[module] + (index - mods[module].num_func_imports())
        };

        // Global index space: kept imports, the stack pointer, then module globals as needed.
        let sp_index = kept_globals.len() as u32;
        let mut globals: Vec<OutGlobal> = Vec::new();
        if uses_sp {
            globals.push(OutGlobal {
                ty: GlobalType {
                    content_type: ValType::I32,
                    mutable: true,
                    shared: false,
                },
                init: GInit::Const(ConstVal::I32(opts.stack_size as i32)),
                name: Some("__stack_pointer".into()),
            });
        }
        let globals_base = kept_globals.len() as u32;

        let mut plans = Vec::new();
        let mut first_page_end_patched = Vec::new();
        let (mut elem_base, mut data_base) = (0u32, 0u32);
        for (mi, m) in mods.iter().enumerate() {
            let (memory_base, table_base) = bases[mi];
            let mut func_map: Vec<u32> = func_res[mi]
                .iter()
                .map(|r| match *r {
                    FuncRes::Def { module, index } => def_index(module, index),
                    FuncRes::Kept(k) => k,
                    FuncRes::Stub(s) => kept_funcs.len() as u32 + s,
                })
                .collect();
            func_map.extend((0..m.funcs.len() as u32).map(|i| func_bases[mi] + i));

            let mut global_map: Vec<GTarget> = Vec::new();
            for (imp, r) in m.global_imports.iter().zip(&glob_res[mi]) {
                global_map.push(match *r {
                    GlobRes::StackPointer => GTarget::Out(sp_index),
                    GlobRes::Kept(k) => GTarget::Out(k),
                    GlobRes::GotFunc => {
                        let slot = got_slot(imp.field)
                            .ok_or_else(|| unsupported(m, format!("GOT.func `{}`", imp.field)))?;
                        GTarget::Const(ConstVal::I32(slot as i32))
                    }
                    GlobRes::Const(c) => GTarget::Const(c),
                });
            }
            let mem_base_import = m
                .global_imports
                .iter()
                .position(|i| i.module == "env" && i.field == "__memory_base")
                .map(|p| p as u32);
            for (gi, (ty, init)) in m.globals.iter().enumerate() {
                let index = m.num_global_imports() + gi as u32;
                let name = m.global_names.get(&index).copied();
                let patch = name == Some(FIRST_PAGE_END);
                let value_of = |zero_base: bool| {
                    eval(init, |g| {
                        if zero_base && Some(g) == mem_base_import {
                            return Some(ConstVal::I32(0));
                        }
                        match global_map.get(g as usize)? {
                            GTarget::Const(c) => Some(*c),
                            GTarget::Out(_) => None,
                        }
                    })
                };
                let value = value_of(patch);
                if patch {
                    if value != Some(ConstVal::I32(65536)) {
                        return Err(unsupported(
                            m,
                            format!(
                                "`{FIRST_PAGE_END}` is neither `__memory_base + 65536` nor 65536 (LLD changed; check the fix)"
                            ),
                        ));
                    }
                    if value != value_of(false) {
                        first_page_end_patched.push(m.name.to_string());
                    }
                }
                global_map.push(match value {
                    Some(v) if !ty.mutable => GTarget::Const(v),
                    _ => {
                        let out = globals_base + globals.len() as u32;
                        globals.push(OutGlobal {
                            ty: *ty,
                            init: match value {
                                Some(v) => GInit::Const(v),
                                None => GInit::Expr {
                                    module: mi,
                                    index: gi as u32,
                                },
                            },
                            name: name.map(str::to_string),
                        });
                        GTarget::Out(out)
                    }
                });
            }
            plans.push(ModulePlan {
                memory_base,
                table_base,
                type_map: type_maps[mi].clone(),
                func_map,
                global_map,
                elem_base,
                data_base,
                func_base: func_bases[mi],
                global_import_names: m
                    .global_imports
                    .iter()
                    .map(|i| format!("{}.{}", i.module, i.field))
                    .collect(),
            });
            elem_base += m.elements.len() as u32;
            data_base += m.data.len() as u32;
        }

        let got_func_slots = got_func_names
            .iter()
            .map(|n| {
                let (dm, di) = funcs[n];
                def_index(dm, di)
            })
            .collect();

        // `_initialize`: every module's data relocations, then every module's constructors.
        let export_of = |m: &Module<'_>, name: &str| {
            m.exports
                .iter()
                .find(|e| e.name == name && e.kind == ExternalKind::Func)
                .map(|e| e.index)
        };
        let void_fn = |mi: usize, f: u32, what: &str| -> Result<u32, LinkError> {
            match mods[mi].func_type(f) {
                Some(t) if t.params().is_empty() && t.results().is_empty() => {
                    Ok(plans[mi].func_map[f as usize])
                }
                _ => Err(unsupported(
                    &mods[mi],
                    format!("`{what}` does not have type [] -> []"),
                )),
            }
        };
        let mut init_calls = Vec::new();
        for (mi, m) in mods.iter().enumerate() {
            if let Some(f) = export_of(m, "__wasm_apply_data_relocs") {
                init_calls.push(void_fn(mi, f, "__wasm_apply_data_relocs")?);
            }
        }
        for (mi, m) in mods.iter().enumerate() {
            if let Some((f, what)) = ["__wasm_call_ctors", "_initialize"]
                .iter()
                .find_map(|w| export_of(m, w).map(|f| (f, *w)))
            {
                init_calls.push(void_fn(mi, f, what)?);
            }
        }

        let mut dropped_starts = Vec::new();
        let mut start_calls = Vec::new();
        for (mi, m) in mods.iter().enumerate() {
            if let Some(f) = m.start {
                if opts.drop_start {
                    dropped_starts.push(m.name.to_string());
                } else {
                    start_calls.push(void_fn(mi, f, "start function")?);
                }
            }
        }
        let start = if start_calls.is_empty() {
            None
        } else {
            next += 1;
            Some((next - 1, start_calls))
        };

        let (kept_len, stubs_len) = (kept_funcs.len() as u32, stubs.len() as u32);
        Ok(Plan {
            types,
            kept_funcs,
            kept_globals,
            stubs,
            modules: plans,
            globals,
            got_func_base,
            got_func_slots,
            got_mem: got_mem_names.len(),
            heap_base,
            memory_pages,
            table_size,
            init_func,
            init_calls,
            void_type,
            start,
            dropped_starts,
            first_page_end_patched,
            num_funcs: next,
            datas,
            stub_index: (0..stubs_len).map(|s| kept_len + s).collect(),
            removed_funcs: 0,
        })
    }

    /// Renumber every function index after dead functions are dropped (`renum[old]` is the new
    /// index or [`crate::gc::DEAD`]).
    pub fn apply_renumber(&mut self, renum: &[u32]) {
        let r = |f: u32| renum.get(f as usize).copied().unwrap_or(crate::gc::DEAD);
        for p in &mut self.modules {
            for f in &mut p.func_map {
                *f = r(*f);
            }
        }
        for f in self
            .got_func_slots
            .iter_mut()
            .chain(self.init_calls.iter_mut())
            .chain(self.stub_index.iter_mut())
            .chain(std::iter::once(&mut self.init_func))
        {
            *f = r(*f);
        }
        if let Some((idx, calls)) = &mut self.start {
            *idx = r(*idx);
            for c in calls {
                *c = r(*c);
            }
        }
        let live = renum.iter().filter(|&&f| f != crate::gc::DEAD).count() as u32;
        self.removed_funcs = self.num_funcs - live;
        self.num_funcs = live;
    }
}
