"""The driver table and the one way to open a device: :func:`open_device`.

Each :class:`DriverSpec` names its bus, its parameters (validated once, at start-up)
and the quantities it reports. Driver and emulator code is imported only when a
device of that type is opened, so a gateway loads only what it uses.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from wardlink.hardware.backend import Backend, EmulatedBackend, RealBackend, load
from wardlink.hardware.errors import ConfigError, NotModelledError
from wardlink.hardware.params import REQUIRED, FloatPair, ParamSpec, Pin, StructuredParam

__all__ = [
    "DRIVERS",
    "Backend",
    "DriverSpec",
    "EmulatedBackend",
    "FloatPair",
    "ParamSpec",
    "Pin",
    "REQUIRED",
    "RealBackend",
    "StructuredParam",
    "list_drivers",
    "open_device",
    "quantities",
    "validate_params",
]


@dataclass(frozen=True)
class DriverSpec:
    """A driver type: bus, parameters, reported quantities, and where its code lives.

    ``driver`` is ``"module:function(params, backend) -> Device"``; ``emulator`` is
    ``"module:function(backend, params) -> emulator"`` (installs the chip on the
    emulated bus); ``check`` is ``"module:function(params)"`` for rules that span
    several parameters and raises ConfigError.
    """

    name: str
    bus: str
    description: str
    params: dict[str, ParamSpec]
    quantities: dict[str, str]
    driver: str = ""
    emulator: str | None = None
    check: str | None = None
    notes: str = ""
    #: ``"module:function(params) -> {quantity: unit}"`` for drivers whose quantities come
    #: from their parameters (register points, field maps, tags); see :func:`quantities`.
    quantities_for: str | None = None


def _i2c_params(addresses: tuple[int, ...], default: int) -> dict[str, ParamSpec]:
    return {
        "bus": ParamSpec(int, 1, "I2C adapter number (/dev/i2c-N)", minimum=0, maximum=255),
        "address": ParamSpec(int, default, "7-bit I2C address", choices=addresses, hex=True),
    }


_MAC_PATTERN = r"[0-9A-Fa-f]{2}(:[0-9A-Fa-f]{2}){5}"


def _serial_params(baudrate: int, parity: str) -> dict[str, ParamSpec]:
    return {
        "port": ParamSpec(str, REQUIRED, "serial device, e.g. /dev/ttyUSB0 or /dev/serial/by-id/..."),
        "baudrate": ParamSpec(
            int, baudrate, "line speed", choices=(1200, 2400, 4800, 9600, 19200, 38400, 57600, 115200),
        ),
        "bytesize": ParamSpec(int, 8, "data bits", choices=(7, 8)),
        "parity": ParamSpec(str, parity, "parity", choices=("N", "E", "O")),
        "stopbits": ParamSpec(int, 1, "stop bits", choices=(1, 2)),
    }


def _line_params() -> dict[str, ParamSpec]:
    return {
        "framing": StructuredParam(
            dict, None, "{terminator: lf|crlf|cr, encoding, max_line, start_marker: '0x02', end_marker: '0x03'}",
            parse="wardlink.hardware.serial.devices:parse_framing",
        ),
        "stale_after_s": ParamSpec(float, 300.0, "values older than this are not reported, in s", minimum=1.0),
        "keep_rejected": ParamSpec(int, 20, "rejected lines kept for inspection", minimum=1, maximum=1000),
    }


def _ble_params() -> dict[str, ParamSpec]:
    return {
        "adapter": ParamSpec(str, "hci0", "Bluetooth adapter", pattern=r"hci\d{1,2}"),
        "stale_after_s": ParamSpec(float, 600.0, "not heard this long: read() fails, in s", minimum=1.0),
    }


DRIVERS: dict[str, DriverSpec] = {
    spec.name: spec
    for spec in (
        DriverSpec(
            "sht3x",
            "i2c",
            "Sensirion SHT30/31/35 temperature and humidity (single shot, CRC checked)",
            {
                **_i2c_params((0x44, 0x45), 0x44),
                "repeatability": ParamSpec(str, "high", "measurement repeatability", choices=("high", "medium", "low")),
                "heater": ParamSpec(bool, False, "switch the on-chip heater on (plausibility checks)"),
            },
            {"temperature": "degC", "humidity": "%RH"},
            driver="wardlink.hardware.i2c.sht3x:open_device",
            emulator="wardlink.hardware.i2c.sht3x:install_emulator",
        ),
        DriverSpec(
            "bme280",
            "i2c",
            "Bosch BME280 temperature, humidity and pressure (forced mode, Bosch integer compensation)",
            {
                **_i2c_params((0x76, 0x77), 0x76),
                "oversampling": ParamSpec(int, 1, "oversampling for all three quantities", choices=(1, 2, 4, 8, 16)),
            },
            {"temperature": "degC", "humidity": "%RH", "pressure": "Pa"},
            driver="wardlink.hardware.i2c.bme280:open_device",
            emulator="wardlink.hardware.i2c.bme280:install_emulator",
        ),
        DriverSpec(
            "ina219",
            "i2c",
            "TI INA219 current, bus voltage and power monitor on a shunt resistor",
            {
                **_i2c_params(tuple(range(0x40, 0x50)), 0x40),
                "shunt_ohms": ParamSpec(float, 0.1, "shunt resistance in ohms", minimum=0.0001, maximum=100.0),
                "max_current_a": ParamSpec(float, 2.0, "largest current expected, in A", minimum=0.001, maximum=100.0),
                "bus_voltage_range": ParamSpec(int, 32, "bus voltage full scale in V", choices=(16, 32)),
                "current_lsb_a": ParamSpec(
                    float, None, "current resolution in A; default: smallest 1-2-5 step >= max_current_a / 32767",
                    minimum=1e-7,
                ),
            },
            {"current": "A", "bus_voltage": "V", "power": "W", "shunt_voltage": "V"},
            driver="wardlink.hardware.i2c.ina219:open_device",
            emulator="wardlink.hardware.i2c.ina219:install_emulator",
            check="wardlink.hardware.i2c.ina219:check_params",
        ),
        DriverSpec(
            "ads1115",
            "i2c",
            "TI ADS1115 16-bit ADC with linear scaling of an analog transducer (0.5-4.5 V, 4-20 mA)",
            {
                **_i2c_params((0x48, 0x49, 0x4A, 0x4B), 0x48),
                "channel": ParamSpec(
                    str, "a0", "input: single-ended aN or differential aN-aM",
                    choices=("a0", "a1", "a2", "a3", "a0-a1", "a0-a3", "a1-a3", "a2-a3"),
                ),
                "fsr_v": ParamSpec(
                    float, 4.096, "programmable gain: full-scale range in V",
                    choices=(6.144, 4.096, 2.048, 1.024, 0.512, 0.256),
                ),
                "data_rate": ParamSpec(int, 128, "samples per second", choices=(8, 16, 32, 64, 128, 250, 475, 860)),
                "transducer": ParamSpec(
                    str, None, "output range of a standard transducer: sets input and scale_from "
                    "(4-20mA needs shunt_ohms)", choices=("0.5-4.5V", "4-20mA"),
                ),
                "input": ParamSpec(str, "voltage", "what the transducer drives", choices=("voltage", "current")),
                "shunt_ohms": ParamSpec(float, None, "burden resistor for a current loop, in ohms", minimum=1.0),
                "scale_from": ParamSpec(FloatPair, None, "transducer output span [low, high] in V (or A for current)"),
                "scale_to": ParamSpec(FloatPair, None, "engineering span [low, high] matching scale_from"),
                "quantity": ParamSpec(
                    str, None, "name of the scaled quantity, e.g. pressure", pattern=r"[a-z][a-z0-9_]*",
                ),
                "unit": ParamSpec(str, None, "unit of the scaled quantity, e.g. bar"),
                "margin": ParamSpec(
                    float, 0.05, "fraction of the span a reading may leave scale_from before it is a fault",
                    minimum=0.0, maximum=1.0,
                ),
            },
            {"voltage": "V"},
            driver="wardlink.hardware.i2c.ads1115:open_device",
            emulator="wardlink.hardware.i2c.ads1115:install_emulator",
            check="wardlink.hardware.i2c.ads1115:check_params",
            quantities_for="wardlink.hardware.i2c.ads1115:quantities",
            notes="adds 'current' (A) for input=current and the scaled quantity named by 'quantity'",
        ),
        DriverSpec(
            "ds18b20",
            "w1",
            "Maxim DS18B20 1-wire thermometer via the Linux w1-therm driver (CRC checked, retried)",
            {
                "device_id": ParamSpec(
                    str, REQUIRED, "sysfs id of the sensor, e.g. 28-0316a2796fff", pattern=r"(28|22|3b|42)-[0-9a-f]{12}"
                ),
                "retries": ParamSpec(int, 2, "extra reads after a CRC failure", minimum=0, maximum=10),
            },
            {"temperature": "degC"},
            driver="wardlink.hardware.onewire.ds18b20:open_device",
            emulator="wardlink.hardware.onewire.ds18b20:install_emulator",
        ),
        DriverSpec(
            "digital_input",
            "gpio",
            "Contact on a GPIO pin: door or reed switch, alarm panel relay output",
            {
                "pin": ParamSpec(Pin, REQUIRED, "GPIO pin (Broadcom number or gpiozero name)"),
                "pull": ParamSpec(str, "up", "internal pull resistor", choices=("up", "down", "none")),
                "active_high": ParamSpec(bool, True, "state 1 when the line is high (pulled-up reed opens: door open)"),
                "bounce_s": ParamSpec(float, 0.05, "ignore edges closer than this, in s", minimum=0.0, maximum=10.0),
            },
            {"state": "bool"},
            driver="wardlink.hardware.gpio.digital_input:open_device",
            emulator="wardlink.hardware.gpio.digital_input:install_emulator",
        ),
        DriverSpec(
            "pulse_counter",
            "gpio",
            "Pulse output of a meter (S0 energy meter, water or gas meter) on a GPIO pin",
            {
                "pin": ParamSpec(Pin, REQUIRED, "GPIO pin (Broadcom number or gpiozero name)"),
                "pull": ParamSpec(str, "up", "internal pull resistor", choices=("up", "down", "none")),
                "active_high": ParamSpec(bool, False, "count rising edges (open-collector S0 outputs pull low)"),
                "bounce_s": ParamSpec(float, 0.01, "ignore edges closer than this, in s", minimum=0.0, maximum=10.0),
                "per_pulse": ParamSpec(float, 1.0, "quantity per pulse, e.g. 0.001 kWh", minimum=1e-9),
                "unit": ParamSpec(str, "pulse", "unit of per_pulse, e.g. kWh, L, m3"),
                "rate_per": ParamSpec(str, "h", "time unit of the rate", choices=("s", "min", "h")),
            },
            {"total": "<unit>", "rate": "<unit>/<rate_per>"},
            driver="wardlink.hardware.gpio.pulse_counter:open_device",
            emulator="wardlink.hardware.gpio.pulse_counter:install_emulator",
        ),
        DriverSpec(
            "digital_output",
            "gpio",
            "Buzzer, LED or relay on a GPIO pin, with steady/blink/beep patterns",
            {
                "pin": ParamSpec(Pin, REQUIRED, "GPIO pin (Broadcom number or gpiozero name)"),
                "active_high": ParamSpec(bool, True, "drive the line high to switch on"),
                "initial": ParamSpec(bool, False, "switched on at start"),
            },
            {"state": "bool"},
            driver="wardlink.hardware.gpio.digital_output:open_device",
            emulator="wardlink.hardware.gpio.digital_output:install_emulator",
        ),
        DriverSpec(
            "sterilizer_printer",
            "serial",
            "Steam steriliser (autoclave) cycle reports read from its printer port",
            {
                **_serial_params(9600, "N"),
                **_line_params(),
            },
            {"chamber_temperature": "degC", "chamber_pressure": "kPa"},
            driver="wardlink.hardware.serial.devices:open_sterilizer",
            emulator="wardlink.hardware.serial.emulators:install_sterilizer",
            notes="poll_events() returns one 'sterilizer.cycle' event per printed cycle report",
        ),
        DriverSpec(
            "serial_lines",
            "serial",
            "Instrument printing key=value or CSV lines on a serial port",
            {
                **_serial_params(9600, "N"),
                "profile": ParamSpec(str, REQUIRED, "line format", choices=("keyvalue", "csv")),
                "profile_options": StructuredParam(
                    dict, REQUIRED,
                    "fields: {device field: {quantity, unit, scale, offset}}; csv: columns/header/delimiter",
                    parse="wardlink.hardware.serial.devices:parse_options",
                ),
                **_line_params(),
            },
            {},
            driver="wardlink.hardware.serial.devices:open_lines",
            quantities_for="wardlink.hardware.serial.devices:lines_quantities",
            emulator="wardlink.hardware.serial.emulators:install_lines",
            check="wardlink.hardware.serial.devices:check_lines",
            notes="reports the quantities named in profile_options.fields",
        ),
        DriverSpec(
            "modbus_rtu",
            "serial",
            "Modbus RTU slave: holding/input registers scaled to quantities (several units may share a port)",
            {
                **_serial_params(9600, "E"),
                "unit": ParamSpec(int, REQUIRED, "slave address", minimum=1, maximum=247),
                "points": StructuredParam(
                    list, REQUIRED,
                    "[{quantity, address, kind: holding|input, type: int16|uint16|int32|uint32|float32, "
                    "word_order: big|little, scale, offset, unit}]",
                    parse="wardlink.hardware.serial.devices:parse_points",
                ),
                "timeout_s": ParamSpec(float, 1.0, "response timeout in s", minimum=0.05, maximum=30.0),
                "retries": ParamSpec(int, 1, "extra attempts after a timeout or corrupt frame", minimum=0, maximum=5),
            },
            {},
            driver="wardlink.hardware.serial.devices:open_modbus",
            quantities_for="wardlink.hardware.serial.devices:modbus_quantities",
            emulator="wardlink.hardware.serial.emulators:install_modbus",
            notes="reports the quantities named in points",
        ),
        DriverSpec(
            "bthome",
            "ble",
            "BTHome v2 BLE sensor (plain or AES-CCM encrypted), e.g. Shelly BLU H&T, ATC thermometers",
            {
                **_ble_params(),
                "address": ParamSpec(str, REQUIRED, "the sensor's MAC address", pattern=_MAC_PATTERN),
                "bind_key": StructuredParam(
                    str, None, "32 hex digits; set for sensors that encrypt (plain packets are then refused)",
                    parse="wardlink.hardware.ble.devices:parse_bind_key",
                ),
                "counter_policy": ParamSpec(
                    str, "gap", "when a lower encryption counter (device reboot) is believed",
                    choices=("gap", "strict"),
                ),
                "reset_gap_s": ParamSpec(float, 30.0, "silence after which a lower counter counts as a reboot",
                                         minimum=0.0),
            },
            {"rssi": "dBm"},
            driver="wardlink.hardware.ble.devices:open_bthome",
            quantities_for="wardlink.hardware.ble.devices:bthome_quantities",
            emulator="wardlink.hardware.ble.emulators:install_bthome",
            notes="adds every BTHome quantity the sensor sends; poll_events() returns ble.button / ble.dimmer",
        ),
        DriverSpec(
            "ruuvitag",
            "ble",
            "RuuviTag environmental sensor (data format 5)",
            {
                **_ble_params(),
                "address": ParamSpec(str, REQUIRED, "the tag's MAC address", pattern=_MAC_PATTERN),
            },
            {
                "temperature": "degC", "humidity": "%RH", "pressure": "Pa", "acceleration_x": "g",
                "acceleration_y": "g", "acceleration_z": "g", "battery_voltage": "V", "tx_power": "dBm",
                "movement_count": "", "sequence": "", "rssi": "dBm",
            },
            driver="wardlink.hardware.ble.devices:open_ruuvi",
            emulator="wardlink.hardware.ble.emulators:install_ruuvi",
        ),
        DriverSpec(
            "ble_presence",
            "ble",
            "Presence of BLE tags (by MAC or iBeacon id) from smoothed RSSI with hysteresis",
            {
                "adapter": ParamSpec(str, "hci0", "Bluetooth adapter", pattern=r"hci\d{1,2}"),
                "tags": StructuredParam(
                    list, REQUIRED, "[{id, address} | {id, uuid, major, minor}]",
                    parse="wardlink.hardware.ble.devices:parse_tags",
                ),
                "enter_dbm": ParamSpec(float, -75.0, "smoothed RSSI at which a tag counts as near",
                                       minimum=-120.0, maximum=0.0),
                "margin_db": ParamSpec(float, 6.0,
                                       "hysteresis: leave below enter_dbm - margin; move rooms when stronger by it",
                                       minimum=0.0, maximum=40.0),
                "dwell_s": ParamSpec(float, 10.0, "a crossing must last this long before it counts, in s",
                                     minimum=0.0, maximum=600.0),
                "away_timeout_s": ParamSpec(float, 60.0, "not heard this long: the tag has left, in s",
                                            minimum=1.0, maximum=86400.0),
                "smoothing": ParamSpec(str, "ema", "RSSI smoothing", choices=("ema", "median")),
                "alpha": ParamSpec(float, 0.3, "EMA weight of a new reading", minimum=0.01, maximum=1.0),
                "window": ParamSpec(int, 5, "median window, in readings", minimum=1, maximum=50),
            },
            {},
            driver="wardlink.hardware.ble.devices:open_presence",
            quantities_for="wardlink.hardware.ble.devices:presence_quantities",
            emulator="wardlink.hardware.ble.emulators:install_presence",
            check="wardlink.hardware.ble.devices:check_presence",
            notes="reports <tag>.present (bool) and <tag>.rssi (dBm) per tag; poll_events() returns "
                  "ble.seen / ble.lost / presence.changed; emulate may give {replay: file.jsonl, loop: true}",
        ),
    )
}


def get(driver: str | DriverSpec) -> DriverSpec:
    """Return the DriverSpec for ``driver``; raise ConfigError listing known drivers."""
    if isinstance(driver, DriverSpec):
        return driver
    try:
        return DRIVERS[driver]
    except (KeyError, TypeError):
        raise ConfigError(f"driver: must be one of {', '.join(sorted(DRIVERS))}, got {driver!r}") from None


def validate_params(driver: str | DriverSpec, params: Mapping | None) -> dict:
    """Return ``params`` with defaults filled in; raise ConfigError naming the bad key."""
    spec = get(driver)
    params = dict(params or {})
    unknown = sorted(set(params) - set(spec.params))
    if unknown:
        raise ConfigError(f"{unknown[0]}: unknown parameter for {spec.name}; allowed: {', '.join(spec.params)}")
    result = {}
    for key, param in spec.params.items():
        if key not in params:
            if param.required:
                raise ConfigError(f"{key}: required by {spec.name} ({param.help})")
            result[key] = param.default
        else:
            result[key] = param.convert(key, params[key])
    if spec.check:
        load(spec.check)(result)
    return result


def open_device(driver: str, params: Mapping | None, backend: Backend, emulate: Mapping | None = None):
    """Validate ``params`` and open a ``driver`` device on ``backend``.

    With the emulated backend, the chip's emulator is installed on the emulated bus
    first and ``emulate`` ({quantity: signal spec}) drives its physical quantities.
    """
    spec = get(driver)
    params = validate_params(spec, params)
    emulator = None
    if backend.is_emulated:
        if spec.emulator is None:
            raise NotModelledError(f"{spec.name}: no emulator exists for this driver")
        emulator = load(spec.emulator)(backend, params)
        emulator.attach_signals(emulate, seed=backend.device_seed(spec.name, params))
    elif emulate:
        raise ConfigError("emulate: only valid with the emulated backend")
    device = load(spec.driver)(params, backend)
    if emulator is not None:
        backend.remember(device, emulator)
    return device


def quantities(driver: str | DriverSpec, params: Mapping) -> dict[str, str]:
    """Return quantity -> unit that a ``driver`` device with validated ``params`` reports."""
    spec = get(driver)
    if spec.quantities_for is None:
        return dict(spec.quantities)
    return {**spec.quantities, **load(spec.quantities_for)(params)}


def list_drivers() -> list[dict]:
    """Return every driver's name, bus, description, parameters and quantities, by name."""
    return [
        {
            "name": spec.name,
            "bus": spec.bus,
            "description": spec.description,
            "params": {key: param.describe() for key, param in spec.params.items()},
            "quantities": dict(spec.quantities),
            "notes": spec.notes,
        }
        for spec in sorted(DRIVERS.values(), key=lambda s: s.name)
    ]
