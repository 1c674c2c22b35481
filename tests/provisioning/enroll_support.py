"""Helpers for the enrollment tests: a hub served by waitress behind HTTPS, brokers, the edge CLI.

The hub's web service speaks plain HTTP and sits behind a TLS-terminating reverse proxy in
production; :class:`TlsTerminator` plays that proxy (a real TLS server with a certificate
from ``wardlink.provisioning.certs``), so the gateway's client verifies a real certificate chain.
"""

from __future__ import annotations

import json
import os
import re
import select
import socket
import ssl
import subprocess
import sys
import threading
import time
import tomllib
from dataclasses import dataclass
from pathlib import Path

import requests
from provisioning_support import dynsec_plugin
from servers import free_port

from wardlink.hub.config import load_config
from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.services.people import users
from wardlink.hub.web import make_server
from wardlink.hub.web.gateways.enroll import use_broker_accounts
from wardlink.provisioning.certs import make_certificates
from wardlink.provisioning.dynsec import initial_config
from wardlink.provisioning.enroll import IdentityStoreAccounts, load_settings, open_store
from wardlink.provisioning.passwords import generate_password
from wardlink.clock import ManualClock
from waiting import wait_for

ROOT = Path(__file__).resolve().parents[2]
DEADLINE = 15.0
#: Two fast emulated channels, handed to the gateway as its initial config.
INITIAL_TOML = """\
[hardware]
backend = "emulated"
emulation_seed = 3

[buffer]
commit_interval = 0.1

[forwarder]
batch_max_age = 0.2
backoff_min = 0.05
backoff_max = 0.5

[health]
interval = 0

[[channels]]
id = "fridge1.temp"
driver = "bme280"
quantity = "temperature"
interval = 0.2
emulate = { mean = 5.0, amplitude = 0.5, period_s = 600, noise = 0.01 }

[[channels]]
id = "pump1.current"
driver = "ina219"
quantity = "current"
interval = 0.2
"""
INITIAL_CONFIG = tomllib.loads(INITIAL_TOML)


class TlsTerminator:
    """Accept HTTPS on a free port and relay the plain bytes to an HTTP server, as a reverse proxy does."""

    def __init__(self, cert: Path, key: Path, upstream: tuple[str, int] | None = None) -> None:
        self.upstream = upstream  # may be set after the listener is up (before the first request)
        self.context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        self.context.load_cert_chain(cert, key)
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port = self._listener.getsockname()[1]
        self.handshake_failures = 0
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []
        self._accept = threading.Thread(target=self._accept_loop, name="tls-accept", daemon=True)
        self._accept.start()

    @property
    def url(self) -> str:
        """Return the HTTPS base URL."""
        return f"https://127.0.0.1:{self.port}"

    def _accept_loop(self) -> None:
        self._listener.settimeout(0.2)  # closing a socket does not wake a blocked accept()
        while not self._stop.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            thread = threading.Thread(target=self._relay, args=(conn,), name="tls-relay", daemon=True)
            self._threads.append(thread)
            thread.start()

    def _relay(self, conn: socket.socket) -> None:
        conn.settimeout(DEADLINE)
        try:
            tls = self.context.wrap_socket(conn, server_side=True)
        except (ssl.SSLError, OSError):
            self.handshake_failures += 1  # e.g. a client that does not trust our CA
            conn.close()
            return
        # One thread per connection reads and writes both sides: an SSL socket must not be
        # used from two threads at once.
        with tls, socket.create_connection(self.upstream) as up:
            while not self._stop.is_set():
                ready = [tls] if tls.pending() else select.select([tls, up], [], [], 0.5)[0]
                for sock in ready:
                    try:
                        data = sock.recv(65536)
                    except (ssl.SSLError, OSError):
                        return
                    if not data:
                        return
                    (up if sock is tls else tls).sendall(data)

    def close(self) -> None:
        """Stop accepting and relaying."""
        self._stop.set()
        self._accept.join(5)
        self._listener.close()
        for thread in self._threads:
            thread.join(5)


@dataclass
class Hub:
    """A hub web service (waitress) behind HTTPS, on its own SQLite database and ManualClock."""

    url: str
    engine: object
    clock: ManualClock
    admin_password: str
    server: object
    proxy: TlsTerminator
    ca_file: Path
    thread: threading.Thread
    config_file: Path

    def admin_session(self) -> requests.Session:
        """Return an HTTPS session signed in as the administrator."""
        s = requests.Session()
        s.trust_env = False  # $REQUESTS_CA_BUNDLE would otherwise replace the hub's CA
        s.verify = str(self.ca_file)
        page = s.get(f"{self.url}/login", timeout=DEADLINE)
        answer = s.post(f"{self.url}/login", timeout=DEADLINE, allow_redirects=False, data={
            "username": "admin", "password": self.admin_password, "csrf_token": csrf_from(page.text)})
        assert answer.status_code == 302, answer.text
        return s

    def close(self) -> None:
        """Stop the proxy and the web service."""
        self.proxy.close()
        self.server.close()
        self.thread.join(10)
        self.engine.dispose()


_CSRF_RE = re.compile(r'name="csrf_token" value="([^"]+)"')


def csrf_from(html: str) -> str:
    """Return the CSRF token of the first form in ``html``."""
    match = _CSRF_RE.search(html)
    assert match, "page has no CSRF token field"
    return match.group(1)


def start_hub(tmp_path: Path, accounts, *, https_dir: Path, attempts: int = 10) -> Hub:
    """Migrate a database, add an admin, and serve the hub with waitress behind HTTPS."""
    data = tmp_path / "hub"
    data.mkdir()
    url = f"sqlite:///{data / 'wardlink.hub.db'}"
    upgrade(url)
    # Real time to start with, so tokens made by `wardlink gateway` commands agree with it.
    clock = ManualClock(time.time())
    engine = open_engine(url)
    password = users.generate_password()
    with session_scope(engine) as session:
        users.create_user(session, username="admin", role="admin", password=password, actor=None, clock=clock)
    certs = make_certificates(https_dir, ips=["127.0.0.1"])
    proxy = TlsTerminator(certs.server_cert, certs.server_key)
    config = load_config(environ={}, overrides={"data_dir": str(data), "database_url": url, "public_url": proxy.url,
                                                "secure_cookies": False, "web_host": "127.0.0.1",
                                                "two_factor_roles": ""})
    server = make_server(config, threads=4, clock=clock, port=0)
    proxy.upstream = (server.host, server.port)
    server.app.config["ENROLL_ATTEMPTS"] = attempts
    use_broker_accounts(server.app, accounts)
    thread = threading.Thread(target=server.run, name="hub-web", daemon=True)
    thread.start()
    config_file = data / "hub.toml"
    config_file.write_text(f'[hub]\ndata_dir = "{data}"\ndatabase_url = "{url}"\npublic_url = "{proxy.url}"\n')
    return Hub(proxy.url, engine, clock, password, server, proxy, certs.ca_cert, thread, config_file)


@dataclass
class EnrollBroker:
    """A Mosquitto with the dynamic-security plugin and a TLS listener, as production runs it."""

    server: object
    tls_port: int
    ca_file: Path
    admin_password: str
    hub_password: str
    settings_file: Path

    def accounts(self) -> IdentityStoreAccounts:
        """Return the broker accounts the settings file describes (what the hub loads)."""
        return IdentityStoreAccounts.from_settings(load_settings(self.settings_file))

    def logins(self) -> dict:
        """Return the broker's logins by user name, as the plugin reports them."""
        with open_store(load_settings(self.settings_file).admin) as store:
            return {i.username: i for i in store.identities()}


def start_broker(mosquitto_factory, tmp_path: Path) -> EnrollBroker:
    """Start the broker and write the enrollment settings file that points at it."""
    admin_password, hub_password = generate_password(), generate_password()
    state = tmp_path / "dynamic-security.json"
    state.write_text(json.dumps(initial_config(admin_password, hub_password)))
    certs = make_certificates(tmp_path / "broker-certs", ips=["127.0.0.1"])
    tls_port = free_port()
    server = mosquitto_factory(extra_config=[
        f"plugin {dynsec_plugin()}", f"plugin_opt_config_file {state}", "allow_anonymous false",
        f"listener {tls_port} 127.0.0.1", f"cafile {certs.ca_cert}", f"certfile {certs.server_cert}",
        f"keyfile {certs.server_key}", "tls_version tlsv1.2",
    ])
    secret = tmp_path / "mqtt-admin.secret"
    secret.write_text(admin_password + "\n")
    secret.chmod(0o600)
    settings = tmp_path / "enrollment.toml"
    settings.write_text(
        "[gateways]\n"
        f'broker_url = "mqtts://127.0.0.1:{tls_port}"\n'
        f'ca_file = "{certs.ca_cert}"\n'
        "[broker_admin]\n"
        'auth = "dynsec"\n'
        f'url = "mqtt://127.0.0.1:{server.port}"\n'
        f'admin_password_file = "{secret}"\n')
    return EnrollBroker(server, tls_port, certs.ca_cert, admin_password, hub_password, settings)


def edge(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``wardlink-edge`` as its own process and return the result."""
    return subprocess.run([sys.executable, "-m", "wardlink.edge.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env=env)


def wardlink(*args: str, timeout: float = 60, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``wardlink`` as its own process and return the result."""
    return subprocess.run([sys.executable, "-m", "wardlink.hub.cli", *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


def mode(path: Path) -> int:
    """Return the permission bits of ``path``."""
    return path.stat().st_mode & 0o777


def wait_until(predicate, what: str, timeout: float = DEADLINE, pause: float = 0.05):
    """Poll ``predicate`` until truthy and return it; fail naming ``what`` (the suite's one waiter)."""
    return wait_for(predicate, timeout, what, interval=pause)
