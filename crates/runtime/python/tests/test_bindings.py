"""env binding proxies against the in-memory fake host: vars, secrets, KV,
D1, R2, Durable Objects (RPC re-enters the guest), queues, services."""

import json
import unittest

from support import Guest

ENV = {
    "NAME": {"type": "var", "value": "world"},
    "CONF": {"type": "var", "value": {"a": {"b": [1, 2]}, "on": True}},
    "LIMIT": {"type": "var", "value": 5},
    "TOKEN": {"type": "secret", "value": "s3cret"},
    "KV": {"type": "kv"},
    "DB": {"type": "d1"},
    "BUCKET": {"type": "r2"},
    "COUNTER": {"type": "durable_object", "class_name": "Counter"},
    "JOBS": {"type": "queue", "queue": "jobs-queue"},
    "SELF": {"type": "service", "service": "me", "entrypoint": "Api"},
    "SELF_DEFAULT": {"type": "service", "service": "me", "entrypoint": None},
    "AI": {"type": "ai"},
}


def worker(body):
    """A Default.fetch whose body (indented code) fills `out` and returns it as JSON."""
    lines = "\n".join("        " + line for line in body.strip("\n").splitlines())
    return (
        "import json\n"
        "from workers import WorkerEntrypoint, DurableObject, Response\n"
        "class Default(WorkerEntrypoint):\n"
        "    async def fetch(self, request):\n"
        "        env = self.env\n"
        "        out = {}\n"
        f"{lines}\n"
        "        return Response.json(out)\n"
    )


class BindingTests(unittest.TestCase):
    def run_worker(self, body, extra=""):
        g = Guest(worker(body) + extra, env=ENV)
        self.addCleanup(g.close)
        h, out = g.fetch("/")
        self.assertTrue(h["ok"], h.get("error", {}).get("traceback"))
        return g, json.loads(out)

    def test_vars_and_secrets(self):
        _, out = self.run_worker(
            """
out["name"] = env.NAME
out["b"] = env.CONF.a.b
out["on"] = env.CONF["on"]
out["limit"] = env.LIMIT + 1
out["token"] = env.TOKEN
out["types"] = [type(env.NAME).__name__, type(env.TOKEN).__name__]
out["has"] = ["KV" in env, "NOPE" in env, hasattr(env, "NOPE")]
try:
    env.NOPE
except AttributeError as e:
    out["missing"] = str(e)
try:
    env.AI.run("x")
except NotImplementedError as e:
    out["ai"] = str(e)
import workers
out["module_env"] = workers.env.NAME
from workers import import_from_javascript
out["cf_env"] = import_from_javascript("cloudflare:workers").env.TOKEN
"""
        )
        self.assertEqual(out["name"], "world")
        self.assertEqual(out["b"], [1, 2])
        self.assertEqual((out["on"], out["limit"], out["token"]), (True, 6, "s3cret"))
        self.assertEqual(out["types"], ["str", "str"])
        self.assertEqual(out["has"], [True, False, False])
        self.assertIn("env has no binding named 'NOPE'", out["missing"])
        self.assertIn("'AI' of type 'ai' is not emulated by pywrangler-rs dev yet", out["ai"])
        self.assertEqual((out["module_env"], out["cf_env"]), ("world", "s3cret"))

    def test_kv(self):
        g, out = self.run_worker(
            """
await env.KV.put("a", "1")
await env.KV.put("j", json.dumps({"x": [1]}), {"metadata": {"m": 1}, "expirationTtl": 60})
await env.KV.put("bin", b"\\x00\\x01")
out["get"] = await env.KV.get("a")
out["missing"] = await env.KV.get("zzz")
j = await env.KV.get("j", "json")
out["json"] = j.x
out["json_kw"] = (await env.KV.get("j", type="json"))["x"]
buf = await env.KV.get("bin", "arrayBuffer")
out["buf"] = list(buf.to_bytes())
meta = await env.KV.getWithMetadata("j")
out["meta"] = [meta.value, meta.metadata.m]
lst = await env.KV.list({"prefix": ""})
out["list"] = [k.name for k in lst["keys"]]
out["complete"] = lst.list_complete
await env.KV.delete("a")
out["deleted"] = await env.KV.get("a")
"""
        )
        self.assertEqual(out["get"], "1")
        self.assertIsNone(out["missing"])
        self.assertEqual((out["json"], out["json_kw"], out["buf"]), ([1], [1], [0, 1]))
        self.assertEqual(out["meta"], ['{"x": [1]}', 1])
        self.assertEqual(out["list"], ["a", "bin", "j"])
        self.assertTrue(out["complete"])
        self.assertIsNone(out["deleted"])
        put = [c for c in g.host.calls if c[0] == "kv.put" and c[2]["key"] == "j"][0]
        self.assertEqual(put[1], "KV")
        self.assertEqual(put[2], {"key": "j", "expiration_ttl": 60, "metadata": {"m": 1}})

    def test_d1(self):
        _, out = self.run_worker(
            """
r = await env.DB.exec("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT); INSERT INTO t (name) VALUES ('a')")
out["exec"] = r.count
ins = await env.DB.prepare("INSERT INTO t (name) VALUES (?)").bind("b").run()
out["run"] = [ins.success, ins.meta.changes, ins.meta.last_row_id]
res = await env.DB.prepare("SELECT * FROM t ORDER BY id").all()
out["all"] = [row.name for row in res.results]
out["first"] = (await env.DB.prepare("SELECT * FROM t WHERE id = ?").bind(2).first()).name
out["first_col"] = await env.DB.prepare("SELECT count(*) AS n FROM t").first("n")
out["none"] = await env.DB.prepare("SELECT * FROM t WHERE id = ?").bind(99).first()
out["raw"] = await env.DB.prepare("SELECT id, name FROM t ORDER BY id").raw()
out["raw_names"] = await env.DB.prepare("SELECT id, name FROM t ORDER BY id").raw(columnNames=True)
b = await env.DB.batch([env.DB.prepare("SELECT 1 AS one"), env.DB.prepare("SELECT ? AS v").bind("x")])
out["batch"] = [b[0].results[0].one, b[1].results[0].v]
try:
    env.DB.prepare("SELECT ?").bind(b"x")
except TypeError as e:
    out["blob"] = str(e)
"""
        )
        self.assertEqual(out["exec"], 2)
        self.assertEqual(out["run"], [True, 1, 2])
        self.assertEqual(out["all"], ["a", "b"])
        self.assertEqual((out["first"], out["first_col"], out["none"]), ("b", 2, None))
        self.assertEqual(out["raw"], [[1, "a"], [2, "b"]])
        self.assertEqual(out["raw_names"], [["id", "name"], [1, "a"], [2, "b"]])
        self.assertEqual(out["batch"], [1, "x"])
        self.assertIn("BLOB", out["blob"])

    def test_r2(self):
        _, out = self.run_worker(
            """
put = await env.BUCKET.put("k/one.txt", "hello", {"httpMetadata": {"contentType": "text/plain"}, "customMetadata": {"who": "me"}})
out["put"] = [put.key, put.size, put.etag, put.httpMetadata.contentType, put.customMetadata.who, put.uploaded.year]
await env.BUCKET.put("k/two.json", b'{"a": 1}')
obj = await env.BUCKET.get("k/one.txt")
out["text"] = await obj.text()
out["meta"] = [obj.key, obj.size, obj.httpEtag, obj.customMetadata["who"]]
obj2 = await env.BUCKET.get("k/two.json")
out["json"] = (await obj2.json()).a
obj3 = await env.BUCKET.get("k/one.txt", {"range": {"offset": 1, "length": 3}})
out["range"] = (await obj3.bytes()).decode()
out["ab"] = len(await (await env.BUCKET.get("k/one.txt")).arrayBuffer())
head = await env.BUCKET.head("k/two.json")
out["head"] = [head.key, head.size]
out["head_missing"] = await env.BUCKET.head("nope")
out["get_missing"] = await env.BUCKET.get("nope")
lst = await env.BUCKET.list({"prefix": "k/"})
out["list"] = [o.key for o in lst.objects]
out["truncated"] = lst.truncated
await env.BUCKET.delete(["k/one.txt"])
out["after"] = [o.key for o in (await env.BUCKET.list()).objects]
from workers import Headers
h = Headers()
obj.writeHttpMetadata(h)
out["ct"] = h.get("content-type")
"""
        )
        self.assertEqual(out["put"], ["k/one.txt", 5, "5d41402abc4b2a76b9719d911017c592", "text/plain", "me", 2023])
        self.assertEqual(out["text"], "hello")
        self.assertEqual(out["meta"], ["k/one.txt", 5, '"5d41402abc4b2a76b9719d911017c592"', "me"])
        self.assertEqual((out["json"], out["range"], out["ab"]), (1, "ell", 5))
        self.assertEqual(out["head"], ["k/two.json", 8])
        self.assertIsNone(out["head_missing"])
        self.assertIsNone(out["get_missing"])
        self.assertEqual(out["list"], ["k/one.txt", "k/two.json"])
        self.assertFalse(out["truncated"])
        self.assertEqual(out["after"], ["k/two.json"])
        self.assertEqual(out["ct"], "text/plain")

    def test_r2_multipart_conditionals_and_checksums(self):
        g, out = self.run_worker(
            """
import datetime
mpu = await env.BUCKET.createMultipartUpload("big.bin", {"httpMetadata": {"contentType": "application/x-big"}, "customMetadata": {"n": "2"}})
out["mpu"] = [mpu.key, mpu.uploadId]
p1 = await mpu.uploadPart(1, b"a" * 4)
p2 = await env.BUCKET.resumeMultipartUpload("big.bin", mpu.uploadId).uploadPart(2, "bc")
out["parts"] = [[p1.partNumber, p1.etag], [p2["partNumber"], p2["etag"]]]
try:
    await mpu.uploadPart("1", b"x")
except TypeError as e:
    out["bad_number"] = str(e)
obj = await mpu.complete([p2, {"partNumber": 1, "etag": p1.etag}])
out["complete"] = [type(obj).__name__, obj.key, obj.size, obj.etag, obj.httpMetadata.contentType]
m2 = await env.BUCKET.createMultipartUpload("gone.bin")
await m2.abort()
got = await env.BUCKET.get("big.bin", {"onlyIf": {"etagMatches": "nope"}})
out["cond_fail"] = [type(got).__name__, got.key, hasattr(got, "text")]
got = await env.BUCKET.get("big.bin", onlyIf={"etagMatches": obj.etag})
out["cond_ok"] = await got.text()
from workers import Headers
await env.BUCKET.get("big.bin", {"onlyIf": Headers({"If-None-Match": 'W/"w", "s"', "If-Modified-Since": "Wed, 21 Oct 2015 07:28:00 GMT"})})
await env.BUCKET.put("k", "v", {"onlyIf": {"uploadedBefore": datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)}, "sha256": "AB" * 32})
try:
    await env.BUCKET.get("big.bin", {"onlyIf": {"etagMatches": '"quoted"'}})
except TypeError as e:
    out["quoted"] = str(e)
for value in ("abc", '"a" "b"', 'W"a"', '"open'):
    try:
        await env.BUCKET.get("big.bin", {"onlyIf": Headers({"If-Match": value})})
    except Exception as e:
        out.setdefault("header_errors", []).append(e.message)
await env.BUCKET.get("big.bin", {"onlyIf": Headers({"If-Match": '"a", W/"b", *'})})
from _pywrangler.bindings import R2Object
listed = R2Object({"key": "k", "httpMetadata": None, "customMetadata": {"a": "1"}})
out["listed"] = [listed.httpMetadata, listed.customMetadata.a]
sums = R2Object({"key": "k", "checksums": {"md5": "0F" * 16, "sha256": None}}).checksums
out["sums"] = [list(sums.md5[:2]), sums.sha256, dict(sums.toJSON())]
try:
    listed.writeHttpMetadata(Headers())
except TypeError as e:
    out["unknown_http"] = str(e)
for opts in ({"md5": "00" * 16, "sha1": "00" * 20}, {"md5": "abc"}, {"sha1": "zz" * 20}, {"md5": b"x"}):
    try:
        await env.BUCKET.put("k", "v", opts)
    except TypeError as e:
        out.setdefault("checksum_errors", []).append(str(e))
"""
        )
        self.assertEqual(out["mpu"], ["big.bin", "u1"])
        self.assertEqual(out["parts"], [[1, "e1"], [2, "e2"]])
        self.assertIn("partNumber must be an int", out["bad_number"])
        self.assertEqual(out["complete"], ["R2Object", "big.bin", 6, "x-2", "application/x-big"])
        self.assertEqual(out["cond_fail"], ["R2Object", "big.bin", False])
        self.assertEqual(out["cond_ok"], "aaaabc")
        self.assertEqual(out["quoted"], 'Conditional ETag should not be wrapped in quotes ("quoted").')
        self.assertEqual(
            out["checksum_errors"],
            [
                "You cannot specify multiple hashing algorithms.",
                "MD5 is 32 hex characters, not 3",
                "Provided SHA-1 wasn't a valid hex string",
                "MD5 is 16 bytes, not 1",
            ],
        )
        ops = [c for c in g.host.calls if c[0].startswith("r2.")]
        create = [c for c in ops if c[0] == "r2.mpu.create"][0]
        self.assertEqual(create[2], {"key": "big.bin", "http_metadata": {"contentType": "application/x-big"}, "custom_metadata": {"n": "2"}})
        complete = [c for c in ops if c[0] == "r2.mpu.complete"][0]
        self.assertEqual(complete[2]["parts"], [{"partNumber": 2, "etag": "e2"}, {"partNumber": 1, "etag": "e1"}])
        self.assertEqual([c[0] for c in ops if c[0].startswith("r2.mpu.")], ["r2.mpu.create", "r2.mpu.part", "r2.mpu.part", "r2.mpu.complete", "r2.mpu.create", "r2.mpu.abort"])
        gets = [c[2].get("only_if") for c in ops if c[0] == "r2.get"]
        self.assertEqual(gets[0], {"etag_matches": [{"type": "strong", "value": "nope"}]})
        self.assertEqual(
            gets[2],
            {"etag_does_not_match": [{"type": "weak", "value": "w"}, {"type": "strong", "value": "s"}], "uploaded_after": 1445412480000, "seconds_granularity": True},
        )
        self.assertEqual(
            out["header_errors"],
            [
                "Invalid ETag in if-match header",
                "Comma was expected to separate etags. Encountered a double quote character '\"' instead. This would otherwise indicate the start of a new strong etag.",
                "Weak etags must start with W/ and their value must be quoted",
                "Unclosed double quote for Etag",
            ],
        )
        self.assertEqual(gets[-1], {"etag_matches": [{"type": "wildcard"}], "seconds_granularity": True})
        self.assertEqual(out["listed"], [None, "1"])
        self.assertEqual(out["sums"], [[15, 15], None, {"md5": "0f" * 16}])
        self.assertIn("Did you forget to add 'httpMetadata' to `include`", out["unknown_http"])
        put = [c for c in ops if c[0] == "r2.put"][0]
        self.assertEqual(put[2], {"key": "k", "only_if": {"uploaded_before": 1577836800000}, "sha256": "ab" * 32})

    def test_kv_bulk_get_and_cache_ttl(self):
        g, out = self.run_worker(
            """
await env.KV.put("a", "1")
await env.KV.put("j", json.dumps({"x": 1}), {"metadata": {"m": 1}})
many = await env.KV.get(["a", "zzz"])
out["bulk"] = [type(many).__name__, many["a"], many.get("zzz", "absent")]
out["bulk_json"] = (await env.KV.get(["j"], "json"))["j"].x
meta = await env.KV.getWithMetadata(["j", "zzz"], {"type": "json"})
out["bulk_meta"] = [meta["j"].value.x, meta["j"].metadata.m, meta["zzz"]]
await env.KV.get("a", {"cacheTtl": 60})
lst = await env.KV.list()
out["cache_status"] = ["cacheStatus" in lst, lst.cacheStatus]
try:
    await env.KV.get("a", {"cacheTtl": "60"})
except TypeError as e:
    out["ttl_type"] = str(e)
"""
        )
        self.assertEqual(out["bulk"], ["JsDict", "1", None])
        self.assertEqual(out["bulk_json"], 1)
        self.assertEqual(out["bulk_meta"], [1, 1, None])
        self.assertIn("cacheTtl must be a number", out["ttl_type"])
        self.assertEqual(out["cache_status"], [True, None])
        gets = [c[2] for c in g.host.calls if c[0] == "kv.get"]
        self.assertEqual(gets[0], {"keys": ["a", "zzz"], "type": "text", "with_metadata": False})
        self.assertEqual(gets[3], {"key": "a", "type": "text", "with_metadata": False, "cache_ttl": 60})

    DO_CLASS = '''
class Counter(DurableObject):
    instances = 0

    def __init__(self, ctx, env):
        super().__init__(ctx, env)
        Counter.instances += 1
        self.hits = 0
        self.ctx.storage.sql.exec("CREATE TABLE IF NOT EXISTS log (msg TEXT)")

    async def increment(self, by=1):
        self.hits += 1
        n = (await self.ctx.storage.get("n") or 0) + by
        await self.ctx.storage.put("n", n)
        self.ctx.storage.sql.exec("INSERT INTO log VALUES (?)", f"inc {by}")
        return {"n": n, "hits": self.hits, "instances": Counter.instances, "id": str(self.ctx.id)}

    async def state(self):
        rows = self.ctx.storage.sql.exec("SELECT msg FROM log").toArray()
        await self.ctx.storage.setAlarm(1700000000000)
        return {
            "log": [r.msg for r in rows],
            "list": await self.ctx.storage.list(),
            "many": await self.ctx.storage.get(["n", "zz"]),
            "alarm": await self.ctx.storage.getAlarm(),
            "deleted": await self.ctx.storage.delete("n"),
        }

    async def fetch(self, request):
        return Response(f"DO {request.method} {request.url} {await request.text()}", status=202)

    async def alarm(self):
        await self.ctx.storage.put("alarmed", True)
'''

    def test_durable_objects(self):
        g, out = self.run_worker(
            """
stub = env.COUNTER.getByName("alpha")
out["first"] = await stub.increment()
out["second"] = await stub.increment(5)
other = env.COUNTER.get(env.COUNTER.idFromName("beta"))
out["other"] = await other.increment()
out["same_id"] = env.COUNTER.idFromName("alpha") == stub.id
out["name"] = stub.name
out["state"] = await stub.state()
r = await stub.fetch("https://do/path", method="POST", body="payload")
out["fetch"] = [r.status, await r.text()]
uid = env.COUNTER.newUniqueId()
out["uid_len"] = len(str(uid))
""",
            self.DO_CLASS,
        )
        self.assertEqual(out["first"]["n"], 1)
        self.assertEqual(out["second"]["n"], 6)
        self.assertEqual(out["second"]["hits"], 2, "the instance is cached per (class, id)")
        self.assertEqual(out["second"]["instances"], 1)
        self.assertEqual(out["other"]["n"], 1)
        self.assertEqual(out["other"]["instances"], 2)
        self.assertNotEqual(out["other"]["id"], out["first"]["id"])
        self.assertTrue(out["same_id"])
        self.assertEqual(out["name"], "alpha")
        st = out["state"]
        self.assertEqual(st["log"], ["inc 1", "inc 5"])
        self.assertEqual(st["list"], {"n": 6})
        self.assertEqual(st["many"], {"n": 6})
        self.assertEqual((st["alarm"], st["deleted"]), (1700000000000, True))
        self.assertEqual(out["fetch"], [202, "DO POST https://do/path payload"])
        self.assertEqual(out["uid_len"], 64)
        # The alarm event reaches the cached instance.
        do_id = out["first"]["id"]
        h, _ = g.invoke({"v": 1, "kind": "alarm", "class": "Counter", "id": do_id})
        self.assertEqual(h, {"v": 1, "ok": True, "result": None})
        self.assertIs(g.host.do_storage[("Counter", do_id)]["alarmed"], True)

    def test_queue_producer(self):
        g, _ = self.run_worker(
            """
await env.JOBS.send({"job": 1})
await env.JOBS.send("text", contentType="text", delaySeconds=3)
await env.JOBS.sendBatch([{"body": 1}, {"body": [2], "delaySeconds": 9}])
"""
        )
        self.assertEqual(
            g.host.queues,
            [
                ("jobs-queue", [{"body": {"job": 1}}]),
                ("jobs-queue", [{"body": "text", "content_type": "text", "delay_seconds": 3}]),
                ("jobs-queue", [{"body": 1}, {"body": [2], "delay_seconds": 9}]),
            ],
        )

    def test_service_binding_fetch_and_rpc(self):
        _, out = self.run_worker(
            """
out["rpc"] = await env.SELF.add(2, 40)
r = await env.SELF.fetch("https://svc/x", headers={"x-a": "1"})
out["fetch"] = await r.text()
if request.url.endswith("/inner"):
    return Response("default entrypoint")
out["default"] = await (await env.SELF_DEFAULT.fetch("https://svc/inner")).text()
""",
            """
class Api(WorkerEntrypoint):
    async def add(self, a, b):
        return {"sum": a + b}
    async def fetch(self, request):
        return Response("api " + request.headers.get("x-a"))
""",
        )
        self.assertEqual(out["rpc"], {"sum": 42})
        self.assertEqual(out["fetch"], "api 1")
        self.assertEqual(out["default"], "default entrypoint")

    def test_rpc_errors_surface_as_js_exceptions(self):
        _, out = self.run_worker(
            """
from pyodide.ffi import JsException
try:
    await env.SELF.missing_method()
except JsException as e:
    out["err"] = str(e)
""",
            "class Api(WorkerEntrypoint):\n    pass\n",
        )
        self.assertIn("Api has no missing_method() method", out["err"])


if __name__ == "__main__":
    unittest.main()


class MakeBindingTests(unittest.TestCase):
    """`make_binding` finds each `env` entry type in the modules' `TYPES`."""

    def test_each_type_makes_its_kinds_proxy_and_unknown_types_say_so(self):
        g = Guest("x = 1\n")
        self.addCleanup(g.close)
        from _pywrangler import bindings

        cases = {
            "kv": bindings.KVNamespace,
            "d1": bindings.D1Database,
            "r2": bindings.R2Bucket,
            "durable_object": bindings.DurableObjectNamespace,
            "queue": bindings.Queue,
            "service": bindings.ServiceBinding,
            "assets": bindings.Fetcher,
            "version_metadata": bindings.WorkerVersionMetadata,
            "hyperdrive": bindings.Hyperdrive,
            "analytics_engine": bindings.AnalyticsEngineDataset,
            "pipelines": bindings.Pipeline,
            "ratelimit": bindings.RateLimit,
            "secrets_store_secret": bindings.SecretsStoreSecret,
            "remote_only": bindings.RemoteOnlyBinding,
            "teleport": bindings.UnsupportedBinding,
        }
        for kind, cls in cases.items():
            with self.subTest(kind=kind):
                self.assertIsInstance(bindings.make_binding("B", {"type": kind}), cls)
        self.assertEqual(bindings.make_binding("V", {"type": "var", "value": "x"}), "x")
        self.assertEqual(bindings.make_binding("S", {"type": "secret", "value": 7}), "7")
        with self.assertRaisesRegex(NotImplementedError, "'teleport' is not emulated"):
            bindings.make_binding("T", {"type": "teleport"}).anything
