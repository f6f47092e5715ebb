"""`durable_objects`: namespaces, ids and stubs (`do.id`, `do.call`), and the
object side: `DurableObjectState`, its storage (KV, SQL, alarms: `do.*`)."""

import asyncio
import datetime
import inspect

from .. import host, state
from .. import websocket as _websocket
from ..jsobj import JsDict, from_json, to_json
from ..synckv import SyncKvStorage
from ._util import _opts, _rpc_fetch, _rpc_method
from .d1 import _d1_param


class DurableObjectId:
    """A Durable Object id (64 hex characters) and the name it came from."""

    def __init__(self, hex_id, name=None):
        self._id = str(hex_id)
        self.name = name

    def toString(self):
        return self._id

    def equals(self, other):
        return isinstance(other, DurableObjectId) and other._id == self._id

    def __str__(self):
        return self._id

    def __eq__(self, other):
        return self.equals(other)

    def __hash__(self):
        return hash(self._id)

    def __repr__(self):
        return f"DurableObjectId({self._id!r})"


class DurableObjectNamespace:
    """`env.MY_DO`: ids and stubs."""

    def __init__(self, binding, class_name):
        self._binding = binding
        self._class = class_name

    def _id(self, **args):
        value, _ = host.call("do.id", dict(args, **{"class": self._class}), binding=self._binding)
        return DurableObjectId(value["id"], value.get("name"))

    def idFromName(self, name):
        return self._id(name=str(name))

    def newUniqueId(self, options=None):
        return self._id()

    def idFromString(self, hex_id):
        return self._id(id=str(hex_id))

    def get(self, id, options=None):
        if not isinstance(id, DurableObjectId):
            raise TypeError("DurableObjectNamespace.get() takes an id from idFromName()/newUniqueId()")
        return DurableObjectStub(self._binding, self._class, id)

    def getByName(self, name, options=None):
        return self.get(self.idFromName(name))

    def jurisdiction(self, name):
        return self

    id_from_name = idFromName
    new_unique_id = newUniqueId
    id_from_string = idFromString
    get_by_name = getByName

    def __repr__(self):
        return f"DurableObjectNamespace({self._class!r})"


class DurableObjectStub:
    """A stub: `await stub.fetch(url)` or `await stub.any_method(*args)`."""

    def __init__(self, binding, class_name, id):
        self._binding = binding
        self._class = class_name
        self.id = id
        self.name = id.name

    def _call(self, method, args):
        a = {"class": self._class, "id": str(self.id), "method": method, "args": args}
        return host.call("do.call", a, binding=self._binding)

    async def fetch(self, resource, **kwargs):
        base = {"class": self._class, "id": str(self.id)}
        return await _rpc_fetch("do.call", self._binding, base, resource, kwargs)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _rpc_method(self._call, name)

    def __repr__(self):
        return f"DurableObjectStub({self._class!r}, {str(self.id)!r})"


class DurableObjectState(_websocket.Hibernation):
    """`ctx` of a Durable Object: id, storage, waitUntil, blockConcurrencyWhile,
    and the WebSocket hibernation API (`_pywrangler/websocket.py`)."""

    def __init__(self, class_name, hex_id, name=None):
        self._class = class_name
        self.id = DurableObjectId(hex_id, name)
        self.storage = DurableObjectStorage(class_name, str(hex_id))
        self._blocking = []
        self._evict = None

    def waitUntil(self, awaitable):
        ctx = state.current_context()
        if ctx is not None:
            ctx.waitUntil(awaitable)

    wait_until = waitUntil

    def blockConcurrencyWhile(self, callback):
        result = callback()
        if inspect.isawaitable(result):
            fut = asyncio.ensure_future(result)
            self._blocking.append(fut)
            return fut
        fut = asyncio.get_event_loop().create_future()
        fut.set_result(result)
        return fut

    block_concurrency_while = blockConcurrencyWhile

    async def _ready(self):
        while self._blocking:
            pending, self._blocking = self._blocking, []
            for f in pending:
                await f

    def abort(self, reason=None):
        if self._evict is not None:
            self._evict()
        raise RuntimeError(f"Durable Object aborted{': ' + str(reason) if reason else ''}")


class DurableObjectStorage:
    """`ctx.storage`: key/value API, `sql`, and alarms."""

    def __init__(self, class_name, hex_id):
        self._class = class_name
        self._id = hex_id
        self.sql = SqlStorage(self)
        self.kv = SyncKvStorage(self)

    def _call(self, op, **args):
        value, _ = host.call(op, dict(args, **{"class": self._class, "id": self._id}))
        return value or {}

    async def get(self, keys, options=None):
        if isinstance(keys, str):
            values = self._call("do.storage.get", keys=[keys]).get("values") or {}
            return from_json(values.get(keys))
        keys = [str(k) for k in keys]
        values = self._call("do.storage.get", keys=keys).get("values") or {}
        return {k: from_json(values[k]) for k in keys if k in values}

    async def put(self, key_or_entries, value=None, options=None):
        if isinstance(key_or_entries, str):
            entries = {key_or_entries: to_json(value)}
        else:
            entries = {str(k): to_json(v) for k, v in dict(key_or_entries).items()}
        self._call("do.storage.put", entries=entries)
        return None

    async def delete(self, keys, options=None):
        if isinstance(keys, str):
            return bool(self._call("do.storage.delete", keys=[keys]).get("deleted", 0))
        return int(self._call("do.storage.delete", keys=[str(k) for k in keys]).get("deleted", 0))

    async def deleteAll(self, options=None):
        keys = [k for k, _ in self._call("do.storage.list").get("entries") or []]
        if keys:
            self._call("do.storage.delete", keys=keys)
        return None

    async def list(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        args = {k: o[k] for k in ("prefix", "start", "end", "limit", "reverse") if o.get(k) is not None}
        if o.get("startAfter") is not None:
            args["start_after"] = o["startAfter"]
        entries = self._call("do.storage.list", **args).get("entries") or []
        return {k: from_json(v) for k, v in entries}

    async def getAlarm(self, options=None):
        return self._call("do.alarm.get").get("time")

    async def setAlarm(self, scheduled_time, options=None):
        if isinstance(scheduled_time, datetime.datetime):
            ms = scheduled_time.timestamp() * 1000
        else:
            ms = float(scheduled_time)
        self._call("do.alarm.set", time=ms)
        return None

    async def deleteAlarm(self, options=None):
        self._call("do.alarm.delete")
        return None

    async def transaction(self, closure):
        result = closure(self)
        return await result if inspect.isawaitable(result) else result

    async def sync(self):
        return None

    get_alarm = getAlarm
    set_alarm = setAlarm
    delete_alarm = deleteAlarm
    delete_all = deleteAll


class SqlStorage:
    """`ctx.storage.sql`: synchronous `exec(query, *bindings)` → cursor."""

    def __init__(self, storage):
        self._storage = storage

    def exec(self, query, *bindings):
        value = self._storage._call("do.storage.sql", sql=str(query), params=[_d1_param(b) for b in bindings])
        return SqlCursor(value)

    @property
    def databaseSize(self):
        return 0


class SqlCursor:
    """Rows of a SQL statement: iterate for dict rows, or toArray/one/raw."""

    def __init__(self, value):
        self.columnNames = list(value.get("columns") or [])
        self._rows = [list(r) for r in value.get("rows") or []]
        self.rowsRead = value.get("rows_read", 0)
        self.rowsWritten = value.get("rows_written", 0)
        self._pos = 0

    def _row(self, r):
        return JsDict(zip(self.columnNames, r))

    def __iter__(self):
        while self._pos < len(self._rows):
            r = self._rows[self._pos]
            self._pos += 1
            yield self._row(r)

    def next(self):
        if self._pos < len(self._rows):
            r = self._rows[self._pos]
            self._pos += 1
            return JsDict(done=False, value=self._row(r))
        return JsDict(done=True, value=None)

    def toArray(self):
        return list(self)

    def one(self):
        rest = self.toArray()
        if len(rest) != 1:
            raise ValueError(f"Expected exactly one result from SQL query, but got {'no' if not rest else 'multiple'} results.")
        return rest[0]

    def raw(self):
        rows = self._rows[self._pos :]
        self._pos = len(self._rows)
        return iter([list(r) for r in rows])

    to_array = toArray


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"durable_object": lambda name, raw: DurableObjectNamespace(name, raw.get("class_name") or name)}
