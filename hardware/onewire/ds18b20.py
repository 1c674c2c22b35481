"""Maxim DS18B20 digital thermometer, read through the Linux w1-therm driver.

``w1_slave`` holds two lines, for example::

    72 01 4b 46 7f ff 0e 10 57 : crc=57 YES
    72 01 4b 46 7f ff 0e 10 57 t=23125

The first line is the 9-byte scratchpad and the kernel's CRC verdict; the second
repeats the last scratchpad that passed and the temperature in milli-degrees.
We re-check the CRC ourselves and decode the temperature from the bytes.
"""

from __future__ import annotations

import re

from wardlink.hardware.device import Device
from wardlink.hardware.emulation import ChipEmulator, Physical
from wardlink.hardware.errors import (
    CRCError,
    DecodeError,
    InvalidReadingError,
    OutOfRangeError,
    ResetValueError,
)

#: Power-on scratchpad: 85.0 degC, alarm registers 75/70, 12-bit (datasheet, Figure 9).
POWER_ON_SCRATCHPAD = bytes.fromhex("50054b467fff0c101c")
RESET_RAW = 0x0550
#: Configuration byte bits R1:R0 -> (resolution bits, conversion time in s).
RESOLUTIONS = {0: (9, 0.09375), 1: (10, 0.1875), 2: (11, 0.375), 3: (12, 0.75)}
RANGE_C = (-55.0, 125.0)

_LINE1 = re.compile(r"^((?:[0-9a-f]{2} ){9}): crc=([0-9a-f]{2}) (YES|NO)$", re.IGNORECASE)


def dallas_crc8(data: bytes) -> int:
    """Return the Dallas/Maxim 1-wire CRC-8 (x^8 + x^5 + x^4 + 1, reflected, init 0)."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8C if crc & 1 else crc >> 1
    return crc


def decode_scratchpad(scratchpad: bytes) -> float:
    """Return the temperature in degC from the 9 scratchpad bytes, checking CRC and sanity."""
    if len(scratchpad) != 9:
        raise DecodeError(f"scratchpad must be 9 bytes, got {len(scratchpad)}")
    if not any(scratchpad):
        # CRC of all zeros is zero, so this passes the check; it is a line held low.
        raise InvalidReadingError("scratchpad is all zeros: data line shorted or sensor unpowered")
    crc = dallas_crc8(scratchpad[:8])
    if crc != scratchpad[8]:
        raise CRCError(f"scratchpad CRC is 0x{scratchpad[8]:02x}, computed 0x{crc:02x}")
    config = scratchpad[4]
    if config & 0x9F != 0x1F:
        # Bits 0-4 read as 1 and bit 7 as 0 on every DS18B20 (datasheet, Figure 10).
        raise DecodeError(f"configuration byte 0x{config:02x} is not a DS18B20's")
    bits, _ = RESOLUTIONS[config >> 5 & 3]
    raw = int.from_bytes(scratchpad[0:2], "little", signed=True)
    raw &= ~((1 << (12 - bits)) - 1)  # low bits are undefined below 12-bit resolution
    if raw == RESET_RAW:
        raise ResetValueError("85.0 degC is the power-on value: no conversion has run")
    celsius = raw / 16
    if not RANGE_C[0] <= celsius <= RANGE_C[1]:
        raise OutOfRangeError(f"{celsius} degC is outside the DS18B20 range -55..125 degC")
    return celsius


def decode_w1_slave(text: str) -> float:
    """Return degC from a w1-therm ``w1_slave`` text; raise CRCError on ``NO``."""
    lines = text.strip().splitlines()
    if len(lines) != 2:
        raise DecodeError(f"w1_slave must have 2 lines, got {len(lines)}: {text!r}")
    match = _LINE1.match(lines[0].strip())
    if match is None:
        raise DecodeError(f"unrecognised w1_slave first line: {lines[0]!r}")
    if match.group(3).upper() != "YES":
        raise CRCError(f"kernel reports a CRC failure: {lines[0]!r}")
    if not re.search(r"t=-?\d+$", lines[1]):
        raise DecodeError(f"unrecognised w1_slave second line: {lines[1]!r}")
    return decode_scratchpad(bytes.fromhex(match.group(1)))


class DS18B20(Device):
    """A DS18B20 on the w1 bus, retrying reads that fail the CRC."""

    driver = "ds18b20"
    quantities = {"temperature": "degC"}

    def __init__(self, w1, device_id: str, *, retries: int = 2) -> None:
        super().__init__(f"ds18b20 {device_id}")
        self.w1 = w1
        self.device_id = device_id
        self.retries = retries

    def _read(self) -> dict[str, float]:
        failure: CRCError | None = None
        for _ in range(self.retries + 1):
            try:
                return {"temperature": decode_w1_slave(self.w1.read(self.device_id))}
            except CRCError as exc:
                # Noise on a long 1-wire run corrupts single reads; a fresh conversion usually passes.
                failure = exc
            except (DecodeError, InvalidReadingError, OutOfRangeError) as exc:
                raise type(exc)(f"{self.label}: {exc}") from exc
        raise CRCError(f"{self.label}: {self.retries + 1} reads failed the CRC; last: {failure}")


class DS18B20Emulator(ChipEmulator):
    """Answers ``w1_slave`` reads with the scratchpad a DS18B20 would hold.

    Faults: ``crc`` (a corrupted transfer; the kernel prints ``NO``), ``reset`` (the
    chip browned out and reports its 85 degC power-on value), ``absent`` (the kernel
    drops the slave directory).
    """

    FAULTS = frozenset({"crc", "reset", "absent"})
    temperature = Physical(21.0, "degC")

    def __init__(self, clock, *, resolution: int = 12) -> None:
        super().__init__(clock)
        codes = {bits: code for code, (bits, _) in RESOLUTIONS.items()}
        if resolution not in codes:
            raise ValueError(f"resolution must be one of 9, 10, 11, 12, got {resolution}")
        self.config = 0x1F | codes[resolution] << 5
        self.conversion_s = RESOLUTIONS[codes[resolution]][1]
        self._last_good = bytes(9)

    def scratchpad(self) -> bytes:
        """Return the scratchpad after a conversion of the current temperature."""
        if self.take_fault("reset"):
            return POWER_ON_SCRATCHPAD
        bits, _ = RESOLUTIONS[self.config >> 5 & 3]
        step = 1 << (12 - bits)
        raw = round(self.temperature * 16 / step) * step
        raw = max(-0x8000, min(0x7FFF, raw))
        count_remain = 0x10 - (raw & 0x0F)  # what real parts leave in reserved byte 6
        data = raw.to_bytes(2, "little", signed=True) + bytes([0x4B, 0x46, self.config, 0xFF, count_remain, 0x10])
        return data + bytes([dallas_crc8(data)])

    def sysfs_read(self, attribute: str) -> tuple[str, float]:
        """Return (file text, conversion seconds) as the w1-therm driver produces them."""
        if attribute != "w1_slave":
            raise NotImplementedError(f"w1-therm attribute {attribute!r} is not modelled")
        rom = bytearray(self.scratchpad())
        if self.take_fault("crc"):
            rom[1] ^= 0x08  # one bit flipped on the wire
        crc = dallas_crc8(bytes(rom[:8]))
        good = crc == rom[8]
        if good:
            self._last_good = bytes(rom)
        raw = int.from_bytes(rom[0:2], "little", signed=True)
        line1 = " ".join(f"{b:02x}" for b in rom) + f" : crc={crc:02x} {'YES' if good else 'NO'}"
        # t= is computed by C integer division, which truncates toward zero.
        line2 = " ".join(f"{b:02x}" for b in self._last_good) + f" t={int(raw * 1000 / 16)}"
        return f"{line1}\n{line2}\n", self.conversion_s


def open_device(params: dict, backend) -> DS18B20:
    """Open a DS18B20 on the backend's w1 bus."""
    return DS18B20(backend.w1(), params["device_id"], retries=params["retries"])


def install_emulator(backend, params: dict) -> DS18B20Emulator:
    """Put an emulated DS18B20 on the backend's w1 bus (reusing one already there)."""
    bus = backend.w1()
    existing = bus.slaves.get(params["device_id"])
    if isinstance(existing, DS18B20Emulator):
        return existing
    return bus.attach(params["device_id"], DS18B20Emulator(backend.bus_clock))
