"""`d1_databases`: `D1Database` and its prepared statements, over the
`d1.*` host ops."""

from .. import host
from ..jsobj import from_json
from ._util import _opts


def _d1_param(p):
    if p is None or isinstance(p, (bool, int, float, str)):
        return p
    if isinstance(p, (bytes, bytearray, memoryview)):
        raise TypeError("D1 bind(): binary (BLOB) parameters are not supported by the local runtime")
    raise TypeError(f"D1 bind(): unsupported parameter type {type(p).__name__} (use None, bool, int, float or str)")


class D1PreparedStatement:
    """`db.prepare(sql).bind(...)`: all/first/run/raw."""

    def __init__(self, db, sql, params=()):
        self._db = db
        self._sql = sql
        self._params = list(params)

    def bind(self, *params):
        return D1PreparedStatement(self._db, self._sql, [_d1_param(p) for p in params])

    def _query(self, mode, **extra):
        args = {"sql": self._sql, "params": self._params, "mode": mode, "column": None, "column_names": False}
        args.update(extra)
        value, _ = host.call("d1.query", args, binding=self._db)
        return from_json(value)

    async def all(self):
        return self._query("all")

    async def first(self, column=None):
        return self._query("first", column=column)

    async def run(self):
        return self._query("run")

    async def raw(self, options=None, **kwargs):
        o = _opts(options, kwargs)
        names = bool(o.get("columnNames", o.get("column_names", False)))
        return self._query("raw", column_names=names)

    def _wire(self):
        return {"sql": self._sql, "params": self._params}

    def __repr__(self):
        return f"D1PreparedStatement({self._sql!r}, {self._params!r})"


class D1Database:
    """D1: prepare/exec/batch."""

    def __init__(self, name):
        self._name = name

    def prepare(self, sql):
        return D1PreparedStatement(self._name, str(sql))

    async def exec(self, sql):
        value, _ = host.call("d1.exec", {"sql": str(sql)}, binding=self._name)
        return from_json(value)

    async def batch(self, statements):
        stmts = [s._wire() for s in statements]
        value, _ = host.call("d1.batch", {"statements": stmts}, binding=self._name)
        return from_json(value)

    def withSession(self, *args, **kwargs):
        return self

    async def dump(self):
        raise NotImplementedError("D1 dump() is not supported by the local runtime")

    def __repr__(self):
        return f"D1Database({self._name!r})"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"d1": lambda name, raw: D1Database(name)}
