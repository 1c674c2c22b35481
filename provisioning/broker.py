"""The production ``mosquitto.conf``: TLS, persistence, queue sizing, authentication.

:func:`render_mosquitto_conf` returns the file as text with a comment on every choice that is
not Mosquitto's default, so the rendered file explains itself to whoever reads it on the broker.
"""

from __future__ import annotations

import glob
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from wardlink.provisioning.errors import SettingError

AUTH_MODES = ("dynsec", "files")
#: Where Debian/Ubuntu/Raspberry Pi OS put the plugin (one directory per architecture).
DYNSEC_PLUGIN_GLOB = "/usr/lib/*/mosquitto_dynamic_security.so"

#: Telemetry batches a gateway sends per second when live: the forwarder closes a batch at
#: the latest after 1 s (edge ``forwarder.batch_max_age``); status, events and command
#: results add about one message in ten on top.
BATCHES_PER_SECOND = 1.1
#: A batch of 50 channels is about 2 KB of JSON; used only for the memory estimate.
BATCH_BYTES = 2048


def find_dynsec_plugin(pattern: str = DYNSEC_PLUGIN_GLOB) -> Path | None:
    """Return the path of the installed dynamic-security plugin, or None."""
    found = sorted(glob.glob(pattern))
    return Path(found[0]) if found else None


@dataclass(frozen=True)
class BrokerSettings:
    """Everything :func:`render_mosquitto_conf` needs; paths are as seen on the broker host."""

    auth: Literal["dynsec", "files"] = "dynsec"
    tls_port: int = 8883
    cert_dir: Path = Path("/etc/mosquitto/certs")
    local_port: int | None = 1883  # plain listener on 127.0.0.1 for the hub and the admin tools
    data_dir: Path = Path("/var/lib/mosquitto")
    config_dir: Path = Path("/etc/mosquitto")
    plugin_path: Path | None = None  # dynsec: None = look for it with DYNSEC_PLUGIN_GLOB
    require_client_certificate: bool = False
    gateways: int = 1
    outage_hours: float = 24.0
    max_queued_messages: int | None = None  # None = sized from gateways x outage_hours
    #: A conf.d snippet for a main mosquitto.conf that already sets persistence_location
    #: (Debian's does): Mosquitto refuses the file when the value is given twice.
    snippet: bool = False

    def __post_init__(self) -> None:
        if self.auth not in AUTH_MODES:
            raise SettingError(f"auth: must be one of {', '.join(AUTH_MODES)}, got {self.auth!r}")
        for name in ("tls_port", "local_port"):
            port = getattr(self, name)
            if port is not None and not 0 < port < 65536:
                raise SettingError(f"{name}: must be 1..65535, got {port}")
        if self.gateways < 1:
            raise SettingError(f"gateways: must be >= 1, got {self.gateways}")
        if not self.outage_hours > 0:
            raise SettingError(f"outage_hours: must be > 0, got {self.outage_hours}")

    @property
    def queue_limit(self) -> int:
        """Return max_queued_messages: the given value, or a day (outage_hours) of the fleet's batches."""
        if self.max_queued_messages is not None:
            return self.max_queued_messages
        raw = self.gateways * BATCHES_PER_SECOND * self.outage_hours * 3600
        return _round_up(raw)

    @property
    def dynsec_file(self) -> Path:
        """Return the plugin's state file (the plugin rewrites it, so it lives with the data)."""
        return self.data_dir / "dynamic-security.json"

    @property
    def password_file(self) -> Path:
        """Return the password file of the ``files`` mode."""
        return self.config_dir / "wardlink.passwd"

    @property
    def acl_file(self) -> Path:
        """Return the ACL file of the ``files`` mode."""
        return self.config_dir / "wardlink.acl"


def _round_up(value: float) -> int:
    """Round up to two significant digits (95,040 -> 96,000) so the figure reads as a choice."""
    if value <= 100:
        return max(1, math.ceil(value))
    step = 10 ** (int(math.log10(value)) - 1)
    return int(math.ceil(value / step) * step)


def render_mosquitto_conf(settings: BrokerSettings = BrokerSettings()) -> str:
    """Return a production ``mosquitto.conf`` for ``settings``."""
    lines = _persistence_lines(settings) + _queue_lines(settings) + _listener_lines(settings)
    return "\n".join(lines + _auth_lines(settings)) + "\n"


def _persistence_lines(s: BrokerSettings) -> list[str]:
    return [
        "# Mosquitto configuration for Wardlink, written by `wardlink broker config`.",
        "",
        "# Authentication and ACLs are global, shared by every listener. With",
        "# per_listener_settings true, Mosquitto 2.0 does not deliver the messages it queued for",
        "# an offline persistent session when that client comes back - exactly the gateway and",
        "# ingest sessions Wardlink depends on for at-least-once delivery.",
        "per_listener_settings false",
        "",
        "# Keep sessions, subscriptions and queued QoS 1 messages across broker restarts.",
        "persistence true",
        *(["# persistence_location is the main mosquitto.conf's (Debian: /var/lib/mosquitto/);",
           "# Mosquitto refuses a second one."] if s.snippet else [f"persistence_location {s.data_dir}/"]),
        "# Saved every 10 s (and at a clean stop). A crash, an OOM kill or a power cut loses what",
        "# arrived since the last save, although gateways already had their PUBACK. Each save",
        "# writes the whole in-memory database: cheap while queues are short, but while an ingest",
        "# worker is down its whole queue, which is why saves are not more frequent. No interval",
        "# closes the window, so gateways keep acknowledged readings for an hour (resend_keep) and",
        "# the hub asks again for any batch missing from a gateway's sequence (resend-from).",
        "autosave_interval 10",
        "",
    ]


def _queue_lines(s: BrokerSettings) -> list[str]:
    q = s.queue_limit
    memory_mb = q * BATCH_BYTES / 1e6
    lines: list[str] = []
    if s.max_queued_messages is None:
        lines += [
            "# Messages held per offline persistent session. The session that fills is the hub",
            "# ingest worker's while it is down: every gateway keeps publishing to the broker.",
            f"#   {s.gateways} gateway(s) x {BATCHES_PER_SECOND} batches/s x {s.outage_hours:g} h x 3600 s/h"
            f" = {s.gateways * BATCHES_PER_SECOND * s.outage_hours * 3600:,.0f} -> {q:,}",
            f"#   at ~{BATCH_BYTES // 1024} KB per batch that is up to ~{memory_mb:,.0f} MB of broker memory.",
            "# Beyond the limit Mosquitto drops new messages for that session although the gateway",
            "# already got its PUBACK: size it for the longest hub outage you must survive.",
        ]
    else:
        lines.append("# Messages held per offline persistent session (set explicitly).")
    lines += [
        f"max_queued_messages {q}",
        "max_inflight_messages 1000",
        "# Forget sessions of gateways that stay away longer than this (retired or replaced).",
        "persistent_client_expiration 30d",
        "# The hub refuses payloads over 256 KiB into its dead-letter table; the broker limit",
        "# only stops abuse and leaves room so that oversize batches still reach the hub.",
        "max_packet_size 1048576",
        "",
        "allow_anonymous false",
        "",
    ]
    return lines


def _listener_lines(s: BrokerSettings) -> list[str]:
    lines: list[str] = []
    if s.local_port is not None:
        lines += [
            "# Plain MQTT for processes on this host only (hub, `wardlink broker` admin commands).",
            f"listener {s.local_port} 127.0.0.1",
            "",
        ]
    lines += [
        "# Gateways connect here; they verify the server certificate against the CA.",
        f"listener {s.tls_port}",
        f"cafile {s.cert_dir}/ca.crt",
        f"certfile {s.cert_dir}/server.crt",
        f"keyfile {s.cert_dir}/server.key",
        "tls_version tlsv1.2",
    ]
    if s.require_client_certificate:
        lines += ["# Gateways must also present a client certificate signed by the same CA.",
                  "require_certificate true"]
    lines.append("")
    return lines


def _auth_lines(s: BrokerSettings) -> list[str]:
    if s.auth == "dynsec":
        plugin = s.plugin_path or find_dynsec_plugin()
        if plugin is None:
            raise SettingError(f"plugin_path: the dynamic-security plugin was not found ({DYNSEC_PLUGIN_GLOB}); "
                               "install mosquitto 2, give its path, or use auth 'files'")
        return [
            "# Logins and ACLs live in the dynamic-security plugin and change at run time",
            "# (`wardlink broker gateway ...`); the plugin rewrites its file itself.",
            f"plugin {plugin}",
            f"plugin_opt_config_file {s.dynsec_file}",
        ]
    return [
        "# Logins and ACLs from files kept by `wardlink broker gateway ...`; the command",
        "# reloads the broker (SIGHUP), which disconnects logins that were removed.",
        f"password_file {s.password_file}",
        f"acl_file {s.acl_file}",
    ]
