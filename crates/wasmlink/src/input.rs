//! One input shared library, parsed once into the pieces the linker needs. Everything borrows
//! the input bytes, so code bodies are read only when they are re-encoded.

use wasmparser::{
    CompositeInnerType, ConstExpr, Data, Dylink0Subsection, Element, Export, FuncType,
    FunctionBody, GlobalType, KnownCustom, Name, Parser, Payload, TypeRef,
};

use crate::LinkError;

/// `dylink.0` memory info: how much memory and table a side module needs, and their alignments.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MemInfo {
    /// Bytes of data, placed at the module's `__memory_base`.
    pub memory_size: u32,
    /// Their alignment, as a power of two.
    pub memory_align: u32,
    /// Table slots, placed at the module's `__table_base`.
    pub table_size: u32,
    /// Their alignment, as a power of two.
    pub table_align: u32,
}

/// What an import asks for.
#[derive(Debug, Clone, Copy)]
pub(crate) enum ImportKind {
    Func(u32),
    Global(GlobalType),
    Memory,
    Table,
}

#[derive(Debug, Clone)]
pub(crate) struct Import<'a> {
    pub module: &'a str,
    pub field: &'a str,
    pub kind: ImportKind,
    pub weak: bool,
}

pub(crate) struct Module<'a> {
    pub name: &'a str,
    /// [`crate::Input::abi_prefix`].
    pub abi_prefix: Option<&'a str>,
    pub mem: MemInfo,
    pub types: Vec<FuncType>,
    /// Function imports, in function index order.
    pub func_imports: Vec<Import<'a>>,
    /// Global imports, in global index order.
    pub global_imports: Vec<Import<'a>>,
    /// Type index of each defined function.
    pub funcs: Vec<u32>,
    pub globals: Vec<(GlobalType, ConstExpr<'a>)>,
    pub exports: Vec<Export<'a>>,
    pub start: Option<u32>,
    pub elements: Vec<Element<'a>>,
    pub data: Vec<Data<'a>>,
    pub has_data_count: bool,
    pub bodies: Vec<FunctionBody<'a>>,
    /// Function names from the `name` section, by function index.
    pub func_names: Vec<(u32, &'a str)>,
    /// Global names from the `name` section, by global index.
    pub global_names: std::collections::HashMap<u32, &'a str>,
}

impl<'a> Module<'a> {
    /// Parse one input; `strip_exceptions`: accept exception tags (they are dropped).
    pub fn parse(
        name: &'a str,
        bytes: &'a [u8],
        abi_prefix: Option<&'a str>,
        strip_exceptions: bool,
    ) -> Result<Self, LinkError> {
        let perr = |source| LinkError::Parse {
            input: name.to_string(),
            source,
        };
        let unsupported = |what: String| LinkError::Unsupported {
            input: name.to_string(),
            what,
        };
        let mut m = Module {
            name,
            abi_prefix,
            mem: MemInfo::default(),
            types: Vec::new(),
            func_imports: Vec::new(),
            global_imports: Vec::new(),
            funcs: Vec::new(),
            globals: Vec::new(),
            exports: Vec::new(),
            start: None,
            elements: Vec::new(),
            data: Vec::new(),
            has_data_count: false,
            bodies: Vec::new(),
            func_names: Vec::new(),
            global_names: std::collections::HashMap::new(),
        };
        let mut dylink = false;
        let mut weak = std::collections::HashSet::new();
        for payload in Parser::new(0).parse_all(bytes) {
            match payload.map_err(perr)? {
                Payload::TypeSection(r) => {
                    for group in r {
                        let group = group.map_err(perr)?;
                        if group.is_explicit_rec_group() {
                            return Err(unsupported("GC recursive type groups".into()));
                        }
                        for sub in group.into_types() {
                            match sub.composite_type.inner {
                                CompositeInnerType::Func(f)
                                    if sub.is_final
                                        && sub.supertype_idx.is_none()
                                        && !sub.composite_type.shared =>
                                {
                                    m.types.push(f)
                                }
                                _ => return Err(unsupported("non-function (GC) types".into())),
                            }
                        }
                    }
                }
                Payload::ImportSection(r) => {
                    for imp in r.into_imports() {
                        let imp = imp.map_err(perr)?;
                        let kind = match imp.ty {
                            TypeRef::Func(t) | TypeRef::FuncExact(t) => ImportKind::Func(t),
                            TypeRef::Global(g) => ImportKind::Global(g),
                            TypeRef::Memory(mt) => {
                                if mt.memory64 || mt.shared {
                                    return Err(unsupported(format!(
                                        "memory import `{}.{}` is 64-bit or shared",
                                        imp.module, imp.name
                                    )));
                                }
                                ImportKind::Memory
                            }
                            TypeRef::Table(_) => ImportKind::Table,
                            TypeRef::Tag(_) if strip_exceptions => continue,
                            TypeRef::Tag(_) => {
                                return Err(unsupported(format!(
                                    "exception tag import `{}.{}` (uses wasm exception handling; link with exceptions stripped)",
                                    imp.module, imp.name
                                )));
                            }
                        };
                        let i = Import {
                            module: imp.module,
                            field: imp.name,
                            kind,
                            weak: false,
                        };
                        match kind {
                            ImportKind::Func(_) => m.func_imports.push(i),
                            ImportKind::Global(_) => m.global_imports.push(i),
                            ImportKind::Memory | ImportKind::Table => {
                                // Only the single shared memory and table are meaningful.
                                let ok = imp.module == "env"
                                    && matches!(
                                        (kind, imp.name),
                                        (ImportKind::Memory, "memory")
                                            | (ImportKind::Table, "__indirect_function_table")
                                    );
                                if !ok {
                                    return Err(unsupported(format!(
                                        "import `{}.{}`: only `env.memory` and `env.__indirect_function_table` are linked",
                                        imp.module, imp.name
                                    )));
                                }
                            }
                        }
                    }
                }
                Payload::FunctionSection(r) => {
                    for t in r {
                        m.funcs.push(t.map_err(perr)?);
                    }
                }
                Payload::TableSection(r) if r.count() > 0 => {
                    return Err(unsupported("defines its own table".into()));
                }
                Payload::MemorySection(r) if r.count() > 0 => {
                    return Err(unsupported("defines its own memory".into()));
                }
                Payload::TagSection(r) if r.count() > 0 && !strip_exceptions => {
                    return Err(unsupported(
                        "defines exception tags (uses wasm exception handling; link with exceptions stripped)".into(),
                    ));
                }
                Payload::GlobalSection(r) => {
                    for g in r {
                        let g = g.map_err(perr)?;
                        m.globals.push((g.ty, g.init_expr));
                    }
                }
                Payload::ExportSection(r) => {
                    for e in r {
                        m.exports.push(e.map_err(perr)?);
                    }
                }
                Payload::StartSection { func, .. } => m.start = Some(func),
                Payload::ElementSection(r) => {
                    for e in r {
                        m.elements.push(e.map_err(perr)?);
                    }
                }
                Payload::DataCountSection { .. } => m.has_data_count = true,
                Payload::DataSection(r) => {
                    for d in r {
                        m.data.push(d.map_err(perr)?);
                    }
                }
                Payload::CodeSectionEntry(body) => m.bodies.push(body),
                Payload::CustomSection(c) => match c.as_known() {
                    KnownCustom::Dylink0(r) => {
                        dylink = true;
                        for sub in r {
                            match sub.map_err(perr)? {
                                Dylink0Subsection::MemInfo(i) => {
                                    m.mem = MemInfo {
                                        memory_size: i.memory_size,
                                        memory_align: i.memory_alignment,
                                        table_size: i.table_size,
                                        table_align: i.table_alignment,
                                    }
                                }
                                Dylink0Subsection::ImportInfo(infos) => {
                                    for i in infos {
                                        if i.flags.contains(wasmparser::SymbolFlags::BINDING_WEAK) {
                                            weak.insert((i.module, i.field));
                                        }
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    KnownCustom::Name(r) => {
                        for sub in r {
                            match sub.map_err(perr)? {
                                Name::Function(map) => {
                                    for n in map {
                                        let n = n.map_err(perr)?;
                                        m.func_names.push((n.index, n.name));
                                    }
                                }
                                Name::Global(map) => {
                                    for n in map {
                                        let n = n.map_err(perr)?;
                                        m.global_names.insert(n.index, n.name);
                                    }
                                }
                                _ => {}
                            }
                        }
                    }
                    _ => {}
                },
                Payload::ModuleSection { .. } | Payload::ComponentSection { .. } => {
                    return Err(unsupported("a component, not a core module".into()));
                }
                _ => {}
            }
        }
        if !dylink {
            return Err(LinkError::NotShared {
                input: name.to_string(),
            });
        }
        if m.bodies.len() != m.funcs.len() {
            return Err(unsupported(format!(
                "{} function declarations but {} bodies",
                m.funcs.len(),
                m.bodies.len()
            )));
        }
        for i in m.func_imports.iter_mut().chain(m.global_imports.iter_mut()) {
            i.weak = weak.contains(&(i.module, i.field));
        }
        for &t in m.funcs.iter() {
            if t as usize >= m.types.len() {
                return Err(unsupported(format!("function type index {t} out of range")));
            }
        }
        for i in &m.func_imports {
            if let ImportKind::Func(t) = i.kind
                && t as usize >= m.types.len()
            {
                return Err(unsupported(format!(
                    "import `{}.{}` has type index {t} out of range",
                    i.module, i.field
                )));
            }
        }
        Ok(m)
    }

    pub fn num_func_imports(&self) -> u32 {
        self.func_imports.len() as u32
    }

    pub fn num_global_imports(&self) -> u32 {
        self.global_imports.len() as u32
    }

    /// The type of function `idx` (imported or defined).
    pub fn func_type(&self, idx: u32) -> Option<&FuncType> {
        let n = self.num_func_imports();
        let t = if idx < n {
            match self.func_imports[idx as usize].kind {
                ImportKind::Func(t) => t,
                _ => return None,
            }
        } else {
            *self.funcs.get((idx - n) as usize)?
        };
        self.types.get(t as usize)
    }
}

/// The shared libraries a `dylink.0` module names as needed (e.g. `libopenblas.so`), which a
/// dynamic loader would load first; empty for a module that is not a shared library.
pub fn needed_libraries(bytes: &[u8]) -> Result<Vec<String>, wasmparser::BinaryReaderError> {
    for payload in Parser::new(0).parse_all(bytes) {
        if let Payload::CustomSection(c) = payload?
            && let KnownCustom::Dylink0(r) = c.as_known()
        {
            let mut out = Vec::new();
            for sub in r {
                if let Dylink0Subsection::Needed(libs) = sub? {
                    out.extend(libs.iter().map(|l| l.to_string()));
                }
            }
            return Ok(out);
        }
    }
    Ok(Vec::new())
}
