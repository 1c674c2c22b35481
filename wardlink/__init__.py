"""Wardlink: biomedical equipment monitoring and maintenance for hospitals.

This package holds what the gateway (``edge``) and the hub (``hub``) share: the wire
protocol, the one MQTT client adapter (:mod:`wardlink.mqtt`), the one retry/backoff helper
(:mod:`wardlink.retry`), the error root and the injectable clock. It stays small and pure.
"""

from importlib.metadata import PackageNotFoundError, version as _version

try:
    __version__ = _version("wardlink")
except PackageNotFoundError:  # running from a source tree that was never installed
    __version__ = "0.0.0+unknown"

__all__ = ["__version__"]
