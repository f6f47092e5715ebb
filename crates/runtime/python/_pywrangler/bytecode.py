"""Bytecode for the Worker's own code and its `python_modules`, cached in the
host's snapshot cache (mounted at /pycache) instead of beside the sources,
whose mounts are read-only. Without it every snapshot build and `dev` start
compiles every imported module from source; with it only changed files are.
Nothing is written into the project, so nothing reaches the upload."""

import os
import sys

import _frozen_importlib_external as _external

PREFIX = "/pycache"
ROOTS = ("/app/python_modules/", "/app/src/")


def install():
    """Route `cache_from_source` for the app's files to PREFIX and let the
    import system write bytecode (the guest starts with writing off)."""
    original = _external.cache_from_source
    if getattr(original, "_pywrangler", False) or not os.path.isdir(PREFIX):
        return
    if os.environ.get("PW_BYTECODE_CACHE", "1") != "1":
        return

    def cache_from_source(path, debug_override=None, *, optimization=None):
        if not path.startswith(ROOTS):
            return original(path, debug_override, optimization=optimization)
        saved = sys.pycache_prefix
        sys.pycache_prefix = PREFIX
        try:
            return original(path, debug_override, optimization=optimization)
        finally:
            sys.pycache_prefix = saved

    cache_from_source._pywrangler = True
    _external.cache_from_source = cache_from_source
    sys.dont_write_bytecode = False
