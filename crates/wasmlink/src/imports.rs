//! Where each input's imports go, before output indices exist: to another input's definition,
//! a constant (bases, GOT entries, data addresses), the shared stack pointer, a kept import
//! (WASI and other host modules, deduplicated) or a trapping stub. Undefined symbols fail here.

use std::collections::HashMap;

use wasmparser::{FuncType, ValType};

use crate::consts::ConstVal;
use crate::input::{ImportKind, Module};
use crate::layout::{Layout, Symbols, linker_symbol};
use crate::resolve::{KeptFunc, KeptGlobal, type_string};
use crate::{LinkError, Options, Undefined};

/// Where each import of one module goes, before output indices exist.
pub(crate) enum FuncRes {
    Def { module: usize, index: u32 },
    Kept(u32),
    Stub(u32),
}

pub(crate) enum GlobRes {
    Const(ConstVal),
    StackPointer,
    Kept(u32),
    /// A `GOT.func` entry: its slot is known once every name is collected.
    GotFunc,
}

/// Every input's imports, classified.
pub(crate) struct Classified<'a> {
    pub kept_funcs: Vec<KeptFunc<'a>>,
    pub kept_globals: Vec<KeptGlobal<'a>>,
    /// Trap stubs: (symbol, output type index).
    pub stubs: Vec<(String, u32)>,
    /// `GOT.func` and `GOT.mem` symbols, in import order, possibly repeated.
    pub got_func_names: Vec<&'a str>,
    pub got_mem_names: Vec<&'a str>,
    /// Whether any input imports `env.__stack_pointer`.
    pub uses_sp: bool,
    /// Per input, per function / global import.
    pub func_res: Vec<Vec<FuncRes>>,
    pub glob_res: Vec<Vec<GlobRes>>,
}

/// Classify every import of every input (`types`/`type_maps`: the output's deduplicated types
/// and each input's map into them).
pub(crate) fn classify<'a>(
    mods: &'a [Module<'a>],
    layout: &Layout,
    syms: &Symbols<'a>,
    types: &[FuncType],
    type_maps: &[Vec<u32>],
    opts: &Options,
) -> Result<Classified<'a>, LinkError> {
    let (bases, heap_base) = (&layout.bases, layout.heap_base);
    let (funcs, datas) = (&syms.funcs, &syms.datas);
    let unsupported = |m: &Module<'_>, what: String| LinkError::Unsupported {
        input: m.name.to_string(),
        what,
    };
    let mut undefined = Vec::new();
    let mut kept_funcs: Vec<KeptFunc<'a>> = Vec::new();
    let mut kept_func_ids: HashMap<(&str, &str), u32> = HashMap::new();
    let mut kept_globals: Vec<KeptGlobal<'a>> = Vec::new();
    let mut kept_global_ids: HashMap<(&str, &str), u32> = HashMap::new();
    let mut stubs: Vec<(String, u32)> = Vec::new();
    let mut stub_ids: HashMap<(&str, u32), u32> = HashMap::new();
    let mut got_func_names: Vec<&str> = Vec::new();
    let mut got_mem_names: Vec<&str> = Vec::new();
    let mut uses_sp = false;
    let mut func_res: Vec<Vec<FuncRes>> = Vec::new();
    let mut glob_res: Vec<Vec<GlobRes>> = Vec::new();
    for (mi, m) in mods.iter().enumerate() {
        let (memory_base, table_base) = bases[mi];
        let mut fr = Vec::new();
        for (ii, imp) in m.func_imports.iter().enumerate() {
            let ImportKind::Func(t) = imp.kind else {
                return Err(kind_mixup());
            };
            let ty = &m.types[t as usize];
            let out_t = type_maps[mi][t as usize];
            let undef = || Undefined {
                input: m.name.to_string(),
                module: imp.module.to_string(),
                field: imp.field.to_string(),
            };
            let adapted = m.abi_prefix.and_then(|p| {
                let name = format!("{p}{}", imp.field);
                funcs.get(name.as_str()).copied()
            });
            fr.push(match imp.module {
                "env" => match adapted.or_else(|| funcs.get(imp.field).copied()) {
                    Some((dm, di)) => {
                        let found = mods[dm].func_type(di).ok_or_else(|| {
                            unsupported(
                                &mods[dm],
                                format!("export `{}` has no function type", imp.field),
                            )
                        })?;
                        if found != ty {
                            return Err(LinkError::SignatureMismatch {
                                input: m.name.to_string(),
                                symbol: imp.field.to_string(),
                                expected: type_string(ty),
                                found: type_string(found),
                                definer: mods[dm].name.to_string(),
                            });
                        }
                        FuncRes::Def {
                            module: dm,
                            index: di,
                        }
                    }
                    None if imp.weak || opts.undefined_traps => {
                        let n = stubs.len() as u32;
                        let id = *stub_ids.entry((imp.field, out_t)).or_insert_with(|| {
                            stubs.push((imp.field.to_string(), out_t));
                            n
                        });
                        FuncRes::Stub(id)
                    }
                    None => {
                        undefined.push(undef());
                        FuncRes::Stub(0)
                    }
                },
                module if module.starts_with("GOT.") => {
                    return Err(unsupported(m, format!("function import from `{module}`")));
                }
                _ => {
                    let n = kept_funcs.len() as u32;
                    let id = *kept_func_ids
                        .entry((imp.module, imp.field))
                        .or_insert_with(|| {
                            kept_funcs.push(KeptFunc {
                                module: imp.module,
                                field: imp.field,
                                ty: out_t,
                                name: m
                                    .func_names
                                    .iter()
                                    .find(|(i, _)| *i == ii as u32)
                                    .map(|(_, n)| *n),
                            });
                            n
                        });
                    let first = &kept_funcs[id as usize];
                    if first.ty != out_t {
                        return Err(LinkError::ImportTypeClash {
                            input: m.name.to_string(),
                            module: imp.module.to_string(),
                            field: imp.field.to_string(),
                            expected: type_string(&types[first.ty as usize]),
                            found: type_string(ty),
                        });
                    }
                    FuncRes::Kept(id)
                }
            });
        }
        func_res.push(fr);

        let mut gr = Vec::new();
        for imp in &m.global_imports {
            let ImportKind::Global(gt) = imp.kind else {
                return Err(kind_mixup());
            };
            let i32_only = |what: &str| {
                if gt.content_type == ValType::I32 {
                    Ok(())
                } else {
                    Err(unsupported(
                        m,
                        format!(
                            "{what} import `{}.{}` is not i32 (wasm64 is not supported)",
                            imp.module, imp.field
                        ),
                    ))
                }
            };
            let undef = Undefined {
                input: m.name.to_string(),
                module: imp.module.to_string(),
                field: imp.field.to_string(),
            };
            let data = |field: &str| -> Option<u32> {
                datas
                    .get(field)
                    .copied()
                    .or_else(|| linker_symbol(field, heap_base, opts.stack_size))
            };
            gr.push(match imp.module {
                "env" => {
                    i32_only("global")?;
                    match imp.field {
                        "__stack_pointer" => {
                            if !gt.mutable {
                                return Err(unsupported(
                                    m,
                                    "`env.__stack_pointer` is imported immutable".into(),
                                ));
                            }
                            uses_sp = true;
                            GlobRes::StackPointer
                        }
                        "__memory_base" => GlobRes::Const(ConstVal::I32(memory_base as i32)),
                        "__table_base" => GlobRes::Const(ConstVal::I32(table_base as i32)),
                        f => match data(f) {
                            Some(v) => GlobRes::Const(ConstVal::I32(v as i32)),
                            None if imp.weak => GlobRes::Const(ConstVal::I32(0)),
                            None => {
                                undefined.push(undef);
                                GlobRes::Const(ConstVal::I32(0))
                            }
                        },
                    }
                }
                "GOT.mem" => {
                    i32_only("GOT.mem")?;
                    match data(imp.field) {
                        Some(v) => {
                            got_mem_names.push(imp.field);
                            GlobRes::Const(ConstVal::I32(v as i32))
                        }
                        None if imp.weak => GlobRes::Const(ConstVal::I32(0)),
                        None => {
                            undefined.push(undef);
                            GlobRes::Const(ConstVal::I32(0))
                        }
                    }
                }
                "GOT.func" => {
                    i32_only("GOT.func")?;
                    if funcs.contains_key(imp.field) {
                        got_func_names.push(imp.field);
                        GlobRes::GotFunc
                    } else if imp.weak {
                        GlobRes::Const(ConstVal::I32(0))
                    } else {
                        undefined.push(undef);
                        GlobRes::Const(ConstVal::I32(0))
                    }
                }
                module if module.starts_with("GOT.") => {
                    return Err(unsupported(m, format!("global import from `{module}`")));
                }
                _ => {
                    let n = kept_globals.len() as u32;
                    let id = *kept_global_ids
                        .entry((imp.module, imp.field))
                        .or_insert_with(|| {
                            kept_globals.push(KeptGlobal {
                                module: imp.module,
                                field: imp.field,
                                ty: gt,
                            });
                            n
                        });
                    if kept_globals[id as usize].ty != gt {
                        return Err(LinkError::ImportTypeClash {
                            input: m.name.to_string(),
                            module: imp.module.to_string(),
                            field: imp.field.to_string(),
                            expected: format!("{:?}", kept_globals[id as usize].ty),
                            found: format!("{gt:?}"),
                        });
                    }
                    GlobRes::Kept(id)
                }
            });
        }
        glob_res.push(gr);
    }
    if !undefined.is_empty() {
        return Err(LinkError::Undefined(undefined));
    }
    Ok(Classified {
        kept_funcs,
        kept_globals,
        stubs,
        got_func_names,
        got_mem_names,
        uses_sp,
        func_res,
        glob_res,
    })
}

fn kind_mixup() -> LinkError {
    LinkError::Invalid("import kind mix-up in the linker".into())
}
