"""The w1 sysfs tree (``/sys/bus/w1/devices``), real and emulated.

The Linux w1 master driver lists each slave as a directory named
``<family>-<serial>`` and runs a conversion whenever a program reads the slave's
``w1_slave`` attribute, so the read itself blocks for the conversion time.
"""

from __future__ import annotations

import errno
import os
import shutil
import threading
from pathlib import Path

from wardlink.hardware.errors import BusError, ConfigError, DeviceAbsentError


class W1Bus:
    """Reads slave attributes from a w1 sysfs tree rooted at ``root``."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def devices(self) -> list[str]:
        """Return the ids of the slaves the kernel currently lists (``28-...``)."""
        try:
            return sorted(p.name for p in self.root.iterdir() if p.name[:2] != "w1" and "-" in p.name)
        except FileNotFoundError:
            return []

    def read(self, device_id: str, attribute: str = "w1_slave") -> str:
        """Return the text of ``<root>/<device_id>/<attribute>``."""
        path = self.root / device_id / attribute
        try:
            return path.read_text(encoding="ascii")
        except FileNotFoundError:
            raise DeviceAbsentError(
                errno.ENOENT, f"{device_id}: not listed under {self.root} (unplugged, or w1 not enabled?)"
            ) from None
        except (OSError, UnicodeDecodeError) as exc:
            code = getattr(exc, "errno", None) or errno.EIO
            raise BusError(code, f"{device_id}: reading {attribute} failed: {exc}") from exc

    def close(self) -> None:
        """Nothing to release: sysfs files are opened per read."""


class EmulatedW1Bus(W1Bus):
    """A sysfs-like tree on disk whose slave files are rewritten by emulators on each read.

    Like the kernel, reading ``w1_slave`` performs a conversion: the emulator is asked
    for fresh contents and the read takes the conversion time on the injected clock.
    """

    def __init__(self, root: str | Path, *, sleep) -> None:
        super().__init__(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.sleep = sleep
        self.slaves: dict[str, object] = {}
        # One conversion at a time, as on a real 1-wire line (and the files stay whole).
        self._lock = threading.Lock()

    def attach(self, device_id: str, emulator) -> object:
        """Connect ``emulator`` to the bus as slave ``device_id``."""
        existing = self.slaves.get(device_id)
        if existing is not None and existing is not emulator:
            raise ConfigError(f"device_id: {device_id} is already on the emulated 1-wire bus")
        self.slaves[device_id] = emulator
        self._publish(device_id)
        return emulator

    def detach(self, device_id: str) -> None:
        """Disconnect slave ``device_id`` (its directory disappears, as in the kernel)."""
        self.slaves.pop(device_id, None)
        shutil.rmtree(self.root / device_id, ignore_errors=True)

    def _publish(self, device_id: str) -> None:
        emulator = self.slaves[device_id]
        directory = self.root / device_id
        if emulator.is_faulted("absent"):
            shutil.rmtree(directory, ignore_errors=True)
            return
        directory.mkdir(exist_ok=True)
        (directory / "name").write_text(device_id + "\n", encoding="ascii")

    def read(self, device_id: str, attribute: str = "w1_slave") -> str:
        """Let the slave's emulator convert and rewrite the file, then read it like sysfs."""
        with self._lock:
            emulator = self.slaves.get(device_id)
            if emulator is not None:
                self._publish(device_id)
                directory = self.root / device_id
                if directory.is_dir():
                    text, seconds = emulator.sysfs_read(attribute)
                    self.sleep(seconds)
                    tmp = directory / f".{attribute}.tmp"
                    tmp.write_text(text, encoding="ascii")
                    os.replace(tmp, directory / attribute)
            return super().read(device_id, attribute)


def open_real(backend, key) -> W1Bus:
    """Return the machine's w1 sysfs tree."""
    return W1Bus(backend.w1_root)


def open_emulated(backend, key) -> EmulatedW1Bus:
    """Return an emulated w1 tree under the backend's root."""
    return EmulatedW1Bus(backend.w1_root, sleep=backend.sleep)
