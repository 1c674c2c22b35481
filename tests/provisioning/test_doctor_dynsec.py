"""`wardlink-edge doctor` against Mosquitto with dynamic security, set up as provisioning does:
the gateway's login is bound to its client id, so doctor must log in under that id, must not
disturb a running gateway, and must not swallow what the broker queued for the gateway."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from wardlink.edge.gateway import DataDirLock
from wardlink.provisioning.acl import gateway_client_id
from wardlink.provisioning.gateways import issue_gateway, write_credentials

ROOT = Path(__file__).resolve().parents[2]
GATEWAY = "gw-doctor-01"

pytestmark = pytest.mark.timeout(90)


def _config(tmp_path: Path, broker, issued) -> Path:
    secret = write_credentials(issued, tmp_path / "gateway.secret")
    path = tmp_path / "gateway.toml"
    path.write_text(textwrap.dedent(f"""\
        gateway_id = "{GATEWAY}"
        data_dir = "{tmp_path / 'data'}"
        [broker]
        url = "mqtt://127.0.0.1:{broker.server.port}"
        keepalive = 10
        credentials_file = "{secret}"
        [hardware]
        backend = "emulated"
        emulation_seed = 7
        [[channels]]
        id = "room.temp"
        driver = "bme280"
        quantity = "temperature"
        interval = 1.0
        emulate = {{ mean = 21.0, amplitude = 1.0, period_s = 600, noise = 0.05 }}
        """))
    return path


def _doctor(path: Path) -> subprocess.CompletedProcess:
    env = dict(os.environ, PYTHONPATH=str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", ""))
    return subprocess.run([sys.executable, "-m", "wardlink.edge.cli", "doctor", "--config", str(path), "--timeout", "10"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)


def test_doctor_logs_in_as_the_gateway_and_keeps_what_the_broker_queued_for_it(
        tmp_path, dynsec_broker, identities, peers):
    issued = issue_gateway(identities, GATEWAY)
    path = _config(tmp_path, dynsec_broker, issued)
    host, port = dynsec_broker.server.host, dynsec_broker.server.port
    # The gateway has run once: its persistent session holds its command subscription.
    gw = peers(host, port, GATEWAY, issued.password, client_id=gateway_client_id(GATEWAY), clean=False).login()
    assert gw.subscribe(f"wardlink/v1/{GATEWAY}/cmd/+") == 1
    gw.close()
    hub = peers(host, port, "wardlink-hub", dynsec_broker.hub_password).login()
    hub.publish(f"wardlink/v1/{GATEWAY}/cmd/buzzer", b"queued while the gateway was away")

    out = _doctor(path)
    assert out.returncode == 0, out.stdout + out.stderr
    assert f"OK   broker: mqtt://127.0.0.1:{port} accepted the connection as {gateway_client_id(GATEWAY)}" \
        in out.stdout, out.stdout

    back = peers(host, port, GATEWAY, issued.password, client_id=gateway_client_id(GATEWAY), clean=False).login()
    back.wait_message(f"wardlink/v1/{GATEWAY}/cmd/buzzer", b"queued while the gateway was away")


def test_doctor_leaves_a_running_gateway_connected_and_says_why_it_did_not_log_in(
        tmp_path, dynsec_broker, identities, peers):
    issued = issue_gateway(identities, GATEWAY)
    path = _config(tmp_path, dynsec_broker, issued)
    host, port = dynsec_broker.server.host, dynsec_broker.server.port
    lock = DataDirLock(tmp_path / "data")  # what a running gateway holds
    lock.acquire()
    try:
        gw = peers(host, port, GATEWAY, issued.password, client_id=gateway_client_id(GATEWAY), clean=False).login()
        out = _doctor(path)
        assert out.returncode == 0, out.stdout + out.stderr
        assert f"WARN broker: not checked: the gateway is running (pid {os.getpid()})" in out.stdout, out.stdout
        hub = peers(host, port, "wardlink-hub", dynsec_broker.hub_password).login()
        assert gw.subscribe(f"wardlink/v1/{GATEWAY}/cmd/+") == 1
        hub.publish(f"wardlink/v1/{GATEWAY}/cmd/buzzer", b"still connected")
        gw.wait_message(f"wardlink/v1/{GATEWAY}/cmd/buzzer", b"still connected")
        assert gw.disconnects == []
    finally:
        lock.release()


def test_doctor_still_fails_a_wrong_password(tmp_path, dynsec_broker, identities):
    issued = issue_gateway(identities, GATEWAY)
    path = _config(tmp_path, dynsec_broker, issued)
    secret = tmp_path / "gateway.secret"
    secret.write_text(secret.read_text().replace(issued.password, "not-the-password"))
    out = _doctor(path)
    assert out.returncode == 1
    assert "FAIL broker:" in out.stdout and "refused the connection" in out.stdout, out.stdout
