"""The gateway configuration: one TOML file, validated once at start-up.

Every problem is reported with the key it concerns and what would be accepted
(``channels[3].interval: must be >= 0.1 s, got 0``); all problems are collected and raised
together in one :class:`wardlink.edge.errors.ConfigError`, so an operator fixes the file in one pass.
Channel and alarm validation is shared with remote configuration from the hub
(:func:`parse_channels`, :func:`parse_alarms`).
"""

from __future__ import annotations

import tomllib
import urllib.parse
from pathlib import Path
from types import MappingProxyType
from typing import Any, Callable, Mapping

from wardlink.protocol import GATEWAY_ID_RE, MAX_READINGS_PER_BATCH

from wardlink.edge.config_devices import HEALTH_PREFIX, MIN_INTERVAL_S, parse_alarms, parse_channels, parse_outputs
from wardlink.edge.config_models import (
    AlarmRule, BrokerConfig, BufferConfig, ChannelConfig, EdgeConfig, ForwarderConfig, HardwareConfig,
    HealthConfig, OutputConfig, is_loopback_host,
)
from wardlink.edge.config_table import Table
from wardlink.edge.errors import ConfigError

__all__ = [
    "AlarmRule", "BrokerConfig", "BufferConfig", "ChannelConfig", "EdgeConfig", "ForwarderConfig",
    "HardwareConfig", "HealthConfig", "OutputConfig", "HEALTH_PREFIX", "MIN_INTERVAL_S", "collect",
    "is_loopback_host", "load_config", "parse_alarms", "parse_channels", "parse_config", "parse_outputs",
]

MAX_COMMIT_INTERVAL_S = 1.0
BACKENDS = ("real", "emulated")
SYNCHRONOUS_MODES = ("full", "normal")
SCHEMES = {"mqtt": (False, 1883), "mqtts": (True, 8883)}


# --------------------------------------------------------------------------- sections


def _parse_broker(t: Table, base: Path | None) -> BrokerConfig | None:
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


def _parse_hardware(t: Table, base: Path | None) -> HardwareConfig:
    backend = t.str("backend", "real", choices=BACKENDS) or "real"
    seed = t.number("emulation_seed", 1, integer=True)
    root = t.path_value("emulation_root", base, "")
    t.finish()
    return HardwareConfig(backend, 1 if seed is None else seed, root)


def _parse_buffer(t: Table) -> BufferConfig:
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


def _parse_forwarder(t: Table) -> ForwarderConfig:
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


def _parse_health(t: Table) -> HealthConfig:
    interval = t.number("interval", 60.0, minimum=0, unit="s")
    t.finish()
    if interval is not None and 0 < interval < 1:
        t.problem("interval", f"must be 0 (off) or >= 1 s, got {interval}")
    return HealthConfig(60.0 if interval is None else float(interval))


# --------------------------------------------------------------------------- entry points


def parse_config(data: Mapping[str, Any], *, base_dir: Path | None = None, source: Path | None = None,
                 registry=None) -> EdgeConfig:
    """Validate a parsed TOML document and return the config; raise ConfigError with every problem."""
    problems: list[str] = []
    top = Table(data, "", problems)
    gateway_id = top.str("gateway_id", pattern=GATEWAY_ID_RE)
    data_dir = top.path_value("data_dir", base_dir)
    if data_dir is None and "data_dir" in data:
        top.problem("data_dir", "must not be empty")
    broker_t = top.table("broker")
    broker = _parse_broker(Table(broker_t, "broker", problems), base_dir) if broker_t is not None else None
    hardware = _parse_hardware(Table(top.table("hardware", {}) or {}, "hardware", problems), base_dir)
    buffer = _parse_buffer(Table(top.table("buffer", {}) or {}, "buffer", problems))
    forwarder = _parse_forwarder(Table(top.table("forwarder", {}) or {}, "forwarder", problems))
    health = _parse_health(Table(top.table("health", {}) or {}, "health", problems))
    raw_channels = top.raw("channels", [])
    raw_outputs = top.raw("outputs", None)
    raw_alarms = top.raw("alarms", None)
    top.finish()
    channels = parse_channels(raw_channels, backend=hardware.backend, problems=problems, registry=registry)
    outputs = parse_outputs(raw_outputs, problems=problems, registry=registry)
    alarms = parse_alarms(raw_alarms, channels=channels, outputs=outputs, problems=problems)
    if problems:
        raise ConfigError(problems, source=str(source) if source else None)
    # Each of these recorded a problem when it was missing or wrong.
    assert gateway_id is not None and data_dir is not None and broker is not None
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
