"""The Workers Python API (compatible with workers-runtime-sdk 1.9.5) for the
local runtime. It shadows the vendored SDK, which needs Pyodide's `js`."""

from ._body import Blob, File, FormData
from ._entrypoints import Context, DurableObject, WorkerEntrypoint, WorkflowEntrypoint, handler
from ._headers import Headers
from ._http import FetchResponse, Request, Response, fetch
from ._rpc import import_from_javascript, patch_env, python_from_rpc, python_to_rpc
from _pywrangler.jsobj import JsException

__all__ = [
    "Blob",
    "Context",
    "DurableObject",
    "FetchResponse",
    "File",
    "FormData",
    "Headers",
    "JsException",
    "Request",
    "Response",
    "WorkerEntrypoint",
    "WorkflowEntrypoint",
    "env",
    "fetch",
    "handler",
    "import_from_javascript",
    "patch_env",
    "python_from_rpc",
    "python_to_rpc",
    "waitUntil",
    "wait_until",
]


def __getattr__(name):
    if name == "env":
        from _pywrangler import state

        return state.env
    if name in ("wait_until", "waitUntil"):
        from ._rpc import _wait_until

        return _wait_until
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
