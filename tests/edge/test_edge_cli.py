"""The wardlink-edge command: drivers, status, doctor, run errors, enroll, --version."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import time

import pytest

from wardlink.hardware import registry

from wardlink.edge.buffer import Buffer
from wardlink.edge.config import load_config
from wardlink.edge.gateway import Gateway
from wardlink.edge.version import __version__

from edge_support import CHANNEL_DS, PYTHON, ROOT, edge_env, write_config


def cli(*args, timeout=60):
    return subprocess.run([PYTHON, "-m", "wardlink.edge.cli", *args], capture_output=True, text=True, env=edge_env(),
                          cwd=ROOT, timeout=timeout)


def test_version():
    out = cli("--version")
    assert out.returncode == 0 and out.stdout.strip() == f"wardlink-edge {__version__}"


def test_drivers_lists_every_registry_driver_with_parameters_and_units():
    out = cli("drivers")
    assert out.returncode == 0
    for spec in registry.DRIVERS.values():
        assert f"{spec.name}  ({spec.bus})" in out.stdout
        for key in spec.params:
            assert f"  {key} (" in out.stdout
    assert "temperature [degC], humidity [%RH], pressure [Pa]" in out.stdout
    as_json = json.loads(cli("drivers", "--json").stdout)
    assert {d["name"] for d in as_json} == set(registry.DRIVERS)


def test_run_refuses_an_invalid_config_naming_the_key(tmp_path):
    path = write_config(tmp_path, 1883, interval=0)
    out = cli("run", "--config", str(path))
    assert out.returncode == 1
    assert "channels[0].interval: must be >= 0.1 s, got 0" in out.stderr


def test_run_refuses_credentials_readable_by_others(tmp_path):
    secret = tmp_path / "gateway.secret"
    secret.write_text("username=gw\npassword=pw\n")
    os.chmod(secret, 0o644)
    path = write_config(tmp_path, 1883)
    path.write_text(path.read_text().replace("keepalive = 10", f'keepalive = 10\ncredentials_file = "{secret}"'))
    out = cli("run", "--config", str(path))
    assert out.returncode == 1
    assert "mode 0644; it must be 0600 or 0400" in out.stderr


def test_status_reads_depth_oldest_and_drops_from_the_buffer(tmp_path):
    path = write_config(tmp_path, 1883)
    config = load_config(path)
    now = int(time.time() * 1000)
    with Buffer(config.data_dir, config.buffer) as buf:
        buf.add_readings([("room.temp", now - 90_000 + i, 20.0, "good") for i in range(25)])
        buf.ack([(1, 5)])
    out = cli("status", "--config", str(path), "--json")
    assert out.returncode == 0, out.stderr
    status = json.loads(out.stdout)
    assert status["buffer_depth"] == 20
    assert status["oldest_unsent_ms"] == now - 90_000 + 5
    assert 85 < status["oldest_unsent_age_s"] < 200
    assert status["dropped"] == 0 and status["published"] == 5
    text = cli("status", "--config", str(path)).stdout
    assert "20 readings" in text and "oldest unsent:    9" in text


def test_status_without_a_buffer_says_so(tmp_path):
    out = cli("status", "--config", str(write_config(tmp_path, 1883)))
    assert out.returncode == 1 and "no buffer at" in out.stderr


def test_enroll_refuses_a_hub_without_https(tmp_path):
    out = cli("enroll", "http://hub.example", "wle_" + "x" * 43, "--config-dir", str(tmp_path / "etc"))
    assert out.returncode == 1 and "hub url: must start with https://" in out.stderr
    assert not (tmp_path / "etc").exists()


@pytest.mark.timeout(60)
def test_doctor_passes_a_healthy_gateway_and_fails_an_unreachable_broker(tmp_path, mosquitto):
    path = write_config(tmp_path, mosquitto.port)
    out = cli("doctor", "--config", str(path))
    assert out.returncode == 0, out.stdout
    assert "OK   sensor room.temp: temperature = " in out.stdout
    assert f"OK   broker: mqtt://127.0.0.1:{mosquitto.port} accepted the connection" in out.stdout
    mosquitto.stop()
    out = cli("doctor", "--config", str(path), "--timeout", "2")
    assert out.returncode == 1
    assert "FAIL broker: cannot reach" in out.stdout and "fix: check broker.url" in out.stdout


@pytest.mark.timeout(60)
def test_doctor_reports_a_missing_sensor_with_a_fix(tmp_path, mosquitto):
    path = write_config(tmp_path, mosquitto.port, channels=CHANNEL_DS.replace("emulate", "# emulate"))
    text = path.read_text().replace('backend = "emulated"', 'backend = "real"').replace("# emulate", "#")
    path.write_text(text)
    out = cli("doctor", "--config", str(path), "--timeout", "3")
    assert out.returncode == 1
    assert "FAIL sensor fridge1.temp:" in out.stdout
    assert "fix:" in out.stdout.split("FAIL sensor fridge1.temp:")[1]


@pytest.mark.timeout(60)
def test_gateway_and_doctor_authenticate_with_the_credentials_file(tmp_path, mosquitto_factory):
    broker = mosquitto_factory(users={"gw-test-01": "correct horse"})
    secret = tmp_path / "gateway.secret"
    secret.write_text("username = gw-test-01\npassword = correct horse\n")
    os.chmod(secret, 0o600)
    path = write_config(tmp_path, broker.port)
    path.write_text(path.read_text().replace("keepalive = 10", f'keepalive = 10\ncredentials_file = "{secret}"'))
    out = cli("doctor", "--config", str(path))
    assert "OK   credentials:" in out.stdout and "OK   broker:" in out.stdout, out.stdout

    async def connect():
        gw = Gateway(load_config(path))
        await gw.start()
        try:
            deadline = time.monotonic() + 10
            while not gw.forwarder.connected:
                assert time.monotonic() < deadline, "the gateway did not log in"
                await asyncio.sleep(0.02)
        finally:
            await gw.stop()

    asyncio.run(connect())
    secret.write_text("username = gw-test-01\npassword = wrong\n")
    out = cli("doctor", "--config", str(path))
    assert out.returncode == 1 and "FAIL broker:" in out.stdout and "refused" in out.stdout
