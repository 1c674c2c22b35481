"""Bosch BME280 temperature, humidity and pressure sensor in forced mode.

Each read writes ctrl_hum (0xF2) then ctrl_meas (0xF4) with mode 01 (forced: one
measurement, then sleep), waits the datasheet's maximum measurement time, polls the
``measuring`` bit of status (0xF3) and burst-reads 0xF7..0xFE. Raw values are
compensated with Bosch's integer code: 32-bit temperature, 64-bit pressure, 32-bit
humidity, reproduced with Python integers (C's ``/`` truncates toward zero, ``>>`` is
arithmetic on the compilers Bosch supports, as in Python).
"""

from __future__ import annotations

import struct
from dataclasses import astuple, dataclass

from wardlink.hardware.emulation import Physical
from wardlink.hardware.errors import (
    DecodeError,
    DeviceAbsentError,
    InvalidReadingError,
    NotModelledError,
    OutOfRangeError,
    SensorTimeoutError,
)
from wardlink.hardware.i2c.bus import I2CDevice, Nack, RegisterChip

CHIP_ID, CHIP_ID_VALUE, BMP280_CHIP_IDS = 0xD0, 0x60, (0x56, 0x57, 0x58)
RESET, RESET_WORD = 0xE0, 0xB6
CTRL_HUM, STATUS, CTRL_MEAS, CONFIG, DATA = 0xF2, 0xF3, 0xF4, 0xF5, 0xF7
CALIB_TP, CALIB_TP_LEN, CALIB_H, CALIB_H_LEN = 0x88, 26, 0xE1, 7
STATUS_MEASURING, STATUS_IM_UPDATE = 0x08, 0x01
MODE_FORCED = 0b01
#: Oversampling factor -> register code (0 means "skipped").
OVERSAMPLING = {1: 1, 2: 2, 4: 3, 8: 4, 16: 5}
SKIPPED_20, SKIPPED_16 = 0x80000, 0x8000
#: Datasheet operating range; outside it the compensation is not specified.
RANGES = {"temperature": (-40.0, 85.0), "pressure": (30000.0, 110000.0), "humidity": (0.0, 100.0)}


@dataclass(frozen=True)
class Calibration:
    """Trimming parameters read from the chip's NVM."""

    T1: int
    T2: int
    T3: int
    P1: int
    P2: int
    P3: int
    P4: int
    P5: int
    P6: int
    P7: int
    P8: int
    P9: int
    H1: int = 0
    H2: int = 0
    H3: int = 0
    H4: int = 0
    H5: int = 0
    H6: int = 0

    @classmethod
    def from_registers(cls, tp: bytes, h: bytes) -> Calibration:
        """Parse 0x88..0xA1 (26 bytes) and 0xE1..0xE7 (7 bytes)."""
        if len(tp) != CALIB_TP_LEN or len(h) != CALIB_H_LEN:
            raise DecodeError(f"calibration blocks must be 26 and 7 bytes, got {len(tp)} and {len(h)}")
        t_and_p = struct.unpack("<HhhHhhhhhhhh", tp[:24])
        e4, e5, e6 = struct.unpack("<bBb", h[3:6])
        return cls(
            *t_and_p,
            H1=tp[25],
            H2=struct.unpack("<h", h[0:2])[0],
            H3=h[2],
            H4=e4 * 16 | e5 & 0x0F,  # 0xE4 holds bits 11..4, low nibble of 0xE5 bits 3..0
            H5=e6 * 16 | e5 >> 4,  # 0xE6 holds bits 11..4, high nibble of 0xE5 bits 3..0
            H6=struct.unpack("<b", h[6:7])[0],
        )

    def to_registers(self) -> tuple[bytes, bytes]:
        """Return the two register blocks that hold this calibration."""
        values = astuple(self)
        tp = struct.pack("<HhhHhhhhhhhh", *values[:12]) + bytes([0, self.H1])
        h = struct.pack("<hB", self.H2, self.H3) + bytes(
            [self.H4 >> 4 & 0xFF, (self.H5 & 0x0F) << 4 | self.H4 & 0x0F, self.H5 >> 4 & 0xFF, self.H6 & 0xFF]
        )
        return tp, h


def _cdiv(a: int, b: int) -> int:
    """Divide like C: truncate toward zero."""
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


def compensate_temperature(adc_t: int, cal: Calibration) -> tuple[int, int]:
    """Return (temperature in 0.01 degC, t_fine) with Bosch's 32-bit integer formula."""
    var1 = (((adc_t >> 3) - (cal.T1 << 1)) * cal.T2) >> 11
    var2 = (((((adc_t >> 4) - cal.T1) * ((adc_t >> 4) - cal.T1)) >> 12) * cal.T3) >> 14
    t_fine = var1 + var2
    return (t_fine * 5 + 128) >> 8, t_fine


def compensate_pressure(adc_p: int, t_fine: int, cal: Calibration) -> int:
    """Return pressure in Pa as Q24.8 (divide by 256) with Bosch's 64-bit integer formula."""
    var1 = t_fine - 128000
    var2 = var1 * var1 * cal.P6
    var2 = var2 + ((var1 * cal.P5) << 17)
    var2 = var2 + (cal.P4 << 35)
    var1 = ((var1 * var1 * cal.P3) >> 8) + ((var1 * cal.P2) << 12)
    var1 = (((1 << 47) + var1) * cal.P1) >> 33
    if var1 == 0:
        raise DecodeError("pressure compensation divides by zero (dig_P1 is 0: calibration unreadable)")
    p = 1048576 - adc_p
    p = _cdiv(((p << 31) - var2) * 3125, var1)
    var1 = (cal.P9 * (p >> 13) * (p >> 13)) >> 25
    var2 = (cal.P8 * p) >> 19
    return ((p + var1 + var2) >> 8) + (cal.P7 << 4)


def compensate_humidity(adc_h: int, t_fine: int, cal: Calibration) -> int:
    """Return relative humidity in %RH as Q22.10 (divide by 1024) with Bosch's 32-bit formula."""
    x = t_fine - 76800
    x = (((adc_h << 14) - (cal.H4 << 20) - (cal.H5 * x)) + 16384) >> 15
    x = x * (
        (((((((t_fine - 76800) * cal.H6) >> 10) * ((((t_fine - 76800) * cal.H3) >> 11) + 32768)) >> 10)
          + 2097152) * cal.H2 + 8192) >> 14
    )
    x = x - (((((x >> 15) * (x >> 15)) >> 7) * cal.H1) >> 4)
    x = min(max(x, 0), 419430400)  # clamp to 0..100 %RH as Bosch does
    return x >> 12


def decode(frame: bytes, cal: Calibration) -> dict[str, float]:
    """Return temperature (degC), pressure (Pa), humidity (%RH) from the 8 bytes 0xF7..0xFE."""
    if len(frame) != 8:
        raise DecodeError(f"data frame must be 8 bytes (0xF7..0xFE), got {len(frame)}")
    adc_p = frame[0] << 12 | frame[1] << 4 | frame[2] >> 4
    adc_t = frame[3] << 12 | frame[4] << 4 | frame[5] >> 4
    adc_h = frame[6] << 8 | frame[7]
    if adc_t == SKIPPED_20 or adc_p == SKIPPED_20 or adc_h == SKIPPED_16:
        raise InvalidReadingError("data registers hold the reset value: no measurement has completed")
    centi, t_fine = compensate_temperature(adc_t, cal)
    values = {
        "temperature": centi / 100,
        "humidity": compensate_humidity(adc_h, t_fine, cal) / 1024,
        "pressure": compensate_pressure(adc_p, t_fine, cal) / 256,
    }
    for name, value in values.items():
        low, high = RANGES[name]
        if not low <= value <= high:
            raise OutOfRangeError(f"{name} {value:g} is outside the BME280's {low:g}..{high:g}")
    return values


def measurement_time_s(osrs_t: int, osrs_p: int, osrs_h: int, *, maximum: bool = True) -> float:
    """Return the forced-mode measurement time (datasheet 9.1), maximum or typical."""
    if maximum:
        ms = 1.25 + 2.3 * osrs_t + (2.3 * osrs_p + 0.575) + (2.3 * osrs_h + 0.575)
    else:
        ms = 1.0 + 2.0 * osrs_t + (2.0 * osrs_p + 0.5) + (2.0 * osrs_h + 0.5)
    return ms / 1000


class BME280(I2CDevice):
    """A BME280 read in forced mode: one measurement per :meth:`read`."""

    driver = "bme280"
    quantities = {"temperature": "degC", "humidity": "%RH", "pressure": "Pa"}
    POLLS = 5

    def __init__(self, bus, address: int, *, oversampling: int = 1, sleep) -> None:
        super().__init__(bus, address, sleep=sleep)
        self.oversampling = oversampling
        self.calibration: Calibration | None = None

    def _setup(self) -> Calibration:
        chip_id = self.bus.read_byte_data(self.address, CHIP_ID)
        if chip_id != CHIP_ID_VALUE:
            what = "a BMP280 (no humidity)" if chip_id in BMP280_CHIP_IDS else "not a BME280"
            raise DeviceAbsentError(0, f"{self.label}: chip id 0x{chip_id:02X} is {what}; expected 0x60")
        tp = bytes(self.bus.read_i2c_block_data(self.address, CALIB_TP, CALIB_TP_LEN))
        h = bytes(self.bus.read_i2c_block_data(self.address, CALIB_H, CALIB_H_LEN))
        return Calibration.from_registers(tp, h)

    def _read(self) -> dict[str, float]:
        code = OVERSAMPLING[self.oversampling]
        with self.io("setup"):
            if self.calibration is None:
                self.calibration = self._setup()
        with self.io("measure"):
            # ctrl_hum only takes effect on the following write to ctrl_meas.
            self.bus.write_byte_data(self.address, CTRL_HUM, code)
            self.bus.write_byte_data(self.address, CTRL_MEAS, code << 5 | code << 2 | MODE_FORCED)
            wait = measurement_time_s(self.oversampling, self.oversampling, self.oversampling)
            self.sleep(wait)
            for _ in range(self.POLLS):
                if not self.bus.read_byte_data(self.address, STATUS) & STATUS_MEASURING:
                    break
                self.sleep(wait / 4)
            else:
                raise SensorTimeoutError(f"{self.label}: still measuring after {wait * 2 * 1000:.1f} ms")
            frame = bytes(self.bus.read_i2c_block_data(self.address, DATA, 8))
        try:
            return decode(frame, self.calibration)
        except (DecodeError, InvalidReadingError, OutOfRangeError) as exc:
            raise type(exc)(f"{self.label}: {exc}") from exc


#: Trimming read from a real BME280 (published with the bme280-rs driver's tests).
EXAMPLE_CALIBRATION = Calibration(
    28593, 27182, 50, 36834, -10486, 3024, 8053, -59, -7, 9900, -10230, 4285,
    H1=75, H2=375, H3=0, H4=288, H5=50, H6=30,
)


def _solve(f, low: int, high: int, target: float, increasing: bool) -> int:
    """Return the integer x in [low, high] whose f(x) is closest to target (f monotonic)."""
    while high - low > 1:
        mid = (low + high) // 2
        if (f(mid) < target) == increasing:
            low = mid
        else:
            high = mid
    return min((low, high), key=lambda x: abs(f(x) - target))


def _adc(f, target: float, bits: int, factor: int, *, increasing: bool) -> int:
    """Return the raw value the ADC produces for ``target`` at oversampling ``factor``."""
    adc = _solve(f, 0, (1 << bits) - 1, target, increasing)
    if bits == 16 or factor == 0:
        return adc
    # With the filter off, T and P resolve 16 + (osrs - 1) bits (datasheet 3.4.3).
    step = 1 << max(0, 4 - (OVERSAMPLING[factor] - 1))
    below = adc & ~(step - 1)
    return min((below, min(below + step, (1 << bits) - 1)), key=lambda a: abs(f(a) - target))


class BME280Emulator(RegisterChip):
    """A BME280 in forced mode, with real trimming registers and measurement timing.

    Raw ADC values are found by inverting Bosch's compensation, so the driver's
    compensation is exercised in full. Normal mode and the IIR filter are not modelled.
    """

    temperature = Physical(21.0, "degC")
    humidity = Physical(45.0, "%RH")
    pressure = Physical(101325.0, "Pa")

    def __init__(self, clock, *, calibration: Calibration = EXAMPLE_CALIBRATION) -> None:
        super().__init__(clock)
        self.cal = calibration
        self.reset()

    def reset(self) -> None:
        """Return to power-on: sleep mode, data registers at 0x80000 / 0x8000."""
        tp, h = self.cal.to_registers()
        self.regs = bytearray(256)
        self.regs[CALIB_TP:CALIB_TP + CALIB_TP_LEN] = tp
        self.regs[CALIB_H:CALIB_H + CALIB_H_LEN] = h
        self.regs[CHIP_ID] = CHIP_ID_VALUE
        self.regs[DATA:DATA + 8] = bytes([0x80, 0, 0, 0x80, 0, 0, 0x80, 0])
        self._hum_pending = 0
        self._done_at: float | None = None

    def _osrs(self) -> tuple[int, int, int]:
        meas, hum = self.regs[CTRL_MEAS], self.regs[CTRL_HUM]
        factors = {0: 0, **{code: factor for factor, code in OVERSAMPLING.items()}, 6: 16, 7: 16}
        return factors[meas >> 5], factors[meas >> 2 & 7], factors[hum & 7]

    def write_register(self, register: int, data: bytes) -> None:
        # Multi-byte writes on the BME280 are register/value pairs.
        """Write register/value pairs (the BME280's multi-byte write format)."""
        pairs = [(register, data[0])] + list(zip(data[1::2], data[2::2], strict=False))
        for reg, value in pairs:
            self._write_one(reg, value)

    def _write_one(self, reg: int, value: int) -> None:
        if reg == RESET:
            if value == RESET_WORD:
                self.reset()
        elif reg == CTRL_HUM:
            self._hum_pending = value & 7
        elif reg == CTRL_MEAS:
            self.regs[CTRL_HUM] = self._hum_pending  # latched by this write (datasheet 5.4.3)
            self.regs[CTRL_MEAS] = value
            mode = value & 3
            if mode == 0b11:
                raise NotModelledError("BME280 normal mode is not modelled; use forced mode")
            if mode in (0b01, 0b10):
                t, p, h = self._osrs()
                self._done_at = self.clock.monotonic() + measurement_time_s(t, p, h, maximum=False)
        elif reg == CONFIG:
            if value & 0b11100:
                raise NotModelledError("BME280 IIR filter is not modelled")
            self.regs[CONFIG] = value
        else:
            raise Nack(f"BME280 register 0x{reg:02X} is not writable")

    def _finish(self) -> None:
        if self._done_at is None or self.clock.monotonic() < self._done_at:
            return
        self._done_at = None
        self.regs[CTRL_MEAS] &= ~3  # back to sleep mode after a forced measurement
        t_os, p_os, h_os = self._osrs()
        cal = self.cal

        def temperature(adc: int) -> int:
            """Return the 0.01 degC value Bosch's formula gives for ``adc``."""
            return compensate_temperature(adc, cal)[0]

        adc_t = _adc(temperature, self.temperature * 100, 20, t_os, increasing=True)
        t_fine = compensate_temperature(adc_t, cal)[1]
        adc_p = _adc(lambda a: compensate_pressure(a, t_fine, cal), self.pressure * 256, 20, p_os, increasing=False)
        adc_h = _adc(lambda a: compensate_humidity(a, t_fine, cal), self.humidity * 1024, 16, h_os, increasing=True)
        adc_t, adc_p = (adc if os_ else SKIPPED_20 for adc, os_ in ((adc_t, t_os), (adc_p, p_os)))
        adc_h = adc_h if h_os else SKIPPED_16
        self.regs[DATA:DATA + 8] = bytes([
            adc_p >> 12, adc_p >> 4 & 0xFF, (adc_p & 0xF) << 4,
            adc_t >> 12, adc_t >> 4 & 0xFF, (adc_t & 0xF) << 4,
            adc_h >> 8, adc_h & 0xFF,
        ])

    def read_register(self, register: int, length: int) -> bytes:
        """Return ``length`` registers from ``register``, finishing a due measurement first."""
        self._finish()
        status = STATUS_MEASURING if self._done_at is not None else 0
        regs = bytearray(self.regs)
        regs[STATUS] = status
        # Reads auto-increment through the register map.
        return bytes(regs[(register + i) & 0xFF] for i in range(length))


def open_device(params: dict, backend) -> BME280:
    """Open a BME280 on the backend's I2C bus."""
    return BME280(backend.i2c(params["bus"]), params["address"], oversampling=params["oversampling"],
                  sleep=backend.sleep)


def install_emulator(backend, params: dict) -> BME280Emulator:
    """Put an emulated BME280 at the configured address (reusing one already there)."""
    bus = backend.i2c(params["bus"])
    existing = bus.chips.get(params["address"])
    if isinstance(existing, BME280Emulator):
        return existing
    return bus.attach(params["address"], BME280Emulator(backend.bus_clock))
