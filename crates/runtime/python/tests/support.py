"""Test harness: load the guest runtime in this (host) Python with a fake
`_pwhost` module that implements the host_call ops in memory, then drive it
with pw_invoke envelopes exactly as the wasmtime host does."""

import hashlib
import json
import os
import shutil
import sqlite3
import struct
import sys
import tempfile
import textwrap

RUNTIME_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
if RUNTIME_DIR not in sys.path:
    sys.path.insert(0, RUNTIME_DIR)

_RUNTIME_MODULES = ("_pywrangler", "workers", "js", "pyodide", "asgi", "_pwhost")


# An envelope codec written independently of _pywrangler.envelope, so the
# tests check the wire format rather than the guest against itself.
def enc(header, body=b""):
    raw = json.dumps(header).encode()
    return struct.pack("<I", len(raw)) + raw + body


def dec(data):
    (n,) = struct.unpack_from("<I", data, 0)
    return json.loads(data[4 : 4 + n].decode()), data[4 + n :]


def _purge(names):
    for mod in list(sys.modules):
        if any(mod == n or mod.startswith(n + ".") for n in names):
            del sys.modules[mod]


def unload_runtime():
    ent = sys.modules.get("_pywrangler.entropy")
    if ent is not None:
        ent.uninstall()
    pt = sys.modules.get("_pywrangler.patches")
    if pt is not None:
        pt.uninstall()
    lp = sys.modules.get("_pywrangler.loop")
    if lp is not None and lp._main_loop is not None and not lp._main_loop.is_closed():
        lp._main_loop.close()
    _purge(_RUNTIME_MODULES)


class FakeHost:
    """In-memory implementations of the ABI's host_call ops."""

    def __init__(self, guest):
        self.guest = guest
        self.calls = []  # (op, binding, args, body)
        self.kv = {}  # (binding, key) -> (bytes, metadata)
        self.r2 = {}  # (binding, key) -> (bytes, meta)
        self.db = sqlite3.connect(":memory:")
        self.do_storage = {}  # (class, id) -> {key: json}
        self.do_sql = {}  # (class, id) -> sqlite3 connection
        self.alarms = {}
        self.queues = []
        self.fetches = []
        self.fetch_streams = {}  # stream id -> body chunks still "on the host"
        self.streamed = None
        self.fail_writes_after = None
        self.pulled = {}  # request id -> chunks still on the "connection"

    def call(self, data):
        header, body = dec(bytes(data))
        assert header["v"] == 1, header
        op, binding, args = header["op"], header.get("binding"), header.get("args", {})
        self.calls.append((op, binding, args, body))
        try:
            value, out = getattr(self, "op_" + op.replace(".", "_"))(binding, args, body)
        except KeyError as e:
            return enc({"v": 1, "ok": False, "error": {"type": "Error", "message": f"{op} failed: {e}"}})
        except TimeoutError as e:
            return enc({"v": 1, "ok": False, "error": {"type": "TimeoutError", "message": str(e)}})
        return enc({"v": 1, "ok": True, "value": value}, out)

    # -- streamed responses (the host's end: record the start and every chunk)
    def op_response_start(self, b, a, body):
        self.streamed = {"status": a["status"], "headers": a["headers"], "chunks": []}
        return None, b""

    def op_response_write(self, b, a, body):
        if self.fail_writes_after is not None and len(self.streamed["chunks"]) >= self.fail_writes_after:
            raise KeyError("client disconnected")
        self.streamed["chunks"].append(bytes(body))
        return None, b""

    # -- request bodies left on the host (`body_stream`): one chunk per read
    def op_request_read(self, b, a, body):
        chunks = self.pulled.get(a.get("id"))
        if chunks is None:
            raise KeyError("the request body can only be read while its request is being handled")
        if not chunks:
            return {"done": True}, b""
        return {"done": False}, chunks.pop(0)

    # -- fetch
    def op_fetch(self, binding, a, body):
        self.fetches.append((a, body))
        if "fail" in a["url"]:
            raise KeyError("network unreachable")
        if "slow" in a["url"] and a.get("timeout_ms") is not None:
            raise TimeoutError(f"fetch to {a['url']} timed out")
        if a.get("stream"):
            # The body stays "on the host" in three pieces for fetch.read.
            sid = len(self.fetches)
            self.fetch_streams[sid] = [b"echo:", bytes(body), b":end"]
            head = {"status": 200, "status_text": "OK", "headers": [["x-echo-method", a["method"]], ["content-type", "text/plain"]], "url": a["url"], "stream": sid}
            return head, b""
        return {"status": 201, "status_text": "Created", "headers": [["x-echo-method", a["method"]], ["content-type", "text/plain"]], "url": a["url"]}, b"echo:" + body

    def op_fetch_read(self, binding, a, body):
        chunks = self.fetch_streams[a["id"]]
        if not chunks:
            del self.fetch_streams[a["id"]]
            return {"done": True}, b""
        return {"done": False}, chunks.pop(0)

    def op_fetch_close(self, binding, a, body):
        self.fetch_streams.pop(a["id"], None)
        return None, b""

    # -- HTMLRewriter: a stand-in for lol_html that upper-cases each chunk
    def op_html_start(self, binding, a, body):
        return {"id": 7}, b""

    def op_html_write(self, binding, a, body):
        return None, body.upper()

    def op_html_end(self, binding, a, body):
        return None, b"<!--end-->"

    def op_html_close(self, binding, a, body):
        return None, b""

    # -- KV
    def op_kv_get(self, b, a, body):
        if "keys" in a:
            vals = {}
            for k in a["keys"]:
                hit = self.kv.get((b, k))
                v = None if hit is None else hit[0].decode()
                if v is not None and a.get("type") == "json":
                    v = json.loads(v)
                if v is not None and a.get("with_metadata"):
                    v = {"value": v, "metadata": hit[1]}
                vals[k] = v
            return {"values": vals}, b""
        hit = self.kv.get((b, a["key"]))
        if hit is None:
            return None, b""
        return {"metadata": hit[1]}, hit[0]

    def op_kv_put(self, b, a, body):
        self.kv[(b, a["key"])] = (body, a.get("metadata"))
        return None, b""

    def op_kv_delete(self, b, a, body):
        self.kv.pop((b, a["key"]), None)
        return None, b""

    def op_kv_list(self, b, a, body):
        names = sorted(k for (bb, k) in self.kv if bb == b and k.startswith(a.get("prefix") or ""))
        limit = a.get("limit", 1000)
        keys = [{"name": n} for n in names[:limit]]
        return {"keys": keys, "list_complete": len(names) <= limit, "cursor": None if len(names) <= limit else "c1"}, b""

    # -- D1 (real SQLite)
    def _d1(self, sql, params):
        cur = self.db.execute(sql, params)
        cols = [c[0] for c in cur.description or []]
        rows = cur.fetchall()
        self.db.commit()
        return cur, cols, rows

    def op_d1_query(self, b, a, body):
        cur, cols, rows = self._d1(a["sql"], a["params"])
        mode = a["mode"]
        if mode == "first":
            if not rows:
                return None, b""
            row = dict(zip(cols, rows[0]))
            return (row[a["column"]] if a.get("column") else row), b""
        if mode == "raw":
            out = [list(r) for r in rows]
            return ([cols] + out if a.get("column_names") else out), b""
        meta = {"changes": cur.rowcount if cur.rowcount > 0 else 0, "last_row_id": cur.lastrowid, "rows_read": len(rows), "rows_written": max(cur.rowcount, 0), "duration": 0.1, "changed_db": cur.rowcount > 0, "size_after": 0}
        return {"success": True, "results": [dict(zip(cols, r)) for r in rows], "meta": meta}, b""

    def op_d1_exec(self, b, a, body):
        n = len([s for s in a["sql"].split(";") if s.strip()])
        self.db.executescript(a["sql"])
        return {"count": n, "duration": 0.2}, b""

    def op_d1_batch(self, b, a, body):
        return [self.op_d1_query(b, dict(s, mode="all"), b"")[0] for s in a["statements"]], b""

    # -- R2
    def _meta(self, key, data, hm=None, cm=None):
        return {"key": key, "version": "v1", "size": len(data), "etag": hashlib.md5(data).hexdigest(), "uploaded": 1700000000000, "http_metadata": hm or {}, "custom_metadata": cm or {}}

    def op_r2_put(self, b, a, body):
        meta = self._meta(a["key"], body, a.get("http_metadata"), a.get("custom_metadata"))
        self.r2[(b, a["key"])] = (body, meta)
        return meta, b""

    def op_r2_get(self, b, a, body):
        hit = self.r2.get((b, a["key"]))
        if hit is None:
            return None, b""
        want = (a.get("only_if") or {}).get("etag_matches")
        if want and not any(t.get("value") == hit[1]["etag"] or t["type"] == "wildcard" for t in want):
            return dict(hit[1], precondition_failed=True), b""
        data = hit[0]
        if a.get("range"):
            off = a["range"].get("offset", 0)
            data = data[off : off + a["range"].get("length", len(data))]
        return hit[1], data

    def op_r2_mpu_create(self, b, a, body):
        self.uploads = getattr(self, "uploads", {})
        uid = f"u{len(self.uploads) + 1}"
        self.uploads[uid] = (a["key"], {}, a.get("http_metadata"), a.get("custom_metadata"))
        return {"upload_id": uid}, b""

    def op_r2_mpu_part(self, b, a, body):
        key, parts, _, _ = self.uploads[a["upload_id"]]
        parts[a["part_number"]] = body
        return {"partNumber": a["part_number"], "etag": f"e{a['part_number']}"}, b""

    def op_r2_mpu_complete(self, b, a, body):
        key, parts, hm, cm = self.uploads.pop(a["upload_id"])
        data = b"".join(parts[p["partNumber"]] for p in sorted(a["parts"], key=lambda p: p["partNumber"]))
        meta = dict(self._meta(key, data, hm, cm), etag=f"x-{len(a['parts'])}")
        self.r2[(b, key)] = (data, meta)
        return meta, b""

    def op_r2_mpu_abort(self, b, a, body):
        self.uploads.pop(a["upload_id"])
        return None, b""

    def op_r2_head(self, b, a, body):
        hit = self.r2.get((b, a["key"]))
        return (None if hit is None else hit[1]), b""

    def op_r2_delete(self, b, a, body):
        for k in a["keys"]:
            self.r2.pop((b, k), None)
        return None, b""

    def op_r2_list(self, b, a, body):
        objs = [m for (bb, k), (_, m) in sorted(self.r2.items()) if bb == b and k.startswith(a.get("prefix") or "")]
        return {"objects": objs, "truncated": False, "delimited_prefixes": []}, b""

    # -- Durable Objects (calls re-enter the guest, as the real host may)
    def op_do_id(self, b, a, body):
        if a.get("name") is not None:
            return {"id": hashlib.sha256((a["class"] + ":" + a["name"]).encode()).hexdigest(), "name": a["name"]}, b""
        if a.get("id") is not None:
            return {"id": a["id"]}, b""
        return {"id": hashlib.sha256(os.urandom(16)).hexdigest()}, b""

    def _rpc(self, ev, body, is_fetch):
        h, out = dec(self.guest.pw.invoke(enc(ev, body)))
        if not h["ok"]:
            raise KeyError(h["error"]["message"])
        if is_fetch:
            return {"status": h["status"], "headers": h["headers"]}, out
        return {"result": h["result"]}, b""

    def op_do_call(self, b, a, body):
        ev = {"v": 1, "kind": "rpc", "class": a["class"], "id": a["id"], "method": a["method"], "args": a.get("args") or []}
        if a["method"] == "fetch":
            ev["request"] = a["request"]
        return self._rpc(ev, body, a["method"] == "fetch")

    def op_service_call(self, b, a, body):
        ev = {"v": 1, "kind": "rpc", "class": a.get("entrypoint") or "Default", "id": None, "method": a["method"], "args": a.get("args") or []}
        if a["method"] == "fetch":
            ev["request"] = a["request"]
        return self._rpc(ev, body, a["method"] == "fetch")

    def _store(self, a):
        return self.do_storage.setdefault((a["class"], a["id"]), {})

    def op_do_storage_get(self, b, a, body):
        s = self._store(a)
        return {"values": {k: s[k] for k in a["keys"] if k in s}}, b""

    def op_do_storage_put(self, b, a, body):
        self._store(a).update(a["entries"])
        return None, b""

    def op_do_storage_delete(self, b, a, body):
        s = self._store(a)
        n = sum(1 for k in a["keys"] if s.pop(k, None) is not None)
        return {"deleted": n}, b""

    def op_do_storage_list(self, b, a, body):
        s = self._store(a)
        keys = sorted(k for k in s if k.startswith(a.get("prefix") or ""))
        return {"entries": [[k, s[k]] for k in keys]}, b""

    def op_do_storage_sql(self, b, a, body):
        conn = self.do_sql.setdefault((a["class"], a["id"]), sqlite3.connect(":memory:"))
        cur = conn.execute(a["sql"], a["params"])
        rows = cur.fetchall()
        return {"columns": [c[0] for c in cur.description or []], "rows": [list(r) for r in rows], "rows_read": len(rows), "rows_written": max(cur.rowcount, 0)}, b""

    def op_do_alarm_get(self, b, a, body):
        return {"time": self.alarms.get((a["class"], a["id"]))}, b""

    def op_do_alarm_set(self, b, a, body):
        self.alarms[(a["class"], a["id"])] = a["time"]
        return {"time": a["time"]}, b""

    def op_do_alarm_delete(self, b, a, body):
        self.alarms.pop((a["class"], a["id"]), None)
        return {"time": None}, b""

    # -- queues
    def op_queue_send(self, b, a, body):
        self.queues.append((a["queue"], a["messages"]))
        return None, b""


class Guest:
    """A Worker loaded into a fresh copy of the runtime."""

    def __init__(self, files, main="entry", env=None, seed="0123456789abcdef" * 2, configure=True):
        unload_runtime()
        if isinstance(files, str):
            files = {main + ".py": files}
        self.dir = tempfile.mkdtemp(prefix="pyshim-test-")
        self.user_modules = []
        for rel, src in files.items():
            path = os.path.join(self.dir, rel)
            os.makedirs(os.path.dirname(path), exist_ok=True)
            with open(path, "w") as f:
                f.write(textwrap.dedent(src))
            self.user_modules.append(rel.split("/")[0].removesuffix(".py"))
        _purge(self.user_modules)
        sys.path.insert(0, self.dir)
        os.environ["PW_MAIN_MODULE"] = main
        self.host = FakeHost(self)
        mod = type(sys)("_pwhost")
        mod.call = self.host.call
        sys.modules["_pwhost"] = mod
        import _pywrangler

        self.pw = _pywrangler
        _pywrangler.snapshot_init()
        self.status = json.loads(_pywrangler.init_status().decode())
        self.configure_reply = None
        if configure:
            self.configure_reply = self.configure(env or {}, seed)

    def configure(self, env, seed):
        return self.invoke({"v": 1, "kind": "configure", "env": env, "entropy_seed": seed})

    def invoke(self, header, body=b""):
        out = self.pw.invoke(enc(header, body))
        assert isinstance(out, bytes), type(out)
        return dec(out)

    def fetch(self, path="/", method="GET", headers=(), body=b"", entrypoint="Default", cf=None):
        url = path if "://" in path else "https://example.com" + path
        return self.invoke(
            {"v": 1, "kind": "fetch", "method": method, "url": url, "headers": [list(h) for h in headers], "cf": cf or {}, "entrypoint": entrypoint},
            body,
        )

    def close(self):
        unload_runtime()
        _purge(self.user_modules)
        sys.path.remove(self.dir)
        shutil.rmtree(self.dir, ignore_errors=True)
        os.environ.pop("PW_MAIN_MODULE", None)


def header_values(headers, name):
    return [v for k, v in headers if k.lower() == name]
