"""`ctx.storage.kv`: the synchronous key-value API of SQLite-backed Durable
Objects. It shares the key space of the async `ctx.storage.get/put` (the
`_cf_KV` table), as in production; calls are plain (no `await`)."""

from .jsobj import JsException, from_json, to_json

_INVALIDATED = (
    "kv.list() iterator was invalidated because a new call to kv.list() was started. "
    "Only one kv.list() iterator can exist at a time."
)


class SyncKvStorage:
    """`get(key)`, `put(key, value)`, `delete(key)` and `list(options)`."""

    def __init__(self, storage):
        self._storage = storage
        self._generation = 0

    def _call(self, op, **args):
        return self._storage._call(op, sync=True, **args)

    def get(self, key):
        values = self._call("do.storage.get", keys=[str(key)]).get("values") or {}
        return from_json(values[str(key)]) if str(key) in values else None

    def put(self, key, value):
        self._call("do.storage.put", entries={str(key): to_json(value)})
        return None

    def delete(self, key):
        return bool(self._call("do.storage.delete", keys=[str(key)]).get("deleted", 0))

    def list(self, options=None, **kwargs):
        o = dict(options or {}, **kwargs)
        args = {k: o[k] for k in ("prefix", "start", "end", "limit", "reverse") if o.get(k) is not None}
        if o.get("startAfter") is not None:
            args["start_after"] = o["startAfter"]
        entries = self._call("do.storage.list", **args).get("entries") or []
        self._generation += 1
        return _ListIterator(self, self._generation, [[k, from_json(v)] for k, v in entries])

    def __repr__(self):
        return f"<SyncKvStorage {self._storage._class}/{self._storage._id}>"


class _ListIterator:
    """Iterator of `[key, value]` pairs; invalidated by the next `list()`."""

    def __init__(self, kv, generation, entries):
        self._kv = kv
        self._generation = generation
        self._entries = iter(entries)

    def __iter__(self):
        return self

    def __next__(self):
        if self._kv._generation != self._generation:
            raise JsException(_INVALIDATED)
        return next(self._entries)

    def next(self):
        """JavaScript-style iteration: `{done, value}`."""
        from .jsobj import JsDict

        try:
            return JsDict(done=False, value=self.__next__())
        except StopIteration:
            return JsDict(done=True, value=None)
