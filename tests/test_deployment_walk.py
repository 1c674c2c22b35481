"""docs/deployment.md works as written: its marked blocks, walked on one machine.

The walk builds the wheel, installs ``wardlink[hub]`` into a fresh virtualenv, creates the
database, writes ``hub.toml``, migrates, adds the administrator, the site and its departments,
starts the hub's units (web, scheduler, two ingest workers), puts nginx with the guide's server
block in front, makes the broker's certificates, configuration snippet and logins, starts
Debian's Mosquitto on its stock configuration with the snippet in ``conf.d``, creates the
InfluxDB database, adds a gateway in a department, enrolls it, checks it with
``wardlink-edge doctor`` and starts it; then an administrator signed in through nginx sees its
reading on the gateway's page. How each command is run on an unprivileged test machine is the
substitution table in ``walk_support``.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import socket
import subprocess
import time

import pytest
import requests
from servers import InfluxServer, NginxServer, PostgresServer, free_port
from walk_shell import Shell, WalkFailed, build_wheelhouse
from walk_support import GUIDE, ROOT, STOCK_MOSQUITTO_CONF, Machine, guide_steps
from waiting import wait_for

from wardlink.provisioning.certs import make_certificates

pytestmark = pytest.mark.timeout(600)

#: The marked blocks in the guide's order.
GUIDE_ORDER = ["hub-install", "postgres", "hub-config", "hub-schema", "organisation", "hub-units",
               "reverse-proxy", "broker-certs", "broker-config", "broker-dynsec", "influxdb", "hub-start", "gateway-start",
               "enrollment-settings", "gateway-add", "gateway-enroll"]
#: The order of the walk: the guide's, but a gateway is checked and started after it is enrolled,
#: as its section says ("Then enroll it (next section), check it and start it").
WALK = [s for s in GUIDE_ORDER if s != "gateway-start"] + ["gateway-start"]
#: The initial configuration the guide's `gateway add --initial-config gw-icu-01.toml` hands out:
#: one emulated sensor (the guide leaves the file's content to the reader; docs/edge.md has the keys).
INITIAL_CONFIG = """\
[hardware]
backend = "emulated"
emulation_seed = 7

[health]
interval = 0

[[channels]]
id = "fridge1.temp"
driver = "bme280"
quantity = "temperature"
interval = 1.0
emulate = { mean = 5.0, amplitude = 0.5, period_s = 600, noise = 0.01 }
"""


#: Directories every Debian system has, which the guide's commands write into.
DEBIAN_DIRECTORIES = ["etc/systemd/system", "etc/ssl/certs", "var/lib", "var/log", "var/backups", "run", "usr/local/bin"]


class GuideNginx(NginxServer):
    """nginx running the guide's server block from its sites-enabled file, as Debian's nginx.conf includes it."""

    def __init__(self, base_dir, site_file) -> None:
        super().__init__("127.0.0.1:1", base_dir=base_dir, tls=("unused", "unused"))
        self.site_file = site_file

    def _config(self) -> str:
        d = self.base_dir
        user = "user root root;\n" if self._as_root() else ""
        temp = "".join(f"    {kind}_temp_path {d / kind};\n"
                       for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        return (f"{user}worker_processes 1;\ndaemon off;\nmaster_process on;\npid {d / 'nginx.pid'};\n"
                f"error_log {self.log_path} info;\nevents {{ worker_connections 64; }}\n"
                f"http {{\n    access_log {d / 'access.log'};\n{temp}    include {self.site_file};\n}}\n")

    @staticmethod
    def _as_root() -> bool:
        import os

        return os.geteuid() == 0


def port_run(length: int) -> int:
    """Return a free port P with P + 1 ... P + length - 1 free too (the ingest workers' metrics ports)."""
    def free(port: int) -> bool:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                return False
        return True

    return wait_for(lambda: next((p for p in [free_port()] if all(free(p + i) for i in range(1, length))), None),
                    10, f"{length} free ports in a row")


@pytest.fixture(scope="session")
def wheelhouse(tmp_path_factory):
    """This checkout's wheel and the distributions `wardlink[edge,hub]` needs, as wheels."""
    started = time.monotonic()
    built = build_wheelhouse(tmp_path_factory.mktemp("wheelhouse"))
    print(f"walk: the wheelhouse took {time.monotonic() - started:.1f} s")
    return built


def test_the_stock_mosquitto_conf_is_debians():
    """The walk's stand-in for /etc/mosquitto/mosquitto.conf is the package's file, byte for byte."""
    if shutil.which("dpkg-query") is None:
        pytest.skip("no dpkg here")
    out = subprocess.run(["dpkg-query", "-W", "-f=${Conffiles}", "mosquitto"], capture_output=True, text=True)
    if out.returncode != 0:
        pytest.skip("mosquitto is not a Debian package here")
    recorded = dict(line.split()[:2] for line in out.stdout.strip().splitlines())["/etc/mosquitto/mosquitto.conf"]
    assert hashlib.md5(STOCK_MOSQUITTO_CONF.encode()).hexdigest() == recorded


def test_the_guide_marks_the_blocks_the_walk_runs():
    assert list(guide_steps(GUIDE.read_text())) == GUIDE_ORDER


def test_the_walk_maps_system_paths_and_refuses_a_command_on_one_it_does_not_map(tmp_path):
    m = Machine(root=tmp_path / "root", venv=tmp_path / "venv", home=tmp_path, wheelhouse=tmp_path / "wheels",
                ports={k: 1 for k in ("mqtt", "mqtts", "web", "influx", "postgres", "https", "http", "web_metrics",
                                      "scheduler_metrics", "ingest_metrics")}, pg_socket_dir=tmp_path / "pg")
    shell = Shell(m)
    (m.root / "etc").mkdir(parents=True)
    shell.run_block("sudo install -d -m 0750 -o root -g wardlink /etc/wardlink   # a comment")
    assert (m.root / "etc" / "wardlink").is_dir() and (m.root / "etc" / "wardlink").stat().st_mode & 0o777 == 0o750
    with pytest.raises(WalkFailed, match="does not map"):
        shell.run_block("sudo cp /etc/wardlink/x /usr/lib/x")
    assert m.text("url = \"mqtts://broker.hospital.example:8883\" # /var/lib/mosquitto/x") == (
        f"url = \"mqtts://localhost:1\" # {m.root}/var/lib/mosquitto/x")


@pytest.fixture
def machine(tmp_path, wheelhouse):
    """The one machine: PostgreSQL, influxd, free ports, a root for system paths, the hospital's CA."""
    pg = PostgresServer(tmp_path / "postgres")
    influx = InfluxServer(tmp_path / "influxd")
    root = tmp_path / "root"
    nginx = GuideNginx(tmp_path / "nginx", root / "etc" / "nginx" / "sites-enabled" / "wardlink")
    try:
        pg.start()
        influx.start()
        ports = dict(mqtt=free_port(), mqtts=free_port(), web=free_port(), influx=influx.port, postgres=pg.port,
                     https=nginx.tls_port, http=nginx.port, web_metrics=free_port(),
                     scheduler_metrics=free_port(), ingest_metrics=port_run(3))
        home = tmp_path / "home"
        # The administrator's copy of the release's source: provisioning/ (constraints, units).
        shutil.copytree(ROOT / "provisioning", home / "provisioning", ignore=shutil.ignore_patterns("__pycache__"))
        for skeleton in DEBIAN_DIRECTORIES:
            (root / skeleton).mkdir(parents=True, exist_ok=True)
        m = Machine(root=root, venv=tmp_path / "venv", home=home, wheelhouse=wheelhouse, ports=ports,
                    pg_socket_dir=pg.socket_dir)
        pki = make_certificates(tmp_path / "hospital-pki", dns_names=["localhost"], ips=["127.0.0.1"])
        for source, target in ((pki.ca_cert, "/etc/ssl/certs/hospital-ca.pem"),
                               (pki.server_cert, "/etc/ssl/wardlink/fullchain.pem"),
                               (pki.server_key, "/etc/ssl/wardlink/privkey.pem")):
            m.path(target).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source, m.path(target))
        yield m, nginx
    finally:
        nginx.close()
        influx.close()
        pg.close()


def signed_in(machine: Machine, user: str, password: str) -> requests.Session:
    """Return a session signed in through nginx, trusting the hospital's CA."""
    s = requests.Session()
    s.trust_env = False
    s.verify = str(machine.path("/etc/ssl/certs/hospital-ca.pem"))
    base = f"https://localhost:{machine.ports['https']}"
    page = s.get(f"{base}/login", timeout=15)
    csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
    answer = s.post(f"{base}/login", timeout=15, allow_redirects=False,
                    data={"username": user, "password": password, "csrf_token": csrf})
    assert answer.status_code == 302, answer.text[-2000:]
    if answer.headers["Location"].endswith("/login/enrol"):
        # An administrator enrols an authenticator app at the first sign-in (the guide says so):
        # the app reads the key from the page's QR code; here it is read from the text beside it.
        from wardlink.hub.services.people import totp

        page = s.get(f"{base}/login/enrol", timeout=15)
        secret = re.search(r'data-testid="totp-secret">([A-Z2-7 ]+)<', page.text).group(1).replace(" ", "")
        csrf = re.search(r'name="csrf_token" value="([^"]+)"', page.text).group(1)
        done = s.post(f"{base}/login/enrol", timeout=15,
                      data={"code": totp.code_at(secret, time.time()), "csrf_token": csrf})
        assert done.status_code == 200, done.text[-2000:]
    return s


def _before(step: str, shell: Shell, machine: Machine) -> None:
    """What the guide has the administrator do between its blocks without a command of its own."""
    if step == "gateway-add":
        (machine.home / "gw-icu-01.toml").write_text(INITIAL_CONFIG)
    if step == "gateway-enroll":
        # provisioning/pi/setup-gateway.sh on this machine: wardlink[edge] in the virtualenv, the
        # buffer directory, the unit installed.
        shell.run_block("sudo /opt/wardlink/venv/bin/pip install -c provisioning/constraints.txt 'wardlink[edge]'")
        machine.path("/var/lib/wardlink-edge").mkdir(parents=True)
        shutil.copy(machine.home / "provisioning" / "systemd" / "wardlink-edge.service",
                    machine.path("/etc/systemd/system/wardlink-edge.service"))


def walk(shell: Shell, machine: Machine, nginx: GuideNginx) -> dict[str, str]:
    """Walk the guide; return what the walk learnt on the way (the administrator's password, the token)."""
    steps = guide_steps(GUIDE.read_text())
    learnt: dict[str, str] = {}
    for name in WALK:
        started = time.monotonic()
        step = steps[name]
        _before(name, shell, machine)
        if step.file:
            extra = f"web_port = {machine.ports['web']}\n" if name == "hub-config" else ""
            shell.write_file(step.file, step.body, extra)
        else:
            ran = shell.run_block(step.body)
            printed = "\n".join(r.stdout for r in ran)
            if name == "hub-schema":
                learnt["password"] = re.search(r"created admin 'alice'\. Password.*:\n  (\S+)", printed).group(1)
            if name == "gateway-start":  # the doctor logged in to the broker as the gateway, over TLS
                assert re.search(r"^OK   broker: mqtts://localhost:\d+ accepted the connection as wardlink-gw-gw-icu-01$",
                                 printed, re.M), printed
            if name == "gateway-add":
                learnt["token"] = re.search(r"^  (wle_\S+)$", printed, re.M).group(1)
                shell.placeholders["wle_..."] = learnt["token"]
        if name == "reverse-proxy":
            nginx.start()
        print(f"walk: {name} took {time.monotonic() - started:.1f} s")
    return learnt


def newest_reading(page: str) -> re.Match | None:
    """Return the value and state of fridge1.temp's row in the gateway page's live table."""
    row = re.search(r'<tr data-live-key="gw-icu-01/fridge1\.temp".*?</tr>', page, re.S)
    return row and re.search(r'data-field="value">(-?\d+(?:\.\d+)?)</span>.*data-field="state">(\w+)<', row.group(0),
                             re.S)


def test_the_deployment_guide_works_as_written(machine):
    m, nginx = machine
    shell = Shell(m)
    page = ""
    try:
        learnt = walk(shell, m, nginx)
        session = signed_in(m, "alice", learnt["password"])

        def reading_shown():
            nonlocal page
            answer = session.get(f"https://localhost:{m.ports['https']}/gateways/gw-icu-01", timeout=15)
            assert answer.status_code == 200, answer.text[-2000:]
            page = answer.text
            return newest_reading(page)

        shown = wait_for(reading_shown, 60, "a reading of fridge1.temp on the gateway's page")
        assert 3.0 < float(shown.group(1)) < 7.0 and shown.group(2) == "Live", shown.group(0)  # the fridge: 5.0 +- 0.5
        for name in ("wardlink-web", "wardlink-scheduler", "wardlink-ingest@1", "wardlink-ingest@2", "mosquitto",
                     "wardlink-edge"):
            assert shell.services[name].running, f"{name} is not running"
    except AssertionError as exc:
        table = re.search(r'<table class="data live".*?</table>', page, re.S)
        raise AssertionError(f"{exc}\n{table.group(0) if table else ''}\n{_logs(shell, m)}") from None
    finally:
        codes = shell.stop_all()
    assert codes["wardlink-edge"] == 0, shell.services["wardlink-edge"].log_tail()


def _logs(shell: Shell, machine: Machine) -> str:
    units = [f"--- {name} (exits before: {s.exits})\n{s.log_tail(1500)}" for name, s in shell.services.items()]
    broker_log = machine.path("/var/log/mosquitto/mosquitto.log")
    if broker_log.exists():
        units.append(f"--- {broker_log}\n{broker_log.read_text(errors='replace')[-1500:]}")
    return "\n".join(units)
