"""The installed Wardlink version, for status messages and ``--version``."""

from importlib import metadata as _metadata

try:
    __version__ = _metadata.version("wardlink")
except _metadata.PackageNotFoundError:  # running from a source tree without an install
    __version__ = "0.0.0+unknown"
