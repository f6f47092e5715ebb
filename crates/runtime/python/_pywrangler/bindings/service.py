"""`services`: a service binding (`fetch` and RPC to an entrypoint), over the
`service.call` host op."""

from .. import host
from ._util import _rpc_method, _rpc_fetch


class ServiceBinding:
    """A service binding: `fetch` and RPC to another Worker's entrypoint."""

    def __init__(self, binding, service, entrypoint):
        self._binding = binding
        self._service = service
        self._entrypoint = entrypoint

    def _call(self, method, args):
        a = {"service": self._service, "entrypoint": self._entrypoint, "method": method, "args": args}
        return host.call("service.call", a, binding=self._binding)

    async def fetch(self, resource, **kwargs):
        base = {"service": self._service, "entrypoint": self._entrypoint}
        return await _rpc_fetch("service.call", self._binding, base, resource, kwargs)

    def connect(self, *args, **kwargs):
        raise NotImplementedError("service binding connect() is not supported by the local runtime")

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return _rpc_method(self._call, name)

    def __repr__(self):
        return f"ServiceBinding({self._service!r})"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"service": lambda name, raw: ServiceBinding(name, raw.get("service") or name, raw.get("entrypoint"))}
