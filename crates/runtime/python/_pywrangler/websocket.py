"""WebSockets as Python Workers see them: `js.WebSocketPair`, `js.WebSocket`,
`js.WebSocketRequestResponsePair`, the Durable Object hibernation methods of
`ctx`, and the `websocket` event the host sends when a frame arrives. The
sockets live in the host (`ws.*` host ops, `src/dev/websocket.rs`); objects
here hold only a host id, so a hibernated object rebuilt on a fresh
instance gets them back from `ctx.getWebSockets()`."""

import json
import sys

from . import host
from .jsobj import JsBuffer, JsDict, JsException, JsProxy, to_json

CONNECTING, OPEN, CLOSING, CLOSED = 0, 1, 2, 3

_sockets = {}  # host id -> WebSocket (the server or outbound end) in this instance


class Event(JsDict):
    """A DOM-style event (`.type`, plus `.data` / `.code .reason .wasClean` / `.error`)."""


class WebSocket(JsProxy):
    """One end of a WebSocket. `role`: "server" (accept it), "client" (return
    it in a 101 Response), "outbound" (`new WebSocket(url)`), "fetched" (the
    `webSocket` of a 101 from fetch: accept it)."""

    CONNECTING, OPEN, CLOSING, CLOSED = CONNECTING, OPEN, CLOSING, CLOSED

    def __init__(self, sid, role, url=None, protocol=""):
        self._sid = sid
        self._role = role
        self._listeners = {}
        self._accepted = role == "outbound"
        self._hibernatable = False
        self._state = OPEN if role == "outbound" else CONNECTING
        self.url = url
        self.protocol = protocol
        self.extensions = ""
        self.binaryType = "arraybuffer"
        self.onmessage = self.onclose = self.onerror = self.onopen = None

    @classmethod
    def new(cls, url, protocols=None):
        """`new WebSocket(url, protocols?)`: connect out through the host."""
        if isinstance(protocols, str):
            protocols = [protocols]
        value, _ = host.call("ws.connect", {"url": str(url), "protocols": list(protocols or [])})
        ws = cls(value["socket"], "outbound", url=value.get("url"), protocol=value.get("protocol") or "")
        _sockets[ws._sid] = ws
        return ws

    def __call__(self, *args, **kwargs):
        raise TypeError("WebSocket is not callable")

    @property
    def readyState(self):
        return self._state

    @property
    def ready_state(self):
        return self._state

    def accept(self, options=None, **kwargs):
        if self._role == "outbound":
            raise JsException("Websockets obtained from the 'new WebSocket()' constructor cannot call accept", "TypeError")
        if self._role == "client":
            raise JsException("Can't accept() the client end of a WebSocketPair; return it in a Response", "TypeError")
        host.call("ws.accept", {"socket": self._sid})
        self._accepted = True
        self._state = OPEN
        _sockets[self._sid] = self

    def send(self, message):
        if self._role == "client":
            raise JsException("Can't send() on the client end of a WebSocketPair; return it in a Response", "TypeError")
        if isinstance(message, str):
            host.call("ws.send", {"socket": self._sid, "binary": False}, message.encode("utf-8"))
            return
        if isinstance(message, (bytes, bytearray, memoryview)):
            host.call("ws.send", {"socket": self._sid, "binary": True}, bytes(message))
            return
        raise JsException(
            f"WebSocket.send() takes a str or a buffer (bytes, ArrayBuffer), not {type(message).__name__}",
            "TypeError",
        )

    def close(self, code=None, reason=None):
        if self._role == "client":
            raise JsException("Can't close() the client end of a WebSocketPair here", "TypeError")
        args = {"socket": self._sid}
        if code is not None:
            args["code"] = int(code)
        if reason is not None:
            args["reason"] = str(reason)
        host.call("ws.close", args)
        if self._state != CLOSED:
            self._state = CLOSING

    def addEventListener(self, type, listener, options=None):
        self._listeners.setdefault(str(type), []).append(listener)

    add_event_listener = addEventListener

    def removeEventListener(self, type, listener, options=None):
        ls = self._listeners.get(str(type)) or []
        if listener in ls:
            ls.remove(listener)

    def serializeAttachment(self, value):
        host.call("ws.attach", {"socket": self._sid}, json.dumps(to_json(value)).encode("utf-8"))

    serialize_attachment = serializeAttachment

    def deserializeAttachment(self):
        value, body = host.call("ws.attachment", {"socket": self._sid})
        if not (value or {}).get("present"):
            return None
        from .jsobj import from_json

        return from_json(json.loads(body.decode("utf-8")))

    deserialize_attachment = deserializeAttachment

    def _listeners_for(self, type):
        out = list(self._listeners.get(type) or [])
        handler = getattr(self, "on" + type, None)
        if handler is not None:
            out.append(handler)
        return out

    def __repr__(self):
        return f"WebSocket(#{self._sid}, {self._role})"


class WebSocketPair(JsProxy):
    """`WebSocketPair.new()`: `client, server = pair` or `pair.object_values()`
    (also `pair[0]`, `pair[1]`); the host holds one socket for both ends."""

    def __init__(self):
        value, _ = host.call("ws.pair")
        sid = value["socket"]
        self._server = WebSocket(sid, "server")
        self._client = WebSocket(sid, "client")

    @classmethod
    def new(cls):
        return cls()

    def object_values(self):
        return [self._client, self._server]

    def object_keys(self):
        return ["0", "1"]

    def object_entries(self):
        return [["0", self._client], ["1", self._server]]

    def as_object_map(self):
        return JsDict({"0": self._client, "1": self._server})

    def __iter__(self):
        return iter((self._client, self._server))

    def __getitem__(self, key):
        return {0: self._client, 1: self._server, "0": self._client, "1": self._server}[key]

    def __getattr__(self, name):
        if name in ("0", "1"):
            return self[name]
        raise AttributeError(name)


class WebSocketRequestResponsePair(JsProxy):
    """`WebSocketRequestResponsePair.new(request, response)` for
    `ctx.setWebSocketAutoResponse`."""

    def __init__(self, request, response):
        if not isinstance(request, str) or not isinstance(response, str):
            raise JsException("WebSocketRequestResponsePair takes two strings", "TypeError")
        self.request = request
        self.response = response

    @classmethod
    def new(cls, request, response):
        return cls(request, response)


def _socket(sid):
    ws = _sockets.get(sid)
    if ws is None:
        ws = WebSocket(sid, "server")
        ws._accepted = True
        ws._hibernatable = True
        ws._state = OPEN
        _sockets[sid] = ws
    return ws


class Hibernation:
    """The WebSocket methods of a Durable Object's `ctx` (mixed into
    `DurableObjectState`)."""

    def acceptWebSocket(self, ws, tags=None):
        if not isinstance(ws, WebSocket) or ws._role != "server":
            raise JsException("acceptWebSocket() takes the server end of a WebSocketPair", "TypeError")
        host.call("ws.accept", {"socket": ws._sid, "hibernate": True, "tags": [str(t) for t in (tags or [])]})
        ws._accepted = True
        ws._hibernatable = True
        ws._state = OPEN
        _sockets[ws._sid] = ws

    def getWebSockets(self, tag=None):
        value, _ = host.call("ws.list", {"tag": tag} if tag is not None else {})
        return [_socket(sid) for sid in value.get("sockets") or []]

    def getTags(self, ws):
        value, _ = host.call("ws.tags", {"socket": ws._sid})
        return list(value.get("tags") or [])

    def setWebSocketAutoResponse(self, pair=None):
        args = {} if pair is None else {"request": pair.request, "response": pair.response}
        host.call("ws.auto.set", args)

    def getWebSocketAutoResponse(self):
        value, _ = host.call("ws.auto.get")
        if not value:
            return None
        return WebSocketRequestResponsePair(value["request"], value["response"])

    def getWebSocketAutoResponseTimestamp(self, ws):
        value, _ = host.call("ws.auto.time", {"socket": ws._sid})
        t = (value or {}).get("time")
        if t is None:
            return None
        import datetime

        return datetime.datetime.fromtimestamp(t / 1000, tz=datetime.timezone.utc)

    def setHibernatableWebSocketEventTimeout(self, ms=None):
        host.call("ws.timeout.set", {} if ms is None else {"ms": float(ms)})

    def getHibernatableWebSocketEventTimeout(self):
        value, _ = host.call("ws.timeout.get")
        return (value or {}).get("ms")


def response_socket_id(ws):
    """The host id a 101 Response hands to the client (the envelope's `webSocket`)."""
    if not isinstance(ws, WebSocket):
        raise TypeError(f"web_socket must be the client end of a WebSocketPair, not {type(ws).__name__}")
    if ws._role == "outbound":
        raise TypeError("Can't return WebSocket that was created with the WebSocket constructor in a Response.")
    if ws._role in ("server", "fetched") and ws._accepted:
        raise TypeError("Can't return WebSocket in a Response after calling accept().")
    return ws._sid


def from_host(value):
    """The `webSocket` of a response from the host (a Durable Object's or an
    upgraded fetch's 101), or None."""
    if not value:
        return None
    return WebSocket(int(value), "client")


async def fetch_upgrade(req):
    """`fetch(url, headers={"Upgrade": "websocket"})`: a 101 Response whose
    `webSocket` must be accepted before use."""
    from workers._http import FetchResponse

    args = {"url": req.url, "headers": [[k, v] for k, v in req._headers.pairs()], "fetch": True}
    value, _ = host.call("ws.connect", args)
    ws = WebSocket(value["socket"], "fetched", url=value.get("url"), protocol=value.get("protocol") or "")
    _sockets[ws._sid] = ws
    resp = FetchResponse(None, status=101, headers=[tuple(p) for p in value.get("headers") or []], web_socket=ws)
    resp.url = req.url
    return resp


# ---------------------------------------------------------------- events


def event(header, body):
    """The host's `websocket` event: a frame or a close for one socket."""
    from . import runtime

    sid = header.get("socket")
    kind, ev = _event_object(header, body)
    ctx = runtime._context()

    if header.get("hibernatable"):
        class_name = header.get("class")

        async def run():
            inst = await runtime._durable_object(class_name, header.get("id"))
            ws = _socket(sid)
            if kind == "close":
                ws._state = CLOSED
                fn = getattr(inst, "webSocketClose", None)
                if fn is not None:
                    await runtime.call_relaxed(fn, ws, ev.code, ev.reason, ev.wasClean)
                _sockets.pop(sid, None)
                return
            if kind == "error":
                fn = getattr(inst, "webSocketError", None)
                if fn is not None:
                    await runtime.call_relaxed(fn, ws, ev.error)
                return
            fn = getattr(inst, "webSocketMessage", None)
            if fn is None:
                raise runtime.WorkerError(f"{class_name} has no webSocketMessage() method for a hibernatable WebSocket")
            await runtime.call_relaxed(fn, ws, ev.data)

        runtime._run_event(ctx, run)
        return runtime._ok(None)

    ws = _sockets.get(sid)
    if ws is None:
        return runtime._ok(None)

    async def run():
        await _dispatch(ws, kind, ev)

    runtime._run_event(ctx, run)
    return runtime._ok(None)


def _event_object(header, body):
    kind = header.get("event")
    if kind == "message":
        data = JsBuffer(body) if header.get("binary") else body.decode("utf-8")
        return kind, Event(type="message", data=data)
    if kind == "close":
        return kind, Event(type="close", code=int(header.get("code") or 1005), reason=header.get("reason") or "",
                           wasClean=bool(header.get("wasClean")))
    message = header.get("message") or ""
    return "error", Event(type="error", message=message, error=JsException(message))


async def _dispatch(ws, kind, ev):
    from . import runtime

    if kind == "close":
        ws._state = CLOSED
        _sockets.pop(ws._sid, None)
    for listener in ws._listeners_for(kind):
        await runtime.call_relaxed(listener, ev)


def awaiting():
    """Whether this instance has open non-hibernatable sockets whose events
    a running handler may be waiting for."""
    return any(not ws._hibernatable and ws._state != CLOSED for ws in _sockets.values())


def poll(timeout):
    """Take one event for this instance's sockets from the host (waiting up
    to `timeout` seconds, None: until the event's deadline) and schedule its
    listeners; False when none came."""
    import asyncio

    args = {} if timeout is None else {"timeout_ms": timeout * 1000}
    header, body = host.call("ws.poll", args)
    if not header:
        return False
    ws = _sockets.get(header.get("socket"))
    if ws is not None:
        kind, ev = _event_object(header, body)
        asyncio.get_event_loop().create_task(_dispatch(ws, kind, ev))
    return True


from . import loop as _loop  # noqa: E402

_loop._websocket = sys.modules[__name__]
