"""The systemd pieces every long-running command shares: the watchdog on a thread, petted only
while the main loop's heartbeat is fresh (a manual clock stands for the time a wedged loop
stays silent), and journald priorities on standard error when it is the journal's stream."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import threading

import pytest
from waiting import wait_for

from wardlink.clock import ManualClock
from wardlink.systemd import (Heartbeat, JournalFormatter, Notifier, Watchdog, journal_attached, socket_address,
                              syslog_priority)


class Receiver:
    """The receiving end of $NOTIFY_SOCKET: a bound AF_UNIX datagram socket."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(socket_address(address))

    def receive(self, timeout: float = 10.0) -> dict[str, str]:
        self.sock.settimeout(timeout)
        data = self.sock.recv(4096)
        return dict(line.split("=", 1) for line in data.decode().splitlines() if line)

    def pending(self) -> list[dict[str, str]]:
        """Return every datagram already waiting, without waiting for more."""
        out = []
        self.sock.settimeout(0)
        while True:
            try:
                data = self.sock.recv(4096)
            except BlockingIOError:
                return out
            out.append(dict(line.split("=", 1) for line in data.decode().splitlines() if line))


@pytest.fixture
def systemd(tmp_path):
    receiver = Receiver(str(tmp_path / "notify.sock"))
    yield receiver
    receiver.sock.close()


def test_a_heartbeat_is_a_problem_once_the_loop_is_silent_too_long():
    clock = ManualClock()
    beat = Heartbeat("the scheduler loop", 30.0, clock)
    assert beat.problem() is None
    clock.advance(30)
    assert beat.problem() is None
    clock.advance(1)
    assert beat.problem() == "the scheduler loop has not gone round for 31 s"
    beat.beat()
    assert beat.problem() is None and beat.silence_s() == 0
    with pytest.raises(ValueError, match="max_silence_s: must be > 0"):
        Heartbeat("x", 0)


def test_the_watchdog_thread_pets_while_the_loop_beats_and_stops_when_it_wedges(systemd):
    clock = ManualClock()
    beat = Heartbeat("the main loop", 1.0, clock)
    watchdog = Watchdog(Notifier(systemd.address), 0.1, beat.problem)
    stop = threading.Event()
    thread = watchdog.start_thread(stop)
    try:
        for _ in range(3):  # every 0.05 s while the loop beats
            assert systemd.receive() == {"WATCHDOG": "1"}

        clock.advance(2)  # the loop stays silent for 2 s of its clock: wedged
        wait_for(lambda: watchdog.problem is not None, 10, "the watchdog to see the wedge")
        pets, ticks = watchdog.pets, watchdog.ticks
        wait_for(lambda: watchdog.ticks >= ticks + 3, 10, "more watchdog ticks while wedged")
        assert watchdog.pets == pets  # checked again and again, never petted
        seen = systemd.pending()
        status = [m for m in seen if "STATUS" in m]
        assert status == [{"STATUS": "unhealthy: the main loop has not gone round for 2 s"}]
        assert seen.index(status[0]) == len(seen) - 1  # nothing after the status line: no pet

        beat.beat()  # the loop goes round again
        assert systemd.receive() == {"STATUS": "running"}
        assert systemd.receive() == {"WATCHDOG": "1"}
    finally:
        stop.set()
        thread.join(5)
    assert not thread.is_alive()


@pytest.mark.parametrize("level, priority", [
    (logging.CRITICAL, 2), (logging.ERROR, 3), (logging.WARNING, 4), (logging.INFO, 6), (logging.DEBUG, 7)])
def test_each_level_has_its_syslog_priority(level, priority):
    assert syslog_priority(level) == priority


def test_the_journal_formatter_prefixes_every_line_of_a_record():
    try:
        raise ValueError("boom")
    except ValueError:
        record = logging.LogRecord("wardlink.x", logging.ERROR, __file__, 1, "failed", None, sys.exc_info())
    lines = JournalFormatter("%(levelname)s %(name)s: %(message)s").format(record).splitlines()
    assert lines[0] == "<3>ERROR wardlink.x: failed"
    assert len(lines) > 3 and all(line.startswith("<3>") for line in lines)
    assert lines[-1] == "<3>ValueError: boom"


SCRIPT = """
import logging
from wardlink.systemd import configure_logging
configure_logging(logging.DEBUG, "%(asctime)s %(levelname)s %(name)s: %(message)s",
                  journal_fmt="%(levelname)s %(name)s: %(message)s")
log = logging.getLogger("wardlink.test")
log.debug("debug line")
log.info("info line")
log.warning("warning line")
log.error("error line")
"""


def run_logging(tmp_path, journal_stream: str | None) -> list[str]:
    out = tmp_path / "stderr.txt"
    env = {k: v for k, v in os.environ.items() if k != "JOURNAL_STREAM"}
    with out.open("w") as fh:
        if journal_stream == "this file":
            st = os.fstat(fh.fileno())
            journal_stream = f"{st.st_dev}:{st.st_ino}"
        if journal_stream is not None:
            env["JOURNAL_STREAM"] = journal_stream
        subprocess.run([sys.executable, "-c", SCRIPT], stderr=fh, env=env, check=True, timeout=60)
    return out.read_text().splitlines()


def test_under_the_journal_lines_carry_their_priority_and_no_time(tmp_path):
    assert run_logging(tmp_path, "this file") == [
        "<7>DEBUG wardlink.test: debug line", "<6>INFO wardlink.test: info line",
        "<4>WARNING wardlink.test: warning line", "<3>ERROR wardlink.test: error line"]


@pytest.mark.parametrize("journal_stream", [None, "1:2", "not a stream"])
def test_elsewhere_lines_are_as_before(tmp_path, journal_stream):
    """Without JOURNAL_STREAM, or when it names another stream (inherited by a child whose
    standard error went elsewhere), lines keep their time and no prefix."""
    lines = run_logging(tmp_path, journal_stream)
    assert len(lines) == 4 and lines[2].endswith(" WARNING wardlink.test: warning line")
    assert not any(line.startswith("<") for line in lines) and lines[0][:2] == "20"


def test_journal_attached_compares_the_stream_itself(tmp_path):
    with (tmp_path / "a").open("w") as a, (tmp_path / "b").open("w") as b:
        st = os.fstat(a.fileno())
        environ = {"JOURNAL_STREAM": f"{st.st_dev}:{st.st_ino}"}
        assert journal_attached(a, environ) and not journal_attached(b, environ)
        assert not journal_attached(a, {})
