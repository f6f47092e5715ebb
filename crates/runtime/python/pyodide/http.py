"""`pyodide.http.pyfetch` mapped onto `workers.fetch`."""

from workers import FetchResponse, fetch


async def pyfetch(url, **kwargs):
    return await fetch(url, **kwargs)


__all__ = ["FetchResponse", "pyfetch"]
