"""The parts of Pyodide that Worker code imports (`pyodide.ffi`, `pyodide.http`)."""

__version__ = "0.0.0+pywrangler-local"
