//! Links small PIC modules built here with wasm-encoder (shaped like `wasm-ld --shared
//! --experimental-pic` output) and runs the result in wasmtime, so the tests prove behaviour,
//! not just validity.

mod native;
mod pic;

use wasm_encoder::{ConstExpr, Instruction as I, MemArg};

use crate::{Input, LinkError, Options, link};
use pic::{I32, MB, Pic, Run, log_digit};

fn opts(keep: &[&str]) -> Options {
    Options {
        stack_size: 1024,
        keep_exports: keep.iter().map(|s| s.to_string()).collect(),
        ..Options::default()
    }
}

/// Module `a` and `b` call each other through `env` imports, reach each other's data and
/// functions through GOT.mem / GOT.func, and log the order their init functions run in.
fn two_modules() -> (Input, Input) {
    let mut a = Pic::new("a", [32, 2, 2, 0]);
    let b_get = a.import_func("env", "b_get", &[], &[I32]);
    a.import_func("wasi_snapshot_preview1", "proc_exit", &[I32], &[]);
    let sp = a.import_global("env", "__stack_pointer", true);
    let got_b_data = a.import_global("GOT.mem", "b_data", true);
    let got_b_get = a.import_global("GOT.func", "b_get", true);
    let got_heap = a.import_global("GOT.mem", "__heap_base", true);
    a.data_symbol("a_log", 24);
    let a_get = a.export_func(
        "a_get",
        &[],
        &[I32],
        &[I::I32Const(1000), I::Call(b_get), I::I32Add],
    );
    a.export_func("b_data_addr", &[], &[I32], &[I::GlobalGet(got_b_data)]);
    a.export_func("b_get_slot", &[], &[I32], &[I::GlobalGet(got_b_get)]);
    let void_to_i32 = a.ty(&[], &[I32]);
    a.export_func(
        "call_b_indirect",
        &[],
        &[I32],
        &[
            I::GlobalGet(got_b_get),
            I::CallIndirect {
                type_index: void_to_i32,
                table_index: 0,
            },
        ],
    );
    a.export_func("heap_base", &[], &[I32], &[I::GlobalGet(got_heap)]);
    a.export_func("sp", &[], &[I32], &[I::GlobalGet(sp)]);
    a.export_func("dup", &[], &[I32], &[I::I32Const(1)]);
    let log = [I::GlobalGet(MB), I::I32Const(24), I::I32Add];
    let m = MemArg {
        offset: 16,
        align: 2,
        memory_index: 0,
    };
    let mut relocs = vec![I::GlobalGet(MB), I::GlobalGet(got_b_data), I::I32Store(m)];
    relocs.extend(log_digit(&log, 1));
    a.export_func("__wasm_apply_data_relocs", &[], &[], &relocs);
    a.export_func("__wasm_call_ctors", &[], &[], &log_digit(&log, 2));
    let helper = a.func("a_helper", &[], &[I32], &[I::I32Const(5)]);
    a.elem_at_base(&[a_get, helper]);
    a.data_at_base(0, b"hello-a\0");

    let mut b = Pic::new("b", [40, 3, 1, 0]);
    let a_get = b.import_func("env", "a_get", &[], &[I32]);
    b.import_func("wasi_snapshot_preview1", "proc_exit", &[I32], &[]);
    let dup = b.import_func("env", "dup", &[], &[I32]);
    let got_log = b.import_global("GOT.mem", "a_log", true);
    b.import_global("env", "__stack_pointer", true);
    b.data_symbol("b_data", 8);
    let b_get = b.export_func("b_get", &[], &[I32], &[I::I32Const(7)]);
    b.export_func("b_calls_a", &[], &[I32], &[I::Call(a_get)]);
    b.export_func("b_calls_dup", &[], &[I32], &[I::Call(dup)]);
    b.export_func("dup", &[], &[I32], &[I::I32Const(2)]);
    let void_to_i32 = b.ty(&[], &[I32]);
    b.export_func(
        "call_slot",
        &[I32],
        &[I32],
        &[
            I::LocalGet(0),
            I::CallIndirect {
                type_index: void_to_i32,
                table_index: 0,
            },
        ],
    );
    b.export_func(
        "__wasm_apply_data_relocs",
        &[],
        &[],
        &log_digit(&[I::GlobalGet(got_log)], 3),
    );
    b.export_func(
        "__wasm_call_ctors",
        &[],
        &[],
        &log_digit(&[I::GlobalGet(got_log)], 4),
    );
    b.elem_at_base(&[b_get]);
    b.data_at_base(0, b"hello-b\0");
    (a.finish(), b.finish())
}

const TWO_KEEP: &[&str] = &[
    "memory",
    "_initialize",
    "a_get",
    "b_data_addr",
    "b_get_slot",
    "call_b_indirect",
    "heap_base",
    "sp",
    "dup",
    "b_calls_a",
    "b_calls_dup",
    "call_slot",
];

#[test]
fn two_modules_link_lay_out_and_run() {
    let (a, b) = two_modules();
    let linked = link(&[a, b], &opts(TWO_KEEP)).expect("links");
    let r = &linked.report;
    // Stack [0, 1024); a at 1024 (align 4), b at 1056 (align 8), heap after b, 16-aligned.
    assert_eq!(
        (r.placements[0].memory_base, r.placements[1].memory_base),
        (1024, 1056)
    );
    assert_eq!(r.heap_base, 1104);
    assert_eq!(r.memory_pages, 1);
    // Slot 0 null, a's two slots, b's one, then one GOT.func slot.
    assert_eq!(
        (r.placements[0].table_base, r.placements[1].table_base),
        (1, 3)
    );
    assert_eq!((r.table_size, r.got_func, r.got_mem), (5, 1, 3));
    assert_eq!(r.imports, 1, "proc_exit is imported once");

    let mut run = Run::new(&linked.wasm);
    run.init();
    // Relocations of every module run before any constructor, each in load order.
    assert_eq!(run.mem_u32(1024 + 24), 1324);
    assert_eq!(
        run.mem_u32(1024 + 16),
        1064,
        "a's data reloc stored b_data's address"
    );
    assert_eq!(run.mem(1024, 8), b"hello-a\0");
    assert_eq!(run.mem(1056, 8), b"hello-b\0");
    assert_eq!(run.call("a_get"), 1007);
    assert_eq!(run.call("b_calls_a"), 1007);
    assert_eq!(run.call("b_data_addr"), 1064);
    assert_eq!(run.call("b_get_slot"), 4);
    assert_eq!(run.call("call_b_indirect"), 7);
    assert_eq!(run.call("heap_base"), 1104);
    assert_eq!(run.call("sp"), 1024);
    // First definer wins, for exports and for b's own `env.dup` import alike.
    assert_eq!(run.call("dup"), 1);
    assert_eq!(run.call("b_calls_dup"), 1);
    let call_slot = run
        .instance
        .get_typed_func::<i32, i32>(&mut run.store, "call_slot")
        .expect("call_slot");
    let slots: Vec<i32> = [1, 2, 3, 4]
        .iter()
        .map(|&s| {
            call_slot
                .call(&mut run.store, s)
                .expect("slot holds a function")
        })
        .collect();
    assert_eq!(slots, [1007, 5, 7, 7]);
    assert!(call_slot.call(&mut run.store, 0).is_err(), "slot 0 is null");
}

/// (exports, function names, custom section names) of a module.
fn surface(wasm: &[u8]) -> (Vec<String>, Vec<String>, Vec<String>) {
    let mut exports = Vec::new();
    let mut names = Vec::new();
    let mut customs = Vec::new();
    for p in wasmparser::Parser::new(0).parse_all(wasm) {
        match p.expect("parses") {
            wasmparser::Payload::ExportSection(r) => {
                exports.extend(r.into_iter().map(|e| e.expect("export").name.to_string()))
            }
            wasmparser::Payload::CustomSection(c) => {
                customs.push(c.name().to_string());
                if let wasmparser::KnownCustom::Name(r) = c.as_known() {
                    for s in r {
                        if let wasmparser::Name::Function(m) = s.expect("subsection") {
                            names.extend(m.into_iter().map(|n| n.expect("name").name.to_string()));
                        }
                    }
                }
            }
            _ => {}
        }
    }
    (exports, names, customs)
}

#[test]
fn output_keeps_only_requested_exports_and_function_names() {
    let (a, b) = two_modules();
    let linked = link(&[a, b], &opts(&["memory", "a_get", "_initialize"])).expect("links");
    let (exports, names, customs) = surface(&linked.wasm);
    assert_eq!(exports, ["memory", "a_get", "_initialize"]);
    assert_eq!(
        customs,
        ["name"],
        "dylink.0 and other custom sections are stripped"
    );
    for n in ["a_get", "a_helper", "b_get", "_initialize"] {
        assert!(names.iter().any(|x| x == n), "{n} named in {names:?}");
    }
}

#[test]
fn unreachable_functions_are_removed_unless_kept() {
    let (a, b) = two_modules();
    let keep = ["memory", "a_get", "_initialize"];
    let linked = link(&[a.clone(), b.clone()], &opts(&keep)).expect("links");
    let (_, names, _) = surface(&linked.wasm);
    // Reachable: a_get (export) → b_get (call); a_helper (table); the init functions.
    for live in [
        "a_get",
        "b_get",
        "a_helper",
        "__wasm_call_ctors",
        "__wasm_apply_data_relocs",
    ] {
        assert!(names.iter().any(|x| x == live), "{live} kept: {names:?}");
    }
    for dead in ["b_calls_a", "b_calls_dup", "sp", "heap_base", "call_slot"] {
        assert!(
            !names.iter().any(|x| x == dead),
            "{dead} removed: {names:?}"
        );
    }
    let removed = linked.report.removed_functions;
    assert!(removed >= 5, "{removed}");
    let mut run = Run::new(&linked.wasm);
    run.init();
    assert_eq!(run.call("a_get"), 1007);

    let all = link(
        &[a, b],
        &Options {
            remove_unused: false,
            ..opts(&keep)
        },
    )
    .expect("links");
    assert_eq!(all.report.removed_functions, 0);
    assert_eq!(all.report.functions, linked.report.functions + removed);
    assert!(surface(&all.wasm).1.iter().any(|x| x == "b_calls_a"));
}

#[test]
fn kept_data_symbol_exports_become_constant_globals() {
    let (a, b) = two_modules();
    let linked = link(&[a, b], &opts(&["a_log", "b_data", "a_get"])).expect("links");
    let mut run = Run::new(&linked.wasm);
    let mut value = |name: &str| {
        let g = run.instance.get_global(&mut run.store, name).expect(name);
        g.get(&mut run.store).i32().expect("i32")
    };
    assert_eq!((value("a_log"), value("b_data")), (1024 + 24, 1056 + 8));
}

#[test]
fn same_inputs_give_identical_output() {
    let (a, b) = two_modules();
    let one = link(&[a.clone(), b.clone()], &opts(TWO_KEEP)).expect("links");
    let two = link(&[a, b], &opts(TWO_KEEP)).expect("links");
    assert_eq!(one.wasm, two.wasm);
}

#[test]
fn weak_undefined_symbols_become_null_or_trap() {
    let mut a = Pic::new("a", [0, 0, 0, 0]);
    let missing = a.import_func("env", "maybe", &[], &[I32]);
    let got_data = a.import_global("GOT.mem", "maybe_data", true);
    let got_fn = a.import_global("GOT.func", "maybe", true);
    a.weak("env", "maybe");
    a.weak("GOT.mem", "maybe_data");
    a.weak("GOT.func", "maybe");
    a.export_func("call_maybe", &[], &[I32], &[I::Call(missing)]);
    a.export_func("maybe_data", &[], &[I32], &[I::GlobalGet(got_data)]);
    a.export_func("maybe_slot", &[], &[I32], &[I::GlobalGet(got_fn)]);
    let linked = link(
        &[a.finish()],
        &opts(&["call_maybe", "maybe_data", "maybe_slot"]),
    )
    .expect("links");
    assert_eq!(linked.report.trap_stubs, ["maybe"]);
    let mut run = Run::new(&linked.wasm);
    assert_eq!(run.call("maybe_data"), 0);
    assert_eq!(run.call("maybe_slot"), 0);
    let err = run.try_call("call_maybe").expect_err("the stub traps");
    assert!(format!("{err:?}").contains("unreachable"), "{err:?}");
}

fn strong_undefined() -> Input {
    let mut a = Pic::new("lib", [0, 0, 0, 0]);
    let f = a.import_func("env", "nowhere", &[], &[I32]);
    a.import_global("GOT.mem", "no_data", true);
    a.export_func("call", &[], &[I32], &[I::Call(f)]);
    a.finish()
}

#[test]
fn undefined_symbols_fail_naming_input_and_symbol() {
    let err = link(&[strong_undefined()], &opts(&[])).expect_err("undefined");
    let LinkError::Undefined(u) = &err else {
        panic!("{err}")
    };
    assert_eq!(u.len(), 2);
    let msg = err.to_string();
    assert!(
        msg.contains("lib: env.nowhere") && msg.contains("lib: GOT.mem.no_data"),
        "{msg}"
    );
}

#[test]
fn undefined_traps_option_binds_functions_to_stubs() {
    let mut a = Pic::new("lib", [0, 0, 0, 0]);
    let f = a.import_func("env", "nowhere", &[], &[I32]);
    a.export_func("call", &[], &[I32], &[I::Call(f)]);
    let o = Options {
        undefined_traps: true,
        ..opts(&["call"])
    };
    let linked = link(&[a.finish()], &o).expect("links with stubs");
    assert_eq!(linked.report.trap_stubs, ["nowhere"]);
    assert!(Run::new(&linked.wasm).try_call("call").is_err());
}

/// LLD 22 emits `__memory_base + 65536` for `__wasm_first_page_end` in `-shared` output; the
/// page size it stands for must stay 65536 (wasi-libc's sbrk and sysconf read it).
#[test]
fn first_page_end_is_absolute() {
    let mut a = Pic::new("main", [16, 0, 0, 0]);
    let g = a.global(
        "GOT.data.internal.__wasm_first_page_end",
        false,
        &ConstExpr::extended([I::GlobalGet(MB), I::I32Const(65536), I::I32Add]),
    );
    let other = a.global(
        "GOT.data.internal.other",
        false,
        &ConstExpr::extended([I::GlobalGet(MB), I::I32Const(4), I::I32Add]),
    );
    a.export_func("page", &[], &[I32], &[I::GlobalGet(g)]);
    a.export_func("other", &[], &[I32], &[I::GlobalGet(other)]);
    let linked = link(&[a.finish()], &opts(&["page", "other"])).expect("links");
    assert_eq!(linked.report.first_page_end_patched, ["main"]);
    let mut run = Run::new(&linked.wasm);
    assert_eq!(run.call("page"), 65536);
    assert_eq!(
        run.call("other"),
        1024 + 4,
        "other internal GOT entries stay relative"
    );
}

#[test]
fn an_absolute_first_page_end_is_left_alone() {
    let mut a = Pic::new("main", [16, 0, 0, 0]);
    let g = a.global(
        "GOT.data.internal.__wasm_first_page_end",
        false,
        &ConstExpr::i32_const(65536),
    );
    a.export_func("page", &[], &[I32], &[I::GlobalGet(g)]);
    let linked = link(&[a.finish()], &opts(&["page"])).expect("links");
    assert!(linked.report.first_page_end_patched.is_empty());
    assert_eq!(Run::new(&linked.wasm).call("page"), 65536);

    let mut odd = Pic::new("main", [16, 0, 0, 0]);
    odd.global(
        "GOT.data.internal.__wasm_first_page_end",
        false,
        &ConstExpr::extended([I::GlobalGet(MB), I::I32Const(4096), I::I32Add]),
    );
    let err = link(&[odd.finish()], &opts(&[]))
        .expect_err("unexpected shape")
        .to_string();
    assert!(
        err.contains("neither `__memory_base + 65536` nor 65536"),
        "{err}"
    );
}

#[test]
fn passive_data_segments_are_renumbered() {
    let mut a = Pic::new("a", [8, 0, 0, 0]);
    a.data_at_base(0, b"AAAA");
    a.passive_data(b"first");
    let mut b = Pic::new("b", [16, 0, 0, 0]);
    b.passive_data(b"b-zero");
    b.passive_data(b"b-one!");
    // memory.init b's segment 1 at b's base, then drop it.
    b.export_func(
        "init_one",
        &[],
        &[I32],
        &[
            I::GlobalGet(MB),
            I::I32Const(0),
            I::I32Const(6),
            I::MemoryInit {
                mem: 0,
                data_index: 1,
            },
            I::DataDrop(1),
            I::GlobalGet(MB),
        ],
    );
    let linked = link(&[a.finish(), b.finish()], &opts(&["memory", "init_one"])).expect("links");
    let mut run = Run::new(&linked.wasm);
    let at = run.call("init_one") as usize;
    assert_eq!(at, 1032);
    assert_eq!(run.mem(at, 6), b"b-one!");
    assert_eq!(run.mem(1024, 4), b"AAAA");
}

fn with_start() -> Input {
    let mut a = Pic::new("a", [4, 2, 0, 0]);
    let s = a.func("bss_init", &[], &[], &log_digit(&[I::GlobalGet(MB)], 9));
    a.start = Some(s);
    a.export_func(
        "value",
        &[],
        &[I32],
        &[
            I::GlobalGet(MB),
            I::I32Load(MemArg {
                offset: 0,
                align: 2,
                memory_index: 0,
            }),
        ],
    );
    a.finish()
}

#[test]
fn start_functions_are_dropped_or_kept() {
    let dropped = link(&[with_start()], &opts(&["memory", "value"])).expect("links");
    assert_eq!(dropped.report.dropped_starts, ["a"]);
    assert_eq!(Run::new(&dropped.wasm).call("value"), 0);
    let kept = link(
        &[with_start()],
        &Options {
            drop_start: false,
            ..opts(&["memory", "value"])
        },
    )
    .expect("links");
    assert!(kept.report.dropped_starts.is_empty());
    assert_eq!(
        Run::new(&kept.wasm).call("value"),
        9,
        "start ran at instantiation"
    );
}

#[test]
fn signature_mismatch_names_both_sides() {
    let mut a = Pic::new("a", [0, 0, 0, 0]);
    a.import_func("env", "f", &[I32], &[]);
    let mut b = Pic::new("b", [0, 0, 0, 0]);
    b.export_func("f", &[], &[I32], &[I::I32Const(0)]);
    let err = link(&[a.finish(), b.finish()], &opts(&[]))
        .expect_err("mismatch")
        .to_string();
    assert!(
        err.contains("a: imports `f` as [i32] -> []")
            && err.contains("`b` defines it as [] -> [i32]"),
        "{err}"
    );
}

#[test]
fn writing_a_resolved_global_is_an_error() {
    let mut a = Pic::new("a", [0, 0, 0, 0]);
    let g = a.import_global("GOT.mem", "__heap_base", true);
    a.export_func("set", &[], &[], &[I::I32Const(1), I::GlobalSet(g)]);
    let err = link(&[a.finish()], &opts(&["set"]))
        .expect_err("global.set on a constant")
        .to_string();
    assert!(
        err.contains("a: function `set` writes global `GOT.mem.__heap_base`"),
        "{err}"
    );
}

#[test]
fn bad_inputs_fail_clearly() {
    let missing = link(&[with_start()], &opts(&["nope"])).expect_err("missing export");
    assert_eq!(
        missing.to_string(),
        "export `nope` was requested but no input defines it"
    );

    let plain = wasm_encoder::Module::new().finish();
    let err = link(&[Input::new("plain", plain)], &opts(&[]))
        .expect_err("not shared")
        .to_string();
    assert!(err.starts_with("plain: no `dylink.0` section"), "{err}");

    let err = link(&[with_start(), with_start()], &opts(&[]))
        .expect_err("dup")
        .to_string();
    assert!(err.contains("two inputs are named `a`"), "{err}");

    let mut t = Pic::new("eh", [0, 0, 0, 0]);
    t.ty(&[], &[]);
    t.tags = true;
    let err = link(&[t.finish()], &opts(&[]))
        .expect_err("tags")
        .to_string();
    assert!(
        err.starts_with("eh: unsupported: defines exception tags"),
        "{err}"
    );

    let err = link(
        &[Input::new("junk", b"\0asm\x01\0\0\0\x05".to_vec())],
        &opts(&[]),
    )
    .expect_err("junk");
    assert!(matches!(err, LinkError::Parse { .. }), "{err}");

    let err = link(
        &[with_start()],
        &Options {
            stack_size: 1000,
            ..opts(&[])
        },
    )
    .expect_err("stack");
    assert!(err.to_string().contains("multiple of 16"), "{err}");
}

#[test]
fn env_data_globals_resolve_and_foreign_global_imports_stay_once() {
    let mut a = Pic::new("a", [16, 2, 0, 0]);
    let flag = a.import_global("host", "flag", false);
    a.data_symbol("a_thing", 12);
    a.export_func("flag", &[], &[I32], &[I::GlobalGet(flag)]);
    let mut b = Pic::new("b", [0, 0, 0, 0]);
    let thing = b.import_global("env", "a_thing", false);
    let flag = b.import_global("host", "flag", false);
    b.export_func("thing", &[], &[I32], &[I::GlobalGet(thing)]);
    b.export_func("flag_b", &[], &[I32], &[I::GlobalGet(flag)]);
    let linked = link(
        &[a.finish(), b.finish()],
        &opts(&["flag", "thing", "flag_b"]),
    )
    .expect("links");
    assert_eq!(linked.report.imports, 1, "host.flag imported once");

    let engine = wasmtime::Engine::default();
    let module = wasmtime::Module::new(&engine, &linked.wasm).expect("compiles");
    let mut store = wasmtime::Store::new(&engine, ());
    let ty = wasmtime::GlobalType::new(wasmtime::ValType::I32, wasmtime::Mutability::Const);
    let g = wasmtime::Global::new(&mut store, ty, wasmtime::Val::I32(5)).expect("global");
    let instance = wasmtime::Instance::new(&mut store, &module, &[g.into()]).expect("instantiates");
    let mut run = Run { store, instance };
    assert_eq!(run.call("thing"), 1024 + 12);
    assert_eq!((run.call("flag"), run.call("flag_b")), (5, 5));
}

#[test]
fn one_import_with_two_types_is_an_error() {
    let mut a = Pic::new("a", [0, 0, 0, 0]);
    a.import_func("wasi", "x", &[I32], &[]);
    let mut b = Pic::new("b", [0, 0, 0, 0]);
    b.import_func("wasi", "x", &[], &[]);
    let err = link(&[a.finish(), b.finish()], &opts(&[]))
        .expect_err("clash")
        .to_string();
    assert_eq!(
        err,
        "b: imports `wasi.x` as [] -> [] but an earlier input imports it as [i32] -> []"
    );
}
