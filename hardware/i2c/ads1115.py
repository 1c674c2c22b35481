"""TI ADS1115 16-bit ADC reading an analog transducer in single-shot mode.

Pointer register: 0 conversion (signed 16-bit), 1 config, 2 lo_thresh, 3 hi_thresh.
Config: OS[15] MUX[14:12] PGA[11:9] MODE[8] DR[7:5] COMP[4:0]; single-shot AIN0 vs GND,
+-4.096 V, 128 SPS, comparator off is 0xC383. V = code * FSR / 32768.

A transducer is described by two spans: ``scale_from`` (its output, in V, or in A for a
4-20 mA loop read across ``shunt_ohms``) and ``scale_to`` (the engineering quantity),
for example an oxygen manifold sensor 0.5..4.5 V -> 0..10 bar. The two standard ranges have
names: ``transducer = "0.5-4.5V"`` or ``"4-20mA"`` (with ``shunt_ohms``) sets ``input`` and
``scale_from``, so a configuration says which transducer is fitted rather than its volts.
"""

from __future__ import annotations

from collections.abc import Mapping

from wardlink.hardware import signals
from wardlink.hardware.emulation import Physical
from wardlink.hardware.errors import ConfigError, DecodeError, NotModelledError, OutOfRangeError, SensorTimeoutError
from wardlink.hardware.i2c.bus import I2CDevice, Nack, RegisterChip

CONVERSION, CONFIG, LO_THRESH, HI_THRESH = range(4)
CONFIG_RESET = 0x8583
OS_START = OS_IDLE = 0x8000
MODE_SINGLE = 0x0100
COMPARATOR_OFF = 0b00011
MUX = {"a0-a1": 0, "a0-a3": 1, "a1-a3": 2, "a2-a3": 3, "a0": 4, "a1": 5, "a2": 6, "a3": 7}
#: MUX code -> (positive input, negative input or None for GND).
INPUTS = {0: (0, 1), 1: (0, 3), 2: (1, 3), 3: (2, 3), 4: (0, None), 5: (1, None), 6: (2, None), 7: (3, None)}
PGA = {6.144: 0, 4.096: 1, 2.048: 2, 1.024: 3, 0.512: 4, 0.256: 5}
FSR_BY_CODE = {0: 6.144, 1: 4.096, 2: 2.048, 3: 1.024, 4: 0.512, 5: 0.256, 6: 0.256, 7: 0.256}
DATA_RATE = {8: 0, 16: 1, 32: 2, 64: 3, 128: 4, 250: 5, 475: 6, 860: 7}
RATE_BY_CODE = {code: rate for rate, code in DATA_RATE.items()}


def config_word(channel: str = "a0", fsr_v: float = 4.096, data_rate: int = 128) -> int:
    """Return the config that starts one single-shot conversion with the comparator off."""
    return OS_START | MUX[channel] << 12 | PGA[fsr_v] << 9 | MODE_SINGLE | DATA_RATE[data_rate] << 5 | COMPARATOR_OFF


def decode(frame: bytes, fsr_v: float) -> float:
    """Return the input voltage from the 2-byte conversion register; full scale is out of range."""
    if len(frame) != 2:
        raise DecodeError(f"conversion frame must be 2 bytes, got {len(frame)}")
    code = int.from_bytes(frame, "big", signed=True)
    if code in (0x7FFF, -0x8000):
        raise OutOfRangeError(f"input at the +-{fsr_v} V full scale (code {code}): saturated")
    return code * fsr_v / 32768


def scale(value: float, scale_from: tuple[float, float], scale_to: tuple[float, float], margin: float) -> float:
    """Map ``value`` linearly from ``scale_from`` onto ``scale_to``; refuse values beyond the margin."""
    (a, b), (c, d) = scale_from, scale_to
    span = abs(b - a)
    if not min(a, b) - margin * span <= value <= max(a, b) + margin * span:
        # Below a live zero (0.5 V, 4 mA) means a broken wire or a dead transducer.
        raise OutOfRangeError(f"transducer output {value:g} is outside {min(a, b):g}..{max(a, b):g} "
                              f"by more than {margin:.0%} of the span (open circuit or fault?)")
    return c + (value - a) * (d - c) / (b - a)


class ADS1115(I2CDevice):
    """One ADS1115 channel, converted on demand, optionally scaled to engineering units."""

    driver = "ads1115"
    POLLS = 5

    def __init__(self, bus, address: int, *, channel: str = "a0", fsr_v: float = 4.096, data_rate: int = 128,
                 input: str = "voltage", shunt_ohms: float | None = None,
                 scale_from: tuple[float, float] | None = None, scale_to: tuple[float, float] | None = None,
                 quantity: str | None = None, unit: str | None = None, margin: float = 0.05, sleep) -> None:
        super().__init__(bus, address, sleep=sleep)
        self.config = config_word(channel, fsr_v, data_rate)
        self.fsr_v = fsr_v
        # The data rate is accurate to 10 % (datasheet 7.5), so allow for a slow oscillator.
        self.conversion_s = 1.1 / data_rate
        self.input, self.shunt_ohms = input, shunt_ohms
        self.scale_from, self.scale_to, self.margin = scale_from, scale_to, margin
        self.quantity = quantity
        self.quantities = {"voltage": "V"}
        if input == "current":
            self.quantities["current"] = "A"
        if quantity:
            self.quantities[quantity] = unit or ""

    def _read(self) -> dict[str, float]:
        with self.io("convert"):
            self.bus.write_i2c_block_data(self.address, CONFIG, [self.config >> 8, self.config & 0xFF])
            self.sleep(self.conversion_s)
            for _ in range(self.POLLS):
                status = self.bus.read_i2c_block_data(self.address, CONFIG, 2)
                if status[0] << 8 & OS_IDLE:
                    break
                self.sleep(self.conversion_s / 4)
            else:
                raise SensorTimeoutError(f"{self.label}: conversion not finished after {self.conversion_s * 2:.3f} s")
            frame = bytes(self.bus.read_i2c_block_data(self.address, CONVERSION, 2))
        try:
            values = {"voltage": decode(frame, self.fsr_v)}
            signal = values["voltage"]
            if self.input == "current":
                signal = values["current"] = values["voltage"] / self.shunt_ohms
            if self.quantity:
                values[self.quantity] = scale(signal, self.scale_from, self.scale_to, self.margin)
        except OutOfRangeError as exc:
            raise OutOfRangeError(f"{self.label}: {exc}") from exc
        return values


class ADS1115Emulator(RegisterChip):
    """An ADS1115 with voltages ``ain0``..``ain3`` on its inputs (single-shot mode only)."""

    ain0 = Physical(0.0, "V")
    ain1 = Physical(0.0, "V")
    ain2 = Physical(0.0, "V")
    ain3 = Physical(0.0, "V")

    def __init__(self, clock, *, transducer: Mapping | None = None) -> None:
        super().__init__(clock)
        self.transducer = dict(transducer or {})
        self.registers = {CONVERSION: 0, CONFIG: CONFIG_RESET, LO_THRESH: 0x8000, HI_THRESH: 0x7FFF}
        self._done_at: float | None = None

    def input_voltage(self, mux: int) -> float:
        """Return the differential voltage the multiplexer presents for ``mux``."""
        positive, negative = INPUTS[mux]
        volts = getattr(self, f"ain{positive}")
        return volts - (getattr(self, f"ain{negative}") if negative is not None else 0.0)

    def _complete(self) -> None:
        if self._done_at is not None and self.clock.monotonic() >= self._done_at:
            self._done_at = None
            config = self.registers[CONFIG]
            fsr = FSR_BY_CODE[config >> 9 & 7]
            code = round(self.input_voltage(config >> 12 & 7) * 32768 / fsr)
            self.registers[CONVERSION] = max(-0x8000, min(0x7FFF, code)) & 0xFFFF

    def write_register(self, register: int, data: bytes) -> None:
        """Handle a register write; a config write with OS set starts a conversion."""
        if len(data) != 2:
            raise Nack(f"ADS1115 registers take 2 bytes, got {len(data)}")
        value = int.from_bytes(data, "big")
        if register == CONVERSION:
            raise Nack("the conversion register is read-only")
        if register != CONFIG:
            self.registers[register] = value
            return
        if not value & MODE_SINGLE:
            raise NotModelledError("ADS1115 continuous-conversion mode is not modelled")
        if value & 0b11 != COMPARATOR_OFF:
            raise NotModelledError("ADS1115 comparator is not modelled (COMP_QUE must be 11)")
        self._complete()
        self.registers[CONFIG] = value & ~OS_START
        if value & OS_START and self._done_at is None:
            self._done_at = self.clock.monotonic() + 1.0 / RATE_BY_CODE[value >> 5 & 7]

    def read_register(self, register: int, length: int) -> bytes:
        """Return a register; OS in config reads 1 once no conversion is running."""
        if length != 2:
            raise NotModelledError(f"ADS1115 reads of {length} bytes are not modelled")
        if register > HI_THRESH:
            raise Nack(f"ADS1115 has no register {register}")
        self._complete()
        value = self.registers[register]
        if register == CONFIG and self._done_at is None:
            value |= OS_IDLE  # OS reads 1 when no conversion is running
        return value.to_bytes(2, "big")

    def attach_signals(self, spec: Mapping | None, *, seed: int) -> None:
        """Accept signals for ain0..3, for ``voltage``/``current`` and for the scaled quantity."""
        spec = dict(spec or {})
        origin = self.clock.now()
        for name in [key for key in spec if key in self.transducer]:
            source = signals.build(spec.pop(name), name=name, seed=seed, origin=origin)
            channel, to_volts = self.transducer[name]
            self._signals[channel] = lambda t, source=source, to_volts=to_volts: to_volts(source(t))
        super().attach_signals(spec, seed=seed)

    def set_quantity(self, name: str, value: float) -> None:
        """Drive the input so the transducer reports ``value`` for quantity ``name``."""
        channel, to_volts = self.transducer[name]
        setattr(self, channel, to_volts(value))


#: transducer range -> (input, scale_from): the output spans of the standard pressure transducers.
TRANSDUCERS: dict[str, tuple[str, tuple[float, float]]] = {
    "0.5-4.5V": ("voltage", (0.5, 4.5)),
    "4-20mA": ("current", (0.004, 0.020)),
}


def _apply_transducer(params: dict) -> None:
    """Fill ``input`` and ``scale_from`` from a named transducer range, refusing a contradiction."""
    name = params["transducer"]
    if name is None:
        return
    wanted, span = TRANSDUCERS[name]
    # Validated parameters are validated again when the device opens: its own span is no contradiction.
    if params["scale_from"] is not None and tuple(params["scale_from"]) != span:
        raise ConfigError(f"scale_from: transducer = {name!r} sets it to {span[0]:g}..{span[1]:g}; "
                          f"give one or the other")
    if wanted == "voltage" and params["input"] == "current":
        raise ConfigError(f"input: transducer = {name!r} drives a voltage, got input = 'current'")
    if wanted == "current" and not params["shunt_ohms"]:
        raise ConfigError(f"shunt_ohms: required by transducer = {name!r} (the loop's burden resistor, e.g. 150)")
    for key in ("scale_to", "quantity"):
        if params[key] is None:
            raise ConfigError(f"{key}: required with transducer = {name!r} (e.g. scale_to = [0, 250], "
                              f"quantity = 'pressure')")
    params["input"], params["scale_from"] = wanted, span


def check_params(params: dict) -> None:
    """Check that scaling, shunt and quantity parameters make one consistent transducer."""
    _apply_transducer(params)
    if params["input"] == "current" and not params["shunt_ohms"]:
        raise ConfigError("shunt_ohms: required when input is 'current' (e.g. 150 for 4-20 mA)")
    scaling = ("scale_from", "scale_to", "quantity")
    missing = [key for key in scaling if params[key] is None]
    if missing and len(missing) < len(scaling):
        raise ConfigError(f"{missing[0]}: required with the other scaling parameters (scale_from, scale_to, quantity)")
    if params["quantity"] in ("voltage", "current"):
        raise ConfigError(f"quantity: must differ from the raw quantities voltage and current, "
                          f"got {params['quantity']!r}")
    if params["scale_from"] is not None:
        per_unit = params["shunt_ohms"] if params["input"] == "current" else 1.0
        volts = [v * per_unit for v in params["scale_from"]]
        if max(abs(v) for v in volts) >= params["fsr_v"]:
            raise ConfigError(f"fsr_v: {params['fsr_v']} V does not cover the transducer's {max(volts):g} V")


def quantities(params: dict) -> dict[str, str]:
    """Return what a channel with validated ``params`` reports besides its voltage."""
    found = {"current": "A"} if params["input"] == "current" else {}
    if params["quantity"]:
        found[params["quantity"]] = params["unit"] or ""
    return found


def _transducer(params: dict) -> dict:
    """Return {quantity: (channel, value -> volts)} for the emulator's inputs."""
    positive = f"ain{INPUTS[MUX[params['channel']]][0]}"
    table = {"voltage": (positive, lambda v: v)}
    shunt = params["shunt_ohms"]
    if params["input"] == "current":
        table["current"] = (positive, lambda amps: amps * shunt)
    if params["quantity"]:
        (a, b), (c, d) = params["scale_from"], params["scale_to"]
        per_unit = shunt if params["input"] == "current" else 1.0
        table[params["quantity"]] = (positive, lambda x: (a + (x - c) * (b - a) / (d - c)) * per_unit)
    return table


def open_device(params: dict, backend) -> ADS1115:
    """Open one ADS1115 channel on the backend's I2C bus."""
    keys = ("channel", "fsr_v", "data_rate", "input", "shunt_ohms", "scale_from", "scale_to", "quantity", "unit",
            "margin")
    return ADS1115(backend.i2c(params["bus"]), params["address"], sleep=backend.sleep,
                   **{key: params[key] for key in keys})


def install_emulator(backend, params: dict) -> ADS1115Emulator:
    """Put an emulated ADS1115 at the configured address, sharing it between channels."""
    bus = backend.i2c(params["bus"])
    chip = bus.chips.get(params["address"])
    if not isinstance(chip, ADS1115Emulator):
        chip = bus.attach(params["address"], ADS1115Emulator(backend.bus_clock))
    chip.transducer.update(_transducer(params))
    return chip
