"""The gateway configuration's model: frozen dataclasses, one per section of the TOML file.

:mod:`wardlink.edge.config` reads and validates the file into these; everything else in the
gateway only ever sees the validated model.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

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
