//! Test fixtures: a builder for PIC modules shaped like `wasm-ld --shared --experimental-pic`
//! output (with a `dylink.0` section), and a wasmtime runner for the linked result.

use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, ElementSection, Elements, Encode, EntityType, ExportKind,
    ExportSection, Function, FunctionSection, GlobalSection, GlobalType, ImportSection,
    Instruction as I, MemArg, NameMap, NameSection, StartSection, TypeSection, ValType,
};

use crate::Input;

pub(super) const I32: ValType = ValType::I32;

/// A PIC module under construction. Imports `env.memory`, `env.__indirect_function_table`,
/// `env.__memory_base` (global 0) and `env.__table_base` (global 1) up front, like wasm-ld does.
pub(super) struct Pic {
    name: &'static str,
    mem: [u32; 4],
    weak: Vec<(&'static str, &'static str)>,
    types: TypeSection,
    ntypes: u32,
    imports: ImportSection,
    nfi: u32,
    ngi: u32,
    funcs: FunctionSection,
    code: CodeSection,
    nf: u32,
    globals: GlobalSection,
    ng: u32,
    exports: ExportSection,
    elements: ElementSection,
    data: DataSection,
    data_count: bool,
    pub(super) start: Option<u32>,
    fnames: NameMap,
    gnames: NameMap,
    pub(super) tags: bool,
    /// Imports `env.__cpp_exception` as tag 0 (type 0), as Emscripten's Rust/C++ modules do.
    pub(super) tag_import: bool,
}

pub(super) const MB: u32 = 0;
pub(super) const TB: u32 = 1;

impl Pic {
    /// `mem` = [memory size, memory align (log2), table size, table align (log2)].
    pub(super) fn new(name: &'static str, mem: [u32; 4]) -> Self {
        let mut p = Pic {
            name,
            mem,
            weak: Vec::new(),
            types: TypeSection::new(),
            ntypes: 0,
            imports: ImportSection::new(),
            nfi: 0,
            ngi: 0,
            funcs: FunctionSection::new(),
            code: CodeSection::new(),
            nf: 0,
            globals: GlobalSection::new(),
            ng: 0,
            exports: ExportSection::new(),
            elements: ElementSection::new(),
            data: DataSection::new(),
            data_count: false,
            start: None,
            fnames: NameMap::new(),
            gnames: NameMap::new(),
            tags: false,
            tag_import: false,
        };
        crate::import_side_module_env(&mut p.imports, mem[2]);
        p.ngi = 2; // __memory_base (MB) and __table_base (TB)
        p
    }

    pub(super) fn ty(&mut self, params: &[ValType], results: &[ValType]) -> u32 {
        self.types
            .ty()
            .function(params.iter().copied(), results.iter().copied());
        self.ntypes += 1;
        self.ntypes - 1
    }

    pub(super) fn import_func(
        &mut self,
        module: &str,
        field: &str,
        params: &[ValType],
        results: &[ValType],
    ) -> u32 {
        assert_eq!(self.nf, 0, "imports before definitions");
        let t = self.ty(params, results);
        self.imports.import(module, field, EntityType::Function(t));
        self.nfi += 1;
        self.nfi - 1
    }

    pub(super) fn import_global(&mut self, module: &str, field: &str, mutable: bool) -> u32 {
        assert_eq!(self.ng, 0, "imports before definitions");
        self.imports.import(
            module,
            field,
            GlobalType {
                val_type: I32,
                mutable,
                shared: false,
            },
        );
        self.ngi += 1;
        self.ngi - 1
    }

    pub(super) fn weak(&mut self, module: &'static str, field: &'static str) {
        self.weak.push((module, field));
    }

    /// A defined function; `End` is appended.
    pub(super) fn func(
        &mut self,
        name: &str,
        params: &[ValType],
        results: &[ValType],
        body: &[I<'_>],
    ) -> u32 {
        let t = self.ty(params, results);
        self.funcs.function(t);
        let mut f = Function::new([]);
        for i in body {
            f.instruction(i);
        }
        f.instruction(&I::End);
        self.code.function(&f);
        let idx = self.nfi + self.nf;
        self.fnames.append(idx, name);
        self.nf += 1;
        idx
    }

    /// A defined function, exported under its name.
    pub(super) fn export_func(
        &mut self,
        name: &str,
        params: &[ValType],
        results: &[ValType],
        body: &[I<'_>],
    ) -> u32 {
        let idx = self.func(name, params, results, body);
        self.exports.export(name, ExportKind::Func, idx);
        idx
    }

    pub(super) fn global(&mut self, name: &str, mutable: bool, init: &ConstExpr) -> u32 {
        self.globals.global(
            GlobalType {
                val_type: I32,
                mutable,
                shared: false,
            },
            init,
        );
        let idx = self.ngi + self.ng;
        self.gnames.append(idx, name);
        self.ng += 1;
        idx
    }

    /// An exported data symbol at `offset` from this module's memory base.
    pub(super) fn data_symbol(&mut self, name: &str, offset: i32) {
        let g = self.global(name, false, &ConstExpr::i32_const(offset));
        self.exports.export(name, ExportKind::Global, g);
    }

    pub(super) fn elem_at_base(&mut self, funcs: &[u32]) {
        self.elements.active(
            None,
            &ConstExpr::global_get(TB),
            Elements::Functions(funcs.to_vec().into()),
        );
    }

    pub(super) fn data_at_base(&mut self, offset: i32, bytes: &[u8]) {
        let at = ConstExpr::extended([I::GlobalGet(MB), I::I32Const(offset), I::I32Add]);
        self.data.active(0, &at, bytes.iter().copied());
    }

    pub(super) fn passive_data(&mut self, bytes: &[u8]) {
        self.data.passive(bytes.iter().copied());
        self.data_count = true;
    }

    pub(super) fn finish(self) -> Input {
        let mut more = Vec::new();
        if !self.weak.is_empty() {
            let mut info = Vec::new();
            (self.weak.len() as u32).encode(&mut info);
            for (m, f) in &self.weak {
                m.encode(&mut info);
                f.encode(&mut info);
                1u32.encode(&mut info);
            }
            more.push(4u8); // WASM_DYLINK_IMPORT_INFO
            info.encode(&mut more);
        }
        let [memory_size, memory_align, table_size, table_align] = self.mem;
        let mem = crate::MemInfo {
            memory_size,
            memory_align,
            table_size,
            table_align,
        };
        let mut m = wasm_encoder::Module::new();
        m.section(&crate::dylink_section(mem, &more));
        m.section(&self.types);
        let mut imports = self.imports;
        if self.tag_import {
            imports.import(
                "env",
                "__cpp_exception",
                wasm_encoder::TagType {
                    kind: wasm_encoder::TagKind::Exception,
                    func_type_idx: 0,
                },
            );
        }
        m.section(&imports);
        m.section(&self.funcs);
        if self.tags {
            let mut tags = wasm_encoder::TagSection::new();
            tags.tag(wasm_encoder::TagType {
                kind: wasm_encoder::TagKind::Exception,
                func_type_idx: 0,
            });
            m.section(&tags);
        }
        m.section(&self.globals);
        m.section(&self.exports);
        if let Some(s) = self.start {
            m.section(&StartSection { function_index: s });
        }
        m.section(&self.elements);
        if self.data_count {
            m.section(&wasm_encoder::DataCountSection {
                count: self.data.len(),
            });
        }
        m.section(&self.code);
        m.section(&self.data);
        let mut names = NameSection::new();
        names.functions(&self.fnames);
        names.globals(&self.gnames);
        m.section(&names);
        let bytes = m.finish();
        let features =
            wasmparser::WasmFeatures::default() | wasmparser::WasmFeatures::LEGACY_EXCEPTIONS;
        wasmparser::Validator::new_with_features(features)
            .validate_all(&bytes)
            .expect("test input validates");
        Input::new(self.name, bytes)
    }
}

/// `mem[addr] = mem[addr] * 10 + id`: appends a digit to a log of who ran in which order.
pub(super) fn log_digit(addr: &[I<'static>], id: i32) -> Vec<I<'static>> {
    let m = MemArg {
        offset: 0,
        align: 2,
        memory_index: 0,
    };
    let mut v = addr.to_vec();
    v.extend(addr.iter().cloned());
    v.extend([
        I::I32Load(m),
        I::I32Const(10),
        I::I32Mul,
        I::I32Const(id),
        I::I32Add,
        I::I32Store(m),
    ]);
    v
}

pub(super) struct Run {
    pub(super) store: wasmtime::Store<()>,
    pub(super) instance: wasmtime::Instance,
}

impl Run {
    pub(super) fn new(wasm: &[u8]) -> Self {
        let engine = wasmtime::Engine::default();
        let module = wasmtime::Module::new(&engine, wasm).expect("compiles");
        let mut linker = wasmtime::Linker::new(&engine);
        linker
            .define_unknown_imports_as_traps(&module)
            .expect("trap imports");
        let mut store = wasmtime::Store::new(&engine, ());
        let instance = linker
            .instantiate(&mut store, &module)
            .expect("instantiates");
        Run { store, instance }
    }

    pub(super) fn call(&mut self, name: &str) -> i32 {
        self.try_call(name)
            .unwrap_or_else(|e| panic!("{name}: {e:?}"))
    }

    pub(super) fn try_call(&mut self, name: &str) -> wasmtime::Result<i32> {
        let f = self
            .instance
            .get_typed_func::<(), i32>(&mut self.store, name)?;
        f.call(&mut self.store, ())
    }

    pub(super) fn init(&mut self) {
        let f = self
            .instance
            .get_typed_func::<(), ()>(&mut self.store, "_initialize")
            .expect("_initialize");
        f.call(&mut self.store, ()).expect("_initialize runs");
    }

    pub(super) fn mem(&mut self, addr: usize, len: usize) -> Vec<u8> {
        let m = self
            .instance
            .get_memory(&mut self.store, "memory")
            .expect("memory export");
        m.data(&self.store)[addr..addr + len].to_vec()
    }

    pub(super) fn mem_u32(&mut self, addr: usize) -> u32 {
        let b = self.mem(addr, 4);
        u32::from_le_bytes([b[0], b[1], b[2], b[3]])
    }
}
