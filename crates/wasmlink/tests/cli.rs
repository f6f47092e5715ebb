//! The `pywrangler-wasmlink` binary: writes the module, reports on stderr, and exits 0 / 1
//! (link failure, naming the input and symbol) / 2 (usage).

use std::path::Path;
use std::process::{Command, Output};

use wasm_encoder::{
    CodeSection, CustomSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
    ImportSection, Instruction, Module, TypeSection,
};

/// A minimal `dylink.0` module exporting `answer` (returns 42), optionally importing
/// `env.missing`.
fn pic(import_missing: bool) -> Vec<u8> {
    let mut m = Module::new();
    m.section(&CustomSection {
        name: "dylink.0".into(),
        data: vec![1, 4, 0, 0, 0, 0].into(),
    });
    let mut types = TypeSection::new();
    types.ty().function([], [wasm_encoder::ValType::I32]);
    m.section(&types);
    let mut imports = ImportSection::new();
    if import_missing {
        imports.import("env", "missing", EntityType::Function(0));
    }
    m.section(&imports);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    m.section(&funcs);
    let mut exports = ExportSection::new();
    exports.export("answer", ExportKind::Func, u32::from(import_missing));
    m.section(&exports);
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    f.instruction(&Instruction::I32Const(42))
        .instruction(&Instruction::End);
    code.function(&f);
    m.section(&code);
    m.finish()
}

fn wasmlink(dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_pywrangler-wasmlink"))
        .current_dir(dir)
        .args(args)
        .output()
        .expect("runs")
}

#[test]
fn links_and_reports() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("lib.so"), pic(false)).expect("write");
    let out = wasmlink(
        dir.path(),
        &[
            "--stack-size",
            "65536",
            "--keep",
            "memory,answer",
            "-o",
            "out.wasm",
            "lib=lib.so",
        ],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(stderr.starts_with("linked lib(mem 0x10000+0"), "{stderr}");
    let wasm = std::fs::read(dir.path().join("out.wasm")).expect("output written");
    wasmparser::Validator::new_with_features(pywrangler_wasmlink::output_features())
        .validate_all(&wasm)
        .expect("validates");
}

#[test]
fn undefined_symbol_exits_1_naming_input_and_symbol() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("lib.so"), pic(true)).expect("write");
    let out = wasmlink(dir.path(), &["-o", "out.wasm", "ext=lib.so"]);
    assert_eq!(out.status.code(), Some(1));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ext: env.missing"), "{stderr}");
    assert!(
        !dir.path().join("out.wasm").exists(),
        "no output on failure"
    );
}

#[test]
fn unreadable_input_exits_1_naming_the_file() {
    let dir = tempfile::tempdir().expect("tempdir");
    let out = wasmlink(dir.path(), &["-o", "out.wasm", "x=nope.so"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reading nope.so"));
}

#[test]
fn usage_errors_exit_2() {
    let dir = tempfile::tempdir().expect("tempdir");
    for args in [
        &["lib=lib.so"][..],
        &["-o", "out.wasm"],
        &["--bogus"],
        &["-o", "o", "noequals"],
    ] {
        let out = wasmlink(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).contains("usage: pywrangler-wasmlink"));
    }
}
