"""The real radio: ``bleak.BleakScanner`` on a Bluetooth adapter, feeding :meth:`Radio.dispatch`.

bleak is imported only when scanning starts, so gateways (and tests) that never use
Bluetooth never load BlueZ or D-Bus code. The scanner runs its asyncio loop in one
daemon thread; advertisements are converted to :class:`Advertisement` there and handed
to the same dispatch path the replay radio uses.
"""

from __future__ import annotations

import asyncio
import threading

from wardlink.hardware.ble.advert import Advertisement
from wardlink.hardware.ble.radio import Radio
from wardlink.hardware.errors import BusError, DecodeError


class BleakRadio(Radio):
    """Passive or active scanning on ``adapter`` (``hci0``) through bleak."""

    def __init__(self, adapter: str = "hci0", *, clock, scanning_mode: str = "active") -> None:
        super().__init__(adapter)
        self.adapter = adapter
        self.clock = clock
        self.scanning_mode = scanning_mode
        self.error: BaseException | None = None
        self.malformed = 0
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()

    def _started(self) -> None:
        if self._thread is None:
            self._thread = threading.Thread(target=self._run, name=f"ble-{self.adapter}", daemon=True)
            self._thread.start()

    def check(self) -> None:
        """Raise BusError if the scanner thread died (adapter missing, BlueZ not running)."""
        if self.error is not None:
            hint = ""
            if isinstance(self.error, (FileNotFoundError, ConnectionRefusedError)):
                # bleak reaches BlueZ over the D-Bus system bus socket.
                hint = " (no D-Bus system bus or bluetoothd: sudo systemctl enable --now bluetooth)"
            raise BusError(f"BLE scanning on {self.adapter} failed: {self.error}{hint}") from self.error

    def _run(self) -> None:
        try:
            asyncio.run(self._scan())
        except BaseException as exc:  # reported through check()
            self.error = exc
        finally:
            self._ready.set()

    async def _scan(self) -> None:
        from bleak import BleakScanner  # lazy: only a gateway that scans needs BlueZ

        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        bluez: dict = {"adapter": self.adapter}
        if self.scanning_mode == "passive":
            from bleak.assigned_numbers import AdvertisementDataType as Ad

            # BlueZ passive scanning reports only advertisements matching an or-pattern:
            # BTHome service data, Ruuvi and Apple (iBeacon) manufacturer data.
            bluez["or_patterns"] = [
                (0, Ad.SERVICE_DATA_UUID16, b"\xd2\xfc"),
                (0, Ad.MANUFACTURER_SPECIFIC_DATA, b"\x99\x04"),
                (0, Ad.MANUFACTURER_SPECIFIC_DATA, b"\x4c\x00"),
            ]
        scanner = BleakScanner(detection_callback=self._on_detect, scanning_mode=self.scanning_mode, bluez=bluez)
        async with scanner:
            self._ready.set()
            await self._stop.wait()

    def _on_detect(self, device, data) -> None:
        try:
            adv = Advertisement.build(
                device.address, data.rssi, self.clock.now(),
                service_data=data.service_data, manufacturer_data=data.manufacturer_data,
                name=data.local_name, gateway=self.adapter,
            )
        except DecodeError:
            self.malformed += 1  # e.g. a platform UUID form we do not read; never kill the loop
            return
        self.dispatch(adv)

    def close(self) -> None:
        """Stop scanning and join the thread; calling it again does nothing."""
        super().close()
        if self._loop is not None and self._stop is not None and not self._loop.is_closed():
            try:
                self._loop.call_soon_threadsafe(self._stop.set)
            except RuntimeError:
                pass  # loop already finished
        if self._thread is not None:
            self._thread.join(timeout=10)
            self._thread = None


def open_real(backend, adapter: str) -> BleakRadio:
    """Return a bleak-backed radio on ``adapter`` (scanning starts with the first listener)."""
    return BleakRadio(adapter, clock=backend.clock)
