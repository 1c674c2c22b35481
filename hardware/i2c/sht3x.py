"""Sensirion SHT3x (SHT30/31/35) humidity and temperature sensor, single-shot mode.

A measurement is a 2-byte command (0x2400: high repeatability, no clock stretching),
a wait, then a 6-byte read ``T_msb T_lsb T_crc RH_msb RH_lsb RH_crc``. While the
conversion runs the sensor NACKs its read header. Every 16-bit word carries
CRC-8 (poly 0x31, init 0xFF): the datasheet's example is CRC(0xBE 0xEF) = 0x92.
"""

from __future__ import annotations

import errno

from smbus2 import i2c_msg

from wardlink.hardware.emulation import Physical
from wardlink.hardware.errors import CRCError, DecodeError, NotModelledError, SensorTimeoutError
from wardlink.hardware.i2c.bus import I2CChip, I2CDevice, Nack

#: repeatability -> (command, typical s, maximum s) for single shot without clock stretching.
SINGLE_SHOT = {
    "high": (0x2400, 0.0125, 0.0155),
    "medium": (0x240B, 0.0045, 0.0065),
    "low": (0x2416, 0.0025, 0.0045),
}
SOFT_RESET, SOFT_RESET_S = 0x30A2, 0.0015
READ_STATUS, CLEAR_STATUS = 0xF32D, 0x3041
HEATER_ON, HEATER_OFF = 0x306D, 0x3066
STATUS_ALERT, STATUS_HEATER, STATUS_RH_ALERT, STATUS_T_ALERT, STATUS_RESET = 1 << 15, 1 << 13, 1 << 11, 1 << 10, 1 << 4
#: Command families that exist on the chip but that the emulator does not model.
UNMODELLED = {
    0x2C: "single shot with clock stretching",
    0x20: "periodic mode", 0x21: "periodic mode", 0x22: "periodic mode", 0x23: "periodic mode",
    0x27: "periodic mode", 0xE0: "fetch data (periodic mode)", 0x2B: "ART mode",
    0x30: "break / periodic stop", 0xE1: "alert limits", 0x61: "alert limits",
}


def crc8(data: bytes) -> int:
    """Return Sensirion's CRC-8 (poly 0x31, init 0xFF, no reflection, no final XOR)."""
    crc = 0xFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc << 1 ^ 0x31) & 0xFF if crc & 0x80 else crc << 1 & 0xFF
    return crc


def _word(frame: bytes, what: str) -> int:
    if crc8(frame[:2]) != frame[2]:
        raise CRCError(f"{what} CRC is 0x{frame[2]:02X}, computed 0x{crc8(frame[:2]):02X}")
    return frame[0] << 8 | frame[1]


def decode(frame: bytes) -> dict[str, float]:
    """Return temperature (degC) and humidity (%RH) from the 6-byte measurement frame."""
    if len(frame) != 6:
        raise DecodeError(f"measurement frame must be 6 bytes, got {len(frame)}")
    raw_t, raw_rh = _word(frame[0:3], "temperature"), _word(frame[3:6], "humidity")
    return {"temperature": -45 + 175 * raw_t / 65535, "humidity": 100 * raw_rh / 65535}


def decode_status(frame: bytes) -> int:
    """Return the 16-bit status register from its 3-byte frame (CRC checked)."""
    if len(frame) != 3:
        raise DecodeError(f"status frame must be 3 bytes, got {len(frame)}")
    return _word(frame, "status")


class SHT3x(I2CDevice):
    """An SHT3x measured in single-shot mode without clock stretching."""

    driver = "sht3x"
    quantities = {"temperature": "degC", "humidity": "%RH"}
    #: Extra read attempts after the maximum conversion time, 1 ms apart.
    POLLS = 5

    def __init__(self, bus, address: int, *, repeatability: str = "high", heater: bool = False, sleep) -> None:
        super().__init__(bus, address, sleep=sleep)
        self.command, _, self.max_s = SINGLE_SHOT[repeatability]
        self.heater = heater
        self._heater_set: bool | None = None

    def _send(self, command: int) -> None:
        # Raw 2-byte command: SMBus block writes would add nothing, so use a plain I2C write.
        self.bus.i2c_rdwr(i2c_msg.write(self.address, [command >> 8, command & 0xFF]))

    def _fetch(self, length: int) -> bytes:
        message = i2c_msg.read(self.address, length)
        self.bus.i2c_rdwr(message)
        return bytes(message)

    def status(self) -> int:
        """Return the status register (bit 13 heater, bit 4 reset detected, ...)."""
        self._check_open()
        with self.io("read status"):
            self._send(READ_STATUS)
            return decode_status(self._fetch(3))

    def soft_reset(self) -> None:
        """Reset the sensor (heater off, status cleared) and wait for it to restart."""
        self._check_open()
        with self.io("soft reset"):
            self._send(SOFT_RESET)
        self.sleep(SOFT_RESET_S)
        self._heater_set = None

    def _read(self) -> dict[str, float]:
        with self.io("measure"):
            if self._heater_set != self.heater:
                self._send(HEATER_ON if self.heater else HEATER_OFF)
                self._heater_set = self.heater
            self._send(self.command)
            self.sleep(self.max_s)
            for _ in range(self.POLLS):
                try:
                    frame = self._fetch(6)
                    break
                except OSError as exc:
                    if exc.errno != errno.EREMOTEIO:
                        raise
                    self.sleep(0.001)  # NACKed read header: the conversion is still running
            else:
                waited_ms = self.max_s * 1000 + self.POLLS
                raise SensorTimeoutError(f"{self.label}: no data {waited_ms:.1f} ms after the command")
        try:
            return decode(frame)
        except CRCError as exc:
            raise CRCError(f"{self.label}: {exc}") from exc


class SHT3xEmulator(I2CChip):
    """An SHT3x answering single-shot, status, heater and reset commands.

    Faults: ``nack``, ``absent`` (bus level) and ``crc`` (the temperature CRC byte of
    the next measurement is corrupted).
    """

    FAULTS = I2CChip.FAULTS | {"crc"}
    temperature = Physical(21.0, "degC")
    humidity = Physical(45.0, "%RH")

    def __init__(self, clock) -> None:
        super().__init__(clock)
        self.status = STATUS_ALERT | STATUS_RESET  # both set after power-on (datasheet table 17)
        self._busy_until = clock.monotonic()
        self._pending: str | None = None
        self._output: bytes | None = None

    def _frame(self, word: int) -> bytes:
        data = word.to_bytes(2, "big")
        return data + bytes([crc8(data)])

    def _measurement(self) -> bytes:
        raw_t = round((self.temperature + 45) * 65535 / 175)
        raw_rh = round(self.humidity * 65535 / 100)
        frame = bytearray(self._frame(max(0, min(0xFFFF, raw_t))) + self._frame(max(0, min(0xFFFF, raw_rh))))
        if self.take_fault("crc"):
            frame[2] ^= 0xFF
        return bytes(frame)

    def write(self, data: bytes) -> None:
        """Execute a 2-byte command (NACKed while converting or restarting)."""
        if self.clock.monotonic() < self._busy_until:
            raise Nack("busy converting or restarting")
        if len(data) != 2:
            raise NotModelledError(f"SHT3x writes of {len(data)} bytes (commands with data) are not modelled")
        command = int.from_bytes(data, "big")
        now = self.clock.monotonic()
        self._output = None
        shots = {cmd: (name, typical) for name, (cmd, typical, _) in SINGLE_SHOT.items()}
        if command in shots:
            self._pending, typical = "measurement", shots[command][1]
            self._busy_until = now + typical
        elif command == READ_STATUS:
            self._output = self._frame(self.status)
        elif command == CLEAR_STATUS:
            self.status &= ~(STATUS_ALERT | STATUS_RH_ALERT | STATUS_T_ALERT | STATUS_RESET)
        elif command == HEATER_ON:
            self.status |= STATUS_HEATER
        elif command == HEATER_OFF:
            self.status &= ~STATUS_HEATER
        elif command == SOFT_RESET:
            self.status = STATUS_ALERT | STATUS_RESET
            self._pending, self._busy_until = None, now + SOFT_RESET_S
        elif command >> 8 in UNMODELLED:
            raise NotModelledError(f"SHT3x command 0x{command:04X} ({UNMODELLED[command >> 8]}) is not modelled")
        else:
            raise Nack(f"unknown command 0x{command:04X}")

    def read(self, length: int) -> bytes:
        """Return the pending output; NACK while converting or when there is none."""
        now = self.clock.monotonic()
        if self._pending == "measurement":
            if now < self._busy_until:
                raise Nack("measurement in progress")  # datasheet 4.4: read header NACKed
            self._pending, self._output = None, self._measurement()
        if self._output is None:
            raise Nack("no data to read")
        data, self._output = self._output, None  # the chip clears its output after a read
        if length > len(data):
            raise NotModelledError(f"reading {length} bytes past a {len(data)}-byte frame is not modelled")
        return data[:length]


def open_device(params: dict, backend) -> SHT3x:
    """Open an SHT3x on the backend's I2C bus."""
    return SHT3x(backend.i2c(params["bus"]), params["address"], repeatability=params["repeatability"],
                 heater=params["heater"], sleep=backend.sleep)


def install_emulator(backend, params: dict) -> SHT3xEmulator:
    """Put an emulated SHT3x at the configured address (reusing one already there)."""
    bus = backend.i2c(params["bus"])
    existing = bus.chips.get(params["address"])
    if isinstance(existing, SHT3xEmulator):
        return existing
    return bus.attach(params["address"], SHT3xEmulator(backend.bus_clock))
