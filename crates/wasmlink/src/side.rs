//! Writing the fixed head of a `dylink.0` side module, as `wasm-ld --shared
//! --experimental-pic` lays it out: the `dylink.0` section and the `env` imports every side
//! module starts with. [`crate::ext_table`] writes its module with these, and tests build
//! hand-made extension modules (probes, a panicking module) with them.

use std::borrow::Cow;

use wasm_encoder::{
    CustomSection, Encode, EntityType, GlobalType, ImportSection, MemoryType, RefType, TableType,
    ValType,
};

use crate::MemInfo;

/// `WASM_DYLINK_MEM_INFO`, the subsection the linker reads a module's needs from.
const MEM_INFO: u8 = 1;

/// The `dylink.0` custom section: `mem` as its `WASM_DYLINK_MEM_INFO` subsection, then `more`
/// (further subsections, already encoded; empty for most modules).
pub fn dylink_section(mem: MemInfo, more: &[u8]) -> CustomSection<'static> {
    let mut info = Vec::new();
    for v in [
        mem.memory_size,
        mem.memory_align,
        mem.table_size,
        mem.table_align,
    ] {
        v.encode(&mut info);
    }
    let mut data = vec![MEM_INFO];
    info.encode(&mut data);
    data.extend_from_slice(more);
    CustomSection {
        name: Cow::Borrowed("dylink.0"),
        data: Cow::Owned(data),
    }
}

/// Imports what every side module imports first, in wasm-ld's order: `env.memory`,
/// `env.__indirect_function_table` (at least `table_size` slots), and the immutable i32
/// globals `env.__memory_base` (global 0) and `env.__table_base` (global 1).
pub fn import_side_module_env(imports: &mut ImportSection, table_size: u32) {
    import_memory(imports);
    imports.import(
        "env",
        "__indirect_function_table",
        EntityType::Table(TableType {
            element_type: RefType::FUNCREF,
            table64: false,
            minimum: u64::from(table_size),
            maximum: None,
            shared: false,
        }),
    );
    imports.import("env", "__memory_base", EntityType::Global(BASE));
    imports.import("env", "__table_base", EntityType::Global(BASE));
}

/// The type of `__memory_base` and `__table_base`.
pub(crate) const BASE: GlobalType = GlobalType {
    val_type: ValType::I32,
    mutable: false,
    shared: false,
};

/// Imports `env.memory`, the memory a side module is loaded into.
pub(crate) fn import_memory(imports: &mut ImportSection) {
    imports.import(
        "env",
        "memory",
        EntityType::Memory(MemoryType {
            minimum: 0,
            maximum: None,
            memory64: false,
            shared: false,
            page_size_log2: None,
        }),
    );
}
