"""Bytecode for `python_modules`, cached in the host's snapshot cache (mounted
at /pycache) instead of beside the sources, whose mounts are read-only.
Without it every snapshot build and `dev` start compiles every imported
dependency from source; with it only changed files are. Nothing is written
into the project, so nothing reaches the upload.

The Worker's own code (/app/src) is left out: CPython checks a cached file
against the source's mtime in whole seconds and its size, so an edit of the
same size within a second of the last would run stale code after a `dev`
reload. `sync` replaces `python_modules` as a whole, never that quickly."""

import os
import sys

import _frozen_importlib_external as _external

PREFIX = "/pycache"
ROOTS = ("/app/python_modules/",)


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
