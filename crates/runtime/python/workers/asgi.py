"""Run an ASGI application for one request (`workers.asgi.fetch`), with the
lifespan startup/shutdown cycle around every request as production does.
A large request body reaches the app chunk by chunk as the host pulls it; a
response sent with `more_body=True` streams (the returned Response iterates
the app's later chunks as they are sent)."""

import asyncio
import logging
import urllib.parse

from ._entrypoints import WorkerEntrypoint
from ._http import Request, Response, streamed_response

ASGI = {"spec_version": "2.0", "version": "3.0"}

logger = logging.getLogger("workers.asgi")


def _as_request(req):
    if isinstance(req, Request):
        return req
    return Request(req)


def request_to_scope(req, env, ws=False, state=None):
    """The ASGI HTTP connection scope for `req` (keys as workers-runtime-sdk)."""
    headers = [(k.lower().encode(), v.encode()) for k, v in req.headers.items()]
    parts = urllib.parse.urlsplit(req.url)
    pathname = parts.path or "/"
    scope = {
        "asgi": ASGI,
        "headers": headers,
        "http_version": "1.1",
        "method": str(req.method),
        "scheme": parts.scheme,
        "path": urllib.parse.unquote(pathname),
        "raw_path": pathname.encode(),
        "query_string": parts.query.encode(),
        "type": "websocket" if ws else "http",
        "env": env,
    }
    if state is not None:
        scope["state"] = dict(state)
    return scope


async def _next_message(queue, task):
    """The app's next message, or None when the app finished first."""
    getter = asyncio.ensure_future(queue.get())
    done, _ = await asyncio.wait({getter, task}, return_when=asyncio.FIRST_COMPLETED)
    if getter in done:
        return getter.result()
    getter.cancel()
    return None


async def start_application(app):
    """Run lifespan startup; returns (shutdown coroutine function, state)."""
    state = {}
    to_app = asyncio.Queue()
    from_app = asyncio.Queue()

    async def run_lifespan():
        await app({"type": "lifespan", "asgi": ASGI, "state": state}, to_app.get, from_app.put)

    task = asyncio.ensure_future(run_lifespan())
    await to_app.put({"type": "lifespan.startup"})
    got = await _next_message(from_app, task)
    if got is None:
        # The app does not speak lifespan (it returned or raised at once).
        if not task.cancelled() and task.exception() is not None:
            logger.debug("ASGI app has no lifespan support: %r", task.exception())

        async def no_shutdown():
            return None

        return no_shutdown, state
    if got["type"] == "lifespan.startup.failed":
        raise RuntimeError(got.get("message") or "ASGI lifespan startup failed")
    if got["type"] != "lifespan.startup.complete":
        raise RuntimeError(f"Unexpected lifespan event {got['type']}")

    async def shutdown():
        await to_app.put({"type": "lifespan.shutdown"})
        msg = await _next_message(from_app, task)
        if msg is not None and msg["type"] == "lifespan.shutdown.failed":
            raise RuntimeError(msg.get("message") or "ASGI lifespan shutdown failed")
        if msg is not None and msg["type"] != "lifespan.shutdown.complete":
            raise RuntimeError(f"Unexpected lifespan event {msg['type']}")
        if not task.done():
            try:
                await asyncio.wait_for(task, 5)
            except asyncio.TimeoutError:
                task.cancel()

    return shutdown, state


async def process_request(app, req, env, ctx=None, *, state=None):
    """Run `app` for `req`. A body sent whole becomes a buffered Response; once
    the app sends `more_body=True`, the Response streams the remaining chunks
    while the app keeps running."""
    req = _as_request(req)
    # A body still on the host reaches the app chunk by chunk (`more_body`),
    # and only if it calls `receive`.
    pulled = req._take_pulled()
    body = b"" if pulled is not None else (req._body or b"")
    loop = asyncio.get_running_loop()
    finished = loop.create_future()
    streaming = loop.create_future()
    # One chunk at a time: `send` returns once the chunk has been written, so
    # the app's next (blocking) host call never holds back a chunk it sent.
    queue = asyncio.Queue(maxsize=1)
    request_sent = False
    status = None
    headers = []
    chunks = []

    async def receive():
        nonlocal request_sent
        if pulled is not None and not request_sent:
            chunk = pulled.read_chunk()
            request_sent = pulled.done
            return {"type": "http.request", "body": chunk or b"", "more_body": not pulled.done}
        if not request_sent:
            request_sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        await asyncio.shield(finished)
        return {"type": "http.disconnect"}

    async def send(message):
        nonlocal status, headers
        t = message["type"]
        if t == "http.response.start":
            status = message["status"]
            headers = list(message.get("headers") or [])
        elif t == "http.response.body":
            if status is None:
                raise RuntimeError("ASGI app sent http.response.body before http.response.start")
            if finished.done():
                return
            chunk = bytes(message.get("body") or b"")
            more = message.get("more_body", False)
            if not streaming.done() and more:
                streaming.set_result(None)
            if streaming.done():
                await queue.put(chunk)
                await queue.join()
            else:
                chunks.append(chunk)
            if not more:
                finished.set_result(None)
                await queue.put(None)

    async def run_app():
        try:
            await app(request_to_scope(req, env, state=state), receive, send)
        finally:
            if not finished.done():
                finished.set_result(None)
                await queue.put(None)

    task = asyncio.ensure_future(run_app())
    await asyncio.wait([task, streaming], return_when=asyncio.FIRST_COMPLETED)
    if task.done():
        task.result()
    if status is None:
        task.cancel()
        raise RuntimeError("ASGI app returned without sending http.response.start")

    def text(v):
        return v.decode("latin-1") if isinstance(v, (bytes, bytearray)) else str(v)

    pairs = [(text(k), text(v)) for k, v in headers]
    if task.done():
        while not queue.empty():
            chunks.append(queue.get_nowait() or b"")
        return Response(b"".join(chunks), status=status, headers=pairs)

    async def rest():
        try:
            for c in chunks:
                yield c
            while True:
                c = await queue.get()
                try:
                    if c is None:
                        break
                    yield c
                finally:
                    queue.task_done()
            await task
        finally:
            if not task.done():
                task.cancel()

    return streamed_response(rest(), status, pairs)


async def fetch(app, req, env, ctx=None, *, options=None):
    """Serve `req` with the ASGI `app`; returns a workers.Response (streaming
    when the app streams; lifespan shutdown then runs after the last chunk)."""
    shutdown, state = await start_application(app)
    try:
        result = await process_request(app, req, env, ctx, state=state)
    except Exception:
        await shutdown()
        raise
    stream = getattr(result, "_stream", None)
    if stream is None:
        await shutdown()
        return result

    async def then_shutdown():
        try:
            async for c in stream:
                yield c
        finally:
            await shutdown()

    result._stream = then_shutdown()
    return result


class _WebSocketSession:
    """One ASGI WebSocket connection on a `WebSocketPair`, as the SDK's
    `process_websocket` runs it. The app is a task on the instance's loop that
    outlives the 101 event; each socket event hands it one message and lets it
    run until it waits in `receive` again (or ends), so what it sends in reply
    goes out within that event."""

    def __init__(self, server):
        self.server = server
        self.queue = asyncio.Queue()
        self.waiting = asyncio.Event()  # set while the app waits in `receive`
        self.app_closed = False
        self.task = None

    async def receive(self):
        if self.queue.empty():
            self.waiting.set()
        try:
            return await self.queue.get()
        finally:
            self.waiting.clear()

    async def send(self, message):
        t = message["type"]
        if t == "websocket.accept":
            # The server end was accepted before the 101 was returned.
            return
        if t == "websocket.send":
            data, text = message.get("bytes"), message.get("text")
            if data is not None:
                self.server.send(bytes(data))
            if text is not None:
                self.server.send(text)
            return
        if t == "websocket.close":
            self.app_closed = True
            self.server.close(message.get("code", 1000), message.get("reason", ""))
            return
        logger.warning(" == Not implemented %s", t)

    async def settle(self):
        """Let the app run until it waits for a message or has ended."""
        idle = asyncio.ensure_future(self.waiting.wait())
        try:
            await asyncio.wait({idle, self.task}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            idle.cancel()

    async def deliver(self, message):
        self.queue.put_nowait(message)
        self.waiting.clear()
        await self.settle()

    async def on_message(self, event):
        data = event.data
        if isinstance(data, str):
            await self.deliver({"type": "websocket.receive", "text": data})
        else:
            await self.deliver({"type": "websocket.receive", "bytes": bytes(data.to_bytes())})

    async def on_close(self, event):
        await self.deliver({"type": "websocket.disconnect", "code": event.code, "reason": event.reason})

    def finished(self, task):
        failed = not task.cancelled() and task.exception() is not None
        if failed:
            logger.error("Unhandled exception in background task", exc_info=task.exception())
        if not self.app_closed:
            # The app ended without closing: close rather than leave the
            # client hanging. (workerd refuses 1011, as `close()` takes 1000
            # or 3000-4999 only, so a failed app's socket stays open there
            # and here alike.)
            try:
                self.server.close(1011 if failed else 1000, "")
            except Exception:  # noqa: BLE001 - the peer may have closed already
                pass


async def websocket(app, req, env=None):
    """Serve a WebSocket upgrade with the ASGI `app` (`websocket` scope):
    accept a `WebSocketPair`'s server end, run the app on it and return the
    101 with the client end, as workers-runtime-sdk does."""
    from _pywrangler.websocket import WebSocketPair

    req = _as_request(req)
    client, server = WebSocketPair.new().object_values()
    server.accept()
    server.binaryType = "arraybuffer"
    session = _WebSocketSession(server)
    session.queue.put_nowait({"type": "websocket.connect"})
    server.onmessage = session.on_message
    server.onclose = session.on_close
    scope = request_to_scope(req, env if env is not None else {}, ws=True)
    session.task = asyncio.ensure_future(app(scope, session.receive, session.send))
    session.task.add_done_callback(session.finished)
    # The app handles `websocket.connect` (and sends its greeting) before the
    # 101 goes out; it keeps running in the socket's later events.
    await session.settle()
    return Response(None, status=101, web_socket=client)


def entrypoint(app, *, options=None):
    """A ready-made `Default` WorkerEntrypoint serving `app`."""

    class Default(WorkerEntrypoint):
        async def fetch(self, request):
            if (request.headers.get("upgrade") or "").lower() == "websocket":
                return await websocket(app, request, self.env)
            return await fetch(app, request, self.env, self.ctx, options=options)

    return Default


def __getattr__(name):
    if name == "env":
        async def env(request):
            return request.scope["env"]

        try:
            from fastapi import Depends
        except ImportError:
            return env
        return Depends(env)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
