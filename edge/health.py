"""The gateway's own health, published as ordinary telemetry on ``gw.*`` channels."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from wardlink.edge.buffer import BufferStats

THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")

#: channel -> unit, documented in docs/edge.md.
HEALTH_CHANNELS = {
    "gw.buffer_depth": "readings",
    "gw.oldest_unsent_s": "s",
    "gw.dropped": "readings",
    "gw.publish_rate": "readings/s",
    "gw.cpu_temp": "degC",
    "gw.disk_free": "bytes",
    "gw.uptime": "s",
}


def cpu_temperature(path: Path = THERMAL_ZONE) -> float | None:
    """Return the SoC temperature in degC from the kernel's thermal zone, or None if absent."""
    try:
        return int(path.read_text().strip()) / 1000.0
    except (OSError, ValueError):
        return None


def disk_free(path: str | os.PathLike) -> int | None:
    """Return free bytes (for unprivileged users) on the filesystem holding ``path``."""
    try:
        return shutil.disk_usage(path).free
    except OSError:
        return None


def health_readings(stats: BufferStats, *, now_ms: int, publish_rate: float, uptime_s: float,
                    data_dir: str | os.PathLike) -> list[tuple[str, int, float | None, str]]:
    """Return one reading per health channel; figures this machine cannot give are left out."""
    oldest = (now_ms - stats.oldest_ts_ms) / 1000.0 if stats.oldest_ts_ms is not None else 0.0
    values = {
        "gw.buffer_depth": float(stats.readings),
        "gw.oldest_unsent_s": max(0.0, oldest),
        "gw.dropped": float(stats.dropped),
        "gw.publish_rate": round(publish_rate, 3),
        "gw.cpu_temp": cpu_temperature(),
        "gw.disk_free": disk_free(data_dir),
        "gw.uptime": round(uptime_s, 3),
    }
    return [(ch, now_ms, float(v), "good") for ch, v in values.items() if v is not None]
