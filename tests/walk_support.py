"""Walking docs/deployment.md: its marked blocks run on one machine, unprivileged, in a temp dir.

A block of the guide takes part when the line before it is ``<!-- walk: NAME -->`` (a file
block names its path: ``<!-- walk: NAME file=/etc/wardlink/hub.toml -->``). Command blocks are
run line by line as an administrator would type them; each command passes through the
substitution table below, and nothing else is changed. A command that fails stops the walk
with its output: a guide that does not work as written is a bug of the guide or the product.

What the guide's machine has, and what stands in for it here:

| in the guide | in the walk |
|---|---|
| a path under ``/etc``, ``/var``, ``/run``, ``/usr/local`` | the same path under ``Machine.root``; its ``usr/local/bin`` heads ``PATH`` |
| ``/opt/wardlink/venv`` | a fresh virtualenv, ``Machine.venv`` |
| ``sudo``, ``sudo -u wardlink`` | nothing: every command runs as the test's user |
| ``sudo -u postgres`` | ``PGUSER=postgres``, the walk's PostgreSQL superuser |
| ``apt-get install -y P...`` | each package must be installed already (checked, never installed) |
| ``useradd ... --home-dir D --create-home`` | ``D`` is created; the services run as the test's user |
| ``chown``; ``install``'s ``-o``/``-g``; ``--owner wardlink`` | nothing; nothing; ``--owner`` the test's user |
| ``pip install 'wardlink[...]'`` (PyPI) | ``--no-index --find-links`` a wheelhouse: the wheel built from this checkout and the test environment's own distributions; ``--no-compile``: the first process to import a module writes its bytecode (the test's own ``PYTHON*`` variables stay out of the machine's environment) |
| ``systemctl daemon-reload``, a ``.target`` | nothing |
| ``systemctl enable --now U``, ``restart U`` | the unit file's ExecStartPre= and ExecStart= (``%i`` filled in) with its Environment=, WorkingDirectory=, Restart=/RestartSec=; for Type=notify a NOTIFY_SOCKET, read while the unit runs, whose READY=1 is awaited; ``WATCHDOG_USEC`` from WatchdogSec=; output goes to ``var/log/journal/U.log`` |
| Debian's ``mosquitto`` unit and ``/etc/mosquitto/mosquitto.conf`` | ``/lib/systemd/system/mosquitto.service`` and the package's stock file (:data:`STOCK_MOSQUITTO_CONF`), plus ``user root`` when the test runs as root |
| PostgreSQL on its local socket (peer authentication) | a PostgreSQL started for the walk (trust authentication), through ``PGHOST``/``PGPORT`` |
| InfluxDB 1.x on 127.0.0.1:8086 | an influxd started for the walk |
| nginx with the guide's server block | the block, in an nginx of the walk's own (``listen 443``/``80`` on free ports) |
| ``broker.hospital.example:8883``, ``10.20.0.5`` | ``localhost:<TLS port>``, ``127.0.0.1`` |
| ``wardlink.hospital.example`` | ``localhost:<HTTPS port of nginx>``; the hospital CA that signed its certificate is the machine's trust store (``SSL_CERT_FILE``) |
| ``127.0.0.1:1883``, ``127.0.0.1:8086``, ``127.0.0.1:8080``; the metrics ports 9730, 9731, 9740 (+ N) of ``hub.toml`` | free ports; ``web_port`` is added to ``hub.toml`` |
| ``wle_...`` (the token the hub printed) | that token |
| paths compiled into the commands as defaults | :func:`default_options`; ``WARDLINK_ENROLLMENT_CONFIG``; ``WARDLINK_CONFIG`` once ``/etc/wardlink/hub.toml`` exists (what ``wardlink`` reads without one) |
"""

from __future__ import annotations

import os
import pwd
import re
import shlex
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass, field
from pathlib import Path

from waiting import wait_for

ROOT = Path(__file__).resolve().parents[1]
GUIDE = ROOT / "docs" / "deployment.md"
#: Debian 12's /etc/mosquitto/mosquitto.conf as the mosquitto package installs it (its MD5 is
#: the one dpkg records for the conffile; the test checks that where dpkg knows the package).
STOCK_MOSQUITTO_CONF = """\
# Place your local configuration in /etc/mosquitto/conf.d/
#
# A full description of the configuration file is at
# /usr/share/doc/mosquitto/examples/mosquitto.conf.example

pid_file /run/mosquitto/mosquitto.pid

persistence true
persistence_location /var/lib/mosquitto/

log_dest file /var/log/mosquitto/mosquitto.log

include_dir /etc/mosquitto/conf.d
"""
DEBIAN_MOSQUITTO_UNIT = Path("/lib/systemd/system/mosquitto.service")

_MARKER = re.compile(r"^<!-- walk: (?P<name>[\w-]+)(?: file=(?P<file>\S+))? -->\n```(?P<lang>\w*)\n(?P<body>.*?)^```$",
                     re.M | re.S)
_SYSTEM_PATH = re.compile(r"(?<![\w.@:/~-])/(?=(?:etc|var|run|usr/local)/)")


@dataclass(frozen=True)
class Step:
    """One marked block of the guide."""

    name: str
    lang: str
    body: str
    file: str | None


def guide_steps(text: str) -> dict[str, Step]:
    """Return the guide's marked blocks by name, in the guide's order."""
    steps: dict[str, Step] = {}
    for m in _MARKER.finditer(text):
        assert m["name"] not in steps, f"two blocks are marked walk: {m['name']}"
        steps[m["name"]] = Step(m["name"], m["lang"], m["body"], m["file"])
    return steps


def user_name() -> str:
    """Return the name of the user running the test."""
    return pwd.getpwuid(os.geteuid()).pw_name


@dataclass
class Machine:
    """The one machine of the walk: a root directory for system paths, ports, the environment."""

    root: Path
    venv: Path
    home: Path
    wheelhouse: Path
    ports: dict[str, int]
    pg_socket_dir: Path
    exported: dict[str, str] = field(default_factory=dict)

    def replacements(self) -> list[tuple[str, str]]:
        """Return the host, port and placeholder substitutions (longest first where they overlap)."""
        p = self.ports
        return [
            ("/opt/wardlink/venv", str(self.venv)),
            ("broker.hospital.example:8883", f"localhost:{p['mqtts']}"),
            ("broker.hospital.example", "localhost"),
            ("wardlink.hospital.example", f"localhost:{p['https']}"),
            ("10.20.0.5", "127.0.0.1"),
            ("127.0.0.1:1883", f"127.0.0.1:{p['mqtt']}"),
            ("127.0.0.1:8086", f"127.0.0.1:{p['influx']}"),
            ("127.0.0.1:8080", f"127.0.0.1:{p['web']}"),
            ("web_metrics_port = 9730", f"web_metrics_port = {p['web_metrics']}"),
            ("scheduler_metrics_port = 9731", f"scheduler_metrics_port = {p['scheduler_metrics']}"),
            ("ingest_metrics_port = 9740", f"ingest_metrics_port = {p['ingest_metrics']}"),
            ("listen 443 ssl;", f"listen 127.0.0.1:{p['https']} ssl;"),
            ("listen 80;", f"listen 127.0.0.1:{p['http']};"),
        ]

    def text(self, text: str) -> str:
        """Return ``text`` with the machine's substitutions applied."""
        for old, new in self.replacements():
            text = text.replace(old, new)
        return _SYSTEM_PATH.sub(lambda m: f"{self.root}/", text)

    def path(self, system_path: str) -> Path:
        """Return where a system path of the guide lives on this machine."""
        return Path(self.text(system_path))

    def environ(self) -> dict[str, str]:
        """Return the environment of every command and service: the machine's, then the exports."""
        env = {k: v for k, v in os.environ.items()
               if not k.startswith(("WARDLINK_", "PG", "PYTHON")) and k not in ("VIRTUAL_ENV", "NOTIFY_SOCKET")}
        env.update(PGHOST=str(self.pg_socket_dir), PGPORT=str(self.ports["postgres"]),
                   SSL_CERT_FILE=str(self.path("/etc/ssl/certs/hospital-ca.pem")),
                   WARDLINK_ENROLLMENT_CONFIG=str(self.path("/etc/wardlink/enrollment.toml")),
                   LC_ALL="C.UTF-8", PYTHONUNBUFFERED="1")
        env["PATH"] = f"{self.root}/usr/local/bin:{env.get('PATH', os.defpath)}"
        if self.path("/etc/wardlink/hub.toml").exists():
            env["WARDLINK_CONFIG"] = str(self.path("/etc/wardlink/hub.toml"))
        env.update(self.exported)
        return env


def default_options(machine: Machine) -> dict[tuple[str, ...], list[str]]:
    """Return the options that move a command's compiled-in system paths and ports onto the machine.

    Each applies only when the command line does not give the option itself.
    """
    p = machine.ports
    return {
        ("wardlink", "broker", "config"): [
            "--tls-port", str(p["mqtts"]), "--local-port", str(p["mqtt"]),
            "--cert-dir", str(machine.path("/etc/mosquitto/certs")),
            "--data-dir", str(machine.path("/var/lib/mosquitto")),
            "--config-dir", str(machine.path("/etc/mosquitto"))],
        ("wardlink-edge", "enroll"): [
            "--config-dir", str(machine.path("/etc/wardlink")),
            "--data-dir", str(machine.path("/var/lib/wardlink-edge"))],
    }



@dataclass
class Ran:
    """A command the walk ran and what it printed."""

    line: str
    argv: list[str]
    stdout: str = ""
    stderr: str = ""


def command_lines(body: str) -> list[str]:
    """Return the block's commands: continuations joined, comments and blank lines dropped."""
    joined = re.sub(r"\\\n\s*", " ", body)
    lines = []
    for line in joined.splitlines():
        words = shlex.split(line, comments=True)
        if words:
            lines.append(line)
    return lines


def split_commands(line: str) -> list[list[str]]:
    """Split a command line on ``;`` into argument lists (quotes removed, braces expanded)."""
    lexer = shlex.shlex(line, posix=True, punctuation_chars=";")
    lexer.whitespace_split = True
    lexer.commenters = "#"
    commands: list[list[str]] = [[]]
    for word in lexer:
        if word == ";":
            commands.append([])
        else:
            commands[-1].extend(_braces(word))
    return [c for c in commands if c]


def _braces(word: str) -> list[str]:
    m = re.fullmatch(r"(.*?)\{([^{}]*,[^{}]*)\}(.*)", word)
    if not m:
        return [word]
    return [w for part in m[2].split(",") for w in _braces(m[1] + part + m[3])]


class NotifySocket:
    """An AF_UNIX datagram socket standing in for systemd's notification socket, read for as long
    as the service runs (its READY=1, STATUS= and WATCHDOG=1 messages are kept)."""

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix="wl-notify-"))  # short: sun_path has 108 bytes
        self.path = self.dir / "notify"
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(str(self.path))
        self.sock.settimeout(0.2)
        self.messages: list[str] = []
        self._closed = threading.Event()
        self._reader = threading.Thread(target=self._read, name="notify-socket", daemon=True)
        self._reader.start()

    def _read(self) -> None:
        while not self._closed.is_set():
            try:
                self.messages.append(self.sock.recv(4096).decode("utf-8", "replace"))
            except TimeoutError:
                continue
            except OSError:
                return

    def said(self, line: str, since: int = 0) -> bool:
        """Return True when a message after the first ``since`` holds ``line`` (e.g. READY=1)."""
        return any(line in m.splitlines() for m in self.messages[since:])

    def wait_ready(self, timeout: float, alive, since: int = 0) -> None:
        """Wait for READY=1 while ``alive()`` holds; raise AssertionError otherwise."""
        wait_for(lambda: self.said("READY=1", since) or not alive(), timeout, "READY=1", interval=0.05)
        assert self.said("READY=1", since), f"exited before READY=1; it said {self.messages[since:]}"

    def close(self) -> None:
        """Stop reading; close and remove the socket."""
        self._closed.set()
        self._reader.join(5)
        self.sock.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def unit_settings(text: str) -> dict[str, list[str]]:
    """Return the [Service] section's key -> values of a unit file."""
    section, out = "", {}
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
        elif section == "Service" and "=" in line and not line.startswith(("#", ";")):
            key, value = line.split("=", 1)
            out.setdefault(key.strip(), []).append(value.strip())
    return out


class Service:
    """A unit's main process, run and restarted the way its unit file tells systemd to."""

    def __init__(self, name: str, settings: dict[str, list[str]], machine: Machine, log: Path) -> None:
        self.name = name
        self.machine = machine
        self.settings = settings
        self.argv = shlex.split(settings["ExecStart"][-1].lstrip("-@+!"))
        self.env = machine.environ()
        for value in settings.get("Environment", []):
            for assignment in shlex.split(value):
                key, _, val = assignment.partition("=")
                self.env[key] = val
        workdir = settings.get("WorkingDirectory", [None])[-1]
        self.cwd = Path(workdir) if workdir else machine.root
        self.restart = settings.get("Restart", ["no"])[-1]
        self.restart_s = float(settings.get("RestartSec", ["0.1"])[-1].rstrip("s"))
        self.log = log
        self.exits: list[int] = []
        self.proc: subprocess.Popen | None = None
        self.notify: NotifySocket | None = None
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def _spawn(self) -> subprocess.Popen:
        assert self.cwd.is_dir(), f"{self.name}: WorkingDirectory {self.cwd} does not exist (systemd: CHDIR)"
        env = dict(self.env)
        if self.notify is not None:
            env["NOTIFY_SOCKET"] = str(self.notify.path)
        watchdog = self.settings.get("WatchdogSec", [None])[-1]
        if watchdog is not None:
            env["WATCHDOG_USEC"] = str(int(float(watchdog.rstrip("s")) * 1_000_000))
        setpriv = shutil.which("setpriv")
        argv = [setpriv, "--pdeathsig", "TERM", "--", *self.argv] if setpriv else self.argv
        with open(self.log, "ab") as log:
            return subprocess.Popen(argv, cwd=self.cwd, env=env, stdin=subprocess.DEVNULL, stdout=log,
                                    stderr=subprocess.STDOUT, start_new_session=True)

    def start(self) -> None:
        """Start the process (see :meth:`wait_started`)."""
        if self.settings.get("Type", ["simple"])[-1] == "notify":
            self.notify = NotifySocket()
        self.proc = self._spawn()

    def wait_started(self, ready_timeout: float = 90) -> None:
        """For Type=notify wait for READY=1 (the start fails if it exits first); then keep
        restarting the process per Restart=."""
        try:
            if self.notify is not None:
                self.notify.wait_ready(ready_timeout, lambda: self.proc.poll() is None)
        except BaseException:
            self.stop()
            raise
        self._thread = threading.Thread(target=self._supervise, name=f"unit-{self.name}", daemon=True)
        self._thread.start()

    def _supervise(self) -> None:
        while True:
            code = self.proc.wait()
            with self._lock:
                self.exits.append(code)
                if self._stopping.is_set() or self.restart == "no" or (self.restart == "on-failure" and code == 0):
                    return
            if self._stopping.wait(self.restart_s):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self.proc = self._spawn()

    @property
    def running(self) -> bool:
        """Return True while the main process is alive."""
        return self.proc is not None and self.proc.poll() is None

    def stop(self, timeout: float = 60) -> int | None:
        """Send SIGTERM (systemd's default) and wait; kill after ``timeout``. Return the exit code."""
        with self._lock:
            self._stopping.set()
            proc = self.proc
        try:
            return self._end(proc, timeout)
        finally:
            if self.notify is not None:
                self.notify.close()

    def _end(self, proc: subprocess.Popen | None, timeout: float) -> int | None:
        if proc is None:
            return None
        if proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        if self._thread is not None:
            self._thread.join(10)
        return proc.returncode

    def log_tail(self, chars: int = 3000) -> str:
        """Return the end of the unit's log."""
        return self.log.read_text(errors="replace")[-chars:] if self.log.exists() else "(no log)"
