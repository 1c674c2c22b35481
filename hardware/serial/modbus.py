"""Modbus RTU master: read holding (0x03) and input (0x04) registers over a serial port.

Why our own framing rather than pymodbus: a gateway needs two read functions, exact
control of the inter-frame silence, typed errors and a count of every discarded byte.
pymodbus brings an asyncio framework, its own logging and retry policy, and hides the
bytes on the wire; the framing here is ~200 lines, depends only on pyserial's port API
and is tested byte for byte against published frames and a slave on a real pty.

References: MODBUS Application Protocol Specification v1.1b3 (PDUs, exception codes);
MODBUS over Serial Line v1.02 (RTU framing, CRC low byte first, t1.5/t3.5 timing:
3.5 character times below 19200 baud, fixed 1.75 ms above).
"""

from __future__ import annotations

import struct
import time
from dataclasses import dataclass, field
from typing import Protocol

from wardlink.hardware.errors import ConfigError, CRCError, DecodeError, DeviceExceptionError, SensorTimeoutError
from wardlink.hardware.serial.crc import crc_ok, with_crc

READ_HOLDING_REGISTERS = 0x03
READ_INPUT_REGISTERS = 0x04
FUNCTIONS = {"holding": READ_HOLDING_REGISTERS, "input": READ_INPUT_REGISTERS}
#: Largest register count one read may ask for (Application Protocol 6.3: 1..125).
MAX_REGISTERS = 125

EXCEPTION_NAMES = {
    0x01: "ILLEGAL FUNCTION",
    0x02: "ILLEGAL DATA ADDRESS",
    0x03: "ILLEGAL DATA VALUE",
    0x04: "SERVER DEVICE FAILURE",
    0x05: "ACKNOWLEDGE",
    0x06: "SERVER DEVICE BUSY",
    0x08: "MEMORY PARITY ERROR",
    0x0A: "GATEWAY PATH UNAVAILABLE",
    0x0B: "GATEWAY TARGET DEVICE FAILED TO RESPOND",
}


class ModbusExceptionError(DeviceExceptionError):
    """The slave answered with an exception response (function code | 0x80)."""

    def __init__(self, unit: int, function: int, code: int) -> None:
        self.unit, self.function, self.code = unit, function, code
        self.code_name = EXCEPTION_NAMES.get(code, "UNKNOWN EXCEPTION")
        super().__init__(
            f"unit {unit} function 0x{function:02X}: exception 0x{code:02X} {self.code_name}"
        )


class Port(Protocol):
    """The part of ``serial.Serial`` the master uses."""

    baudrate: int
    timeout: float | None

    def write(self, data: bytes) -> int | None:
        """Send bytes."""

    def read(self, size: int = 1) -> bytes:
        """Read up to ``size`` bytes, waiting at most the port timeout."""

    def flush(self) -> None:
        """Wait until the bytes written have left."""

    @property
    def in_waiting(self) -> int:
        """Return how many received bytes wait in the buffer."""


def char_time(baudrate: int, bits_per_char: int = 11) -> float:
    """Return the time one RTU character (start + 8 data + parity/stop + stop) takes on the line."""
    return bits_per_char / baudrate


def silent_interval(baudrate: int) -> float:
    """Return t3.5, the silence that separates two RTU frames."""
    # Serial Line v1.02 2.5.1.1: above 19200 baud the timers are fixed so that
    # UART interrupt latency does not dominate them.
    return 0.00175 if baudrate > 19200 else 3.5 * char_time(baudrate)


def build_read_request(unit: int, function: int, address: int, count: int) -> bytes:
    """Return the RTU frame (CRC included) that reads ``count`` registers from ``address``."""
    if not 1 <= unit <= 247:
        raise ConfigError(f"unit: must be 1..247, got {unit}")
    if function not in FUNCTIONS.values():
        raise ConfigError(f"function: must be 0x03 or 0x04, got 0x{function:02X}")
    if not 0 <= address <= 0xFFFF:
        raise ConfigError(f"address: must be 0..65535, got {address}")
    if not 1 <= count <= MAX_REGISTERS or address + count > 0x10000:
        raise ConfigError(f"count: must be 1..{MAX_REGISTERS} within the address space, got {count}")
    return with_crc(struct.pack(">BBHH", unit, function, address, count))


def parse_read_response(frame: bytes, unit: int, function: int, count: int) -> list[int]:
    """Validate a complete response frame and return its register values."""
    if len(frame) < 5:
        raise DecodeError(f"response too short: {frame.hex(' ') or 'empty'}")
    if not crc_ok(frame):
        raise CRCError(f"bad CRC in response {frame.hex(' ')}")
    if frame[0] != unit:
        raise DecodeError(f"response from unit {frame[0]}, expected {unit}")
    if frame[1] == function | 0x80:
        raise ModbusExceptionError(unit, function, frame[2])
    if frame[1] != function:
        raise DecodeError(f"response function 0x{frame[1]:02X}, expected 0x{function:02X}")
    if frame[2] != 2 * count or len(frame) != 5 + 2 * count:
        raise DecodeError(f"response carries {frame[2]} data bytes, expected {2 * count}")
    return list(struct.unpack(f">{count}H", frame[3:-2]))


@dataclass
class MasterStats:
    """Counters a gateway reports in its health message."""

    requests: int = 0
    responses: int = 0
    timeouts: int = 0
    crc_errors: int = 0
    frame_errors: int = 0
    exceptions: int = 0
    discarded_bytes: int = 0
    last_discarded: bytes = field(default=b"", repr=False)


class ModbusRtuMaster:
    """Modbus RTU client on a serial port it is given (it never opens one itself)."""

    def __init__(self, port: Port, *, timeout: float = 1.0, retries: int = 0) -> None:
        if timeout <= 0:
            raise ConfigError(f"timeout: must be > 0 s, got {timeout}")
        if retries < 0:
            raise ConfigError(f"retries: must be >= 0, got {retries}")
        self.port = port
        self.timeout = timeout
        self.retries = retries
        self.t35 = silent_interval(port.baudrate)
        # Gap after which a half-received frame is given up (t1.5 is too tight to hold
        # to on a non-real-time OS; a few character times is what serial stacks use).
        self.inter_char = max(0.05, 20 * char_time(port.baudrate))
        self.stats = MasterStats()
        self._last_activity = 0.0
        # One short read timeout set once: changing it per read would re-run tcsetattr
        # for every chunk. Deadlines are kept here instead.
        self.poll = min(0.01, self.inter_char)
        port.timeout = self.poll

    def read_holding_registers(self, unit: int, address: int, count: int) -> list[int]:
        """Read ``count`` holding registers (function 0x03) starting at ``address``."""
        return self.read_registers(unit, READ_HOLDING_REGISTERS, address, count)

    def read_input_registers(self, unit: int, address: int, count: int) -> list[int]:
        """Read ``count`` input registers (function 0x04) starting at ``address``."""
        return self.read_registers(unit, READ_INPUT_REGISTERS, address, count)

    def read_registers(self, unit: int, function: int, address: int, count: int, *,
                       timeout: float | None = None, retries: int | None = None) -> list[int]:
        """Send one read request, retrying timeouts and corrupt frames, and return the values."""
        request = build_read_request(unit, function, address, count)
        retries = self.retries if retries is None else retries
        for attempt in range(retries + 1):
            try:
                return self._transact(request, unit, function, count, timeout or self.timeout)
            except (SensorTimeoutError, DecodeError):
                # Exception responses are answers, not transport faults: never retried.
                if attempt == retries:
                    raise
        raise AssertionError("unreachable")

    def _transact(self, request: bytes, unit: int, function: int, count: int, timeout: float) -> list[int]:
        self._discard_stale_input()
        self._wait_for_silence()
        self.stats.requests += 1
        self.port.write(request)
        self.port.flush()
        self._last_activity = time.monotonic()
        try:
            frame = self._read_frame(function, timeout)
            values = parse_read_response(frame, unit, function, count)
        except SensorTimeoutError:
            self.stats.timeouts += 1
            raise
        except ModbusExceptionError:
            self.stats.exceptions += 1
            raise
        except CRCError:
            self.stats.crc_errors += 1
            self._resync()
            raise
        except DecodeError:
            self.stats.frame_errors += 1
            self._resync()
            raise
        self.stats.responses += 1
        return values

    def _read_frame(self, function: int, timeout: float) -> bytes:
        head = self._read_exact(2, timeout, "response")
        if head[1] == function | 0x80:
            return head + self._read_exact(3, self.inter_char, "exception response")
        if head[1] != function:
            raise DecodeError(f"response function 0x{head[1]:02X}, expected 0x{function:02X}")
        size = self._read_exact(1, self.inter_char, "byte count")
        return head + size + self._read_exact(size[0] + 2, self.inter_char, "register data")

    def _read_exact(self, n: int, first_wait: float, what: str) -> bytes:
        data = b""
        deadline = time.monotonic() + first_wait
        while len(data) < n:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.stats.discarded_bytes += len(data)
                raise SensorTimeoutError(
                    f"no complete {what} within {first_wait:.3f} s ({len(data)}/{n} bytes)"
                )
            chunk = self.port.read(n - len(data))
            if chunk:
                data += chunk
                self._last_activity = time.monotonic()
                # Once bytes flow, the rest of the frame must follow without a gap.
                deadline = self._last_activity + self.inter_char
        return data

    def _discard_stale_input(self) -> None:
        waiting = self.port.in_waiting
        if waiting:
            self._note_discarded(self.port.read(waiting))

    def _wait_for_silence(self) -> None:
        # Sending before t3.5 has passed would merge our request into the previous frame.
        gap = self._last_activity + self.t35 - time.monotonic()
        if gap > 0:
            time.sleep(gap)

    def _resync(self) -> None:
        """Drop bytes until the line has been quiet for t3.5, so the next frame starts clean."""
        quiet = max(self.t35, self.poll)
        while True:
            chunk = self.port.read(256)
            now = time.monotonic()
            if chunk:
                self._note_discarded(chunk)
                self._last_activity = now
            elif now - self._last_activity >= quiet:
                return

    def _note_discarded(self, data: bytes) -> None:
        self.stats.discarded_bytes += len(data)
        self.stats.last_discarded = (self.stats.last_discarded + data)[-64:]
