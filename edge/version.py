"""The installed Wardlink version, for status messages and ``--version``.

One source: the ``version`` in pyproject.toml, read from the installed package's metadata by
:mod:`wardlink` (the gateway and the hub report the same number).
"""

from wardlink import __version__

__all__ = ["__version__"]
