"""Real servers for tests, benchmarks and system checks: Mosquitto, influxd, PostgreSQL, nginx, slapd, SMTP.

Each server runs as a foreground child process on a free port of 127.0.0.1 with all its files
in its own directory, so nothing touches a system-wide instance. Lifecycles are symmetric:
``start()`` waits until the server really answers (with a deadline, never a fixed sleep),
``stop()`` shuts it down cleanly and is idempotent, ``start()`` after ``stop()`` comes back on the
same port with the same data, and ``close()`` (or leaving the ``with`` block) also removes the
directories the object created itself.

Stray processes are prevented three ways: pytest finalizers call ``close()``, an ``atexit`` hook
stops whatever is still running, and children started from the main thread get a parent-death
signal from the kernel, which covers a test process killed outright.
"""

from __future__ import annotations

import atexit
import email
import email.policy
import errno
import json
import os
import pwd
import random
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from email.message import EmailMessage
from pathlib import Path
from typing import Callable, Self

from waiting import wait_for

__all__ = [
    "InfluxDatabase",
    "InfluxQueryError",
    "InfluxServer",
    "MosquittoServer",
    "NginxServer",
    "PostgresDatabase",
    "PostgresServer",
    "ServerError",
    "ServerNotFound",
    "ServerStartError",
    "SlapdServer",
    "SmtpSink",
    "free_port",
]

LOCALHOST = "127.0.0.1"
LOG_TAIL_LINES = 40
_ADDRESS_IN_USE = re.compile(r"address already in use", re.IGNORECASE)


class ServerError(RuntimeError):
    """Root of the errors raised by the test servers."""


class ServerNotFound(ServerError, FileNotFoundError):
    """The server's executable (or client library) is not installed."""

    def __init__(self, what: str, package: str):
        how = (f"pip install {package[5:]}" if package.startswith("pypi:")
               else f"apt-get install {package}")
        super().__init__(f"{what} not found; install it with: {how}")
        self.what = what
        self.package = package


class ServerStartError(ServerError):
    """The server did not become ready before its deadline or exited during start-up."""


# --------------------------------------------------------------------------- ports

_ports_lock = threading.Lock()
_ports_given: set[int] = set()


def _ephemeral_range() -> tuple[int, int]:
    try:
        low, high = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(low), int(high)
    except (OSError, ValueError):
        return 32768, 60999


def _can_bind(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((LOCALHOST, port))
        except OSError:
            return False
    return True


def free_port() -> int:
    """Return a TCP port on 127.0.0.1 that is free now and not handed out before by this process.

    Ports are drawn below the kernel's ephemeral range, so the outgoing connections that tests
    open by the thousand cannot land on a server's port while that server is stopped for a
    restart test; the port-0 trick (bind, read, close) is the fallback.
    """
    ephemeral_low, _ = _ephemeral_range()
    low, high = 20000, min(ephemeral_low, 65536) - 1
    rng = random.Random(os.getpid() ^ time.monotonic_ns())
    with _ports_lock:
        if high - low > 1000:
            for _ in range(200):
                port = rng.randint(low, high)
                if port not in _ports_given and _can_bind(port):
                    _ports_given.add(port)
                    return port
        for _ in range(50):
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                sock.bind((LOCALHOST, 0))
                port = sock.getsockname()[1]
            if port not in _ports_given:
                _ports_given.add(port)
                return port
    raise ServerError("no free TCP port found on 127.0.0.1")


def _tcp_open(host: str, port: int, timeout: float = 0.5) -> bool:
    try:
        with socket.create_connection((host, port), timeout=timeout):
            return True
    except OSError:
        return False


def _log_tail(path: Path, lines: int = LOG_TAIL_LINES, since: int = 0) -> str:
    try:
        with open(path, "rb") as fh:
            fh.seek(since)
            text = fh.read().decode("utf-8", "replace")
    except OSError as exc:
        return f"(log {path} unreadable: {exc})"
    tail = text.splitlines()[-lines:]
    return "\n".join(tail) if tail else "(log is empty)"


# --------------------------------------------------------------------------- process servers

# Running servers, strongly held so that an object dropped without stop() is still stopped.
_live: set[_ProcessServer] = set()


@atexit.register
def _stop_all_live() -> None:
    for server in list(_live):
        try:
            server.stop(timeout=5)
        except Exception:
            pass


class _ProcessServer:
    """Shared lifecycle of a server that runs as one foreground child process."""

    name = "server"
    start_timeout = 20.0
    stop_signal = signal.SIGTERM
    # The signal the kernel sends the server if this process dies without stopping it.
    death_signal = "TERM"

    def __init__(self, base_dir: str | os.PathLike | None = None, port: int | None = None):
        self._owned_dirs: list[Path] = []
        if base_dir is None:
            base_dir = self._own_tempdir(f"wardlink-{self.name}-")
        self.base_dir = Path(base_dir)
        self.base_dir.mkdir(parents=True, exist_ok=True)
        self.host = LOCALHOST
        self._port_given = port is not None
        self.port = port if port is not None else free_port()
        self.log_path = self.base_dir / f"{self.name}.log"
        self._proc: subprocess.Popen | None = None
        self._log_offset = 0
        self._ever_started = False
        self._lock = threading.RLock()

    # -- hooks for subclasses
    def _command(self) -> list[str]:
        raise NotImplementedError

    def _prepare(self) -> None:
        """Write config files before each start."""

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _run_as(self) -> str | None:
        """Return the OS user to run as, or None for the current user."""
        return None

    def _env(self) -> dict[str, str]:
        return dict(os.environ)

    def _choose_new_ports(self) -> None:
        self.port = free_port()

    # -- helpers
    def _own_tempdir(self, prefix: str) -> Path:
        path = Path(tempfile.mkdtemp(prefix=prefix))
        self._owned_dirs.append(path)
        return path

    @property
    def pid(self) -> int | None:
        """Return the server's process id while it runs."""
        return self._proc.pid if self.is_running else None

    @property
    def is_running(self) -> bool:
        """Return True while the server process is alive."""
        return self._proc is not None and self._proc.poll() is None

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        """Return the last lines of the server log."""
        return _log_tail(self.log_path, lines)

    def _wrap(self, cmd: list[str]) -> list[str]:
        """Prefix `cmd` with setpriv to drop to the server's OS user and set a death signal."""
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            return cmd
        prefix = []
        user = self._run_as()
        if user is not None:
            prefix += ["--reuid", user, "--regid", user, "--init-groups"]
        # The kernel sends the parent-death signal when the *thread* that forked exits; from a
        # worker thread that would be long before the process ends, so only the main thread asks.
        if threading.current_thread() is threading.main_thread():
            prefix += ["--pdeathsig", self.death_signal]
        # setpriv execs the server, so the child pid stays the server's own.
        return [setpriv, *prefix, "--", *cmd] if prefix else cmd

    def _popen(self) -> subprocess.Popen:
        kwargs = {}
        user = self._run_as()
        if user is not None and shutil.which("setpriv") is None:
            info = pwd.getpwnam(user)
            kwargs.update(user=info.pw_uid, group=info.pw_gid, extra_groups=[])
        with open(self.log_path, "ab") as log:
            self._log_offset = log.tell()
            return subprocess.Popen(
                self._wrap(self._command()),
                stdin=subprocess.DEVNULL,
                stdout=log,
                stderr=subprocess.STDOUT,
                cwd=self.base_dir,
                env=self._env(),
                # A session of its own: a Ctrl-C on the terminal reaches only pytest, whose
                # finalizers then stop the servers in order.
                start_new_session=True,
                **kwargs,
            )

    def wait_for_log(self, pattern: str, timeout: float = 10.0) -> re.Match:
        """Wait until the log since the last start matches regex `pattern`; return the match."""
        regex = re.compile(pattern)
        try:
            return wait_for(lambda: regex.search(self.new_log_text()), timeout,
                            f"{self.name} log to match {pattern!r}", interval=0.01)
        except AssertionError:
            raise TimeoutError(f"{self.name} log did not match {pattern!r} within {timeout} s") from None

    def new_log_text(self) -> str:
        """Return what the server logged since its last start."""
        try:
            with open(self.log_path, "rb") as fh:
                fh.seek(self._log_offset)
                return fh.read().decode("utf-8", "replace")
        except OSError:
            return ""

    # -- lifecycle
    def start(self, timeout: float | None = None) -> _ProcessServer:
        """Start the server (no-op if running) and wait until it serves requests."""
        with self._lock:
            if self.is_running:
                return self
            deadline_s = self.start_timeout if timeout is None else timeout
            attempts = 1 if (self._port_given or self._ever_started) else 3
            for attempt in range(attempts):
                self._prepare()
                self._proc = self._popen()
                _live.add(self)
                failure = self._wait_ready(deadline_s)
                if failure is None:
                    self._ever_started = True
                    return self
                self._terminate(timeout=5)
                in_use = _ADDRESS_IN_USE.search(self.new_log_text())
                if in_use and attempt + 1 < attempts:
                    # Lost the race for the port to another process: pick new ports and retry.
                    self._choose_new_ports()
                    continue
                tail = _log_tail(self.log_path, since=self._log_offset)
                raise ServerStartError(f"{self.name} on {self.host}:{self.port} {failure}; "
                                       f"log {self.log_path} ends with:\n{tail}")
            raise AssertionError("unreachable")

    def _wait_ready(self, timeout: float) -> str | None:
        """Return None once the server serves, else why not (it exited, or the deadline passed)."""

        def outcome() -> str | None:
            code = self._proc.poll()
            if code is not None:
                return f"exited with status {code} during start-up"
            try:
                if self._is_ready() and self._proc.poll() is None:
                    return "ready"
            except Exception:
                pass
            return None

        try:
            found = wait_for(outcome, timeout, f"{self.name} to be ready", interval=0.02)
        except AssertionError:
            return f"not ready after {timeout:.0f} s"
        return None if found == "ready" else found

    def _terminate(self, timeout: float, sig: int | None = None) -> None:
        proc = self._proc
        if proc is None:
            return
        if proc.poll() is None:
            sig = self.stop_signal if sig is None else sig
            try:
                if sig == signal.SIGKILL:
                    self._kill_group(proc)
                else:
                    proc.send_signal(sig)
                proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self._kill_group(proc)
                proc.wait(timeout=10)
        _live.discard(self)

    @staticmethod
    def _kill_group(proc: subprocess.Popen) -> None:
        # The server leads its own process group; killing the group also takes its workers
        # (PostgreSQL backends), which would otherwise hold shared memory and block a restart.
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            proc.kill()

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the server down cleanly (SIGKILL after `timeout` s); idempotent."""
        with self._lock:
            self._terminate(timeout)

    def kill(self) -> None:
        """Kill the server with SIGKILL, as a crash or power cut would; idempotent."""
        with self._lock:
            self._terminate(timeout=10, sig=signal.SIGKILL)

    def restart(self, timeout: float | None = None) -> _ProcessServer:
        """Stop the server cleanly and start it again on the same port with the same data."""
        self.stop()
        return self.start(timeout)

    def close(self) -> None:
        """Stop the server and remove the directories this object created; idempotent."""
        self.stop()
        while self._owned_dirs:
            shutil.rmtree(self._owned_dirs.pop(), ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        state = "running" if self.is_running else "stopped"
        return f"<{type(self).__name__} {self.host}:{self.port} {state} dir={self.base_dir}>"


def _find_binary(name: str, *fallbacks: str, env: str | None = None) -> str | None:
    """Return the executable named by env var `env`, else `name` on PATH, else a fallback."""
    if env and os.environ.get(env):
        chosen = os.environ[env]
        return chosen if os.access(chosen, os.X_OK) else None
    found = shutil.which(name)
    if found:
        return found
    for candidate in fallbacks:
        if os.access(candidate, os.X_OK):
            return candidate
    return None


# --------------------------------------------------------------------------- Mosquitto

# MQTT 3.1.1 CONNECT, clean session, keep-alive 60 s, empty client id; then DISCONNECT.
_MQTT_CONNECT = bytes([0x10, 12, 0, 4]) + b"MQTT" + bytes([4, 0x02, 0, 60, 0, 0])
_MQTT_DISCONNECT = bytes([0xE0, 0])


def mosquitto_binary() -> str | None:
    """Return the path of the mosquitto executable, or None."""
    return _find_binary("mosquitto", "/usr/sbin/mosquitto", env="WARDLINK_MOSQUITTO")


class MosquittoServer(_ProcessServer):
    """A Mosquitto broker with its own config, persistence directory and log.

    ``users`` (name -> password) turns anonymous access off and writes a password file with
    ``mosquitto_passwd``; ``acl`` is the text of an ACL file. ``extra_config`` lines are appended
    to the generated mosquitto.conf.
    """

    name = "mosquitto"
    package = "mosquitto"
    start_timeout = 10.0

    def __init__(
        self,
        base_dir: str | os.PathLike | None = None,
        port: int | None = None,
        *,
        users: dict[str, str] | None = None,
        acl: str | None = None,
        extra_config: list[str] | tuple[str, ...] = (),
    ):
        self.binary = mosquitto_binary()
        if self.binary is None:
            raise ServerNotFound("mosquitto", self.package)
        super().__init__(base_dir, port)
        self.users = dict(users or {})
        self.acl = acl
        self.extra_config = list(extra_config)
        self.config_path = self.base_dir / "mosquitto.conf"
        self.persistence_dir = self.base_dir / "persistence"
        self.persistence_dir.mkdir(exist_ok=True)

    @property
    def url(self) -> str:
        """Return the broker URL, mqtt://127.0.0.1:PORT."""
        return f"mqtt://{self.host}:{self.port}"

    @property
    def persistence_file(self) -> Path:
        """Return the path of the broker's persistence database."""
        return self.persistence_dir / "mosquitto.db"

    def _config_lines(self) -> list[str]:
        lines = [
            "per_listener_settings false",
            f"listener {self.port} {self.host}",
            "persistence true",
            # mosquitto needs the trailing slash: it concatenates location and file name.
            f"persistence_location {self.persistence_dir}/",
            "persistence_file mosquitto.db",
            "max_queued_messages 100000",
            "max_inflight_messages 1000",
            "set_tcp_nodelay true",
            "log_dest stderr",
            "log_type error",
            "log_type warning",
            "log_type notice",
            "log_type information",
            "connection_messages true",
            "log_timestamp true",
            "log_timestamp_format %Y-%m-%dT%H:%M:%S",
        ]
        if os.geteuid() == 0:
            # As root, mosquitto 2 would switch to the `mosquitto` user, which cannot write here.
            lines.append("user root")
        if self.users:
            lines += ["allow_anonymous false", f"password_file {self.base_dir / 'passwd'}"]
        else:
            lines.append("allow_anonymous true")
        if self.acl is not None:
            lines.append(f"acl_file {self.base_dir / 'acl'}")
        return lines + self.extra_config

    def _prepare(self) -> None:
        if self.users:
            self._write_password_file()
        if self.acl is not None:
            (self.base_dir / "acl").write_text(self.acl)
        self.config_path.write_text("\n".join(self._config_lines()) + "\n")

    def _write_password_file(self) -> None:
        passwd = self.base_dir / "passwd"
        tool = _find_binary("mosquitto_passwd", "/usr/bin/mosquitto_passwd")
        if tool is None:
            raise ServerNotFound("mosquitto_passwd", "mosquitto")
        passwd.write_text("")
        for user, password in self.users.items():
            subprocess.run([tool, "-b", str(passwd), user, password], check=True,
                           capture_output=True, timeout=30)
        passwd.chmod(0o600)

    def _command(self) -> list[str]:
        return [self.binary, "-c", str(self.config_path)]

    def _is_ready(self) -> bool:
        # The log line proves it is *our* broker that holds the port; the CONNECT/CONNACK
        # exchange proves it serves MQTT (a refused login still counts as ready).
        if " running" not in self.new_log_text():
            return False
        with socket.create_connection((self.host, self.port), timeout=1) as sock:
            sock.sendall(_MQTT_CONNECT)
            reply = sock.recv(4)
            sock.sendall(_MQTT_DISCONNECT)
        return reply[:2] == b"\x20\x02"


# --------------------------------------------------------------------------- influxd

def influxd_binary() -> str | None:
    """Return the path of the influxd (1.x) executable, or None."""
    return _find_binary("influxd", "/usr/bin/influxd", env="WARDLINK_INFLUXD")


class InfluxQueryError(ServerError, ValueError):
    """influxd answered a query or write with an error."""


class InfluxServer(_ProcessServer):
    """An influxd 1.x with its own config, meta/data/WAL directories and log; auth off."""

    name = "influxd"
    package = "influxdb"
    start_timeout = 30.0

    def __init__(self, base_dir: str | os.PathLike | None = None, port: int | None = None,
                 rpc_port: int | None = None):
        self.binary = influxd_binary()
        if self.binary is None:
            raise ServerNotFound("influxd", self.package)
        super().__init__(base_dir, port)
        self.rpc_port = rpc_port if rpc_port is not None else free_port()
        self.config_path = self.base_dir / "influxdb.conf"

    @property
    def url(self) -> str:
        """Return the HTTP API base URL, http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    def _choose_new_ports(self) -> None:
        self.port = free_port()
        self.rpc_port = free_port()

    def _config(self) -> str:
        d = self.base_dir
        # Every listener is pinned to 127.0.0.1 on our own ports: the RPC/backup service
        # defaults to :8088 and the HTTP API to :8086, which a system instance may hold.
        return f"""\
reporting-disabled = true
bind-address = "{self.host}:{self.rpc_port}"

[meta]
  dir = "{d / 'meta'}"
  retention-autocreate = true
  logging-enabled = false

[data]
  dir = "{d / 'data'}"
  wal-dir = "{d / 'wal'}"
  index-version = "inmem"
  query-log-enabled = false

[monitor]
  store-enabled = false

[subscriber]
  enabled = false

[http]
  enabled = true
  bind-address = "{self.host}:{self.port}"
  auth-enabled = false
  log-enabled = false
  suppress-write-log = true
  pprof-enabled = false
  unix-socket-enabled = false

[logging]
  level = "info"
  suppress-logo = true

[ifql]
  enabled = false

[[graphite]]
  enabled = false

[[collectd]]
  enabled = false

[[opentsdb]]
  enabled = false

[[udp]]
  enabled = false

[continuous_queries]
  enabled = true
  log-enabled = false
"""

    def _prepare(self) -> None:
        self.config_path.write_text(self._config())

    def _env(self) -> dict[str, str]:
        # influxd lets INFLUXDB_* variables override any config key; none may leak in.
        return {k: v for k, v in os.environ.items() if not k.startswith("INFLUXDB_")}

    def _command(self) -> list[str]:
        return [self.binary, "-config", str(self.config_path)]

    def _is_ready(self) -> bool:
        with urllib.request.urlopen(f"{self.url}/ping", timeout=1) as resp:
            return resp.status == 204 and resp.headers.get("X-Influxdb-Version") is not None

    # -- HTTP helpers
    def _request(self, path: str, params: dict, body: bytes | None = None,
                 timeout: float = 30) -> tuple[int, bytes]:
        url = f"{self.url}{path}?{urllib.parse.urlencode(params)}"
        req = urllib.request.Request(url, data=body, method="POST")
        try:
            with urllib.request.urlopen(req, timeout=timeout) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as exc:
            raise InfluxQueryError(
                f"{path} {params}: HTTP {exc.code}: {exc.read().decode('utf-8', 'replace')}"
            ) from None

    def query(self, q: str, db: str | None = None, epoch: str | None = "ms") -> dict:
        """Run an InfluxQL statement and return the parsed JSON; raise on any statement error."""
        params = {"q": q}
        if db is not None:
            params["db"] = db
        if epoch is not None:
            params["epoch"] = epoch
        _, body = self._request("/query", params)
        result = json.loads(body)
        errors = [r["error"] for r in result.get("results", []) if "error" in r]
        if "error" in result:
            errors.append(result["error"])
        if errors:
            raise InfluxQueryError(f"{q!r}: {'; '.join(errors)}")
        return result

    def points(self, q: str, db: str | None = None) -> list[dict]:
        """Run a SELECT and return its rows as dicts (column -> value), all series flattened."""
        rows = []
        for result in self.query(q, db).get("results", []):
            for series in result.get("series", []):
                tags = series.get("tags", {})
                for values in series["values"]:
                    rows.append({**tags, **dict(zip(series["columns"], values))})
        return rows

    def write(self, lines: str | list[str], db: str, precision: str = "ms") -> None:
        """Write line-protocol points into `db`."""
        text = lines if isinstance(lines, str) else "\n".join(lines)
        status, _ = self._request("/write", {"db": db, "precision": precision},
                                  text.encode("utf-8"))
        if status != 204:
            raise InfluxQueryError(f"write to {db}: HTTP {status}")

    def create_database(self, name: str) -> str:
        """Create database `name` (no-op if it exists) and return the name."""
        self.query(f'CREATE DATABASE "{_influx_ident(name)}"')
        return name

    def drop_database(self, name: str) -> None:
        """Drop database `name` if it exists."""
        self.query(f'DROP DATABASE "{_influx_ident(name)}"')

    def databases(self) -> list[str]:
        """Return the names of all databases."""
        return [row["name"] for row in self.points("SHOW DATABASES")]


class _OnServer:
    """A database on a shared server process: its lifecycle calls go to the server, so
    ``stop()``/``start()`` take the whole server down and up (same port, same data)."""

    server: _ProcessServer

    def start(self, timeout: float | None = None) -> Self:
        """Start the server again and wait until it answers."""
        self.server.start(timeout)
        return self

    def stop(self, timeout: float = 15.0) -> None:
        """Shut the server down cleanly; idempotent."""
        self.server.stop(timeout)

    def kill(self) -> None:
        """Kill the server with SIGKILL (crash recovery on the next start)."""
        self.server.kill()

    def restart(self, timeout: float | None = None) -> Self:
        """Stop the server cleanly and start it again."""
        self.server.restart(timeout)
        return self


class InfluxDatabase(_OnServer):
    """One database on a (shared) InfluxServer: what a test needs to talk to influxd.

    Lifecycle calls go to the server, so ``stop()``/``start()`` take influxd itself down and up.
    """

    def __init__(self, server: InfluxServer, database: str):
        self.server = server
        self.database = database

    host = property(lambda self: self.server.host, doc="Return the server host.")
    port = property(lambda self: self.server.port, doc="Return the server HTTP port.")
    url = property(lambda self: self.server.url, doc="Return the HTTP API base URL.")
    is_running = property(lambda self: self.server.is_running,
                          doc="Return True while influxd runs.")

    def query(self, q: str, epoch: str | None = "ms") -> dict:
        """Run an InfluxQL statement against this database and return the parsed JSON."""
        return self.server.query(q, self.database, epoch=epoch)

    def points(self, q: str) -> list[dict]:
        """Run a SELECT against this database and return its rows as dicts."""
        return self.server.points(q, self.database)

    def write(self, lines: str | list[str], precision: str = "ms") -> None:
        """Write line-protocol points into this database."""
        self.server.write(lines, self.database, precision)

    def __repr__(self) -> str:
        return f"<InfluxDatabase {self.database!r} on {self.server!r}>"


def _influx_ident(name: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_\-]+", name):
        raise ValueError(f"database name must match [A-Za-z0-9_-]+, got {name!r}")
    return name


# --------------------------------------------------------------------------- PostgreSQL

def postgres_bindir() -> Path | None:
    """Return the directory holding initdb and postgres ($WARDLINK_PG_BINDIR first), or None."""
    if os.environ.get("WARDLINK_PG_BINDIR"):
        chosen = Path(os.environ["WARDLINK_PG_BINDIR"])
        return chosen if (chosen / "initdb").exists() and (chosen / "postgres").exists() else None
    found = shutil.which("initdb")
    if found:
        real = Path(found).resolve().parent
        if (real / "postgres").exists():
            return real
    candidates = sorted(Path("/usr/lib/postgresql").glob("*/bin/initdb"),
                        key=lambda p: int(p.parent.parent.name) if p.parent.parent.name.isdigit() else 0)
    return candidates[-1].parent if candidates else None


class PostgresServer(_ProcessServer):
    """A PostgreSQL cluster of its own (initdb, trust auth, fsync off) on 127.0.0.1.

    The postmaster runs in the foreground as a child; stop() is a fast shutdown (SIGINT), so
    open client connections do not hold it up. As root, initdb and postgres run as the
    ``postgres`` OS user, and the cluster lives in a directory that user owns.
    """

    name = "postgres"
    package = "postgresql"
    start_timeout = 30.0
    stop_signal = signal.SIGINT
    death_signal = "INT"
    superuser = "postgres"

    def __init__(self, base_dir: str | os.PathLike | None = None, port: int | None = None,
                 settings: dict[str, str] | None = None):
        self.bindir = postgres_bindir()
        if self.bindir is None:
            raise ServerNotFound("initdb/postgres", self.package)
        super().__init__(base_dir, port)
        self.os_user = self.superuser if os.geteuid() == 0 else None
        if self.os_user is not None:
            # pytest's temp dirs are private to root; the cluster needs a home postgres can enter.
            _sweep_orphan_clusters()
            cluster_home = self._own_tempdir(f"wardlink-pg-{os.getpid()}-")
            info = pwd.getpwnam(self.os_user)
            os.chown(cluster_home, info.pw_uid, info.pw_gid)
        else:
            cluster_home = self.base_dir
        self.data_dir = cluster_home / "data"
        self.socket_dir = cluster_home
        self.settings = {
            "listen_addresses": self.host,
            "fsync": "off",
            "full_page_writes": "off",
            "synchronous_commit": "off",
            "max_connections": "200",
            "shared_buffers": "32MB",
            **(settings or {}),
        }

    def _run_as(self) -> str | None:
        return self.os_user

    def _env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("PG")}
        env.update(LC_ALL="C", LANG="C")
        return env

    def _prepare(self) -> None:
        if (self.data_dir / "PG_VERSION").exists():
            return
        cmd = self._wrap([str(self.bindir / "initdb"), "-D", str(self.data_dir), "-A", "trust",
                          "-U", self.superuser, "-E", "UTF8", "--locale=C", "--no-sync",
                          "--no-instructions"])
        with open(self.log_path, "ab") as log:
            proc = subprocess.run(cmd, stdin=subprocess.DEVNULL, stdout=log,
                                  stderr=subprocess.STDOUT, env=self._env(), timeout=120,
                                  cwd=self.socket_dir)
        if proc.returncode != 0:
            raise ServerStartError(f"initdb failed with status {proc.returncode}; log ends with:\n"
                                   f"{self.log_tail()}")

    def _command(self) -> list[str]:
        cmd = [str(self.bindir / "postgres"), "-D", str(self.data_dir), "-p", str(self.port),
               "-k", str(self.socket_dir)]
        for key, value in self.settings.items():
            cmd += ["-c", f"{key}={value}"]
        return cmd

    def _is_ready(self) -> bool:
        if "ready to accept connections" not in self.new_log_text():
            return False
        with self.connect() as conn:
            conn.execute("SELECT 1")
        return True

    def dsn(self, dbname: str = "postgres") -> str:
        """Return a libpq/psycopg connection URL for `dbname`."""
        return f"postgresql://{self.superuser}@{self.host}:{self.port}/{dbname}"

    def sqlalchemy_url(self, dbname: str = "postgres") -> str:
        """Return an SQLAlchemy URL (psycopg 3 driver) for `dbname`."""
        return f"postgresql+psycopg://{self.superuser}@{self.host}:{self.port}/{dbname}"

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL of the `postgres` maintenance database."""
        return self.sqlalchemy_url()

    def connect(self, dbname: str = "postgres", **kwargs):
        """Open a psycopg connection (autocommit) to `dbname`."""
        try:
            import psycopg
        except ImportError:
            raise ServerNotFound("python module psycopg", "pypi:psycopg[binary]") from None
        kwargs.setdefault("autocommit", True)
        kwargs.setdefault("connect_timeout", 5)
        return psycopg.connect(self.dsn(dbname), **kwargs)

    def create_database(self, name: str, template: str = "template1") -> str:
        """Create database `name` as a copy of `template` and return the name."""
        with self.connect() as conn:
            # FILE_COPY is a plain directory copy plus a checkpoint, which costs nothing with
            # fsync off: about 20 ms instead of 250 ms for PostgreSQL 15's default WAL_LOG.
            conn.execute(f'CREATE DATABASE "{_pg_ident(name)}" TEMPLATE "{_pg_ident(template)}" '
                         f"STRATEGY = FILE_COPY")
        return name

    def drop_database(self, name: str) -> None:
        """Drop database `name`, disconnecting its sessions; no-op if missing."""
        with self.connect() as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{_pg_ident(name)}" WITH (FORCE)')


class PostgresDatabase(_OnServer):
    """One database on a (shared) PostgresServer; lifecycle calls go to the server."""

    def __init__(self, server: PostgresServer, name: str):
        self.server = server
        self.name = name

    host = property(lambda self: self.server.host, doc="Return the server host.")
    port = property(lambda self: self.server.port, doc="Return the server port.")

    @property
    def url(self) -> str:
        """Return the SQLAlchemy URL (psycopg 3 driver) of this database."""
        return self.server.sqlalchemy_url(self.name)

    @property
    def dsn(self) -> str:
        """Return the libpq/psycopg URL of this database."""
        return self.server.dsn(self.name)

    def connect(self, **kwargs):
        """Open a psycopg connection (autocommit) to this database."""
        return self.server.connect(self.name, **kwargs)

    def __repr__(self) -> str:
        return f"<PostgresDatabase {self.name!r} on {self.server!r}>"


def _sweep_orphan_clusters() -> None:
    """Remove cluster dirs left by test processes that were killed before they could clean up."""
    for path in Path(tempfile.gettempdir()).glob("wardlink-pg-*-*"):
        owner = path.name.split("-")[2]
        if not owner.isdigit() or int(owner) == os.getpid():
            continue
        if not _process_alive(int(owner)):
            shutil.rmtree(path, ignore_errors=True)


def _process_alive(pid: int) -> bool:
    """Return True if `pid` runs (a zombie waiting to be reaped counts as gone)."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except FileNotFoundError:
        return False
    except OSError:
        return True
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def _pg_ident(name: str) -> str:
    if not re.fullmatch(r"[a-z_][a-z0-9_]{0,62}", name):
        raise ValueError(f"database name must match [a-z_][a-z0-9_]{{0,62}}, got {name!r}")
    return name


# --------------------------------------------------------------------------- nginx

def nginx_binary() -> str | None:
    """Return the path of the nginx executable, or None."""
    return _find_binary("nginx", "/usr/sbin/nginx", env="WARDLINK_NGINX")


class NginxServer(_ProcessServer):
    """An nginx reverse proxy in front of ``upstream`` (``host:port``), as the deployment guide sets it up.

    It passes ``Host``, appends to ``X-Forwarded-For`` and sets ``X-Forwarded-Proto``.
    ``real_ip_from`` lists the addresses whose ``X-Forwarded-For`` nginx itself believes
    (a load balancer in front of it: ``set_real_ip_from``); ``tls=(cert, key)`` adds an HTTPS
    listener on ``tls_port``. Config, pid file, logs and temp files stay in ``base_dir``.
    """

    name = "nginx"
    package = "nginx"
    death_signal = "TERM"

    def __init__(self, upstream: str, base_dir: str | os.PathLike | None = None, port: int | None = None,
                 *, real_ip_from: list[str] = (), tls: tuple[str | os.PathLike, str | os.PathLike] | None = None):
        self.binary = nginx_binary()
        if self.binary is None:
            raise ServerNotFound("nginx", self.package)
        super().__init__(base_dir, port)
        self.upstream = upstream
        self.real_ip_from = list(real_ip_from)
        self.tls = tls
        self.tls_port = free_port() if tls else None
        self.conf_path = self.base_dir / "nginx.conf"

    def _choose_new_ports(self) -> None:
        self.port = free_port()
        if self.tls:
            self.tls_port = free_port()

    @property
    def url(self) -> str:
        """Return http://127.0.0.1:PORT."""
        return f"http://{self.host}:{self.port}"

    @property
    def tls_url(self) -> str:
        """Return https://127.0.0.1:TLS_PORT (with ``tls`` only)."""
        return f"https://{self.host}:{self.tls_port}"

    def _config(self) -> str:
        d = self.base_dir
        real_ip = "".join(f"        set_real_ip_from {a};\n" for a in self.real_ip_from)
        if real_ip:
            real_ip += "        real_ip_header X-Forwarded-For;\n        real_ip_recursive on;\n"
        tls = ""
        if self.tls:
            cert, key = self.tls
            tls = (f"        listen {self.host}:{self.tls_port} ssl;\n"
                   f"        ssl_certificate {cert};\n        ssl_certificate_key {key};\n")
        # As root the workers would otherwise drop to "nobody", who cannot enter the temp dir.
        user = "user root root;\n" if os.geteuid() == 0 else ""
        temp = "".join(f"    {kind}_temp_path {d / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"{user}worker_processes 1;\ndaemon off;\nmaster_process on;\npid {d / 'nginx.pid'};\n"
                f"error_log {self.log_path} info;\nevents {{ worker_connections 256; }}\n"
                f"http {{\n    access_log {d / 'access.log'};\n{temp}"
                f"    server {{\n        listen {self.host}:{self.port};\n{tls}{real_ip}"
                f"        location / {{\n"
                f"            proxy_pass http://{self.upstream};\n"
                f"            proxy_set_header Host $host;\n"
                f"            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;\n"
                f"            proxy_set_header X-Forwarded-Proto $scheme;\n"
                f"        }}\n    }}\n}}\n")

    def _prepare(self) -> None:
        self.conf_path.write_text(self._config())

    def _command(self) -> list[str]:
        return [self.binary, "-p", str(self.base_dir), "-c", str(self.conf_path), "-e", str(self.log_path)]

    def _is_ready(self) -> bool:
        return _tcp_open(self.host, self.port) and (self.tls_port is None or _tcp_open(self.host, self.tls_port))

    def access_log(self) -> str:
        """Return nginx's access log so far."""
        path = self.base_dir / "access.log"
        return path.read_text() if path.exists() else ""


# --------------------------------------------------------------------------- OpenLDAP slapd

def slapd_binary() -> str | None:
    """Return the path of the slapd executable, or None."""
    return _find_binary("slapd", "/usr/sbin/slapd", env="WARDLINK_SLAPD")


class SlapdServer(_ProcessServer):
    """An OpenLDAP ``slapd`` with one MDB database for ``suffix``, its files all in ``base_dir``.

    The directory manager ``cn=admin,<suffix>`` has ``admin_password``; :meth:`add` loads LDIF
    with ``ldapadd`` (ldap-utils). A slapd the system package may have started (port 389, its
    own /etc/ldap/slapd.d) is never used nor touched: this one reads its own slapd.conf.
    """

    name = "slapd"
    package = "slapd"
    start_timeout = 20.0

    def __init__(self, base_dir: str | os.PathLike | None = None, port: int | None = None, *,
                 suffix: str = "dc=hospital,dc=example", admin_password: str = "directory-manager-secret"):
        self.binary = slapd_binary()
        if self.binary is None:
            raise ServerNotFound("slapd", self.package)
        self.ldapadd = _find_binary("ldapadd", "/usr/bin/ldapadd")
        self.ldapmodify = _find_binary("ldapmodify", "/usr/bin/ldapmodify")
        if self.ldapadd is None or self.ldapmodify is None:
            raise ServerNotFound("ldapadd", "ldap-utils")
        super().__init__(base_dir, port)
        self.suffix = suffix
        self.admin_dn = f"cn=admin,{suffix}"
        self.admin_password = admin_password
        self.data_dir = self.base_dir / "data"
        self.data_dir.mkdir(exist_ok=True)
        self.conf_path = self.base_dir / "slapd.conf"

    @property
    def url(self) -> str:
        """Return ldap://127.0.0.1:PORT."""
        return f"ldap://{self.host}:{self.port}"

    def _prepare(self) -> None:
        schema = Path("/etc/ldap/schema")
        includes = "".join(f"include {schema / name}.schema\n" for name in ("core", "cosine", "nis", "inetorgperson"))
        modules = next((p for p in ("/usr/lib/ldap", "/usr/lib/x86_64-linux-gnu/ldap") if Path(p).is_dir()), "")
        self.conf_path.write_text(
            f"{includes}pidfile {self.base_dir / 'slapd.pid'}\nargsfile {self.base_dir / 'slapd.args'}\n"
            + (f"modulepath {modules}\nmoduleload back_mdb\n" if modules else "")
            + f"database mdb\nmaxsize 33554432\nsuffix \"{self.suffix}\"\nrootdn \"{self.admin_dn}\"\n"
            f"rootpw {self.admin_password}\ndirectory {self.data_dir}\n"
            "index objectClass eq\nindex uid,member,uniqueMember eq\n"
            # Anyone may bind (checking a password); reading needs a bound identity.
            "access to attrs=userPassword by self write by anonymous auth by * none\n"
            "access to * by users read by anonymous auth\n")

    def _command(self) -> list[str]:
        # -d keeps slapd in the foreground (stats logging to stderr, i.e. the log file).
        return [self.binary, "-f", str(self.conf_path), "-h", f"{self.url}/", "-d", "256"]

    def _is_ready(self) -> bool:
        return "slapd starting" in self.new_log_text() and _tcp_open(self.host, self.port)

    def add(self, ldif: str) -> None:
        """Add the entries of ``ldif`` as the directory manager."""
        self.modify(ldif, add=True)

    def modify(self, ldif: str, *, add: bool = False) -> None:
        """Apply the changes of ``ldif`` (``changetype:`` records) as the directory manager."""
        tool = self.ldapadd if add else self.ldapmodify
        subprocess.run([tool, "-x", "-H", self.url, "-D", self.admin_dn, "-w", self.admin_password],
                       input=ldif.encode(), check=True, capture_output=True, timeout=30)


# --------------------------------------------------------------------------- SMTP

class SmtpSink:
    """An SMTP server (aiosmtpd) on 127.0.0.1 that keeps every message it receives.

    ``messages`` holds parsed :class:`email.message.EmailMessage` objects, ``envelopes`` the
    raw aiosmtpd envelopes (``mail_from``, ``rcpt_tos``). With ``credentials=(user, password)``
    the server requires AUTH (PLAIN/LOGIN, allowed without TLS for tests).

    ``before_accept``, when set, is called with each message before it is kept; returning an
    SMTP reply (``"451 4.3.0 Try again later"``) refuses the message with it instead.
    ``refused`` counts the messages refused so.
    """

    def __init__(self, port: int | None = None, credentials: tuple[str, str] | None = None):
        try:
            from aiosmtpd.controller import Controller
        except ImportError:
            raise ServerNotFound("python module aiosmtpd", "pypi:aiosmtpd") from None
        self._controller_cls = Controller
        self.host = LOCALHOST
        self._port_given = port is not None
        self._ever_started = False
        self.port = port if port is not None else free_port()
        self.credentials = credentials
        self.messages: list[EmailMessage] = []
        self.envelopes: list = []
        self._cond = threading.Condition()
        self._controller = None
        self.before_accept: Callable[[EmailMessage], str | None] | None = None
        self.refused = 0

    @property
    def url(self) -> str:
        """Return smtp://127.0.0.1:PORT."""
        return f"smtp://{self.host}:{self.port}"

    @property
    def is_running(self) -> bool:
        """Return True while the server accepts connections."""
        return self._controller is not None

    async def handle_MAIL(self, server, session, envelope, address, mail_options):
        """Refuse senders until they logged in, when credentials are configured."""
        if self.credentials is not None and not session.authenticated:
            return "530 5.7.0 Authentication required"
        envelope.mail_from = address
        envelope.mail_options.extend(mail_options)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        """Store the message and acknowledge it."""
        message = email.message_from_bytes(envelope.original_content or envelope.content,
                                           policy=email.policy.default)
        if self.before_accept is not None:
            refusal = self.before_accept(message)
            if refusal:
                self.refused += 1
                return refusal
        with self._cond:
            self.envelopes.append(envelope)
            self.messages.append(message)
            self._cond.notify_all()
        return "250 Message accepted for delivery"

    def _authenticate(self, server, session, envelope, mechanism, auth_data):
        from aiosmtpd.smtp import AuthResult, LoginPassword
        ok = (isinstance(auth_data, LoginPassword) and self.credentials is not None
              and (auth_data.login.decode(), auth_data.password.decode()) == self.credentials)
        # handled=False: let aiosmtpd send the standard 535 reply on failure.
        return AuthResult(success=ok, handled=False)

    def start(self) -> SmtpSink:
        """Start listening (no-op if running); returns when the server answers."""
        if self._controller is not None:
            return self
        kwargs = {}
        if self.credentials is not None:
            # AUTH over plain TCP is fine on loopback. Requiring it is done in handle_MAIL
            # rather than with auth_required=True, which warns on every connection.
            kwargs.update(authenticator=self._authenticate, auth_require_tls=False)
        attempts = 1 if (self._port_given or self._ever_started) else 3
        for attempt in range(attempts):
            controller = self._controller_cls(self, hostname=self.host, port=self.port,
                                              ready_timeout=10, **kwargs)
            try:
                controller.start()
            except OSError as exc:
                if exc.errno == errno.EADDRINUSE and attempt + 1 < attempts:
                    self.port = free_port()  # lost the port to another process
                    continue
                raise ServerStartError(f"SMTP sink on {self.host}:{self.port}: {exc}") from exc
            except Exception as exc:
                raise ServerStartError(f"SMTP sink on {self.host}:{self.port}: {exc}") from exc
            self._controller = controller
            self._ever_started = True
            return self
        raise AssertionError("unreachable")

    def stop(self) -> None:
        """Stop listening; idempotent. Received messages are kept."""
        if self._controller is not None:
            controller, self._controller = self._controller, None
            controller.stop()

    close = stop

    def restart(self) -> SmtpSink:
        """Stop and start again on the same port."""
        self.stop()
        return self.start()

    def clear(self) -> None:
        """Forget the messages received so far."""
        with self._cond:
            self.messages.clear()
            self.envelopes.clear()

    def wait_for(self, count: int = 1, timeout: float = 10.0) -> list[EmailMessage]:
        """Wait until at least `count` messages arrived and return them all; raise on timeout."""
        with self._cond:
            if not self._cond.wait_for(lambda: len(self.messages) >= count, timeout):
                raise TimeoutError(f"expected {count} message(s) within {timeout} s, "
                                   f"got {len(self.messages)}")
            return list(self.messages)

    def __enter__(self) -> SmtpSink:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def __repr__(self) -> str:
        return f"<SmtpSink {self.host}:{self.port} messages={len(self.messages)}>"
