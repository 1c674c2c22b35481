"""The shared retry/backoff helper: its delay sequence, jitter, attempts and stop event."""

from __future__ import annotations

import random
import threading

import pytest

from wardlink.clock import ManualClock
from wardlink.retry import Backoff, RetryAborted, retry


class Flaky:
    """A step that fails ``failures`` times with ``error`` and then returns "done"."""

    def __init__(self, failures: int, error: type[Exception] = ConnectionError) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    def __call__(self) -> str:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error(f"failure {self.calls}")
        return "done"


def test_backoff_doubles_from_the_initial_delay_up_to_the_cap_and_resets():
    backoff = Backoff(0.2, 5.0)
    assert [backoff.next() for _ in range(8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0, 5.0]
    backoff.reset()
    assert backoff.next() == 0.2
    assert Backoff(1.0).ceiling(10) == 1024.0, "no cap: keeps doubling"
    assert Backoff(1.0, 30.0).ceiling(10_000) == 30.0, "a huge attempt count is still capped"


def test_jittered_backoff_stays_between_half_and_all_of_each_delay_and_differs_between_clients():
    backoff = Backoff(0.5, 8.0, jitter=True, rng=random.Random(1))
    delays = [backoff.next() for _ in range(8)]
    for delay, ceiling in zip(delays, [0.5, 1, 2, 4, 8, 8, 8, 8]):
        assert ceiling / 2 <= delay <= ceiling
    assert len({round(d, 6) for d in delays[4:]}) > 1, "capped delays still vary (jitter)"
    backoff.reset()
    assert 0.25 <= backoff.next() <= 0.5
    other = Backoff(0.5, 8.0, jitter=True, rng=random.Random(2))
    assert [other.next() for _ in range(8)] != delays, "two gateways do not retry in lockstep"


def test_retry_sleeps_the_backoff_sequence_on_the_injected_clock_until_the_step_succeeds():
    clock = ManualClock()
    start = clock.monotonic()
    slept: list[float] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock.advance(seconds)

    errors: list[tuple[str, int]] = []
    step = Flaky(4)
    result = retry(step, Backoff(0.5, 2.0), retry_on=ConnectionError, sleep=sleep,
                   on_error=lambda exc, n: errors.append((str(exc), n)))
    assert result == "done" and step.calls == 5
    assert slept == [0.5, 1.0, 2.0, 2.0]
    assert clock.monotonic() - start == pytest.approx(5.5)
    assert errors == [("failure 1", 1), ("failure 2", 2), ("failure 3", 3), ("failure 4", 4)]


def test_retry_gives_up_after_its_attempts_with_the_last_error_and_never_retries_other_errors():
    slept: list[float] = []
    with pytest.raises(ConnectionError, match="failure 3"):
        retry(Flaky(5), Backoff(1.0), retry_on=ConnectionError, attempts=3, sleep=slept.append)
    assert slept == [1.0, 2.0], "no sleep after the last attempt"
    step = Flaky(1, ValueError)
    with pytest.raises(ValueError):
        retry(step, Backoff(1.0), retry_on=ConnectionError, sleep=slept.append)
    assert step.calls == 1


def test_retry_may_stretch_a_delay_and_stops_at_once_when_the_stop_event_is_set():
    slept: list[float] = []
    retry(Flaky(2), Backoff(1.0, 4.0), retry_on=ConnectionError, sleep=slept.append,
          delay_for=lambda exc, delay: max(delay, 3.0))
    assert slept == [3.0, 3.0]
    stop = threading.Event()
    stop.set()
    step = Flaky(10)
    with pytest.raises(RetryAborted):
        retry(step, Backoff(3600.0), retry_on=ConnectionError, stop=stop)  # would wait an hour
    assert step.calls == 1


def test_an_outage_is_logged_once_then_reminded_at_most_every_minute_then_its_end(caplog):
    import logging

    from wardlink.retry import OutageLog

    clock = ManualClock()
    logger = logging.getLogger("wardlink.test.outage")
    outage = OutageLog(logger, "ingest w1: the broker at 10.0.0.5:8883", clock=clock)
    caplog.set_level(logging.INFO, logger="wardlink.test.outage")
    outage.recovered()  # no outage: nothing to say
    assert caplog.records == [] and outage.down_since is None
    for _ in range(5):
        outage.failed("connection\nrefused")
        clock.advance(10)
    assert outage.down_since == ManualClock().now() and outage.reason == "connection refused"
    clock.advance(10)  # 60 s after the first failure
    outage.failed("connection refused")
    outage.failed("connection refused")
    clock.advance(5)
    outage.recovered()
    outage.recovered()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        ("WARNING", "ingest w1: the broker at 10.0.0.5:8883 is unreachable: connection refused; retrying"),
        ("WARNING", "ingest w1: the broker at 10.0.0.5:8883 is still unreachable after 6 attempts in 60 s: "
                    "connection refused"),
        ("INFO", "ingest w1: the broker at 10.0.0.5:8883 answers again after 65 s (7 failed attempts)"),
    ]
    assert outage.down_since is None and outage.reason is None
