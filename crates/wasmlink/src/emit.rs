//! Writes the output module the [`Plan`] describes: re-encodes every input's code with its
//! indices remapped (and reads of resolved globals turned into constants), rebases element and
//! data segments, and adds the generated `_initialize`, trap stubs and the `GOT.func` slots.

use std::borrow::Cow;

use wasm_encoder::reencode::{Error as ReError, Reencode, RoundtripReencoder};
use wasm_encoder::{
    CodeSection, ConstExpr as OutExpr, DataCountSection, DataSection, ElementSection, Elements,
    EntityType, ExportKind, ExportSection, Function, FunctionSection, GlobalSection, ImportSection,
    Instruction, MemorySection, MemoryType, Module, NameMap, NameSection, RefType, StartSection,
    TableSection, TableType, TypeSection,
};
use wasmparser::{DataKind, ElementItems, ElementKind, ExternalKind, Operator};

use crate::consts::{ConstVal, eval};
use crate::gc::DEAD;
use crate::input;
use crate::resolve::{GInit, GTarget, ModulePlan, Plan};
use crate::{LinkError, Options, Placement, Report};

/// Re-encodes one input's code and constant expressions into the output's index spaces.
struct Remap<'p> {
    plan: &'p ModulePlan,
    /// Set while re-encoding a function body, for the error about writing a constant global.
    current_func: u32,
}

/// Why a re-encode failed, before it is given the input's name.
#[derive(Debug)]
pub(crate) enum RemapError {
    OutOfRange(&'static str, u32),
    WritesConst(u32),
}

type ReResult<T> = Result<T, ReError<RemapError>>;

impl Reencode for Remap<'_> {
    type Error = RemapError;

    fn type_index(&mut self, ty: u32) -> ReResult<u32> {
        self.plan
            .type_map
            .get(ty as usize)
            .copied()
            .ok_or(ReError::UserError(RemapError::OutOfRange("type", ty)))
    }

    fn function_index(&mut self, func: u32) -> ReResult<u32> {
        self.plan
            .func_map
            .get(func as usize)
            .copied()
            .ok_or(ReError::UserError(RemapError::OutOfRange("function", func)))
    }

    fn global_index(&mut self, global: u32) -> ReResult<u32> {
        match self.plan.global_map.get(global as usize) {
            Some(GTarget::Out(i)) => Ok(*i),
            Some(GTarget::Const(_)) => Err(ReError::UserError(RemapError::WritesConst(global))),
            None => Err(ReError::UserError(RemapError::OutOfRange("global", global))),
        }
    }

    fn table_index(&mut self, table: u32) -> ReResult<u32> {
        match table {
            0 => Ok(0),
            t => Err(ReError::UserError(RemapError::OutOfRange("table", t))),
        }
    }

    fn memory_index(&mut self, memory: u32) -> ReResult<u32> {
        match memory {
            0 => Ok(0),
            m => Err(ReError::UserError(RemapError::OutOfRange("memory", m))),
        }
    }

    fn data_index(&mut self, data: u32) -> ReResult<u32> {
        Ok(self.plan.data_base + data)
    }

    fn element_index(&mut self, element: u32) -> ReResult<u32> {
        Ok(self.plan.elem_base + element)
    }
}

impl Remap<'_> {
    fn global_const(&self, g: u32) -> Option<ConstVal> {
        match self.plan.global_map.get(g as usize)? {
            GTarget::Const(c) => Some(*c),
            GTarget::Out(_) => None,
        }
    }

    /// A constant expression: folded to one constant when it can be, else re-encoded.
    fn const_expr_folded(&mut self, e: &wasmparser::ConstExpr<'_>) -> ReResult<OutExpr> {
        match eval(e, |g| self.global_const(g)) {
            Some(v) => Ok(v.expr()),
            None => self.const_expr(e.clone()),
        }
    }

    /// One function body, re-encoded; with `strip_eh`, exception handling is removed (see
    /// [`Options::strip_exceptions`]) and `stripped` counts the rewritten instructions.
    fn body(
        &mut self,
        body: &wasmparser::FunctionBody<'_>,
        strip_eh: bool,
        stripped: &mut u32,
    ) -> ReResult<Function> {
        let mut f = self.new_function_with_parsed_locals(body)?;
        let mut reader = body.get_operators_reader()?;
        // Per open block: whether it is a legacy `try` (its handlers are skipped).
        let mut blocks: Vec<bool> = Vec::new();
        while !reader.eof() {
            let op = reader.read()?;
            if let Operator::GlobalGet { global_index } = op
                && let Some(c) = self.global_const(global_index)
            {
                f.instruction(&c.instruction());
                continue;
            }
            if !strip_eh {
                f.instruction(&self.instruction(op)?);
                continue;
            }
            match op {
                Operator::Try { blockty }
                | Operator::TryTable {
                    try_table: wasmparser::TryTable { ty: blockty, .. },
                } => {
                    *stripped += 1;
                    // A `try_table`'s catch clauses only branch out when something throws.
                    blocks.push(matches!(op, Operator::Try { .. }));
                    f.instruction(&Instruction::Block(self.block_type(blockty)?));
                }
                Operator::Block { .. } | Operator::Loop { .. } | Operator::If { .. } => {
                    blocks.push(false);
                    f.instruction(&self.instruction(op)?);
                }
                Operator::End => {
                    blocks.pop();
                    f.instruction(&Instruction::End);
                }
                Operator::Catch { .. } | Operator::CatchAll if blocks.last() == Some(&true) => {
                    // Nothing throws any more: the handlers up to the try's `end` are dead.
                    skip_handlers(&mut reader)?;
                    blocks.pop();
                    f.instruction(&Instruction::End);
                }
                Operator::Delegate { .. } if blocks.last() == Some(&true) => {
                    blocks.pop();
                    f.instruction(&Instruction::End);
                }
                Operator::Throw { .. } | Operator::Rethrow { .. } | Operator::ThrowRef => {
                    *stripped += 1;
                    f.instruction(&Instruction::Unreachable);
                }
                op => {
                    f.instruction(&self.instruction(op)?);
                }
            }
        }
        Ok(f)
    }
}

/// Skips a legacy `try`'s handlers (`catch`/`catch_all` clauses), leaving the reader after the
/// `end` that closes the `try`.
fn skip_handlers(reader: &mut wasmparser::OperatorsReader<'_>) -> ReResult<()> {
    let mut depth = 0u32;
    loop {
        match reader.read()? {
            Operator::Block { .. }
            | Operator::Loop { .. }
            | Operator::If { .. }
            | Operator::Try { .. }
            | Operator::TryTable { .. } => depth += 1,
            // `delegate` closes a nested `try` the way `end` does.
            Operator::End | Operator::Delegate { .. } => {
                if depth == 0 {
                    return Ok(());
                }
                depth -= 1;
            }
            _ => {}
        }
    }
}

fn val_type(t: wasmparser::ValType) -> Result<wasm_encoder::ValType, LinkError> {
    RoundtripReencoder
        .val_type(t)
        .map_err(|e| LinkError::Invalid(format!("value type {t}: {e}")))
}

pub(crate) fn emit(
    mods: &[input::Module<'_>],
    plan: &Plan<'_>,
    opts: &Options,
) -> Result<(Vec<u8>, Report), LinkError> {
    let re_err = |m: &input::Module<'_>, p: &ModulePlan, func: u32, e: ReError<RemapError>| match e
    {
        ReError::UserError(RemapError::WritesConst(g)) => LinkError::WritesConstGlobal {
            input: m.name.to_string(),
            function: m
                .func_names
                .iter()
                .find(|(i, _)| *i == func)
                .map_or_else(|| format!("#{func}"), |(_, n)| n.to_string()),
            global: p
                .global_import_names
                .get(g as usize)
                .cloned()
                .unwrap_or_else(|| format!("#{g}")),
        },
        ReError::UserError(RemapError::OutOfRange(what, i)) => LinkError::Reencode {
            input: m.name.to_string(),
            message: format!("{what} index {i} out of range"),
        },
        e => LinkError::Reencode {
            input: m.name.to_string(),
            message: match e {
                ReError::ParseError(p) => p.to_string(),
                other => format!("{other:?}"),
            },
        },
    };

    let mut types = TypeSection::new();
    for t in &plan.types {
        let params = t
            .params()
            .iter()
            .map(|&v| val_type(v))
            .collect::<Result<Vec<_>, _>>()?;
        let results = t
            .results()
            .iter()
            .map(|&v| val_type(v))
            .collect::<Result<Vec<_>, _>>()?;
        types.ty().function(params, results);
    }

    let mut imports = ImportSection::new();
    for k in &plan.kept_funcs {
        imports.import(k.module, k.field, EntityType::Function(k.ty));
    }
    for k in &plan.kept_globals {
        let ty = RoundtripReencoder
            .global_type(k.ty)
            .map_err(|e| LinkError::Invalid(e.to_string()))?;
        imports.import(k.module, k.field, EntityType::Global(ty));
    }

    // Function and code sections: stubs, every module's functions, then the generated ones.
    let mut functions = FunctionSection::new();
    let mut code = CodeSection::new();
    let mut names: Vec<(u32, Cow<'_, str>)> = Vec::new();
    for (i, k) in plan.kept_funcs.iter().enumerate() {
        let name = k
            .name
            .map(Cow::Borrowed)
            .unwrap_or_else(|| format!("{}.{}", k.module, k.field).into());
        names.push((i as u32, name));
    }
    for ((sym, ty), &idx) in plan.stubs.iter().zip(&plan.stub_index) {
        if idx == DEAD {
            continue;
        }
        functions.function(*ty);
        let mut f = Function::new([]);
        f.instruction(&Instruction::Unreachable)
            .instruction(&Instruction::End);
        code.function(&f);
        names.push((idx, format!("undefined:{sym}").into()));
    }
    let mut exceptions_stripped = Vec::new();
    for (m, p) in mods.iter().zip(&plan.modules) {
        let mut stripped = 0u32;
        let mut remap = Remap {
            plan: p,
            current_func: 0,
        };
        let nimp = m.num_func_imports();
        for (i, (&ty, body)) in m.funcs.iter().zip(&m.bodies).enumerate() {
            if p.func_map[(nimp as usize) + i] == DEAD {
                continue;
            }
            functions.function(p.type_map[ty as usize]);
            remap.current_func = nimp + i as u32;
            let f = remap
                .body(body, opts.strip_exceptions, &mut stripped)
                .map_err(|e| re_err(m, p, remap.current_func, e))?;
            code.function(&f);
        }
        if stripped > 0 {
            exceptions_stripped.push((m.name.to_string(), stripped));
        }
        for &(idx, name) in &m.func_names {
            if idx >= nimp
                && let Some(&out) = p.func_map.get(idx as usize)
                && out != DEAD
            {
                names.push((out, Cow::Borrowed(name)));
            }
        }
    }
    let call_all = |calls: &[u32]| {
        let mut f = Function::new([]);
        for &c in calls {
            f.instruction(&Instruction::Call(c));
        }
        f.instruction(&Instruction::End);
        f
    };
    functions.function(plan.void_type);
    code.function(&call_all(&plan.init_calls));
    names.push((plan.init_func, "_initialize".into()));
    if let Some((idx, calls)) = &plan.start {
        functions.function(plan.void_type);
        code.function(&call_all(calls));
        names.push((*idx, "__wasmlink_start".into()));
    }

    let mut tables = TableSection::new();
    tables.table(TableType {
        element_type: RefType::FUNCREF,
        table64: false,
        minimum: u64::from(plan.table_size),
        maximum: None,
        shared: false,
    });
    let mut memories = MemorySection::new();
    memories.memory(MemoryType {
        minimum: u64::from(plan.memory_pages),
        maximum: None,
        memory64: false,
        shared: false,
        page_size_log2: None,
    });

    // Globals: constants where the plan could fold them, otherwise re-encoded expressions.
    let mut globals = GlobalSection::new();
    let mut global_names = NameMap::new();
    let globals_base = plan.kept_globals.len() as u32;
    for (i, g) in plan.globals.iter().enumerate() {
        let ty = RoundtripReencoder
            .global_type(g.ty)
            .map_err(|e| LinkError::Invalid(e.to_string()))?;
        let init = match &g.init {
            GInit::Const(c) => c.expr(),
            GInit::Expr { module, index } => {
                let (m, p) = (&mods[*module], &plan.modules[*module]);
                let expr = &m.globals[*index as usize].1;
                Remap {
                    plan: p,
                    current_func: 0,
                }
                .const_expr_folded(expr)
                .map_err(|e| re_err(m, p, 0, e))?
            }
        };
        globals.global(ty, &init);
        if let Some(n) = &g.name {
            global_names.append(globals_base + i as u32, n);
        }
    }

    // Exports: exactly the requested ones, in the requested order.
    let mut exports = ExportSection::new();
    let mut extra_globals: Vec<(ConstVal, &str)> = Vec::new();
    let mut seen: Vec<&str> = Vec::new();
    for name in &opts.keep_exports {
        if seen.contains(&name.as_str()) {
            continue;
        }
        seen.push(name);
        let (kind, index) = match name.as_str() {
            "memory" => (ExportKind::Memory, 0),
            "_initialize" => (ExportKind::Func, plan.init_func),
            "__indirect_function_table" => (ExportKind::Table, 0),
            _ => {
                let found = mods.iter().zip(&plan.modules).find_map(|(m, p)| {
                    let e = m.exports.iter().find(|e| e.name == name)?;
                    match e.kind {
                        ExternalKind::Func => {
                            Some(Ok((ExportKind::Func, *p.func_map.get(e.index as usize)?)))
                        }
                        ExternalKind::Global => {
                            Some(Ok(match *p.global_map.get(e.index as usize)? {
                                GTarget::Out(i) => (ExportKind::Global, i),
                                GTarget::Const(c) => {
                                    // A data symbol's global holds an offset from its module's
                                    // memory base; the linked module exports the address.
                                    let c = match plan.datas.get(name.as_str()) {
                                        Some(&abs) => ConstVal::I32(abs as i32),
                                        None => c,
                                    };
                                    extra_globals.push((c, name));
                                    (
                                        ExportKind::Global,
                                        globals_base
                                            + plan.globals.len() as u32
                                            + extra_globals.len() as u32
                                            - 1,
                                    )
                                }
                            }))
                        }
                        _ => Some(Err(LinkError::Unsupported {
                            input: m.name.to_string(),
                            what: format!("exporting `{name}`, which is not a function or global"),
                        })),
                    }
                });
                found.ok_or_else(|| LinkError::MissingExport(name.clone()))??
            }
        };
        exports.export(name, kind, index);
    }
    for (i, (c, name)) in extra_globals.iter().enumerate() {
        let val_type = match c {
            ConstVal::I32(_) => wasm_encoder::ValType::I32,
            ConstVal::I64(_) => wasm_encoder::ValType::I64,
            ConstVal::F32(_) => wasm_encoder::ValType::F32,
            ConstVal::F64(_) => wasm_encoder::ValType::F64,
        };
        let ty = wasm_encoder::GlobalType {
            val_type,
            mutable: false,
            shared: false,
        };
        global_names.append(globals_base + (plan.globals.len() + i) as u32, name);
        globals.global(ty, &c.expr());
    }

    // Element segments: each module's (offsets rebased), then the GOT.func slots.
    let mut elements = ElementSection::new();
    for (m, p) in mods.iter().zip(&plan.modules) {
        let mut remap = Remap {
            plan: p,
            current_func: 0,
        };
        for e in &m.elements {
            let items = element_items(&mut remap, &e.items).map_err(|err| re_err(m, p, 0, err))?;
            match &e.kind {
                ElementKind::Active {
                    table_index,
                    offset_expr,
                } => {
                    remap
                        .table_index(table_index.unwrap_or(0))
                        .map_err(|err| re_err(m, p, 0, err))?;
                    let offset = remap
                        .const_expr_folded(offset_expr)
                        .map_err(|err| re_err(m, p, 0, err))?;
                    elements.active(None, &offset, items);
                }
                ElementKind::Passive => {
                    elements.passive(items);
                }
                ElementKind::Declared => {
                    elements.declared(items);
                }
            }
        }
    }
    if !plan.got_func_slots.is_empty() {
        elements.active(
            None,
            &OutExpr::i32_const(plan.got_func_base as i32),
            Elements::Functions(Cow::Borrowed(&plan.got_func_slots)),
        );
    }

    let mut data = DataSection::new();
    for (m, p) in mods.iter().zip(&plan.modules) {
        let mut remap = Remap {
            plan: p,
            current_func: 0,
        };
        for d in &m.data {
            match &d.kind {
                DataKind::Active {
                    memory_index,
                    offset_expr,
                } => {
                    remap
                        .memory_index(*memory_index)
                        .map_err(|err| re_err(m, p, 0, err))?;
                    let offset = remap
                        .const_expr_folded(offset_expr)
                        .map_err(|err| re_err(m, p, 0, err))?;
                    data.active(0, &offset, d.data.iter().copied());
                }
                DataKind::Passive => {
                    data.passive(d.data.iter().copied());
                }
            }
        }
    }

    names.sort_by_key(|(i, _)| *i);
    let mut func_names = NameMap::new();
    for (i, n) in &names {
        func_names.append(*i, n);
    }
    let mut name_section = NameSection::new();
    name_section.functions(&func_names);
    name_section.globals(&global_names);

    let mut module = Module::new();
    module.section(&types);
    module.section(&imports);
    module.section(&functions);
    module.section(&tables);
    module.section(&memories);
    module.section(&globals);
    module.section(&exports);
    if let Some((idx, _)) = &plan.start {
        module.section(&StartSection {
            function_index: *idx,
        });
    }
    module.section(&elements);
    if mods.iter().any(|m| m.has_data_count) {
        module.section(&DataCountSection { count: data.len() });
    }
    module.section(&code);
    module.section(&data);
    module.section(&name_section);

    let report = Report {
        placements: mods
            .iter()
            .zip(&plan.modules)
            .map(|(m, p)| Placement {
                name: m.name.to_string(),
                memory_base: p.memory_base,
                memory_size: m.mem.memory_size,
                table_base: p.table_base,
                table_size: m.mem.table_size,
                functions: m.funcs.len() as u32,
            })
            .collect(),
        heap_base: plan.heap_base,
        memory_pages: plan.memory_pages,
        table_size: plan.table_size,
        got_mem: plan.got_mem,
        got_func: plan.got_func_slots.len(),
        imports: plan.kept_funcs.len() + plan.kept_globals.len(),
        functions: plan.num_funcs,
        trap_stubs: plan.stubs.iter().map(|(s, _)| s.clone()).collect(),
        removed_functions: plan.removed_funcs,
        dropped_starts: plan.dropped_starts.clone(),
        exceptions_stripped,
        first_page_end_patched: plan.first_page_end_patched.clone(),
        size: 0,
    };
    Ok((module.finish(), report))
}

/// Element items with function indices remapped: plain indices when every item is a
/// `ref.func` (the MVP encoding, no reference types needed), else expressions.
fn element_items<'a>(remap: &mut Remap<'_>, items: &ElementItems<'a>) -> ReResult<Elements<'a>> {
    match items {
        ElementItems::Functions(r) => {
            let mut out = Vec::new();
            for f in r.clone() {
                out.push(remap.function_index(f?)?);
            }
            Ok(Elements::Functions(Cow::Owned(out)))
        }
        ElementItems::Expressions(ty, r) => {
            let mut funcs = Vec::new();
            let mut exprs = Vec::new();
            let mut all_funcs = true;
            for e in r.clone() {
                let e = e?;
                let mut ops = e.get_operators_reader();
                match (ops.read()?, ops.read()?) {
                    (Operator::RefFunc { function_index }, Operator::End) => {
                        funcs.push(remap.function_index(function_index)?)
                    }
                    _ => all_funcs = false,
                }
                exprs.push(remap.const_expr(e)?);
            }
            if all_funcs && *ty == wasmparser::RefType::FUNCREF {
                Ok(Elements::Functions(Cow::Owned(funcs)))
            } else {
                Ok(Elements::Expressions(
                    remap.ref_type(*ty)?,
                    Cow::Owned(exprs),
                ))
            }
        }
    }
}
