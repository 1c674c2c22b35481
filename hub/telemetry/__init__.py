"""Telemetry stores: one interface (:class:`TelemetryStore`), two implementations.

- :class:`~wardlink.hub.telemetry.sqlite.SQLiteStore`: one SQLite file, the embedded default.
- :class:`~wardlink.hub.telemetry.influx.InfluxStore`: InfluxDB 1.x/2.x/3.x over the v1 HTTP API.

Both pass the same contract test suite. :func:`open_store` picks one from the hub config;
backend modules are imported only when chosen, so the SQLite path never loads ``requests``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wardlink.hub.telemetry.model import (
    FIELD_NAMES,
    INDEXED_TAGS,
    QUALITIES,
    UNBOUND,
    DailyRow,
    InvalidPoint,
    LatestRow,
    Point,
    RangeRow,
    StoreRejected,
    StoreUnavailable,
    TelemetryStore,
    canonical_tags,
    check_series,
)

if TYPE_CHECKING:
    from wardlink.hub.config import HubConfig

__all__ = [
    "FIELD_NAMES",
    "INDEXED_TAGS",
    "QUALITIES",
    "UNBOUND",
    "DailyRow",
    "InvalidPoint",
    "LatestRow",
    "Point",
    "RangeRow",
    "StoreRejected",
    "StoreUnavailable",
    "TelemetryStore",
    "canonical_tags",
    "check_series",
    "open_store",
]


def open_store(config: HubConfig) -> TelemetryStore:
    """Open the telemetry store the config names (``telemetry = "sqlite"`` or ``"influxdb"``)."""
    if config.telemetry == "influxdb":
        from wardlink.hub.telemetry.influx import InfluxStore

        return InfluxStore(
            config.influx_url,
            config.influx_database,
            username=config.influx_username or None,
            password=config.read_secret("influx_password_file"),
            token=config.read_secret("influx_token_file"),
        )
    from wardlink.hub.telemetry.sqlite import SQLiteStore

    return SQLiteStore(config.resolved_telemetry_path)
