"""The gateway configuration: one TOML file, validated once at start-up.

Every problem is reported with the key it concerns and what would be accepted
(``channels[3].interval: must be >= 0.1 s, got 0``); all problems are collected and raised
together in one :class:`wardlink.edge.errors.ConfigError`, so an operator fixes the file in one pass.
Channel and alarm validation is shared with remote configuration from the hub
(:func:`parse_channels`, :func:`parse_alarms`).
"""

from __future__ import annotations

import ipaddress
import math
import tomllib
import urllib.parse
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from wardlink.protocol import CHANNEL_ID_RE, GATEWAY_ID_RE, MAX_READINGS_PER_BATCH, SEVERITIES

from wardlink.edge.errors import ConfigError

MIN_INTERVAL_S = 0.1
MAX_COMMIT_INTERVAL_S = 1.0
BACKENDS = ("real", "emulated")
SYNCHRONOUS_MODES = ("full", "normal")
SCHEMES = {"mqtt": (False, 1883), "mqtts": (True, 8883)}
#: Channel ids under this prefix are the gateway's own health telemetry.
HEALTH_PREFIX = "gw."

_MISSING = object()


# --------------------------------------------------------------------------- models


@dataclass(frozen=True)
class BrokerConfig:
    """Where and how to reach the MQTT broker."""

    url: str
    host: str
    port: int
    tls: bool
    ca_file: Path | None = None
    cert_file: Path | None = None
    key_file: Path | None = None
    credentials_file: Path | None = None
    keepalive: int = 30

    @property
    def is_loopback(self) -> bool:
        """Return True when the broker runs on this machine."""
        return is_loopback_host(self.host)


@dataclass(frozen=True)
class HardwareConfig:
    """Which hardware backend drivers talk to."""

    backend: str = "real"
    emulation_seed: int = 1
    emulation_root: Path | None = None


@dataclass(frozen=True)
class BufferConfig:
    """Bounds and durability of the SQLite buffer."""

    max_rows: int = 2_000_000
    max_bytes: int = 256 * 1024 * 1024
    reserved_event_rows: int = 10_000
    commit_interval: float = 0.5
    synchronous: str = "full"
    journal: bool = False
    gap_event_interval: float = 60.0


@dataclass(frozen=True)
class ForwarderConfig:
    """Batching, replay and reconnect policy of the MQTT forwarder."""

    batch_max_readings: int = 1000
    batch_max_age: float = 1.0
    replay_rate: float = 20_000.0
    max_inflight: int = 16
    backoff_min: float = 0.5
    backoff_max: float = 60.0
    resend_window: int = 20_000
    #: Acknowledged readings are kept for resend-from at least this long (s), whatever their number.
    resend_keep: float = 3600.0


@dataclass(frozen=True)
class HealthConfig:
    """How often the gateway publishes telemetry about itself (0 turns it off)."""

    interval: float = 60.0


@dataclass(frozen=True)
class ChannelConfig:
    """One published value: a quantity of one device, sampled at a fixed interval."""

    id: str
    driver: str
    params: Mapping[str, Any]
    quantity: str
    interval: float
    metric: str
    unit: str
    offset: float = 0.0
    scale: float = 1.0
    timeout: float = 2.0
    emulate: Mapping[str, Any] | None = None

    @property
    def device_key(self) -> tuple:
        """Return the identity of the physical device this channel reads."""
        return (self.driver, _freeze(self.params))


@dataclass(frozen=True)
class OutputConfig:
    """A local actuator (buzzer, LED) driven by alarms and the identify command."""

    name: str
    driver: str
    params: Mapping[str, Any]


@dataclass(frozen=True)
class AlarmRule:
    """A local threshold rule: beyond a limit for ``for_s`` seconds raises, hysteresis clears."""

    id: str
    channel: str
    above: float | None = None
    below: float | None = None
    for_s: float = 0.0
    hysteresis: float = 0.0
    output: str | None = None
    severity: str = "critical"


@dataclass(frozen=True)
class EdgeConfig:
    """The whole validated gateway configuration."""

    gateway_id: str
    data_dir: Path
    broker: BrokerConfig
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    buffer: BufferConfig = field(default_factory=BufferConfig)
    forwarder: ForwarderConfig = field(default_factory=ForwarderConfig)
    health: HealthConfig = field(default_factory=HealthConfig)
    channels: tuple[ChannelConfig, ...] = ()
    alarms: tuple[AlarmRule, ...] = ()
    outputs: Mapping[str, OutputConfig] = field(default_factory=dict)
    source: Path | None = None

    @property
    def client_id(self) -> str:
        """Return the stable MQTT client id of this gateway."""
        return f"wardlink-gw-{self.gateway_id}"


# --------------------------------------------------------------------------- helpers


def is_loopback_host(host: str) -> bool:
    """Return True for localhost and loopback addresses."""
    if host.lower() in ("localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _freeze(value: Any) -> Any:
    if isinstance(value, Mapping):
        return tuple(sorted((k, _freeze(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_freeze(v) for v in value)
    return value


def _describe(value: Any) -> str:
    if isinstance(value, str):
        return repr(value)
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (dict, list)):
        return f"a {'table' if isinstance(value, dict) else 'list'}"
    return str(value)


class _Table:
    """Typed access to one TOML table that records problems instead of raising."""

    def __init__(self, data: Any, path: str, problems: list[str]) -> None:
        self.path = path
        self.problems = problems
        self.seen: set[str] = set()
        if not isinstance(data, Mapping):
            self.problem("", f"must be a table, got {_describe(data)}")
            data = {}
        self.data = data

    def key(self, name: str) -> str:
        """Return the dotted path of ``name`` in this table."""
        return f"{self.path}.{name}" if self.path else name

    def problem(self, name: str, message: str) -> None:
        """Record one problem about key ``name``."""
        where = self.key(name) if name else (self.path or "config")
        self.problems.append(f"{where}: {message}")

    def raw(self, name: str, default: Any = _MISSING) -> Any:
        """Return the raw value of ``name``, recording it as known."""
        self.seen.add(name)
        if name not in self.data:
            if default is _MISSING:
                self.problem(name, "is required")
            return None if default is _MISSING else default
        return self.data[name]

    def str(self, name: str, default: Any = _MISSING, *, choices: tuple[str, ...] | None = None,
            pattern=None, allow_empty: bool = False) -> str | None:
        """Return a string value, checked against ``choices`` or ``pattern``."""
        value = self.raw(name, default)
        if value is None or (value is default and default is not _MISSING):
            return value
        if not isinstance(value, str):
            self.problem(name, f"must be a string, got {_describe(value)}")
            return None
        if choices is not None and value not in choices:
            self.problem(name, f"must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
            return None
        if not value and not allow_empty:
            self.problem(name, "must not be empty")
            return None
        if pattern is not None and not pattern.match(value):
            self.problem(name, f"must match {pattern.pattern}, got {value!r}")
            return None
        return value

    def number(self, name: str, default: Any = _MISSING, *, minimum: float | None = None,
               maximum: float | None = None, integer: bool = False, unit: str = "",
               exclusive_min: bool = False) -> Any:
        """Return a finite number within [minimum, maximum]."""
        value = self.raw(name, default)
        if value is None or (value is default and default is not _MISSING):
            return value
        suffix = f" {unit}" if unit else ""
        if isinstance(value, bool) or not isinstance(value, (int, float)) or (integer and not isinstance(value, int)):
            kind = "an integer" if integer else "a number"
            self.problem(name, f"must be {kind}{suffix}, got {_describe(value)}")
            return None
        if not math.isfinite(value):
            self.problem(name, f"must be a finite number, got {value}")
            return None
        if minimum is not None and (value <= minimum if exclusive_min else value < minimum):
            self.problem(name, f"must be {'>' if exclusive_min else '>='} {minimum}{suffix}, got {value}")
            return None
        if maximum is not None and value > maximum:
            self.problem(name, f"must be <= {maximum}{suffix}, got {value}")
            return None
        return value

    def bool(self, name: str, default: Any = _MISSING) -> bool | None:
        """Return a boolean value."""
        value = self.raw(name, default)
        if value is None or isinstance(value, bool):
            return value
        self.problem(name, f"must be true or false, got {_describe(value)}")
        return None

    def table(self, name: str, default: Any = _MISSING) -> Mapping | None:
        """Return a sub-table as a plain mapping."""
        value = self.raw(name, default)
        if value is None:
            return None
        if not isinstance(value, Mapping):
            self.problem(name, f"must be a table, got {_describe(value)}")
            return None
        return value

    def path_value(self, name: str, base: Path | None, default: Any = _MISSING) -> Path | None:
        """Return a file path, relative paths taken from the config file's directory."""
        value = self.str(name, default, allow_empty=True)
        if not value:
            return None
        p = Path(value).expanduser()
        return p if p.is_absolute() or base is None else base / p

    def finish(self) -> None:
        """Record a problem for every key nobody asked for (typos, misplaced keys)."""
        for name in self.data:
            if name not in self.seen:
                allowed = ", ".join(sorted(self.seen)) or "none"
                self.problem(name, f"unknown key; allowed keys here: {allowed}")


# --------------------------------------------------------------------------- sections


def _parse_broker(t: _Table, base: Path | None) -> BrokerConfig | None:
    url = t.str("url")
    ca_file = t.path_value("ca_file", base, "")
    cert_file = t.path_value("cert_file", base, "")
    key_file = t.path_value("key_file", base, "")
    credentials_file = t.path_value("credentials_file", base, "")
    keepalive = t.number("keepalive", 30, minimum=5, maximum=3600, integer=True, unit="s")
    t.finish()
    if url is None:
        return None
    parsed = urllib.parse.urlsplit(url)
    if parsed.scheme not in SCHEMES:
        t.problem("url", f"scheme must be one of {', '.join(s + '://' for s in SCHEMES)}, got {url!r}")
        return None
    if parsed.username or parsed.password:
        t.problem("url", "must not carry a user name or password; use credentials_file")
        return None
    tls, default_port = SCHEMES[parsed.scheme]
    try:
        port = parsed.port or default_port
    except ValueError:
        t.problem("url", f"port must be 1..65535, got {url!r}")
        return None
    if not parsed.hostname:
        t.problem("url", f"must name a host, e.g. mqtt://127.0.0.1:1883, got {url!r}")
        return None
    if (cert_file is None) != (key_file is None):
        t.problem("cert_file", "cert_file and key_file must be given together")
    if not tls and (ca_file or cert_file):
        t.problem("ca_file", "TLS files need an mqtts:// url")
    if credentials_file is None and not is_loopback_host(parsed.hostname):
        t.problem("credentials_file", f"is required for a broker that is not on loopback ({parsed.hostname}); "
                                      "give a file with username=... and password=... lines, mode 0600")
    return BrokerConfig(url, parsed.hostname, port, tls, ca_file, cert_file, key_file,
                        credentials_file, keepalive or 30)


def _parse_hardware(t: _Table, base: Path | None) -> HardwareConfig:
    backend = t.str("backend", "real", choices=BACKENDS) or "real"
    seed = t.number("emulation_seed", 1, integer=True)
    root = t.path_value("emulation_root", base, "")
    t.finish()
    return HardwareConfig(backend, 1 if seed is None else seed, root)


def _parse_buffer(t: _Table) -> BufferConfig:
    d = BufferConfig()
    max_rows = t.number("max_rows", d.max_rows, minimum=100, integer=True)
    max_bytes = t.number("max_bytes", d.max_bytes, minimum=1024 * 1024, integer=True, unit="bytes")
    reserved = t.number("reserved_event_rows", d.reserved_event_rows, minimum=0, integer=True)
    commit_interval = t.number("commit_interval", d.commit_interval, minimum=0.0, exclusive_min=True,
                               maximum=MAX_COMMIT_INTERVAL_S, unit="s")
    synchronous = t.str("synchronous", d.synchronous, choices=SYNCHRONOUS_MODES)
    journal = t.bool("journal", d.journal)
    gap = t.number("gap_event_interval", d.gap_event_interval, minimum=1, unit="s")
    t.finish()
    if max_rows is not None and reserved is not None and reserved >= max_rows:
        t.problem("reserved_event_rows", f"must be < max_rows ({max_rows}), got {reserved}")
    return BufferConfig(
        max_rows or d.max_rows, max_bytes or d.max_bytes, d.reserved_event_rows if reserved is None else reserved,
        commit_interval or d.commit_interval, synchronous or d.synchronous, bool(journal), gap or d.gap_event_interval,
    )


def _parse_forwarder(t: _Table) -> ForwarderConfig:
    d = ForwarderConfig()
    size = t.number("batch_max_readings", d.batch_max_readings, minimum=1, maximum=MAX_READINGS_PER_BATCH,
                    integer=True)
    age = t.number("batch_max_age", d.batch_max_age, minimum=0.01, maximum=60, unit="s")
    rate = t.number("replay_rate", d.replay_rate, minimum=1, unit="readings/s")
    inflight = t.number("max_inflight", d.max_inflight, minimum=1, maximum=1000, integer=True)
    bmin = t.number("backoff_min", d.backoff_min, minimum=0.01, maximum=3600, unit="s")
    bmax = t.number("backoff_max", d.backoff_max, minimum=0.01, maximum=3600, unit="s")
    resend = t.number("resend_window", d.resend_window, minimum=0, maximum=10_000_000, integer=True, unit="readings")
    keep = t.number("resend_keep", d.resend_keep, minimum=0, maximum=7 * 86400, unit="s")
    t.finish()
    if bmin is not None and bmax is not None and bmax < bmin:
        t.problem("backoff_max", f"must be >= backoff_min ({bmin}), got {bmax}")
    return ForwarderConfig(size or d.batch_max_readings, age or d.batch_max_age, rate or d.replay_rate,
                           inflight or d.max_inflight, bmin or d.backoff_min, bmax or d.backoff_max,
                           d.resend_window if resend is None else resend,
                           d.resend_keep if keep is None else keep)


def _parse_health(t: _Table) -> HealthConfig:
    interval = t.number("interval", 60.0, minimum=0, unit="s")
    t.finish()
    if interval is not None and 0 < interval < 1:
        t.problem("interval", f"must be 0 (off) or >= 1 s, got {interval}")
    return HealthConfig(60.0 if interval is None else float(interval))


def _driver_registry():
    from wardlink.hardware import registry  # lazy: `wardlink-edge --help` must not load drivers

    return registry


def _check_params(registry, driver: str, params: Mapping, path: str, problems: list[str]) -> Mapping | None:
    from wardlink.hardware.errors import HardwareError

    try:
        return dict(registry.validate_params(driver, dict(params)))
    except HardwareError as exc:
        problems.append(f"{path}: {exc}")
    except (TypeError, ValueError) as exc:
        problems.append(f"{path}: {exc}")
    return None


def _quantities(registry, spec, params: Mapping | None) -> dict[str, str]:
    """Return quantity -> unit a device of ``spec`` reports with ``params`` (validated, or None)."""
    if params is None or not hasattr(registry, "quantities"):
        return dict(spec.quantities)
    try:
        return dict(registry.quantities(spec, params))
    except Exception:
        return dict(spec.quantities)


def parse_channels(raw: Any, *, backend: str, problems: list[str], registry=None,
                   path: str = "channels") -> tuple[ChannelConfig, ...]:
    """Validate a list of channel tables against the driver registry; record problems."""
    registry = registry or _driver_registry()
    if not isinstance(raw, list):
        problems.append(f"{path}: must be a list of tables ([[channels]]), got {_describe(raw)}")
        return ()
    drivers = registry.DRIVERS
    channels: list[ChannelConfig] = []
    seen: dict[str, int] = {}
    for i, item in enumerate(raw):
        t = _Table(item, f"{path}[{i}]", problems)
        before = len(problems)
        cid = t.str("id", pattern=CHANNEL_ID_RE)
        driver = t.str("driver")
        params = t.table("params", {})
        quantity = t.str("quantity", None)
        interval = t.number("interval", minimum=MIN_INTERVAL_S, unit="s")
        metric = t.str("metric", None)
        unit = t.str("unit", None, allow_empty=True)
        calibration = t.table("calibration", {})
        timeout = t.number("timeout", None, minimum=0.0, exclusive_min=True, maximum=60, unit="s")
        emulate = t.table("emulate", None)
        t.finish()
        if cid is not None:
            if cid.startswith(HEALTH_PREFIX):
                t.problem("id", f"ids starting with {HEALTH_PREFIX!r} are reserved for gateway health, got {cid!r}")
            elif cid in seen:
                t.problem("id", f"duplicate channel id {cid!r} (also channels[{seen[cid]}])")
            else:
                seen[cid] = i
        offset, scale = 0.0, 1.0
        if calibration is not None:
            cal = _Table(calibration, t.key("calibration"), problems)
            offset = cal.number("offset", 0.0)
            scale = cal.number("scale", 1.0)
            cal.finish()
            if scale == 0:
                cal.problem("scale", "must not be 0")
        spec = None
        if driver is not None:
            spec = drivers.get(driver)
            if spec is None:
                t.problem("driver", f"unknown driver {driver!r}; known drivers: {', '.join(sorted(drivers))}")
        if spec is not None:
            if params is not None:
                params = _check_params(registry, driver, params, t.key("params"), problems)
            # Some drivers report quantities their parameters name (Modbus points, serial
            # fields, BTHome objects): the channel may pick any of those.
            quantities = _quantities(registry, spec, params)
            if quantity is None and len(quantities) == 1:
                quantity = next(iter(quantities))
            elif quantity is None:
                t.problem("quantity", f"is required for driver {driver!r}; one of {', '.join(sorted(quantities))}")
            elif quantity not in quantities:
                t.problem("quantity", f"driver {driver!r} measures {', '.join(sorted(quantities))}, got {quantity!r}")
                quantity = None
            if unit is None and quantity is not None:
                unit = quantities[quantity]
        if emulate is not None and backend != "emulated":
            t.problem("emulate", 'is only allowed with hardware.backend = "emulated"')
        if len(problems) > before or None in (cid, driver, quantity, interval, params):
            continue
        if timeout is None:
            timeout = min(float(interval), 5.0)
        channels.append(ChannelConfig(
            id=cid, driver=driver, params=MappingProxyType(dict(params)), quantity=quantity,
            interval=float(interval), metric=metric or quantity, unit=unit or "",
            offset=float(offset or 0.0), scale=float(1.0 if scale is None else scale), timeout=float(timeout),
            emulate=MappingProxyType(dict(emulate)) if emulate is not None else None,
        ))
    return tuple(channels)


def parse_outputs(raw: Any, *, problems: list[str], registry=None) -> dict[str, OutputConfig]:
    """Validate the ``[outputs.NAME]`` tables (driver + params of each actuator)."""
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        problems.append(f"outputs: must be a table of [outputs.NAME] tables, got {_describe(raw)}")
        return {}
    registry = registry or _driver_registry()
    outputs: dict[str, OutputConfig] = {}
    for name, item in raw.items():
        t = _Table(item, f"outputs.{name}", problems)
        driver = t.str("driver")
        params = t.table("params", {})
        t.finish()
        if driver is None or params is None:
            continue
        if driver not in registry.DRIVERS:
            t.problem("driver", f"unknown driver {driver!r}; known drivers: {', '.join(sorted(registry.DRIVERS))}")
            continue
        checked = _check_params(registry, driver, params, t.key("params"), problems)
        if checked is not None:
            outputs[name] = OutputConfig(name, driver, MappingProxyType(checked))
    return outputs


def parse_alarms(raw: Any, *, channels: tuple[ChannelConfig, ...], outputs: Mapping[str, OutputConfig],
                 problems: list[str], path: str = "alarms") -> tuple[AlarmRule, ...]:
    """Validate local alarm rules against the channels and outputs they refer to."""
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{path}: must be a list of tables ([[alarms]]), got {_describe(raw)}")
        return ()
    channel_ids = {c.id for c in channels}
    rules: list[AlarmRule] = []
    ids: dict[str, int] = {}
    for i, item in enumerate(raw):
        t = _Table(item, f"{path}[{i}]", problems)
        before = len(problems)
        rid = t.str("id", None, pattern=CHANNEL_ID_RE)
        channel = t.str("channel")
        above = t.number("above", None)
        below = t.number("below", None)
        for_s = t.number("for_s", 0.0, minimum=0, unit="s")
        hysteresis = t.number("hysteresis", 0.0, minimum=0)
        output = t.str("output", None)
        severity = t.str("severity", "critical", choices=SEVERITIES)
        t.finish()
        if channel is not None and channel not in channel_ids:
            known = ", ".join(sorted(channel_ids)) or "none configured"
            t.problem("channel", f"no channel {channel!r}; channels: {known}")
        if above is None and below is None and len(problems) == before:
            t.problem("above", "give above, below or both")
        if above is not None and below is not None and below >= above:
            t.problem("below", f"must be < above ({above}), got {below}")
        if output is not None and output not in outputs:
            known = ", ".join(sorted(outputs)) or "none configured"
            t.problem("output", f"no output {output!r}; outputs: {known}")
        rid = rid or channel
        if rid is not None and rid in ids:
            t.problem("id", f"duplicate alarm id {rid!r} (also {path}[{ids[rid]}]); set a distinct id")
        if len(problems) > before:
            continue
        ids[rid] = i
        rules.append(AlarmRule(rid, channel, above, below, float(for_s), float(hysteresis), output, severity))
    return tuple(rules)


# --------------------------------------------------------------------------- entry points


def parse_config(data: Mapping[str, Any], *, base_dir: Path | None = None, source: Path | None = None,
                 registry=None) -> EdgeConfig:
    """Validate a parsed TOML document and return the config; raise ConfigError with every problem."""
    problems: list[str] = []
    top = _Table(data, "", problems)
    gateway_id = top.str("gateway_id", pattern=GATEWAY_ID_RE)
    data_dir = top.path_value("data_dir", base_dir)
    if data_dir is None and "data_dir" in data:
        top.problem("data_dir", "must not be empty")
    broker_t = top.table("broker")
    broker = _parse_broker(_Table(broker_t, "broker", problems), base_dir) if broker_t is not None else None
    hardware = _parse_hardware(_Table(top.table("hardware", {}) or {}, "hardware", problems), base_dir)
    buffer = _parse_buffer(_Table(top.table("buffer", {}) or {}, "buffer", problems))
    forwarder = _parse_forwarder(_Table(top.table("forwarder", {}) or {}, "forwarder", problems))
    health = _parse_health(_Table(top.table("health", {}) or {}, "health", problems))
    raw_channels = top.raw("channels", [])
    raw_outputs = top.raw("outputs", None)
    raw_alarms = top.raw("alarms", None)
    top.finish()
    channels = parse_channels(raw_channels, backend=hardware.backend, problems=problems, registry=registry)
    outputs = parse_outputs(raw_outputs, problems=problems, registry=registry)
    alarms = parse_alarms(raw_alarms, channels=channels, outputs=outputs, problems=problems)
    if problems:
        raise ConfigError(problems, source=str(source) if source else None)
    return EdgeConfig(gateway_id, data_dir, broker, hardware, buffer, forwarder, health, channels, alarms,
                      MappingProxyType(outputs), source)


def load_config(path: str | Path, *, registry=None) -> EdgeConfig:
    """Read and validate a gateway TOML file."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror or exc}", source=str(path)) from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML: {exc}", source=str(path)) from None
    return parse_config(data, base_dir=path.resolve().parent, source=path, registry=registry)


def collect(fn: Callable[..., Any], *args, **kwargs) -> Any:
    """Run a ``parse_*`` function and raise ConfigError if it recorded problems."""
    problems: list[str] = []
    result = fn(*args, problems=problems, **kwargs)
    if problems:
        raise ConfigError(problems)
    return result
