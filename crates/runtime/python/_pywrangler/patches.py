"""Import-time patches for packages that assume what the Workers runtime
lacks, mirroring production's (workers-runtime-sdk's package and entropy
patches): `anyio.to_thread.run_sync` runs inline (no threads), and a few
packages that draw entropy while being imported may do so."""

import contextlib
import importlib.abc
import sys

from . import entropy, sync_http


@contextlib.contextmanager
def _anyio_to_thread(module):
    yield

    async def run_sync(func, *args, **kwargs):
        # anyio's options (limiter, abandon_on_cancel, cancellable) mean
        # nothing without threads.
        return func(*args)

    module.run_sync = run_sync


@contextlib.contextmanager
def _allow_entropy(module):
    was_on = entropy.is_on()
    entropy.suspend()
    try:
        yield
    finally:
        if was_on:
            entropy.resume()


# Modules production lets draw entropy at import (they build hash maps with
# random keys or cache a random id); the draw is not user-visible state.
_ENTROPY_ALLOWED = (
    "pydantic_core",
    "aiohttp.http_websocket",
    "langsmith._internal._constants",
    "langchain_openai.chat_models.base",
    "opentelemetry.context",
    "opentelemetry.trace.propagation",
    "opentelemetry.baggage",
    "fastapi.telemetry",
    "litestar.openapi.controller",
    "litestar.constants",
)

EXEC_PATCHES = {"anyio.to_thread": _anyio_to_thread}
EXEC_PATCHES.update({name: _allow_entropy for name in _ENTROPY_ALLOWED})
EXEC_PATCHES.update(sync_http.EXEC_PATCHES)


class _PatchedLoader:
    def __init__(self, loader, patch):
        self._loader = loader
        self._patch = patch

    def create_module(self, spec):
        return self._loader.create_module(spec)

    def exec_module(self, module):
        with self._patch(module):
            self._loader.exec_module(module)

    def __getattr__(self, name):
        return getattr(self._loader, name)


class PatchFinder(importlib.abc.MetaPathFinder):
    """Finds the real spec, then wraps its loader with the module's patch."""

    _pywrangler_patch_finder = True

    def find_spec(self, fullname, path, target=None):
        patch = EXEC_PATCHES.get(fullname)
        if patch is None:
            return None
        for finder in sys.meta_path:
            if getattr(finder, "_pywrangler_patch_finder", False):
                continue
            find = getattr(finder, "find_spec", None)
            if find is None:
                continue
            spec = find(fullname, path, target)
            if spec is not None:
                break
        else:
            return None
        if spec.loader is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = _PatchedLoader(spec.loader, patch)
        return spec


def install():
    uninstall()
    sys.meta_path.insert(0, PatchFinder())
    sync_http.patch_loaded()


def uninstall():
    sys.meta_path[:] = [f for f in sys.meta_path if not getattr(f, "_pywrangler_patch_finder", False)]
