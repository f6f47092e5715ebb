//! What linking Pyodide's extension modules needs: exception handling stripped, imports bound
//! to ABI adapters, and the generated table `dlopen` reads.

use wasm_encoder::{BlockType, Instruction as I};

use super::opts;
use super::pic::{I32, Pic, Run};
use crate::{ExtEntry, Input, LinkError, Options, ext_table, link};

/// A module shaped like a Rust extension built by Emscripten: legacy `try`/`catch` around a
/// call (a `catch_unwind`), a `delegate`, a `catch_all`, and a function that throws.
fn unwinding_module() -> Input {
    let mut m = Pic::new("rust", [0, 0, 0, 0]);
    let void = m.ty(&[], &[]);
    assert_eq!(void, 0, "the tag's type");
    m.tag_import = true;
    let seven = m.func("seven", &[], &[I32], &[I::I32Const(7)]);
    m.export_func(
        "caught",
        &[],
        &[I32],
        &[
            I::Try(BlockType::Result(I32)),
            I::Call(seven),
            I::Catch(0),
            I::I32Const(-1),
            I::CatchAll,
            I::I32Const(-2),
            I::End,
        ],
    );
    m.export_func(
        "delegated",
        &[],
        &[I32],
        &[
            I::Try(BlockType::Result(I32)),
            I::Try(BlockType::Result(I32)),
            I::I32Const(3),
            I::Delegate(0),
            I::Catch(0),
            I::I32Const(-3),
            I::End,
        ],
    );
    m.export_func("throws", &[], &[I32], &[I::Throw(0), I::I32Const(1)]);
    m.finish()
}

#[test]
fn exception_handling_is_refused_unless_stripped_then_throws_trap() {
    let keep = ["caught", "delegated", "throws"];
    let err = link(&[unwinding_module()], &opts(&keep))
        .expect_err("exceptions need stripping")
        .to_string();
    assert!(
        err.contains("rust: unsupported: exception tag import `env.__cpp_exception`"),
        "{err}"
    );

    let linked = link(
        &[unwinding_module()],
        &Options {
            strip_exceptions: true,
            ..opts(&keep)
        },
    )
    .expect("links with exceptions stripped");
    // Two `try` blocks in `delegated`, one in `caught`, one `throw`.
    assert_eq!(
        linked.report.exceptions_stripped,
        vec![("rust".to_string(), 4)]
    );
    assert!(
        linked
            .report
            .to_string()
            .contains("exceptions stripped in rust (4)")
    );
    let mut run = Run::new(&linked.wasm);
    assert_eq!(run.call("caught"), 7, "the try body runs as a plain block");
    assert_eq!(run.call("delegated"), 3);
    let trap = run.try_call("throws").expect_err("a throw traps");
    assert!(format!("{trap:?}").contains("unreachable"), "{trap:?}");
}

/// `main` defines `clock` and its adapter `__em_clock`; a module linked with the ABI prefix
/// reaches the adapter, one without it the plain function.
#[test]
fn abi_prefix_binds_imports_to_adapters_where_they_exist() {
    let main = || {
        let mut m = Pic::new("main", [0, 0, 0, 0]);
        m.export_func("clock", &[], &[I32], &[I::I32Const(1)]);
        m.export_func("__em_clock", &[], &[I32], &[I::I32Const(2)]);
        m.export_func("getpid", &[], &[I32], &[I::I32Const(42)]);
        m.finish()
    };
    let side = |name: &'static str| {
        let mut m = Pic::new(name, [0, 0, 0, 0]);
        let clock = m.import_func("env", "clock", &[], &[I32]);
        let pid = m.import_func("env", "getpid", &[], &[I32]);
        m.export_func(&format!("{name}_clock"), &[], &[I32], &[I::Call(clock)]);
        m.export_func(&format!("{name}_pid"), &[], &[I32], &[I::Call(pid)]);
        m.finish()
    };
    let linked = link(
        &[main(), side("wasi"), side("em").with_abi_prefix("__em_")],
        &opts(&["wasi_clock", "em_clock", "em_pid"]),
    )
    .expect("links");
    let mut run = Run::new(&linked.wasm);
    assert_eq!(run.call("wasi_clock"), 1);
    assert_eq!(run.call("em_clock"), 2, "the adapter");
    assert_eq!(run.call("em_pid"), 42, "no adapter: the plain function");
}

/// The generated table lists each module's path and a callable pointer to its init function.
#[test]
fn ext_table_lists_paths_and_init_pointers() {
    let mut main = Pic::new("main", [0, 0, 0, 0]);
    let i32_to_i32 = main.ty(&[I32], &[I32]);
    let void_to_i32 = main.ty(&[], &[I32]);
    let path = main.import_func("env", "__pw_ext_path", &[I32], &[I32]);
    let init = main.import_func("env", "__pw_ext_init", &[I32], &[I32]);
    let count = main.import_func("env", "__pw_ext_count", &[], &[I32]);
    let _ = i32_to_i32;
    main.export_func("count", &[], &[I32], &[I::Call(count)]);
    // First byte of entry i's path.
    for i in 0..3 {
        main.export_func(
            &format!("path{i}"),
            &[],
            &[I32],
            &[
                I::I32Const(i),
                I::Call(path),
                I::I32Load8U(wasm_encoder::MemArg {
                    offset: 0,
                    align: 0,
                    memory_index: 0,
                }),
            ],
        );
    }
    main.export_func("addr2", &[], &[I32], &[I::I32Const(2), I::Call(path)]);
    for i in 0..2 {
        main.export_func(
            &format!("init{i}"),
            &[],
            &[I32],
            &[
                I::I32Const(i),
                I::Call(init),
                I::CallIndirect {
                    type_index: void_to_i32,
                    table_index: 0,
                },
            ],
        );
    }
    let mut ext_a = Pic::new("a", [0, 0, 0, 0]);
    ext_a.export_func("PyInit_a", &[], &[I32], &[I::I32Const(100)]);
    let mut ext_b = Pic::new("b", [0, 0, 0, 0]);
    ext_b.export_func("PyInit__b", &[], &[I32], &[I::I32Const(200)]);
    let table = ext_table(&[
        ExtEntry {
            path: "a.abi3.so".into(),
            init: "PyInit_a".into(),
        },
        ExtEntry {
            path: "pkg/_b.cpython-314-wasm32-emscripten.so".into(),
            init: "PyInit__b".into(),
        },
    ]);
    let keep = [
        "_initialize",
        "count",
        "path0",
        "path1",
        "path2",
        "addr2",
        "init0",
        "init1",
    ];
    let linked = link(
        &[
            main.finish(),
            ext_a.finish(),
            ext_b.finish(),
            Input::new("table", table),
        ],
        &opts(&keep),
    )
    .expect("links");
    let mut run = Run::new(&linked.wasm);
    run.init();
    assert_eq!(run.call("count"), 2);
    assert_eq!(run.call("path0"), i32::from(b'a'));
    assert_eq!(run.call("path1"), i32::from(b'p'));
    assert_eq!(run.call("addr2"), 0, "out of range");
    assert_eq!(run.call("init0"), 100);
    assert_eq!(run.call("init1"), 200);

    let empty = link(
        &[Input::new("table", ext_table(&[]))],
        &opts(&["__pw_ext_count"]),
    )
    .expect("an empty table links");
    assert_eq!(Run::new(&empty.wasm).call("__pw_ext_count"), 0);
}

#[test]
fn errors_name_the_inputs_to_blame() {
    let mut a = Pic::new("a", [0, 0, 0, 0]);
    let f = a.import_func("env", "_ZNSt3__24coutE", &[], &[]);
    a.export_func("f", &[], &[], &[I::Call(f)]);
    let err = link(&[a.finish()], &opts(&["f"])).expect_err("undefined");
    assert!(matches!(err, LinkError::Undefined(_)));
    assert_eq!(err.inputs(), vec!["a"]);
    assert!(LinkError::MissingExport("x".into()).inputs().is_empty());
}
