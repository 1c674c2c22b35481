"""A Modbus RTU slave on a pty: answers 0x03/0x04 with real CRCs, and injects faults.

Like a real slave it frames requests by line silence (t3.5), ignores frames with a bad
CRC or another unit's address, and answers what it cannot do with an exception
response. Faults are queued and consumed one response at a time::

    emu.inject("bad_crc")             # flip the CRC of the next response
    emu.inject("no_reply", count=2)   # stay silent twice (master times out)
    emu.inject("exception", code=0x06) # answer SERVER DEVICE BUSY
    emu.inject("garbage")             # line noise instead of an answer
    emu.inject("truncate")            # stop half-way through the frame
"""

from __future__ import annotations

import struct
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping

from wardlink.hardware.errors import NotModelledError
from wardlink.hardware.serial.crc import crc_ok, with_crc
from wardlink.hardware.serial.modbus import MAX_REGISTERS, READ_HOLDING_REGISTERS, READ_INPUT_REGISTERS, silent_interval
from wardlink.hardware.serial.ptys import PtyEmulator

FAULTS = ("bad_crc", "no_reply", "exception", "garbage", "truncate")
#: Bytes sent for the "garbage" fault: what a floating RS-485 line or a baud-rate mismatch looks like.
GARBAGE = bytes.fromhex("ff 00 fe 7f 80 55 aa")


class ModbusSlaveEmulator(PtyEmulator):
    """RTU slaves (one or more units on one line) with register tables, on their own pty."""

    def __init__(
        self,
        unit: int | None = 1,
        *,
        holding: Mapping[int, int] | None = None,
        input: Mapping[int, int] | None = None,
        baudrate: int = 19200,
    ) -> None:
        super().__init__()
        self.units: dict[int, dict[int, dict[int, int]]] = {}
        self.refresh: dict[int, Callable[[], None]] = {}  # unit -> updates registers before an answer
        if unit is not None:
            self.add_unit(unit, holding=holding, input=input)
        self.t35 = silent_interval(baudrate)
        self.requests: list[bytes] = []  # every complete frame addressed to a unit here, in order
        self.timeline: list[tuple[float, str]] = []  # (monotonic time, "rx" frame end | "tx" reply queued)
        self.ignored: list[bytes] = []  # frames dropped for a bad CRC or an absent unit
        self._faults: deque[tuple[str, int]] = deque()
        self._rx = bytearray()
        self._last_rx = 0.0
        self._table_lock = threading.Lock()

    def add_unit(self, unit: int, *, holding: Mapping[int, int] | None = None,
                 input: Mapping[int, int] | None = None) -> None:
        """Put another slave on the line (RS-485 is multi-drop)."""
        self.units[unit] = {
            READ_HOLDING_REGISTERS: {a: v & 0xFFFF for a, v in (holding or {}).items()},
            READ_INPUT_REGISTERS: {a: v & 0xFFFF for a, v in (input or {}).items()},
        }

    def set_registers(self, kind: str, values: Mapping[int, int], unit: int | None = None) -> None:
        """Set register values (``kind`` is "holding" or "input"); thread-safe."""
        function = {"holding": READ_HOLDING_REGISTERS, "input": READ_INPUT_REGISTERS}[kind]
        unit = next(iter(self.units)) if unit is None else unit
        with self._table_lock:
            self.units[unit][function].update({a: v & 0xFFFF for a, v in values.items()})

    def inject(self, fault: str, *, count: int = 1, code: int = 0x04) -> None:
        """Apply ``fault`` to the next ``count`` responses."""
        if fault not in FAULTS:
            raise NotModelledError(f"fault {fault!r} is not modelled; modelled: {', '.join(FAULTS)}")
        for _ in range(count):
            self._faults.append((fault, code))

    def on_bytes(self, data: bytes) -> None:
        """Collect request bytes; frames end at a silence."""
        self._rx += data
        self._last_rx = time.monotonic()

    def on_idle(self) -> None:
        # A frame ends when the line has been silent for t3.5 (the pty delivers bytes
        # faster than a wire, so a floor keeps one write from being split in two frames).
        """Answer a request once the line has been silent for t3.5."""
        if self._rx and time.monotonic() - self._last_rx >= max(self.t35, 0.002):
            frame, self._rx = bytes(self._rx), bytearray()
            self.timeline.append((self._last_rx, "rx"))
            self._handle(frame)

    def _handle(self, frame: bytes) -> None:
        if len(frame) < 4 or not crc_ok(frame) or frame[0] not in self.units:
            self.ignored.append(frame)  # a real slave stays silent on these
            return
        unit = frame[0]
        self.requests.append(frame)
        fault, code = self._faults.popleft() if self._faults else (None, 0)
        if fault == "no_reply":
            return
        if fault == "exception":
            reply = with_crc(bytes([unit, frame[1] | 0x80, code]))
        else:
            if unit in self.refresh:
                self.refresh[unit]()
            reply = self._answer(unit, frame)
        self.send(self._distort(reply, fault))
        self.timeline.append((time.monotonic(), "tx"))

    def _answer(self, unit: int, frame: bytes) -> bytes:
        function = frame[1]
        tables = self.units[unit]
        if function not in tables or len(frame) != 8:
            return with_crc(bytes([unit, function | 0x80, 0x01]))
        address, count = struct.unpack(">HH", frame[2:6])
        if not 1 <= count <= MAX_REGISTERS:
            return with_crc(bytes([unit, function | 0x80, 0x03]))
        with self._table_lock:
            table = tables[function]
            if any(a not in table for a in range(address, address + count)):
                return with_crc(bytes([unit, function | 0x80, 0x02]))
            values = [table[a] for a in range(address, address + count)]
        return with_crc(struct.pack(f">BBB{count}H", unit, function, 2 * count, *values))

    @staticmethod
    def _distort(reply: bytes, fault: str | None) -> bytes:
        if fault == "bad_crc":
            return reply[:-1] + bytes([reply[-1] ^ 0xFF])
        if fault == "garbage":
            return GARBAGE
        if fault == "truncate":
            return reply[: len(reply) // 2]
        return reply
