"""TI INA219 high-side current, bus voltage and power monitor.

Registers are 16-bit big-endian: 0 config, 1 shunt voltage (signed, 10 uV), 2 bus
voltage (bits 15..3 in 4 mV; bit 1 CNVR conversion ready, bit 0 OVF math overflow),
3 power, 4 current, 5 calibration. The chip computes current and power only once
the calibration register is set: Cal = trunc(0.04096 / (Current_LSB * R_shunt)).
"""

from __future__ import annotations

import math
from fractions import Fraction

from wardlink.hardware.emulation import Physical
from wardlink.hardware.errors import ConfigError, DecodeError, NotModelledError, OutOfRangeError, SensorTimeoutError
from wardlink.hardware.i2c.bus import I2CDevice, Nack, RegisterChip

CONFIG, SHUNT, BUS, POWER, CURRENT, CALIBRATION = range(6)
CONFIG_RESET = 0x399F
CNVR, OVF = 0x2, 0x1
#: PG bits -> shunt full scale in V.
PGA_RANGE_V = {0: Fraction("0.04"), 1: Fraction("0.08"), 2: Fraction("0.16"), 3: Fraction("0.32")}
BRNG = {16: 0, 32: 1}
#: ADC setting (BADC/SADC bits) -> conversion time in s; 0b0x11 is 12-bit, 0b1nnn averages 2^n samples.
ADC_TIME_S = {
    0x3: 532e-6, 0x8: 532e-6, 0x9: 1.06e-3, 0xA: 2.13e-3, 0xB: 4.26e-3,
    0xC: 8.51e-3, 0xD: 17.02e-3, 0xE: 34.05e-3, 0xF: 68.10e-3,
}
ADC_12BIT = 0x3
MODE_SHUNT_AND_BUS_CONTINUOUS = 0x7
SHUNT_LSB_V = Fraction(10, 1_000_000)
BUS_LSB_V = Fraction(4, 1000)


def _exact(value: float | int | Fraction) -> Fraction:
    # Fraction(str(x)) takes the decimal the user wrote, not the binary float below it.
    return value if isinstance(value, Fraction) else Fraction(str(value))


def calibration(current_lsb_a: float | Fraction, shunt_ohms: float | Fraction) -> int:
    """Return the calibration register value: trunc(0.04096 / (Current_LSB * R_shunt))."""
    return math.trunc(Fraction("0.04096") / (_exact(current_lsb_a) * _exact(shunt_ohms)))


def default_current_lsb(max_current_a: float | Fraction) -> Fraction:
    """Return the smallest 1-2-5 step (in A) at or above max_current / 32767."""
    minimum = _exact(max_current_a) / 32767
    exponent = math.floor(math.log10(minimum))
    for decade in (exponent, exponent + 1):
        for mantissa in (1, 2, 5):
            step = mantissa * Fraction(10) ** decade
            if step >= minimum:
                return step
    raise AssertionError("unreachable: 10 ** (exponent + 1) >= minimum")  # pragma: no cover


def pga_for(max_shunt_v: Fraction) -> int:
    """Return the smallest PGA setting whose shunt range exceeds ``max_shunt_v`` (saturation is ambiguous)."""
    for bits, full_scale in PGA_RANGE_V.items():
        if max_shunt_v < full_scale:
            return bits
    raise ConfigError(f"max_current_a x shunt_ohms = {float(max_shunt_v):g} V exceeds the 0.32 V shunt range")


def config_word(bus_voltage_range: int, pga: int, adc: int = ADC_12BIT,
                mode: int = MODE_SHUNT_AND_BUS_CONTINUOUS) -> int:
    """Return the config register for the given range, gain, ADC setting and mode."""
    return BRNG[bus_voltage_range] << 13 | pga << 11 | adc << 7 | adc << 3 | mode


def _s16(value: int) -> int:
    return value - 0x10000 if value & 0x8000 else value


def decode(frame: bytes, *, current_lsb_a: float | Fraction, pga: int = 3) -> dict[str, float]:
    """Return current, bus_voltage, power, shunt_voltage from registers 1..4 (8 bytes, big-endian)."""
    if len(frame) != 8:
        raise DecodeError(f"frame must be 8 bytes (registers 1..4), got {len(frame)}")
    shunt, bus, power, current = (int.from_bytes(frame[i:i + 2], "big") for i in range(0, 8, 2))
    if bus & OVF:
        raise OutOfRangeError("INA219 math overflow: current or power beyond the calibrated range")
    full_scale = round(PGA_RANGE_V[pga] / SHUNT_LSB_V)
    if abs(_s16(shunt)) >= full_scale:
        raise OutOfRangeError(f"shunt voltage at the {float(PGA_RANGE_V[pga]) * 1000:g} mV full scale")
    lsb = _exact(current_lsb_a)
    return {
        "current": float(_s16(current) * lsb),
        "bus_voltage": float((bus >> 3) * BUS_LSB_V),
        "power": float(power * 20 * lsb),
        "shunt_voltage": float(_s16(shunt) * SHUNT_LSB_V),
    }


class INA219(I2CDevice):
    """An INA219 in continuous shunt-and-bus mode; reprograms itself after a chip reset."""

    driver = "ina219"
    quantities = {"current": "A", "bus_voltage": "V", "power": "W", "shunt_voltage": "V"}
    #: CNVR polls before giving up (each waits one conversion time).
    POLLS = 4

    def __init__(self, bus, address: int, *, shunt_ohms: float, max_current_a: float,
                 bus_voltage_range: int = 32, current_lsb_a: float | None = None, sleep) -> None:
        super().__init__(bus, address, sleep=sleep)
        self.current_lsb = _exact(current_lsb_a) if current_lsb_a else default_current_lsb(max_current_a)
        self.calibration = calibration(self.current_lsb, shunt_ohms)
        self.pga = pga_for(_exact(max_current_a) * _exact(shunt_ohms))
        self.config = config_word(bus_voltage_range, self.pga)
        self.conversion_s = 2 * ADC_TIME_S[ADC_12BIT]

    def _write(self, register: int, value: int) -> None:
        self.bus.write_i2c_block_data(self.address, register, [value >> 8, value & 0xFF])

    def _get(self, register: int) -> bytes:
        return bytes(self.bus.read_i2c_block_data(self.address, register, 2))

    def _read(self) -> dict[str, float]:
        with self.io("configure"):
            programmed = (int.from_bytes(self._get(CONFIG), "big"), int.from_bytes(self._get(CALIBRATION), "big"))
            if programmed != (self.config, self.calibration):
                # After power-on or a brown-out the chip is back at 0x399F with calibration 0
                # (and 0x399F is also what 32 V / 320 mV wants, so config alone proves nothing).
                self._write(CALIBRATION, self.calibration)
                self._write(CONFIG, self.config)
                self.sleep(self.conversion_s)
        with self.io("read"):
            for _ in range(self.POLLS):
                bus = self._get(BUS)
                if bus[1] & CNVR:
                    break
                self.sleep(self.conversion_s)
            else:
                raise SensorTimeoutError(f"{self.label}: conversion-ready flag never set")
            # Reading the power register clears CNVR, so it comes last.
            shunt, current, power = self._get(SHUNT), self._get(CURRENT), self._get(POWER)
        try:
            return decode(shunt + bus + power + current, current_lsb_a=self.current_lsb, pga=self.pga)
        except OutOfRangeError as exc:
            raise OutOfRangeError(f"{self.label}: {exc}") from exc


class INA219Emulator(RegisterChip):
    """An INA219 sensing ``current`` through ``shunt_ohms`` at ``bus_voltage``.

    Continuous shunt-and-bus conversions at 12 bits or with averaging are modelled,
    including CNVR (set when a conversion completes, cleared by reading power), the
    math overflow flag, shunt saturation at the PGA range and reset by the RST bit.
    """

    current = Physical(0.5, "A")
    bus_voltage = Physical(12.0, "V")

    def __init__(self, clock, *, shunt_ohms: float = 0.1) -> None:
        super().__init__(clock)
        self.shunt_ohms = _exact(shunt_ohms)
        self.reset()

    def reset(self) -> None:
        """Return to the power-on state (config 0x399F, calibration 0, no conversion yet)."""
        self.registers = {CONFIG: CONFIG_RESET, CALIBRATION: 0}
        self.pointer = 0
        self._started = self._cleared = self.clock.monotonic()

    def _conversion_s(self) -> float:
        config = self.registers[CONFIG]
        badc, sadc, mode = config >> 7 & 0xF, config >> 3 & 0xF, config & 0x7
        if mode != MODE_SHUNT_AND_BUS_CONTINUOUS:
            raise NotModelledError(f"INA219 operating mode {mode} is not modelled (only continuous, 7)")
        for adc in (badc, sadc):
            if adc not in ADC_TIME_S:
                raise NotModelledError(f"INA219 ADC setting 0x{adc:X} (below 12 bits) is not modelled")
        return ADC_TIME_S[badc] + ADC_TIME_S[sadc]

    def _completed(self, t: float) -> int:
        """Return how many conversions have completed by monotonic time ``t``."""
        return max(0, math.floor((t - self._started) / self._conversion_s()))

    def write_register(self, register: int, data: bytes) -> None:
        """Handle a register write: config (RST resets the chip) or calibration."""
        if len(data) != 2:
            raise Nack(f"INA219 registers take 2 bytes, got {len(data)}")
        value = int.from_bytes(data, "big")
        if register == CONFIG:
            if value & 0x8000:
                self.reset()
                return
            self.registers[CONFIG] = value
            self._conversion_s()  # refuse unmodelled settings at the write, not later
            self._started = self._cleared = self.clock.monotonic()
        elif register == CALIBRATION:
            self.registers[CALIBRATION] = value & 0xFFFE  # bit 0 is not implemented
        else:
            raise Nack(f"INA219 register {register} is read-only")

    def _results(self, cnvr: bool) -> dict[int, int]:
        config = self.registers[CONFIG]
        full_scale = round(PGA_RANGE_V[config >> 11 & 3] / SHUNT_LSB_V)
        shunt = round(_exact(self.current) * self.shunt_ohms / SHUNT_LSB_V)
        shunt = max(-full_scale, min(full_scale, shunt))
        bus_full = 8000 if config & 0x2000 else 4000  # 32 V or 16 V range, in 4 mV steps
        bus = max(0, min(bus_full, round(_exact(self.bus_voltage) / BUS_LSB_V)))
        current = math.trunc(Fraction(shunt * self.registers[CALIBRATION], 4096))
        power = math.trunc(Fraction(current * bus, 5000))
        overflow = not -0x8000 <= current <= 0x7FFF or abs(power) > 0xFFFF
        current = max(-0x8000, min(0x7FFF, current))
        return {
            SHUNT: shunt & 0xFFFF,
            BUS: bus << 3 | (CNVR if cnvr else 0) | (OVF if overflow else 0),
            POWER: min(abs(power), 0xFFFF),
            CURRENT: current & 0xFFFF,
        }

    def read_register(self, register: int, length: int) -> bytes:
        """Return a register; data registers read 0 until the first conversion completes."""
        if length != 2:
            raise NotModelledError(f"INA219 reads of {length} bytes are not modelled")
        if register in (CONFIG, CALIBRATION):
            return self.registers[register].to_bytes(2, "big")
        if register not in (SHUNT, BUS, POWER, CURRENT):
            raise Nack(f"INA219 has no register {register}")
        now = self.clock.monotonic()
        done = self._completed(now)
        value = self._results(done > self._completed(self._cleared))[register] if done else 0
        if register == POWER:
            self._cleared = now  # reading power clears CNVR until the next conversion completes
        return value.to_bytes(2, "big")


def check_params(params: dict) -> None:
    """Reject shunt, current and LSB combinations the INA219 cannot represent."""
    max_current, shunt = _exact(params["max_current_a"]), _exact(params["shunt_ohms"])
    try:
        pga_for(max_current * shunt)
    except ConfigError as exc:
        raise ConfigError(f"max_current_a: {exc}") from None
    lsb = _exact(params["current_lsb_a"]) if params["current_lsb_a"] else default_current_lsb(max_current)
    if lsb * 32767 < max_current:
        raise ConfigError(
            f"current_lsb_a: must be >= max_current_a / 32767 = {float(max_current / 32767):.3g} A, got {float(lsb):g}"
        )
    if calibration(lsb, shunt) > 0xFFFE:
        raise ConfigError(f"current_lsb_a: {float(lsb):g} A with a {float(shunt):g} ohm shunt needs "
                          f"a calibration above 65534; choose a larger LSB")


def open_device(params: dict, backend) -> INA219:
    """Open an INA219 on the backend's I2C bus."""
    return INA219(
        backend.i2c(params["bus"]),
        params["address"],
        shunt_ohms=params["shunt_ohms"],
        max_current_a=params["max_current_a"],
        bus_voltage_range=params["bus_voltage_range"],
        current_lsb_a=params["current_lsb_a"],
        sleep=backend.sleep,
    )


def install_emulator(backend, params: dict) -> INA219Emulator:
    """Put an emulated INA219 at the configured address (reusing one already there)."""
    bus = backend.i2c(params["bus"])
    existing = bus.chips.get(params["address"])
    if isinstance(existing, INA219Emulator):
        return existing
    return bus.attach(params["address"], INA219Emulator(backend.bus_clock, shunt_ohms=params["shunt_ohms"]))
