"""`assets.binding`: `env.ASSETS`, over the `assets.fetch` host op."""

from ._util import _rpc_fetch


class Fetcher:
    """`env.ASSETS` (`assets.binding`): `fetch` answers from the static
    assets as the asset worker does (html_handling, not_found_handling,
    ETags), without the Worker in front."""

    def __init__(self, binding):
        self._binding = binding

    async def fetch(self, resource, **kwargs):
        return await _rpc_fetch("assets.fetch", self._binding, {}, resource, kwargs)

    def connect(self, *args, **kwargs):
        raise NotImplementedError("the assets binding has no connect()")

    def __repr__(self):
        return f"Fetcher({self._binding!r})"


# The `env` entry types (from `dev`'s `configure` event) this module makes.
TYPES = {"assets": lambda name, raw: Fetcher(name)}
