"""A local wheelhouse made from this environment's installed distributions, for offline installs.

The packaging test installs ``wardlink[hub]`` into a fresh virtualenv the way production does,
but without the network (slow, and a test must not fail because an index is): every
distribution that the requested extras need, found in this environment (the test extras
include the hub's), is packed back into a wheel from the files its RECORD lists. pip then
resolves ``--no-index --find-links`` on those wheels with their real metadata, so what it picks
is what an install from an index would pick at the versions the constraints pin.
"""

from __future__ import annotations

import base64
import hashlib
import zipfile
from importlib import metadata
from pathlib import Path

from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

#: Installer bookkeeping that pip writes itself at install time.
_NOT_PACKED = {"INSTALLER", "REQUESTED", "direct_url.json", "RECORD"}


def needed(requirements: list[str], extras: set[str], own: str) -> dict[str, metadata.Distribution]:
    """Return {name: installed distribution} of everything ``requirements`` (those of ``own``
    with ``extras``) need, transitively, as this environment's markers decide."""
    found: dict[str, metadata.Distribution] = {}
    todo = [(Requirement(r), extras | {""}) for r in requirements]
    while todo:
        req, wanted = todo.pop()
        if req.marker is not None and not any(req.marker.evaluate({"extra": e}) for e in wanted):
            continue
        name = canonicalize_name(req.name)
        if name == canonicalize_name(own):  # an extra of our own naming others ("wardlink[edge,hub]")
            continue
        if name in found:
            continue
        found[name] = dist = metadata.distribution(req.name)
        todo += [(Requirement(r), set(req.extras) | {""}) for r in dist.requires or []]
    return found


def _record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


def repack(dist: metadata.Distribution, out: Path) -> Path:
    """Write ``dist`` back into a wheel in ``out`` from its installed files; return the wheel."""
    site = Path(str(dist.locate_file("")))
    # the distribution's own .dist-info at the top (setuptools also ships vendored ones inside its package)
    (info,) = {site / Path(f).parent for f in dist.files or [] if Path(f).name == "METADATA"
               and len(Path(f).parts) == 2 and Path(f).parent.name.endswith(".dist-info")}
    tags = [line.split(":", 1)[1].strip().split("-") for line in (info / "WHEEL").read_text().splitlines()
            if line.startswith("Tag:")] or [["py3", "none", "any"]]
    # every tag the wheel had, compressed into its file name (py2.py3-none-any, several manylinux...)
    tag = "-".join(".".join(sorted({t[i] for t in tags})) for i in range(3))
    name = canonicalize_name(dist.metadata["Name"]).replace("-", "_")
    wheel = out / f"{name}-{dist.version}-{tag}.whl"
    records = []
    with zipfile.ZipFile(wheel, "w", zipfile.ZIP_STORED) as zf:
        for file in dist.files or []:
            path = Path(file)
            if (path.parts[0] == ".." or "__pycache__" in path.parts
                    or (path.name in _NOT_PACKED and path.parent.name == info.name)):
                continue  # scripts pip makes again from entry points, byte code, bookkeeping
            data = (site / path).read_bytes()
            zf.writestr(path.as_posix(), data)
            records.append(f"{path.as_posix()},{_record_hash(data)},{len(data)}")
        records.append(f"{info.name}/RECORD,,")
        zf.writestr(f"{info.name}/RECORD", "\n".join(records) + "\n")
    return wheel


def build(requirements: list[str], extras: set[str], own: str, out: Path) -> list[Path]:
    """Repack into ``out`` every distribution ``requirements`` need; return the wheels."""
    out.mkdir(parents=True, exist_ok=True)
    return [repack(dist, out) for dist in needed(requirements, extras, own).values()]
