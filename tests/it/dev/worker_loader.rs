//! Worker loaders under `dev`: a parent Worker builds dynamic Python Workers
//! from code strings with `env.LOADER.get`/`load`, as Cloudflare's dynamic
//! workers documentation shows, and gets their answers back.

use super::serve;

const CONFIG: &str = r#"name = "loader-parent"
main = "src/entry.py"
compatibility_date = "2026-08-01"
compatibility_flags = ["python_workers"]

[[worker_loaders]]
binding = "LOADER"
"#;

const PARENT: &str = r#"from workers import WorkerEntrypoint, Response

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
        "compatibilityDate": "2026-08-01",
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
