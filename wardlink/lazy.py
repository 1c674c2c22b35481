"""Names a package re-exports, imported from their modules on first use.

A package whose ``__init__`` imports its submodules eagerly makes importing any one of them load
them all (the ingest worker, the rules engine, SQLAlchemy...). With :func:`lazy_exports`, the
package lists ``name -> module`` and ``from package import name`` imports that one module when
the name is first asked for::

    _EXPORTS = {"RulesEngine": "wardlink.hub.rules.engine", ...}
    __all__ = sorted(_EXPORTS)
    __getattr__ = lazy_exports(__name__, _EXPORTS, globals())
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping, MutableMapping
from typing import Any


def lazy_exports(package: str, exports: Mapping[str, str],
                 namespace: MutableMapping[str, Any]) -> Callable[[str], Any]:
    """Return a module ``__getattr__`` for ``package`` that imports ``exports[name]`` on first use
    and keeps the value in ``namespace`` (the package's globals), so later lookups are plain."""

    def __getattr__(name: str) -> Any:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        namespace[name] = value
        return value

    return __getattr__
