"""The shape every driver instance has: ``read()``, ``quantities``, ``close()``."""

from __future__ import annotations

from wardlink.hardware.errors import DeviceClosedError


class Device:
    """Base class for driver instances; a context manager whose ``close()`` is idempotent."""

    #: Driver name in the registry (``"sht3x"``).
    driver = ""
    #: Quantity -> unit of what :meth:`read` returns.
    quantities: dict[str, str] = {}

    def __init__(self, label: str) -> None:
        self.label = label
        self._closed = False

    @property
    def closed(self) -> bool:
        """True once :meth:`close` has run."""
        return self._closed

    def read(self) -> dict[str, float]:
        """Return one reading as {quantity: value}; raise HardwareError on failure."""
        self._check_open()
        return self._read()

    def _read(self) -> dict[str, float]:
        raise NotImplementedError

    def close(self) -> None:
        """Release the device; calling it again does nothing."""
        if not self._closed:
            self._closed = True
            self._close()

    def _close(self) -> None:
        """Release driver resources (subclasses override); the bus belongs to the backend."""

    def _check_open(self) -> None:
        if self._closed:
            raise DeviceClosedError(f"{self.label}: device is closed")

    def __enter__(self):
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "closed" if self._closed else "open"
        return f"<{type(self).__name__} {self.label} {state}>"
