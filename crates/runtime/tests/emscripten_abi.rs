//! The Emscripten-ABI adapters of the 3.14 guest (`guest/314/emscripten_abi.c`), each called
//! the way an Emscripten-built extension module calls it: a probe module of our own, built here
//! as a `dylink.0` side module, passes Emscripten's constants and reads Emscripten's structure
//! layouts, and the Worker compares what it saw with what Python sees.

mod support;

use std::path::PathBuf;

use pywrangler_runtime::{Request, Runtime, RuntimeConfig, SnapshotSpec};
use pywrangler_wasmlink::{MemInfo, dylink_section, import_side_module_env};
use support::*;
use wasm_encoder::{
    BlockType, CodeSection, ConstExpr, DataSection, EntityType, ExportKind, ExportSection,
    Function, FunctionSection, ImportSection, Instruction as I, MemArg, Module, TypeSection,
    ValType,
};

/// Bytes of data the probe reserves at its `__memory_base`.
const DATA: u32 = 1024;
/// Offsets in that data: the module definition, strings, and scratch buffers.
const DEF: i32 = 0;
const STRINGS: i32 = 64;
const STAT: i32 = 512;
const TIMESPEC: i32 = 640;
const VARARGS: i32 = 672;

const FILE: &str = "/lib/python3.14/os.py";
const DIR: &str = "/lib/python3.14/json";

/// (name, params, results) of what the probe imports from `env`.
const IMPORTS: &[(&str, &[ValType], &[ValType])] = {
    use ValType::{F64, I32 as W};
    &[
        ("PyModule_Create2", &[W, W], &[W]),
        ("PyModule_AddIntConstant", &[W, W, W], &[W]),
        ("clock_gettime", &[W, W], &[W]),
        ("open", &[W, W, W], &[W]),
        ("openat", &[W, W, W, W], &[W]),
        ("fstat", &[W, W], &[W]),
        ("stat", &[W, W], &[W]),
        ("fstatat", &[W, W, W, W], &[W]),
        ("fcntl", &[W, W, W], &[W]),
        ("opendir", &[W], &[W]),
        ("readdir", &[W], &[W]),
        ("emscripten_get_now", &[], &[F64]),
    ]
};

fn func(name: &str) -> u32 {
    IMPORTS
        .iter()
        .position(|(n, _, _)| *n == name)
        .expect("imported") as u32
}

/// What `PyInit_probe` computes: (constant name, code leaving one i32 on the stack). The
/// module object is in local 0, scratch i32 in local 1.
fn probes(addr: &dyn Fn(&str) -> Vec<I<'static>>) -> Vec<(&'static str, Vec<I<'static>>)> {
    let mem = |offset: u64, align: u32| MemArg {
        offset,
        align,
        memory_index: 0,
    };
    let at = |off: i32| vec![I::GlobalGet(0), I::I32Const(off), I::I32Add];
    let call = |name: &str| I::Call(func(name));
    let cat = |parts: Vec<Vec<I<'static>>>| parts.concat();
    let stat_size = || cat(vec![at(STAT), vec![I::I64Load(mem(24, 3)), I::I32WrapI64]]);
    vec![
        // Emscripten's CLOCK_MONOTONIC is 1, its CLOCK_PROCESS_CPUTIME_ID 2 (refused here).
        (
            "clock_rc",
            cat(vec![
                vec![I::I32Const(1)],
                at(TIMESPEC),
                vec![call("clock_gettime")],
            ]),
        ),
        (
            "clock_sec",
            cat(vec![
                at(TIMESPEC),
                vec![I::I64Load(mem(0, 3)), I::I32WrapI64],
            ]),
        ),
        (
            "cpu_clock_rc",
            cat(vec![
                vec![I::I32Const(2)],
                at(TIMESPEC),
                vec![call("clock_gettime")],
            ]),
        ),
        // open(FILE, O_RDONLY): Emscripten's O_RDONLY is 0, WASI's 0x04000000.
        (
            "fd",
            cat(vec![
                addr(FILE),
                vec![I::I32Const(0)],
                at(VARARGS),
                vec![call("open"), I::LocalTee(1)],
            ]),
        ),
        (
            "fstat_rc",
            cat(vec![vec![I::LocalGet(1)], at(STAT), vec![call("fstat")]]),
        ),
        ("fstat_size", stat_size()),
        (
            "fstat_mode",
            cat(vec![at(STAT), vec![I::I32Load(mem(4, 2))]]),
        ),
        (
            "fstat_nlink",
            cat(vec![at(STAT), vec![I::I32Load(mem(8, 2))]]),
        ),
        (
            "fstat_mtime",
            cat(vec![at(STAT), vec![I::I64Load(mem(56, 3)), I::I32WrapI64]]),
        ),
        // fcntl(F_GETFL) answers in Emscripten's flags: O_RDONLY is 0.
        (
            "getfl",
            cat(vec![
                vec![I::LocalGet(1), I::I32Const(3)],
                at(VARARGS),
                vec![call("fcntl")],
            ]),
        ),
        (
            "stat_rc",
            cat(vec![addr(FILE), at(STAT), vec![call("stat")]]),
        ),
        ("stat_size", stat_size()),
        // Emscripten's AT_FDCWD is -100, WASI's -2.
        (
            "fstatat_rc",
            cat(vec![
                vec![I::I32Const(-100)],
                addr(FILE),
                at(STAT),
                vec![I::I32Const(0), call("fstatat")],
            ]),
        ),
        ("fstatat_size", stat_size()),
        (
            "openat_fd",
            cat(vec![
                vec![I::I32Const(-100)],
                addr(FILE),
                vec![I::I32Const(0)],
                at(VARARGS),
                vec![call("openat")],
            ]),
        ),
        // O_DIRECTORY is 0200000 in Emscripten.
        (
            "dir_fd",
            cat(vec![
                addr(DIR),
                vec![I::I32Const(0o200000)],
                at(VARARGS),
                vec![call("open")],
            ]),
        ),
        (
            "missing_rc",
            cat(vec![addr("/no/such/file"), at(STAT), vec![call("stat")]]),
        ),
        // readdir's entry: d_reclen (u16) at 16, d_type at 18, d_name at 19.
        (
            "dirent_reclen",
            cat(vec![
                addr(DIR),
                vec![
                    call("opendir"),
                    call("readdir"),
                    I::LocalTee(1),
                    I::I32Load16U(mem(16, 1)),
                ],
            ]),
        ),
        (
            "dirent_name0",
            vec![I::LocalGet(1), I::I32Load8U(mem(19, 0))],
        ),
        (
            "now_positive",
            vec![
                call("emscripten_get_now"),
                I::F64Const(0.0.into()),
                I::F64Gt,
            ],
        ),
    ]
}

/// The probe: an extension module `probe` whose `PyInit_probe` runs every probe and returns a
/// module holding the results as integer constants.
fn probe_module() -> Vec<u8> {
    // Strings at STRINGS: the module name, the probes' names, the paths.
    let mut strings: Vec<u8> = Vec::new();
    let mut offsets: Vec<(String, i32)> = Vec::new();
    let mut intern = |s: &str, strings: &mut Vec<u8>| {
        if let Some((_, o)) = offsets.iter().find(|(k, _)| k == s) {
            return *o;
        }
        let o = STRINGS + strings.len() as i32;
        strings.extend_from_slice(s.as_bytes());
        strings.push(0);
        offsets.push((s.to_string(), o));
        o
    };
    let mut names = vec![
        "probe".to_string(),
        FILE.into(),
        DIR.into(),
        "/no/such/file".into(),
    ];
    let list = probes(&|_| Vec::new());
    names.extend(list.iter().map(|(n, _)| n.to_string()));
    for n in &names {
        intern(n, &mut strings);
    }
    assert!(
        STRINGS as usize + strings.len() < STAT as usize,
        "strings fit"
    );
    let table: Vec<(String, i32)> = names
        .iter()
        .map(|n| (n.clone(), intern(n, &mut strings)))
        .collect();
    let addr = |s: &str| -> Vec<I<'static>> {
        let off = table.iter().find(|(k, _)| k == s).expect("interned").1;
        vec![I::GlobalGet(0), I::I32Const(off), I::I32Add]
    };

    let mut m = Module::new();
    let mem = MemInfo {
        memory_size: DATA,
        memory_align: 3,
        ..MemInfo::default()
    };
    m.section(&dylink_section(mem, &[]));
    let mut types = TypeSection::new();
    for (_, params, results) in IMPORTS {
        types
            .ty()
            .function(params.iter().copied(), results.iter().copied());
    }
    let init_type = IMPORTS.len() as u32;
    types.ty().function([], [ValType::I32]);
    m.section(&types);

    let mut imports = ImportSection::new();
    import_side_module_env(&mut imports, 0);
    for (i, (name, _, _)) in IMPORTS.iter().enumerate() {
        imports.import("env", name, EntityType::Function(i as u32));
    }
    m.section(&imports);
    let mut funcs = FunctionSection::new();
    funcs.function(init_type);
    m.section(&funcs);
    let mut exports = ExportSection::new();
    exports.export("PyInit_probe", ExportKind::Func, IMPORTS.len() as u32);
    m.section(&exports);

    let mut f = Function::new([(2, ValType::I32)]);
    let mem = MemArg {
        offset: 0,
        align: 2,
        memory_index: 0,
    };
    // PyModuleDef on wasm32: ob_refcnt, ob_type, m_init, m_index, m_copy, then m_name at 20,
    // m_doc, m_size (-1: no per-module state), m_methods, ...; zero except these.
    let def = |off: u64| MemArg { offset: off, ..mem };
    f.instructions()
        .global_get(0)
        .i32_const(DEF)
        .i32_add()
        .i32_const(1)
        .i32_store(def(0));
    for i in addr("probe") {
        f.instruction(&i);
    }
    f.instructions()
        .local_set(1)
        .global_get(0)
        .i32_const(DEF)
        .i32_add()
        .local_get(1)
        .i32_store(def(20))
        .global_get(0)
        .i32_const(DEF)
        .i32_add()
        .i32_const(-1)
        .i32_store(def(28))
        .global_get(0)
        .i32_const(DEF)
        .i32_add()
        .i32_const(1013) // PYTHON_API_VERSION
        .call(func("PyModule_Create2"))
        .local_tee(0)
        .i32_eqz()
        .if_(BlockType::Empty)
        .i32_const(0)
        .return_()
        .end();
    for (name, code) in probes(&addr) {
        // PyModule_AddIntConstant(module, name, value)
        f.instruction(&I::LocalGet(0));
        for i in addr(name) {
            f.instruction(&i);
        }
        // The probe leaves its value; it may use local 1 as scratch meanwhile.
        for i in code {
            f.instruction(&i);
        }
        f.instruction(&I::Call(func("PyModule_AddIntConstant")))
            .instruction(&I::Drop);
    }
    f.instruction(&I::LocalGet(0)).instruction(&I::End);
    let mut code = CodeSection::new();
    code.function(&f);
    m.section(&code);
    let mut data = DataSection::new();
    let mut bytes = vec![0u8; STRINGS as usize];
    bytes.extend_from_slice(&strings);
    data.active(0, &ConstExpr::global_get(0), bytes);
    m.section(&data);
    m.finish()
}

const ENTRY: &str = r#"
import os
import time
import probe
from workers import WorkerEntrypoint, Response

FILE = "/lib/python3.14/os.py"
st = os.stat(FILE)
seen = {k: v for k, v in vars(probe).items() if not k.startswith("_")}
want = {
    "clock_rc": 0, "cpu_clock_rc": -1,
    "fstat_rc": 0, "fstat_size": st.st_size, "fstat_mode": st.st_mode,
    "fstat_nlink": st.st_nlink, "fstat_mtime": int(st.st_mtime) & 0xFFFFFFFF,
    "getfl": 0, "stat_rc": 0, "stat_size": st.st_size,
    "fstatat_rc": 0, "fstatat_size": st.st_size, "missing_rc": -1,
    "dirent_reclen": 280, "now_positive": 1,
}
bad = {k: (seen.get(k), v) for k, v in want.items() if seen.get(k) != v}
# The guest's clocks follow the entropy rules (time stands still at top level): the probe's
# monotonic clock must agree with Python's.
if abs(seen["clock_sec"] - int(time.monotonic())) > 1:
    bad["clock_sec"] = (seen["clock_sec"], time.monotonic())
if seen["fd"] < 3 or seen["openat_fd"] < 3 or seen["dir_fd"] < 3:
    bad["fds"] = seen
if not chr(seen["dirent_name0"]).isprintable() or seen["dirent_name0"] == 0:
    bad["dirent_name0"] = seen["dirent_name0"]
assert not bad, f"Emscripten ABI mismatches (seen, expected): {bad}"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response("abi ok")
"#;

#[test]
fn emscripten_abi_adapters_translate_constants_and_layouts() {
    let rt = Runtime::new(RuntimeConfig {
        python: Some("3.14".into()),
        ..RuntimeConfig::default()
    })
    .expect("these tests need the Python guests");
    if rt.python_version() != "3.14" {
        eprintln!("skipped: native modules link only into the 3.14 guest, and none is present");
        return;
    }
    let p = project(&[("src/entry.py", ENTRY)]);
    let pm = p.path().join("python_modules");
    std::fs::create_dir_all(&pm).expect("mkdir");
    std::fs::write(
        pm.join("probe.cpython-314-wasm32-emscripten.so"),
        probe_module(),
    )
    .expect("write probe");
    let mut spec = SnapshotSpec::new(
        p.path().join("src"),
        "entry",
        p.path().join(".wrangler/cache"),
    );
    spec.python_modules = Some(PathBuf::from(&pm));
    let snap = match rt.build_snapshot(&spec) {
        Ok(s) => s,
        Err(e) => panic!("{e}"),
    };
    let (opts, _, _) = options();
    let mut inst = snap.instantiate(opts).expect("instance");
    let r = inst.fetch(Request::get("http://x/")).expect("fetch");
    assert_eq!(String::from_utf8_lossy(&r.body), "abi ok");
}
