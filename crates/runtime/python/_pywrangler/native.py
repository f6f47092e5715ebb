"""Pyodide's native extension modules (`*.cpython-314-wasm32-emscripten.so`).

The runtime links a project's extension modules into the guest itself (the guest has no
dynamic loader); `dlopen` finds them in the table the link generates. What is left to do here
is to let the import system look for files with Pyodide's suffix, as Pyodide's does.
"""

import sys
from importlib import machinery


def install():
    suffix = ".cpython-%d%d-wasm32-emscripten.so" % sys.version_info[:2]
    if suffix in machinery.EXTENSION_SUFFIXES:
        return
    machinery.EXTENSION_SUFFIXES.insert(0, suffix)
    loaders = [
        (machinery.ExtensionFileLoader, machinery.EXTENSION_SUFFIXES),
        (machinery.SourceFileLoader, machinery.SOURCE_SUFFIXES),
        (machinery.SourcelessFileLoader, machinery.BYTECODE_SUFFIXES),
    ]
    hook = machinery.FileFinder.path_hook(*loaders)
    for i, old in enumerate(sys.path_hooks):
        if "FileFinder" in getattr(old, "__qualname__", ""):
            sys.path_hooks[i] = hook
            break
    else:
        sys.path_hooks.append(hook)
    sys.path_importer_cache.clear()
