"""The `js` and `pyodide.ffi` stand-ins and the workers helper types."""

import contextlib
import io
import json
import unittest

from support import Guest


class JsTests(unittest.TestCase):
    def setUp(self):
        self.g = Guest("x = 1\n")
        self.addCleanup(self.g.close)

    def run_async(self, coro):
        from _pywrangler import loop

        return loop.run(coro)

    def test_js_response_headers_object(self):
        import js
        import workers
        from pyodide.ffi import JsException, JsProxy, create_proxy, to_js

        h = js.Headers.new({"a": "1"}.items())
        h.append("A", "2")
        self.assertEqual(h.get("a"), "1, 2")
        r = js.Response.new("body", status=418, headers=h)
        self.assertIsInstance(r, workers.Response)
        self.assertEqual((r.status, self.run_async(r.text())), (418, "body"))
        r2 = js.Response.new("x", to_js({"status": 201, "headers": {"k": "v"}}, dict_converter=js.Object.fromEntries))
        self.assertEqual((r2.status, r2.headers["k"]), (201, "v"))
        obj = to_js({"a": {"b": 1}}, dict_converter=js.Object.fromEntries)
        self.assertEqual(obj.a.b, 1)
        self.assertIsInstance(obj, JsProxy)
        u = js.URL.new("https://u:p@example.com:8080/a/b?x=1&y=2#f")
        self.assertEqual((u.protocol, u.hostname, u.port, u.pathname, u.search, u.hash), ("https:", "example.com", "8080", "/a/b", "?x=1&y=2", "#f"))
        self.assertEqual(u.searchParams.get("y"), "2")
        u.searchParams.append("z", "3")
        self.assertEqual(u.href, "https://u:p@example.com:8080/a/b?x=1&y=2&z=3#f")
        self.assertEqual(js.URL.new("/c", "https://h/a/b").href, "https://h/c")
        self.assertEqual(js.JSON.parse(js.JSON.stringify({"a": [1, None]})).a, [1, None])
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            js.console.log("hello", {"a": 1}, 2, True, None)
            js.console.error("bad")
        self.assertEqual(out.getvalue(), 'hello {"a": 1} 2 true null\n')
        self.assertEqual(err.getvalue(), "bad\n")
        p = create_proxy(lambda x: x + 1)
        self.assertEqual(p(1), 2)
        p.destroy()
        with self.assertRaises(RuntimeError):
            p(1)
        self.assertTrue(issubclass(JsException, Exception))

    def test_workers_types(self):
        import workers
        from workers import Blob, File, FormData, Headers, Request, Response

        fd = FormData()
        fd.append("a", "1")
        fd.append("f", File([b"hi"], "x.txt", "text/plain"))
        r = Request("https://h/p", method="post", body=fd)
        self.assertEqual(str(r.method), "POST")
        back = self.run_async(r.form_data())
        self.assertEqual(back["a"], "1")
        self.assertEqual((back["f"].name, back["f"].type, self.run_async(back["f"].bytes())), ("x.txt", "text/plain", b"hi"))
        self.assertEqual(Blob(["a", b"b"]).size, 2)
        resp = Response.json({"k": 1})
        self.assertEqual(json.loads(self.run_async(resp.text())), {"k": 1})
        self.assertEqual(self.run_async(Response('{"z": 2}').json()), {"z": 2})
        self.assertTrue(Response("x").ok)
        self.assertFalse(Response("x", status=500).ok)
        self.assertEqual(Response("x", headers=[("a", "1"), ("a", "2")]).headers.get_all("a"), ["1, 2"])
        with self.assertRaises(ValueError):
            Response("x", status=99)
        h = Headers({"Set-Cookie": "a"})
        h.append("set-cookie", "b")
        self.assertEqual(h.getSetCookie(), ["a", "b"])
        self.assertEqual(Response("x", headers=h).headers.get_all("set-cookie"), ["a", "b"])
        with workers.patch_env(NEW="v"):
            self.assertEqual(workers.env.NEW, "v")
        self.assertFalse("NEW" in workers.env)
        self.assertEqual(workers.python_from_rpc({"a": {"b": 1}}).a.b, 1)
        from workers.workflows import NonRetryableError

        self.assertTrue(issubclass(NonRetryableError, Exception))


if __name__ == "__main__":
    unittest.main()
