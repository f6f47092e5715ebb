"""`pyodide.ffi` as Worker code imports it; the implementation is
`_pywrangler.ffi`."""

from _pywrangler.ffi import *  # noqa: F403
from _pywrangler.ffi import __all__  # noqa: F401
