"""systemd notifications: a real AF_UNIX datagram socket plays systemd and records what the
gateway tells it — READY=1 once running, WATCHDOG=1 at half the watchdog period while the
sampling loop, the forwarder and the buffer commits are alive, STOPPING=1 on SIGTERM.
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import sqlite3
import subprocess
import time
import uuid

import pytest
from edge_support import PYTHON, ROOT, edge_env, write_config

from wardlink.edge.config import load_config
from wardlink.edge.gateway import Gateway
from wardlink.systemd import Notifier, Watchdog, socket_address, watchdog_period


class FakeSystemd:
    """The receiving end of $NOTIFY_SOCKET: a bound AF_UNIX datagram socket."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))
        self.messages: list[dict[str, str]] = []

    def receive(self, timeout: float = 10.0) -> dict[str, str]:
        """Wait for one datagram and return its fields."""
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096)
        fields = dict(line.split("=", 1) for line in data.decode().splitlines() if line)
        self.messages.append(fields)
        return fields

    def wait_for(self, key: str, value: str = "1", timeout: float = 15.0) -> dict[str, str]:
        """Receive datagrams until one sets ``key`` to ``value``; fail at the deadline."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(f"no {key}={value} within {timeout} s; got {self.messages}")
            try:
                fields = self.receive(left)
            except TimeoutError:
                continue
            if fields.get(key) == value:
                return fields

    def close(self) -> None:
        """Close the socket."""
        self.sock.close()


@pytest.fixture
def systemd(tmp_path):
    """A notification socket at a file path."""
    fake = FakeSystemd(str(tmp_path / "notify.sock"))
    yield fake
    fake.close()


def test_notifications_reach_a_socket_at_a_path(systemd):
    notifier = Notifier(systemd.address)
    assert notifier.ready("gateway gw-1: 3 channels")
    assert systemd.receive() == {"READY": "1", "STATUS": "gateway gw-1: 3 channels"}
    assert notifier.watchdog() and systemd.receive() == {"WATCHDOG": "1"}
    assert notifier.stopping() and systemd.receive() == {"STOPPING": "1"}
    notifier.close()
    notifier.close()


def test_an_at_sign_names_a_socket_in_the_abstract_namespace():
    fake = FakeSystemd(f"@wardlink-test-{uuid.uuid4().hex}")
    try:
        notifier = Notifier.from_environ({"NOTIFY_SOCKET": fake.address})
        assert notifier.enabled and notifier.ready()
        assert fake.receive() == {"READY": "1"}
    finally:
        fake.close()


def test_without_notify_socket_nothing_is_sent_and_nothing_fails(tmp_path):
    assert not Notifier.from_environ({}).enabled
    assert Notifier.from_environ({}).ready() is False
    # systemd gone (socket path without a listener): the call reports it, never raises.
    assert Notifier(str(tmp_path / "gone.sock")).watchdog() is False


@pytest.mark.parametrize("environ, expected", [
    ({"WATCHDOG_USEC": "60000000"}, 60.0),
    ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": str(os.getpid())}, 0.5),
    ({"WATCHDOG_USEC": "500000", "WATCHDOG_PID": "1"}, None),  # meant for another process
    ({"WATCHDOG_USEC": "0"}, None),
    ({"WATCHDOG_USEC": "soon"}, None),
    ({}, None),
])
def test_the_watchdog_period_comes_from_the_environment(environ, expected):
    assert watchdog_period(environ) == expected


@pytest.mark.timeout(60)
def test_a_running_gateway_says_ready_pets_the_watchdog_and_says_stopping(tmp_path, mosquitto, systemd):
    config = write_config(tmp_path, mosquitto.port)
    env = {**edge_env(), "NOTIFY_SOCKET": systemd.address, "WATCHDOG_USEC": "400000"}
    proc = subprocess.Popen([PYTHON, "-m", "wardlink.edge.cli", "run", "--config", str(config)], cwd=ROOT, env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    try:
        ready = systemd.wait_for("READY")
        assert ready["STATUS"] == "gateway gw-test-01: 4 channels"
        for _ in range(3):  # every 0.2 s while healthy
            systemd.wait_for("WATCHDOG", timeout=5)
        proc.send_signal(signal.SIGTERM)
        systemd.wait_for("STOPPING")
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=30)
    assert proc.returncode == 0, err[-2000:]
    keys = [next(iter(m)) for m in systemd.messages]
    assert keys[0] == "READY" and keys[-1] == "STOPPING"


@pytest.mark.timeout(60)
def test_the_watchdog_is_not_petted_once_a_loop_dies_or_commits_stall(tmp_path, mosquitto, systemd):
    """A broker outage is survivable and keeps the pets coming; a dead sampling loop or a
    buffer that cannot commit stops them, with the reason in the status line."""
    config = load_config(write_config(tmp_path, mosquitto.port))

    async def scenario() -> None:
        async with Gateway(config) as gw:
            watchdog = Watchdog(Notifier(systemd.address), 10.0, lambda: gw.problem(stall_after=0.5))
            assert watchdog.tick() and systemd.receive() == {"WATCHDOG": "1"}

            mosquitto.stop()
            await _until(lambda: not gw.forwarder.connected, "the gateway to notice the broker is gone")
            assert watchdog.tick() and systemd.receive() == {"WATCHDOG": "1"}
            mosquitto.start()

            # Another process holds the buffer's write lock: commits stall, the pets stop.
            blocker = sqlite3.connect(gw.store.buffer.path, timeout=10, isolation_level=None)
            blocker.execute("BEGIN EXCLUSIVE")
            try:
                await _until(lambda: gw.problem(stall_after=0.5), "the stalled commits to show")
                assert not watchdog.tick()
                assert systemd.receive()["STATUS"].startswith("unhealthy: no buffer commit for")
            finally:
                blocker.execute("ROLLBACK")
                blocker.close()
            await _until(lambda: gw.problem(stall_after=0.5) is None, "commits to resume")
            assert watchdog.tick()
            assert systemd.receive() == {"STATUS": "running"} and systemd.receive() == {"WATCHDOG": "1"}

            sampler = next(t for t in gw._tasks if t.get_name() == "sampler")
            sampler.cancel()
            await _until(sampler.done, "the sampling loop to end")
            assert not watchdog.tick()
            assert systemd.receive() == {"STATUS": "unhealthy: the sampler loop ended"}
            assert not watchdog.tick()  # still unhealthy: no pet, and no repeated status line
            assert watchdog.pets == 3

    asyncio.run(scenario())
    systemd.sock.settimeout(0)
    with pytest.raises(BlockingIOError):
        systemd.sock.recv(4096)  # nothing else was sent


async def _until(predicate, what: str, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        await asyncio.sleep(0.02)
