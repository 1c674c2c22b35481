"""The systemd units shipped in ``provisioning/systemd/``, optionally for another install prefix.

The files are ready to copy as they are (virtualenv in :data:`DEFAULT_VENV`); :func:`render_unit`
rewrites that prefix for an installation elsewhere, which is also how the tests point the
units at a virtualenv that exists on the test machine before ``systemd-analyze verify``.
"""

from __future__ import annotations

import os
from pathlib import Path

from wardlink.provisioning.errors import SettingError

UNIT_DIR = Path(__file__).parent / "systemd"
DEFAULT_VENV = "/opt/wardlink/venv"
GATEWAY_UNITS = ("wardlink-edge.service",)
HUB_UNITS = ("wardlink-hub.target", "wardlink-ingest@.service", "wardlink-web.service",
             "wardlink-scheduler.service")


def unit_names() -> list[str]:
    """Return the file names of every shipped unit."""
    return sorted(p.name for p in UNIT_DIR.iterdir() if p.suffix in (".service", ".target"))


def render_unit(name: str, *, venv: str | os.PathLike = DEFAULT_VENV) -> str:
    """Return the text of unit ``name`` with its virtualenv prefix set to ``venv``."""
    path = UNIT_DIR / name
    if name not in unit_names():
        raise SettingError(f"unit: must be one of {', '.join(unit_names())}, got {name!r}")
    venv = str(venv).rstrip("/")
    if not venv.startswith("/"):
        raise SettingError(f"venv: must be an absolute path (systemd runs it), got {venv!r}")
    return path.read_text(encoding="utf-8").replace(DEFAULT_VENV, venv)


def write_units(dest: str | os.PathLike, names: tuple[str, ...] | list[str], *,
                venv: str | os.PathLike = DEFAULT_VENV) -> list[Path]:
    """Write the units ``names`` into ``dest`` (e.g. /etc/systemd/system) and return their paths."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    written = []
    for name in names:
        target = dest / name
        target.write_text(render_unit(name, venv=venv), encoding="utf-8")
        target.chmod(0o644)
        written.append(target)
    return written
