"""`env` and its binding proxies, one module per binding kind (the guest side
of `src/bindings/<kind>/`). Each proxy method is a coroutine around one
synchronous host call (docs/runtime-abi.md, "host_call ops"); results come
back as JsDicts like production's `python_from_rpc`. Each module's `TYPES`
maps the `type` of an `env` entry to the function that makes its proxy."""

from . import (
    analytics_engine,
    assets,
    d1,
    durable,
    hyperdrive,
    kv,
    pipelines,
    queue,
    r2,
    ratelimit,
    remote_only,
    secrets_store,
    service,
    vars,
    version_metadata,
)
from .analytics_engine import AnalyticsEngineDataset
from .assets import Fetcher
from .d1 import D1Database, D1PreparedStatement
from .durable import (
    DurableObjectId,
    DurableObjectNamespace,
    DurableObjectState,
    DurableObjectStorage,
    DurableObjectStub,
    SqlCursor,
    SqlStorage,
)
from .hyperdrive import Hyperdrive
from .kv import KVNamespace
from .pipelines import Pipeline
from .queue import Queue
from .r2 import R2Bucket, R2Checksums, R2MultipartUpload, R2Object, R2ObjectBody
from .ratelimit import RateLimit
from .remote_only import RemoteOnlyBinding, UnsupportedBinding
from .secrets_store import SecretsStoreSecret
from .service import ServiceBinding
from .version_metadata import WorkerVersionMetadata


def make_env(bindings):
    return Env(bindings)


class Env:
    """`self.env`: one attribute per binding from the `configure` event."""

    def __init__(self, bindings):
        object.__setattr__(self, "_raw", dict(bindings))
        object.__setattr__(self, "_cache", {})
        object.__setattr__(self, "_overrides", {})

    def __getattr__(self, name):
        if name.startswith("__"):
            raise AttributeError(name)
        if name in self._overrides:
            return self._overrides[name]
        if name in self._cache:
            return self._cache[name]
        raw = self._raw.get(name)
        if raw is None:
            raise AttributeError(
                f"env has no binding named {name!r} (bindings: {', '.join(sorted(self._raw)) or 'none'}; "
                "add it to wrangler.toml/wrangler.jsonc or .dev.vars)"
            )
        value = make_binding(name, raw)
        self._cache[name] = value
        if raw.get("type") not in _PLAIN:
            _ORIGINS[id(value)] = (value, name)
        return value

    def __getitem__(self, name):
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def __contains__(self, name):
        return name in self._raw or name in self._overrides

    def __iter__(self):
        return iter(sorted(set(self._raw) | set(self._overrides)))

    def keys(self):
        return list(self)

    def get(self, name, default=None):
        return getattr(self, name) if name in self else default

    def __dir__(self):
        return list(self)

    def __repr__(self):
        return f"Env({', '.join(self)})"


def _workflow(name, raw):
    from ..workflows import Workflow

    return Workflow(name, raw.get("name") or name)


def _worker_loader(name, raw):
    from ..worker_loader import WorkerLoader

    return WorkerLoader(name)


def _send_email(name, raw):
    from ..send_email import SendEmail

    return SendEmail(name)


# `env` entry type -> the function that makes its proxy.
_TYPES = {"workflow": _workflow, "worker_loader": _worker_loader, "send_email": _send_email}
for _module in (
    vars,
    kv,
    d1,
    r2,
    durable,
    queue,
    service,
    assets,
    version_metadata,
    hyperdrive,
    analytics_engine,
    pipelines,
    ratelimit,
    secrets_store,
    remote_only,
):
    _TYPES.update(_module.TYPES)


# `env` entry types whose value is plain data (a str, a JsDict), not a proxy.
_PLAIN = ("var", "secret")

# id(proxy) -> (proxy, binding name) for each binding proxy `env` handed out,
# so a parent can pass `self.env.KV` in a dynamic worker's `code.env`
# (`worker_loader.py`). The proxy is kept alive by `Env`'s cache anyway.
_ORIGINS = {}


def binding_name(value):
    """The `env` name of the binding proxy `value`, or None if it is not one."""
    entry = _ORIGINS.get(id(value))
    if entry is not None and entry[0] is value:
        return entry[1]
    return None


def make_binding(name, raw):
    t = raw.get("type")
    make = _TYPES.get(t)
    if make is None:
        return UnsupportedBinding(name, t)
    return make(name, raw)


__all__ = [
    "AnalyticsEngineDataset",
    "D1Database",
    "D1PreparedStatement",
    "DurableObjectId",
    "DurableObjectNamespace",
    "DurableObjectState",
    "DurableObjectStorage",
    "DurableObjectStub",
    "Env",
    "Fetcher",
    "Hyperdrive",
    "KVNamespace",
    "Pipeline",
    "Queue",
    "R2Bucket",
    "R2Checksums",
    "R2MultipartUpload",
    "R2Object",
    "R2ObjectBody",
    "RateLimit",
    "RemoteOnlyBinding",
    "SecretsStoreSecret",
    "ServiceBinding",
    "SqlCursor",
    "SqlStorage",
    "UnsupportedBinding",
    "WorkerVersionMetadata",
    "make_binding",
    "make_env",
]
