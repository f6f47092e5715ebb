//! Pyodide's native packages under `dev` (issue 13): the real PyPI wheels of pydantic-core
//! (Rust) and msgpack (Cython) linked into the project's own Python 3.14 guest, FastAPI on
//! top, and a module of our own whose init panics the way Rust code does.

use std::path::Path;

use super::{Dev, client};
use crate::support;
use crate::sync::pyemscripten::{MSGPACK_314, PYDANTIC_CORE_314, RealWheel, fetch};

/// FastAPI and its pure-Python dependencies as of 2026-11, pinned like the sync tests' wheels.
const FASTAPI_WHEELS: &[RealWheel] = &[
    RealWheel {
        file: "fastapi-0.165.0-py3-none-any.whl",
        path: "c4/c1/3b74c030262a1b38b1fee180f80b4007bbc11c9ac12028cb18c7bcecaec9",
        sha256: "896f48462042bb4f162147eb8fac7e858753dc1f486765709baf105d70e4fc5b",
    },
    RealWheel {
        file: "starlette-1.10.0-py3-none-any.whl",
        path: "88/2e/947cfe02def9371c07cd5bf5b6b61c829e9aecb9904db02a66cfafbc1eec",
        sha256: "478c0ab3b4ced6e82719849c118fa406f0278a3499c1a898cd15cd31bdc38ce4",
    },
    RealWheel {
        file: "anyio-4.16.0-py3-none-any.whl",
        path: "a9/16/7757fb84c819accc7d7e9af5291b261e4abb8627ee040f99e7d35ef2457a",
        sha256: "c66ae634e0b8228396b801741beb3294326d4b6102f7bba4041c0dfb58c29026",
    },
    RealWheel {
        file: "idna-3.20-py3-none-any.whl",
        path: "58/a2/bb081bab032533a855d44de1d56f8e8426114ff1ba5d1f07a438a0a654f8",
        sha256: "ab7ae7122974553370f0bdb919e1a960b2cd1bc1ef0276416d896db81c14582c",
    },
    RealWheel {
        file: "annotated_doc-0.0.7-py3-none-any.whl",
        path: "5e/b1/9530d6bee606979d54501adcc767d958a38929827f11a524b0d93429d2ad",
        sha256: "6bc31bbbec6dfaaedc1676dbc11dbda96fe22a2b5c400e9ebad113fec44a9dc6",
    },
    RealWheel {
        file: "opentelemetry_api-1.45.2-py3-none-any.whl",
        path: "a9/2d/610db864d7513158cebb8f36cc88e67e73bd6c7aa1905ef18d89e1281c81",
        sha256: "2cbd737377e710ee740d261c94e93fa0f08e6d037c18f17513cc0a2d94479a34",
    },
    RealWheel {
        file: "workers_runtime_sdk-1.9.5-py3-none-any.whl",
        path: "ad/33/1154f8d518becf3ca3dea57627dea7a84888937cf7b313e6dc4e6f7c7fdf",
        sha256: "f2b912660a3ab60d2a24920106422f9eaf4cd7a794e42b022237ad2444287fef",
    },
];

/// A find-links index (standing in for PyPI, with the Pyodide index empty) holding every
/// wheel FastAPI + pydantic 2.14 + msgpack need for Python 3.14.
fn real_index(root: &Path) -> std::path::PathBuf {
    let index = root.join("pypi");
    std::fs::create_dir_all(&index).expect("index dir");
    let sync_wheels = crate::sync::pyemscripten::WHEELS.iter();
    for wheel in FASTAPI_WHEELS
        .iter()
        .chain(sync_wheels)
        .chain([&PYDANTIC_CORE_314, &MSGPACK_314])
    {
        std::fs::copy(fetch(wheel), index.join(wheel.file)).expect("copy wheel");
    }
    index
}

/// Writes a Python 3.14 Worker `name` into `root/app` that serves `entry` and depends on
/// `dependencies` (TOML array items), and returns its path. The uv project is
/// `<name>-app`, so that it may depend on a package called `name`.
fn write_app(root: &Path, name: &str, dependencies: &str, entry: &str) -> std::path::PathBuf {
    let app = root.join("app");
    let pyproject = format!(
        "[project]\nname = \"{name}-app\"\nversion = \"0.1.0\"\nrequires-python = \">=3.12\"\ndependencies = [{dependencies}]\n"
    );
    let config = format!(
        "name = \"{name}\"\nmain = \"src/entry.py\"\ncompatibility_date = \"2026-11-01\"\ncompatibility_flags = [\"python_workers\"]\n"
    );
    support::write_files(
        &app,
        &[
            ("pyproject.toml", &pyproject),
            ("wrangler.toml", &config),
            ("src/entry.py", entry),
        ],
    );
    app
}

/// `dev` for `app`, resolving from `index` only.
fn dev(app: &Path, index: &Path) -> Dev {
    let empty = app.join(".empty");
    std::fs::create_dir_all(&empty).expect("empty dir");
    let mut cmd = Dev::command(app, &["--no-reload"]);
    cmd.env("PYWRANGLER_PYODIDE_INDEX", index)
        .env("UV_DEFAULT_INDEX", format!("file://{}", empty.display()))
        .env("UV_CACHE_DIR", app.join(".uv-cache"))
        .env("UV_HTTP_RETRIES", "0");
    Dev::spawn(cmd)
}

fn post_json(dev: &Dev, path: &str, body: &str) -> (u16, String) {
    let r = client()
        .post(dev.url(path))
        .header("content-type", "application/json")
        .body(body.to_string())
        .send()
        .expect("request");
    (r.status().as_u16(), r.text().expect("body"))
}

const NATIVE_APP: &str = r#"import asgi
import msgpack
from fastapi import FastAPI
from pydantic import BaseModel
from workers import WorkerEntrypoint

app = FastAPI()


class Item(BaseModel):
    name: str
    price: float


@app.post("/items")
async def create(item: Item):
    return {"name": item.name, "total": item.price * 2, "packed": list(msgpack.packb({"n": item.name}))}


@app.get("/msgpack")
async def roundtrip():
    data = {"a": [1, 2.5, "x", None, True], "b": b"\x00\x01", "big": 2**40}
    back = msgpack.unpackb(msgpack.packb(data))
    return {"same": back == data}


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return await asgi.fetch(app, request.js_object, self.env)
"#;

#[test]
fn fastapi_on_real_pydantic_core_and_msgpack_runs_natively() {
    let root = support::tempdir();
    let index = real_index(root.path());
    let app = write_app(
        root.path(),
        "native",
        r#""fastapi", "pydantic>=2.14", "msgpack""#,
        NATIVE_APP,
    );
    let server = dev(&app, &index);
    let log = server.log();
    assert!(
        log.contains("Linking 2 native modules into the project's Python 3.14 runtime"),
        "{log}"
    );
    assert!(
        app.join("python_modules/pydantic_core-2.50.5.dist-info")
            .is_dir(),
        "{log}"
    );
    let (status, body) = post_json(&server, "/items", r#"{"name": "pen", "price": 1.25}"#);
    assert_eq!(status, 200, "{body}\n{}", server.log());
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["total"], 2.5);
    assert_eq!(
        json["packed"],
        serde_json::json!([129, 161, 110, 163, 112, 101, 110])
    );
    let (status, body) = post_json(&server, "/items", r#"{"name": "pen", "price": "cheap"}"#);
    assert_eq!(status, 422, "{body}");
    let json: serde_json::Value = serde_json::from_str(&body).expect("json");
    assert_eq!(json["detail"][0]["type"], "float_parsing", "{body}");
    assert_eq!(
        json["detail"][0]["loc"],
        serde_json::json!(["body", "price"])
    );
    assert_eq!(
        server.get("/msgpack"),
        (200, r#"{"same":true}"#.to_string())
    );
    drop(server);

    // The second start reuses the linked and compiled guest.
    let again = dev(&app, &index);
    assert!(!again.log().contains("Linking"), "{}", again.log());
    assert_eq!(again.get("/msgpack").0, 200, "{}", again.log());
}

#[test]
fn fastapi_template_runs_on_real_pydantic() {
    let root = support::tempdir();
    let index = real_index(root.path());
    let app = super::init_template(&root.path().join("t"), "fastapi");
    let server = dev(&app, &index);
    let (status, body) = server.get("/");
    assert_eq!(status, 200, "{body}\n{}", server.log());
    assert!(body.contains("Hello from FastAPI"), "{body}");
    assert_eq!(
        server.get("/items/7?q=x"),
        (200, r#"{"item_id":7,"q":"x"}"#.to_string())
    );
    let (status, body) = server.get("/items/seven");
    assert_eq!(status, 422, "{body}");
    assert!(body.contains("int_parsing"), "{body}");
    drop(server);

    // Deploy validation imports the real pydantic-core too, and the template passes it
    // (Cloudflare deploys it), without --skip-validation.
    let out = support::cmd(&app)
        .env("PYWRANGLER_PYODIDE_INDEX", &index)
        .env(
            "UV_DEFAULT_INDEX",
            format!("file://{}", app.join(".empty").display()),
        )
        .env("UV_CACHE_DIR", app.join(".uv-cache"))
        .args(["deploy", "--dry-run"])
        .output()
        .expect("deploy runs");
    let run = support::Run::from_output(out);
    assert_eq!(run.code, 0, "{}", run.stderr);
    assert!(
        run.stderr.contains("Validated the Worker locally"),
        "{}",
        run.stderr
    );
}

/// An Emscripten-style extension module whose `PyInit__boom` does what a Rust panic does
/// under `catch_unwind`: a legacy `try` around a call to `_Unwind_RaiseException`.
fn panicking_module() -> Vec<u8> {
    use pywrangler_wasmlink::{MemInfo, dylink_section, import_side_module_env};
    use wasm_encoder::{
        BlockType, CodeSection, EntityType, ExportKind, ExportSection, Function, FunctionSection,
        ImportSection, Instruction as I, Module, TagKind, TagType, TypeSection, ValType,
    };
    let mut m = Module::new();
    m.section(&dylink_section(MemInfo::default(), &[])); // no data, no table slots
    let mut types = TypeSection::new();
    types.ty().function([], [ValType::I32]);
    types.ty().function([ValType::I32], [ValType::I32]);
    types.ty().function([], []);
    m.section(&types);
    let mut imports = ImportSection::new();
    import_side_module_env(&mut imports, 0);
    imports.import("env", "_Unwind_RaiseException", EntityType::Function(1));
    let tag = TagType {
        kind: TagKind::Exception,
        func_type_idx: 2,
    };
    imports.import("env", "__cpp_exception", EntityType::Tag(tag));
    m.section(&imports);
    let mut funcs = FunctionSection::new();
    funcs.function(0);
    m.section(&funcs);
    let mut exports = ExportSection::new();
    exports.export("PyInit__boom", ExportKind::Func, 1);
    m.section(&exports);
    let mut code = CodeSection::new();
    let mut f = Function::new([]);
    f.instruction(&I::Try(BlockType::Result(ValType::I32)))
        .instruction(&I::I32Const(16))
        .instruction(&I::Call(0))
        .instruction(&I::CatchAll)
        .instruction(&I::I32Const(0))
        .instruction(&I::End)
        .instruction(&I::End);
    code.function(&f);
    m.section(&code);
    m.finish()
}

/// Writes `boom-1.0` as a Pyodide 3.14 wheel (the panicking module plus its package) into
/// `index`, beside the runtime SDK's real wheel.
fn boom_index(root: &Path) -> std::path::PathBuf {
    let index = root.join("index");
    std::fs::create_dir_all(&index).expect("index dir");
    let so = root.join("_boom.so");
    std::fs::write(&so, panicking_module()).expect("write module");
    let made = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            r#"
import sys, zipfile
index, so = sys.argv[1], sys.argv[2]
tag = "cp314-cp314-pyemscripten_2026_0_wasm32"
with zipfile.ZipFile(f"{index}/boom-1.0-{tag}.whl", "w") as z:
    z.writestr("boom/__init__.py", "from ._boom import *\n")
    z.write(so, "boom/_boom.cpython-314-wasm32-emscripten.so")
    z.writestr("boom-1.0.dist-info/METADATA", "Metadata-Version: 2.1\nName: boom\nVersion: 1.0\n")
    z.writestr("boom-1.0.dist-info/WHEEL", f"Wheel-Version: 1.0\nGenerator: it\nRoot-Is-Purelib: false\nTag: {tag}\n")
    z.writestr("boom-1.0.dist-info/RECORD", "")
"#,
        )
        .arg(&index)
        .arg(&so)
        .status()
        .expect("python3 runs");
    assert!(made.success(), "building the boom wheel failed");
    let sdk = FASTAPI_WHEELS
        .iter()
        .find(|w| w.file.starts_with("workers_runtime_sdk"))
        .expect("sdk wheel");
    std::fs::copy(fetch(sdk), index.join(sdk.file)).expect("copy wheel");
    index
}

#[test]
fn a_panic_in_native_code_fails_that_request_and_the_next_one_succeeds() {
    let root = support::tempdir();
    let index = boom_index(root.path());
    let app = write_app(
        root.path(),
        "boom",
        r#""boom""#,
        "import importlib\nfrom workers import WorkerEntrypoint, Response\n\nclass Default(WorkerEntrypoint):\n    async def fetch(self, request):\n        if request.url.endswith('/boom'):\n            importlib.import_module('boom')\n        return Response('still here')\n",
    );
    let server = dev(&app, &index);
    assert!(
        server.log().contains("Linked 1 native module"),
        "{}",
        server.log()
    );
    let (status, body) = server.get("/boom");
    assert!((500..600).contains(&status), "{status} {body}");
    let log = server.wait_for_log("native code raised an exception");
    assert!(
        log.contains("native code raised an exception (a Rust panic or C++ throw)"),
        "{log}"
    );
    assert_eq!(server.get("/"), (200, "still here".to_string()));
    let (status, _) = server.get("/boom");
    assert!((500..600).contains(&status), "{status}");
    assert_eq!(server.get("/"), (200, "still here".to_string()));
}
