"""``wardlink-edge enroll``: fetch this gateway's broker login, the broker CA and its config from the hub.

The order matters:

1. refuse at once when credentials are already in place (unless ``force``), so a token is
   never spent on an enrollment that would then not be written;
2. send the token to the hub over HTTPS, verifying the hub's certificate against ``ca_file``
   or the system's trust store; plain HTTP and redirects are refused, a token must not travel
   anywhere else;
3. check everything received, including the config against this gateway's own drivers,
   before writing a byte;
4. write ``ca.crt``, ``gateway.secret`` and ``gateway.toml`` atomically with mode 0600, the
   config last, so an interrupted enrollment never leaves a config that names missing files.
"""

from __future__ import annotations

import json
import os
import pwd
import re
import socket
import ssl
import tomllib
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from wardlink.files import fsync_dir, write_atomic
from wardlink.protocol import GATEWAY_ID_RE

from wardlink.edge.errors import ConfigError, EdgeError
from wardlink.edge.version import __version__

DEFAULT_CONFIG_DIR = Path("/etc/wardlink")
DEFAULT_DATA_DIR = Path("/var/lib/wardlink-edge")
CONFIG_NAME = "gateway.toml"
SECRET_NAME = "gateway.secret"
CA_NAME = "ca.crt"
ENDPOINT = "/api/enroll"
TOKEN_PREFIX = "wle_"
MAX_ANSWER_BYTES = 1024 * 1024
#: Sections the hub may hand over; the rest of the file is this gateway's own.
HANDED_OVER = ("hardware", "buffer", "forwarder", "health", "channels", "alarms", "outputs")


class EnrollmentError(EdgeError, RuntimeError):
    """Enrollment failed; the message says why and what to do. Nothing was written."""


@dataclass(frozen=True)
class Enrolled:
    """What an enrollment wrote."""

    gateway_id: str
    config_file: Path
    files: list[Path] = field(default_factory=list)


# --------------------------------------------------------------------------- talking to the hub


def check_hub_url(url: str) -> str:
    """Return the hub's base URL without a trailing slash; only https:// is accepted."""
    parts = urllib.parse.urlsplit(url.strip())
    if parts.scheme != "https":
        raise EnrollmentError(f"hub url: must start with https:// (the token and the broker password "
                              f"must not cross the network in clear), got {url!r}")
    if not parts.hostname or parts.username or parts.password or parts.query or parts.fragment:
        raise EnrollmentError(f"hub url: must be https://host[:port][/path] without user, query or "
                              f"fragment, got {url!r}")
    return url.strip().rstrip("/")


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, req, fp, code, msg, headers, newurl):
        raise EnrollmentError(f"the hub answered with a redirect ({code}) to {newurl}; "
                              "give that address as the hub url")


def _opener(ca_file: Path | None) -> urllib.request.OpenerDirector:
    try:
        context = ssl.create_default_context(cafile=str(ca_file) if ca_file else None)
    except (OSError, ssl.SSLError) as exc:
        raise EnrollmentError(f"--ca-file: cannot load {ca_file}: {exc}") from None
    return urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirects())


def _hub_error(exc: urllib.error.HTTPError) -> EnrollmentError:
    try:
        body = json.loads(exc.read(MAX_ANSWER_BYTES))
        error = body["error"]
        code, message = error.get("code", ""), error.get("message", "")
    except (ValueError, KeyError, TypeError, AttributeError, OSError):
        code, message = "", ""
    if not message:
        message = f"HTTP {exc.code} {exc.reason}"
    # Only the enrollment endpoint answers with token_* codes; anything else at 4xx means the
    # request reached some other page or server.
    ours = code.startswith("token_") or code in ("too_many_requests", "broker_unavailable")
    hint = " (is this the hub's address?)" if exc.code in (400, 404, 405) and not ours else ""
    return EnrollmentError(f"the hub refused the enrollment{f' ({code})' if code else ''}: {message}{hint}")


def fetch(hub_url: str, token: str, *, ca_file: Path | None = None, timeout: float = 30.0) -> dict[str, Any]:
    """POST the token to the hub and return its JSON answer; raise EnrollmentError on any failure."""
    base = check_hub_url(hub_url)
    body = json.dumps({"token": token, "hostname": socket.gethostname(), "version": __version__}).encode()
    request = urllib.request.Request(base + ENDPOINT, data=body, method="POST", headers={
        "Content-Type": "application/json", "Accept": "application/json",
        "User-Agent": f"wardlink-edge/{__version__}"})
    try:
        with _opener(ca_file).open(request, timeout=timeout) as response:
            raw = response.read(MAX_ANSWER_BYTES + 1)
    except urllib.error.HTTPError as exc:
        raise _hub_error(exc) from None
    except urllib.error.URLError as exc:
        reason = exc.reason
        if isinstance(reason, ssl.SSLCertVerificationError):
            raise EnrollmentError(f"cannot verify the hub's HTTPS certificate ({reason.verify_message}); "
                                  "give the CA that signed it with --ca-file") from None
        raise EnrollmentError(f"cannot reach the hub at {base}: {reason}") from None
    except ssl.SSLError as exc:
        raise EnrollmentError(f"TLS with the hub at {base} failed: {exc}") from None
    except TimeoutError:
        raise EnrollmentError(f"the hub at {base} did not answer within {timeout:g} s") from None
    except OSError as exc:
        raise EnrollmentError(f"cannot reach the hub at {base}: {exc}") from None
    if len(raw) > MAX_ANSWER_BYTES:
        raise EnrollmentError(f"the hub's answer is larger than {MAX_ANSWER_BYTES} bytes")
    try:
        answer = json.loads(raw)
    except ValueError:
        raise EnrollmentError("the hub's answer is not JSON (is this the hub's address?)") from None
    if not isinstance(answer, dict):
        raise EnrollmentError("the hub's answer is not a JSON object")
    return answer


# --------------------------------------------------------------------------- the answer


@dataclass(frozen=True)
class Bundle:
    """The checked content of the hub's answer."""

    gateway_id: str
    username: str
    password: str = field(repr=False)
    broker_url: str = ""
    ca_pem: str | None = None
    config: Mapping[str, Any] = field(default_factory=dict)


def _need(answer: Mapping, path: str, kind: type = str, *, optional: bool = False):
    value: Any = answer
    for key in path.split("."):
        value = value.get(key) if isinstance(value, Mapping) else None
    if value is None and optional:
        return None
    if not isinstance(value, kind) or (kind is str and not value):
        raise EnrollmentError(f"the hub's answer lacks a valid {path}")
    return value


def parse_answer(answer: Mapping[str, Any]) -> Bundle:
    """Check the hub's answer and return its content; raise EnrollmentError naming what is wrong."""
    if answer.get("enrollment") != 1:
        raise EnrollmentError(f"the hub speaks enrollment version {answer.get('enrollment')!r}; "
                              "this gateway understands 1 (upgrade wardlink-edge)")
    gateway_id = _need(answer, "gateway_id")
    if not GATEWAY_ID_RE.fullmatch(gateway_id):  # fullmatch: "$" would let a trailing newline in
        raise EnrollmentError(f"the hub's answer has an invalid gateway_id {gateway_id!r}")
    username = _need(answer, "credentials.username")
    password = _need(answer, "credentials.password")
    if any(c in username + password for c in "\r\n\x00"):
        raise EnrollmentError("the hub's answer has a user name or password with line breaks")
    broker_url = _need(answer, "broker.url")
    ca_pem = _need(answer, "broker.ca_certificate", optional=True)
    if ca_pem is not None:
        try:
            ssl.PEM_cert_to_DER_cert(ca_pem.strip())
        except ValueError:
            raise EnrollmentError("the hub's answer has a broker CA certificate that is not PEM") from None
    config = _need(answer, "config", dict, optional=True) or {}
    unknown = sorted(set(config) - set(HANDED_OVER))
    if unknown:
        raise EnrollmentError(f"the hub's config carries key(s) a gateway sets itself: {', '.join(unknown)}")
    return Bundle(gateway_id, username, password, broker_url, ca_pem, config)


# --------------------------------------------------------------------------- TOML


_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")


def _key(name: str) -> str:
    return name if _BARE_KEY.fullmatch(name) else _string(name)


def _string(value: str) -> str:
    # JSON string escapes are TOML basic-string escapes; DEL is the one control character
    # JSON leaves alone and TOML does not.
    return json.dumps(value, ensure_ascii=False).replace("\x7f", "\\u007f")


def _value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, list):
        return "[" + ", ".join(_value(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "{ " + ", ".join(f"{_key(k)} = {_value(v)}" for k, v in value.items()) + " }"
    raise EnrollmentError(f"the hub's config holds a value TOML cannot carry: {value!r}")


def _is_table_list(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def to_toml(data: Mapping[str, Any]) -> str:
    """Return ``data`` as TOML: plain keys, then ``[tables]``, then ``[[arrays of tables]]``."""
    lines = [f"{_key(k)} = {_value(v)}" for k, v in data.items()
             if not isinstance(v, Mapping) and not _is_table_list(v)]
    for name, table in data.items():
        if isinstance(table, Mapping):
            lines += ["", f"[{_key(name)}]"] + [f"{_key(k)} = {_value(v)}" for k, v in table.items()]
    for name, items in data.items():
        if _is_table_list(items):
            for item in items:
                lines += ["", f"[[{_key(name)}]]"] + [f"{_key(k)} = {_value(v)}" for k, v in item.items()]
    return "\n".join(lines).lstrip("\n") + "\n"


def render_config(bundle: Bundle, *, config_dir: Path, data_dir: Path, hub_url: str) -> str:
    """Return the gateway TOML for ``bundle``, files named under ``config_dir``."""
    broker: dict[str, Any] = {"url": bundle.broker_url}
    if bundle.ca_pem is not None:
        broker["ca_file"] = str(config_dir / CA_NAME)
    broker["credentials_file"] = str(config_dir / SECRET_NAME)
    data: dict[str, Any] = {"gateway_id": bundle.gateway_id, "data_dir": str(data_dir), "broker": broker}
    data.update(bundle.config)
    text = to_toml(data)
    if tomllib.loads(text) != json.loads(json.dumps(data)):
        raise EnrollmentError("the hub's config does not survive conversion to TOML; nothing was written")
    header = (f"# Wardlink gateway {bundle.gateway_id}, written by `wardlink-edge enroll` from {hub_url}.\n"
              "# Edit freely; see docs/edge.md for every key.\n")
    return header + text


def credentials_text(bundle: Bundle) -> str:
    """Return the credentials file (the format edge/credentials.py reads)."""
    return (f"# Broker login of gateway {bundle.gateway_id}, from enrollment. Keep this file mode 0600.\n"
            f"username = {_string(bundle.username)}\npassword = {_string(bundle.password)}\n")


# --------------------------------------------------------------------------- files


def _owner(name: str | None) -> tuple[int, int] | None:
    if not name:
        return None
    try:
        entry = pwd.getpwnam(name)
    except KeyError:
        raise EnrollmentError(f"--owner: no user {name!r} on this machine") from None
    if os.geteuid() != 0 and entry.pw_uid != os.geteuid():
        raise EnrollmentError(f"--owner: giving files to {name} needs root (run with sudo)")
    return entry.pw_uid, entry.pw_gid


def write_private(path: Path, text: str, owner: tuple[int, int] | None) -> None:
    """Write ``path`` atomically with mode 0600 (and ``owner``) from the first byte on."""
    write_atomic(path, text, mode=0o600, owner=owner)


def targets(config_dir: Path) -> dict[str, Path]:
    """Return the files enrollment writes, by role."""
    return {"ca": config_dir / CA_NAME, "credentials": config_dir / SECRET_NAME, "config": config_dir / CONFIG_NAME}


def enroll(hub_url: str, token: str, *, config_dir: Path = DEFAULT_CONFIG_DIR, data_dir: Path = DEFAULT_DATA_DIR,
           ca_file: Path | None = None, force: bool = False, owner: str | None = None,
           timeout: float = 30.0, registry=None) -> Enrolled:
    """Enroll this gateway with the hub and write its files; raise EnrollmentError on failure."""
    from wardlink.edge.config import parse_config

    base = check_hub_url(hub_url)
    token = token.strip()
    if not token.startswith(TOKEN_PREFIX):
        raise EnrollmentError(f"token: must be the enrollment token the hub printed (it starts with "
                              f"{TOKEN_PREFIX!r})")
    config_dir, data_dir = Path(config_dir).absolute(), Path(data_dir).absolute()
    uid_gid = _owner(owner)
    paths = targets(config_dir)
    present = [p for p in paths.values() if p.exists()]
    if present and not force:
        raise EnrollmentError(f"{', '.join(map(str, present))} already exist(s); this gateway looks enrolled. "
                              "Use --force to replace them (the token has not been used)")
    if config_dir.exists() and not config_dir.is_dir():
        raise EnrollmentError(f"--config-dir: {config_dir} is not a directory")

    bundle = parse_answer(fetch(base, token, ca_file=ca_file, timeout=timeout))
    text = render_config(bundle, config_dir=config_dir, data_dir=data_dir, hub_url=base)
    try:
        parse_config(tomllib.loads(text), base_dir=config_dir, registry=registry)
    except ConfigError as exc:
        raise EnrollmentError(f"the hub's config for {bundle.gateway_id} is not valid on this gateway "
                              f"(nothing was written; the token is used up, ask for a new one after the "
                              f"config is fixed):\n  {exc}") from None

    config_dir.mkdir(mode=0o750, parents=True, exist_ok=True)
    written = []
    if bundle.ca_pem is not None:
        write_private(paths["ca"], bundle.ca_pem.strip() + "\n", uid_gid)
        written.append(paths["ca"])
    write_private(paths["credentials"], credentials_text(bundle), uid_gid)
    written.append(paths["credentials"])
    write_private(paths["config"], text, uid_gid)
    written.append(paths["config"])
    fsync_dir(config_dir)
    return Enrolled(bundle.gateway_id, paths["config"], written)
