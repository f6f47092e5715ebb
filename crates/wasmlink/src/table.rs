//! A generated `dylink.0` module that tells a program which extension modules were linked in:
//! the stand-in for a dynamic loader's file system. pywrangler's guest implements `dlopen` and
//! `dlsym` over it.

use wasm_encoder::{
    CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection, Function,
    FunctionSection, GlobalType, ImportSection, Instruction, Module, TypeSection, ValType,
};

use crate::MemInfo;
use crate::side::{BASE, dylink_section, import_memory};

/// One linked extension module.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtEntry {
    /// How a `dlopen` path ends for this module, e.g. `msgpack/_cmsgpack.cpython-314-wasm32-emscripten.so`.
    pub path: String,
    /// Its init function's symbol, e.g. `PyInit__cmsgpack` (some input must define it).
    pub init: String,
}

/// A shared library to link after the modules `entries` name, exporting
/// `__pw_ext_count() -> i32`, `__pw_ext_path(i32) -> i32` (the address of entry i's path, a
/// NUL-terminated string; 0 when out of range) and `__pw_ext_init(i32) -> i32` (a function
/// pointer to entry i's init function, through `GOT.func`; 0 when out of range).
pub fn ext_table(entries: &[ExtEntry]) -> Vec<u8> {
    let mut strings = Vec::new();
    let mut offsets = Vec::new();
    for e in entries {
        offsets.push(strings.len() as i32);
        strings.extend_from_slice(e.path.as_bytes());
        strings.push(0);
    }

    let mut module = Module::new();
    let mem = MemInfo {
        memory_size: strings.len() as u32,
        ..MemInfo::default()
    };
    module.section(&dylink_section(mem, &[]));

    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    module.section(&types);

    let mut imports = ImportSection::new();
    import_memory(&mut imports);
    imports.import("env", "__memory_base", EntityType::Global(BASE));
    for e in entries {
        let got = GlobalType {
            mutable: true,
            ..BASE
        };
        imports.import("GOT.func", &e.init, EntityType::Global(got));
    }
    module.section(&imports);

    let mut functions = FunctionSection::new();
    functions.function(0).function(1).function(1);
    module.section(&functions);

    let mut exports = ExportSection::new();
    exports.export("__pw_ext_count", ExportKind::Func, 0);
    exports.export("__pw_ext_path", ExportKind::Func, 1);
    exports.export("__pw_ext_init", ExportKind::Func, 2);
    module.section(&exports);

    let memory_base = 0;
    let mut code = CodeSection::new();
    let mut count = Function::new([]);
    count
        .instruction(&Instruction::I32Const(entries.len() as i32))
        .instruction(&Instruction::End);
    code.function(&count);
    // Both lookups: `if (i == k) return <value k>;` for each entry, else 0.
    let lookup = |value: &dyn Fn(usize, &mut Function)| {
        let mut f = Function::new([]);
        for k in 0..entries.len() {
            f.instruction(&Instruction::LocalGet(0))
                .instruction(&Instruction::I32Const(k as i32))
                .instruction(&Instruction::I32Eq)
                .instruction(&Instruction::If(wasm_encoder::BlockType::Empty));
            value(k, &mut f);
            f.instruction(&Instruction::Return)
                .instruction(&Instruction::End);
        }
        f.instruction(&Instruction::I32Const(0))
            .instruction(&Instruction::End);
        f
    };
    code.function(&lookup(&|k, f| {
        f.instruction(&Instruction::GlobalGet(memory_base))
            .instruction(&Instruction::I32Const(offsets[k]))
            .instruction(&Instruction::I32Add);
    }));
    code.function(&lookup(&|k, f| {
        f.instruction(&Instruction::GlobalGet(1 + k as u32));
    }));
    module.section(&code);

    if !strings.is_empty() {
        let mut data = DataSection::new();
        data.active(0, &ConstExpr::global_get(memory_base), strings);
        module.section(&data);
    }
    module.finish()
}
