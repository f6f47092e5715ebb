"""Compatibility alias: `import asgi` is `workers.asgi`."""

import sys

from workers import asgi as _asgi

sys.modules[__name__] = _asgi
