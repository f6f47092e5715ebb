//! Worker loaders under `dev`: a parent Worker builds dynamic Python Workers
//! from code strings with `env.LOADER.get`/`load`, as Cloudflare's dynamic
//! workers documentation shows, and gets their answers back.

use super::{Dev, serve};

const CONFIG: &str = r#"name = "loader-parent"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[[worker_loaders]]
binding = "LOADER"
"#;

const PARENT: &str = r#"import sys

from workers import WorkerEntrypoint, Response

GET_CODE_CALLS = 0

CHILD = '''
from workers import WorkerEntrypoint, Response
from helper import shout

HITS = 0

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        global HITS
        HITS += 1
        body = await request.text()
        return Response(
            f"{shout(self.env.GREETING)} hits={HITS} {request.method} {request.url} body={body}",
            headers={"x-child": "yes"},
        )

class Math(WorkerEntrypoint):
    async def add(self, a, b):
        return {"sum": a + b, "limit": self.env.LIMIT}
'''


def code(main="worker.py", source=CHILD, **extra):
    c = {
        # The date that selects the Python the parent runs on (3.13 or 3.14).
        "compatibilityDate": "2026-11-01" if sys.version_info >= (3, 14) else "2026-08-01",
        "mainModule": main,
        "modules": {main: source, "helper.py": "def shout(s):\n    return s.upper()\n"},
        "env": {"GREETING": "hello from the child", "LIMIT": 7},
    }
    c.update(extra)
    return c


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        global GET_CODE_CALLS
        path = request.url.split("/", 3)[3]
        if path.startswith("get"):

            def get_code():
                global GET_CODE_CALLS
                GET_CODE_CALLS += 1
                return code()

            stub = self.env.LOADER.get("child-1", get_code)
            r = await stub.getEntrypoint().fetch("http://child/x", method="POST", body="ping")
            return Response(f"{r.status} {r.headers.get('x-child')} {await r.text()} calls={GET_CODE_CALLS}")
        if path == "async-get":

            async def get_code():
                return code(env={"GREETING": "async"})

            r = await self.env.LOADER.get("child-async", get_code).getEntrypoint().fetch("http://child/")
            return Response(await r.text())
        if path == "rpc":
            math = self.env.LOADER.load(code()).getEntrypoint("Math")
            result = await math.add(2, 3)
            return Response(f"sum={result.sum} limit={result['limit']}")
        broken = {
            "syntax": code(source="def broken(:\n    pass\n"),
            "js": code(main="worker.js", source="export default { fetch() { return new Response('js') } }"),
            "no-default": code(source="x = 1\n"),
            "raises": code(source="raise ValueError('top level says no')\n"),
            "offline": code(
                source="from workers import WorkerEntrypoint, Response, fetch\n"
                "class Default(WorkerEntrypoint):\n"
                "    async def fetch(self, request):\n"
                "        await fetch('http://127.0.0.1:9/')\n"
                "        return Response('reached the internet')\n",
                globalOutbound=None,
            ),
        }[path]
        try:
            r = await self.env.LOADER.load(broken).getEntrypoint().fetch("http://child/")
            return Response(f"no error: {await r.text()}", status=500)
        except Exception as e:
            return Response(f"caught {type(e).__name__}: {e}")
"#;

/// A dynamic worker answers `fetch` and RPC; `get` with the same id reuses the
/// loaded worker (its module state kept, `get_code` not called again); its
/// env comes from `code.env`; broken code gives the parent a catchable
/// exception with the reason; a JavaScript main module says it cannot run.
#[test]
fn worker_loader_runs_dynamic_python_workers_from_code() {
    let (_dir, dev) = serve(
        &[("wrangler.toml", CONFIG), ("src/entry.py", PARENT)],
        &["--no-reload"],
    );
    let get = |path: &str| {
        let (status, body) = dev.get(path);
        assert_eq!(status, 200, "{path}: {body}\n{}", dev.log());
        body
    };
    assert!(
        !dev.log().contains("not emulated"),
        "the loader is emulated:\n{}",
        dev.log()
    );

    assert_eq!(
        get("/get"),
        "200 yes HELLO FROM THE CHILD hits=1 POST http://child/x body=ping calls=1"
    );
    // Same id: the loaded worker (and its module state) answers again.
    assert_eq!(
        get("/get-again"),
        "200 yes HELLO FROM THE CHILD hits=2 POST http://child/x body=ping calls=1"
    );
    assert!(get("/async-get").starts_with("ASYNC hits=1 GET http://child/"));
    assert_eq!(get("/rpc"), "sum=5 limit=7");

    let syntax = get("/syntax");
    assert!(syntax.starts_with("caught "), "{syntax}");
    assert!(syntax.contains("SyntaxError"), "{syntax}");
    assert!(syntax.contains("worker.py"), "{syntax}");
    let raises = get("/raises");
    assert!(raises.contains("ValueError: top level says no"), "{raises}");
    assert!(raises.contains("Traceback"), "{raises}");
    let js = get("/js");
    assert!(
        js.contains("`worker.js` is JavaScript") && js.contains("runs Python Workers only"),
        "{js}"
    );
    let no_default = get("/no-default");
    assert!(
        no_default.contains("class Default(WorkerEntrypoint)"),
        "{no_default}"
    );
    let offline = get("/offline");
    assert!(
        offline.contains("not permitted to access the internet"),
        "{offline}"
    );
    // The session survives all of it.
    assert!(get("/get").contains("hits=3"));
}

/// Config of the tests below: a loader, a KV namespace, service bindings to
/// this Worker's `Greeter` and `Proxy` entrypoints and a Durable Object
/// namespace, to pass to dynamic workers.
const PASSING_CONFIG: &str = r#"name = "loader-passing"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[[worker_loaders]]
binding = "LOADER"

[[kv_namespaces]]
binding = "KV"
id = "kv-loader"

[[services]]
binding = "GREETER"
service = "loader-passing"
entrypoint = "Greeter"

[[services]]
binding = "PROXY"
service = "loader-passing"
entrypoint = "Proxy"

[[durable_objects.bindings]]
name = "COUNTER"
class_name = "Counter"

[[migrations]]
tag = "v1"
new_sqlite_classes = ["Counter"]
"#;

/// The parent of the tests below; its `fetch` runs `{body}` (Python, indented
/// by 8, with `path`, `code(source, **extra)` and `caught(awaitable)`).
const PASSING_PARENT: &str = r#"import sys

from workers import DurableObject, WorkerEntrypoint, Response


class Counter(DurableObject):
    async def increment(self):
        n = (await self.ctx.storage.get("n")) or 0
        await self.ctx.storage.put("n", n + 1)
        return n + 1


class Greeter(WorkerEntrypoint):
    async def greet(self, name):
        return f"hello {name} from the parent"


class Proxy(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(
            f"proxied {request.method} {request.url} body={await request.text()}",
            headers={"x-proxy": "parent"},
        )


def code(source, **extra):
    c = {
        "compatibilityDate": "2026-11-01" if sys.version_info >= (3, 14) else "2026-08-01",
        "mainModule": "worker.py",
        "modules": {"worker.py": source},
    }
    c.update(extra)
    return c


async def caught(awaitable):
    try:
        result = await awaitable
    except Exception as e:
        return f"caught {type(e).__name__}: {e}"
    if hasattr(result, "text"):
        result = await result.text()
    return f"no error: {result}"


class Default(WorkerEntrypoint):
    async def fetch(self, request):
        path = request.url.split("/", 3)[3]
{body}
        return Response("unknown path", status=404)
"#;

/// `dev` on [`PASSING_PARENT`] with `body` as its `fetch`.
fn passing_dev(body: &str) -> (tempfile::TempDir, Dev) {
    let parent = PASSING_PARENT.replace("{body}", body);
    let files = [("wrangler.toml", PASSING_CONFIG), ("src/entry.py", &parent)];
    serve(&files, &["--no-reload"])
}

fn ok_body(dev: &Dev, path: &str) -> String {
    let (status, body) = dev.get(path);
    assert_eq!(status, 200, "{path}: {body}\n{}", dev.log());
    body
}

/// Bindings passed in `code.env` are the parent's own: the dynamic worker's
/// `STORE` is the parent's KV namespace (same local store both ways), its
/// `SVC` the parent's service binding and `OBJECTS` its Durable Object
/// namespace (the same object); plain values stay vars; a value that
/// cannot be passed fails with an error naming its key.
#[test]
fn worker_loader_passes_parent_bindings_in_code_env() {
    let (_dir, dev) = passing_dev(
        r#"        child = """
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        await self.env.STORE.put("from-child", "written by the child")
        seen = await self.env.STORE.get("from-parent")
        greeting = await self.env.SVC.greet("child")
        n = await self.env.OBJECTS.getByName("shared").increment()
        return Response(f"seen={seen} greeting={greeting} plain={self.env.PLAIN} n={n}")
"""
        if path == "pass":
            await self.env.KV.put("from-parent", "written by the parent")
            env = {"STORE": self.env.KV, "SVC": self.env.GREETER, "OBJECTS": self.env.COUNTER, "PLAIN": 3}
            r = await self.env.LOADER.load(code(child, env=env)).getEntrypoint().fetch("http://child/")
            back = await self.env.KV.get("from-child")
            n = await self.env.COUNTER.getByName("shared").increment()
            return Response(f"{await r.text()} | parent reads: {back} n={n}")
        if path == "object":
            odd = code(child, env={"ODD": object()})
            return Response(await caught(self.env.LOADER.load(odd).getEntrypoint().fetch("http://c/")))
        if path == "loader":
            nested = code(child, env={"NESTED": self.env.LOADER})
            return Response(await caught(self.env.LOADER.load(nested).getEntrypoint().fetch("http://c/")))
"#,
    );
    assert_eq!(
        ok_body(&dev, "/pass"),
        "seen=written by the parent greeting=hello child from the parent plain=3 n=1 | parent reads: written by the child n=2"
    );
    let odd = ok_body(&dev, "/object");
    assert!(
        odd.starts_with("caught TypeError: code.env['ODD']"),
        "{odd}"
    );
    let nested = ok_body(&dev, "/loader");
    assert!(
        nested.starts_with("caught ")
            && nested.contains("NESTED")
            && nested.contains("cannot be passed"),
        "{nested}"
    );
}

/// `getEntrypoint(name, {"props": …})`: the entrypoint sees them as
/// `self.ctx.props` (attribute and item access), in `fetch` and RPC; without
/// props, `ctx.props` is empty.
#[test]
fn worker_loader_entrypoint_props_are_ctx_props() {
    let (_dir, dev) = passing_dev(
        r#"        child = """
from workers import WorkerEntrypoint, Response

class Who(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(f"user={self.ctx.props.user} role={self.ctx.props['role']}")

    async def props(self):
        return dict(self.ctx.props)
"""
        stub = self.env.LOADER.get("props-child", lambda: code(child))
        if path == "fetch":
            who = stub.getEntrypoint("Who", {"props": {"user": "ada", "role": "admin"}})
            return Response(await (await who.fetch("http://c/")).text())
        if path == "rpc":
            with_props = await stub.getEntrypoint("Who", {"props": {"n": 1}}).props()
            without = await stub.getEntrypoint("Who").props()
            return Response(f"{dict(with_props)} {dict(without)}")
"#,
    );
    assert_eq!(ok_body(&dev, "/fetch"), "user=ada role=admin");
    assert_eq!(ok_body(&dev, "/rpc"), "{'n': 1} {}");
}

/// `globalOutbound` set to a service binding: the dynamic worker's `fetch()`
/// is answered by that service (here the parent's `Proxy` entrypoint), not
/// the network, for `workers.fetch` and a sync client (`urllib`) alike; a
/// binding that is not a Fetcher is refused by name.
#[test]
fn worker_loader_global_outbound_service_receives_fetch() {
    let (_dir, dev) = passing_dev(
        r#"        child = """
from workers import WorkerEntrypoint, Response, fetch

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        if request.url.endswith("/sync"):
            import urllib.request
            with urllib.request.urlopen("http://example.invalid/by-urllib") as r:
                return Response(f"{r.status} {r.read().decode()}")
        r = await fetch("https://example.invalid/path?q=1", method="POST", body="ping")
        return Response(f"{r.status} {r.headers.get('x-proxy')} {await r.text()}")
"""
        if path == "proxy":
            proxied = code(child, globalOutbound=self.env.PROXY)
            worker = self.env.LOADER.load(proxied).getEntrypoint()
            r = await worker.fetch("http://c/")
            sync = await worker.fetch("http://c/sync")
            return Response(f"{await r.text()} | {await sync.text()}")
        if path == "kv":
            kv = code(child, globalOutbound=self.env.KV)
            return Response(await caught(self.env.LOADER.load(kv).getEntrypoint().fetch("http://c/")))
"#,
    );
    assert_eq!(
        ok_body(&dev, "/proxy"),
        "200 parent proxied POST https://example.invalid/path?q=1 body=ping | 200 proxied GET http://example.invalid/by-urllib body="
    );
    let kv = ok_body(&dev, "/kv");
    assert!(
        kv.starts_with("caught ") && kv.contains("`KV` is a kv binding"),
        "{kv}"
    );
}

/// A dynamic worker whose compatibilityDate/compatibilityFlags select another
/// Python version than the parent's guest fails with a catchable error naming
/// both versions (it would run differently on Cloudflare); flags that select
/// the parent's version run; a missing compatibilityDate is a TypeError.
#[test]
fn worker_loader_refuses_a_dynamic_worker_for_another_python_version() {
    let (_dir, dev) = passing_dev(
        r#"        child = """
import sys
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(f"python {sys.version_info.major}.{sys.version_info.minor}")
"""
        on_314 = sys.version_info >= (3, 14)
        flags = [] if on_314 else ["python_workers_314"]
        other = code(child, compatibilityDate="2026-08-01", compatibilityFlags=flags)
        same = code(child, compatibilityDate="2026-08-01", compatibilityFlags=["python_workers_314"] if on_314 else [])
        if path == "other":
            return Response(await caught(self.env.LOADER.load(other).getEntrypoint().fetch("http://c/")))
        if path == "same":
            return Response(await caught(self.env.LOADER.load(same).getEntrypoint().fetch("http://c/")))
        if path == "no-date":
            c = code(child)
            del c["compatibilityDate"]
            return Response(await caught(self.env.LOADER.load(c).getEntrypoint().fetch("http://c/")))
"#,
    );
    let same = ok_body(&dev, "/same");
    assert!(same.starts_with("no error: python 3.1"), "{same}");
    let here = same.trim_start_matches("no error: python ").to_string();
    let wanted = if here == "3.14" { "3.13" } else { "3.14" };
    let other = ok_body(&dev, "/other");
    assert!(
        other.starts_with("caught ")
            && other.contains(&format!("select Python {wanted} on Cloudflare"))
            && other.contains(&format!("runs Python {here}")),
        "{other}"
    );
    let no_date = ok_body(&dev, "/no-date");
    assert!(
        no_date.starts_with("caught TypeError:") && no_date.contains("compatibilityDate"),
        "{no_date}"
    );
}

/// Regression: a Python 3.12 project runs on the 3.13 guest, and a dynamic
/// worker with the parent's own date (which selects 3.12 too) was refused
/// as "another Python version". It runs, on the parent's interpreter.
#[test]
fn a_python_312_parent_loads_a_dynamic_worker_with_its_own_date() {
    let config = CONFIG.replace("\"2026-08-01\"", "\"2025-06-01\"");
    let parent = r#"import sys
from workers import WorkerEntrypoint, Response

CHILD = '''
import sys
from workers import WorkerEntrypoint, Response

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        return Response(f"child on {sys.version_info.major}.{sys.version_info.minor}")
'''

class Default(WorkerEntrypoint):
    async def fetch(self, request):
        code = {"compatibilityDate": "2025-06-01", "mainModule": "w.py", "modules": {"w.py": CHILD}}
        r = await self.env.LOADER.load(code).getEntrypoint().fetch("http://child/")
        return Response(await r.text())
"#;
    let (_dir, dev) = serve(
        &[("wrangler.toml", &config), ("src/entry.py", parent)],
        &["--no-reload"],
    );
    let (status, body) = dev.get("/");
    assert_eq!(status, 200, "{body}\n{}", dev.log());
    assert!(body.starts_with("child on 3.1"), "{body}");
}
