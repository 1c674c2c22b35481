"""The delivery thread the dispatcher and the notice mailer share: kicked passes, a failing pass
logged without ending the thread, an idempotent stop."""

from __future__ import annotations

import logging
import threading

from waiting import wait_for

from wardlink.hub.notify.passes import PassThread


def test_a_kick_runs_a_pass_and_a_failing_pass_does_not_stop_the_thread(caplog):
    passes = []
    lock = threading.Lock()

    def run_pass():
        with lock:
            passes.append(len(passes) + 1)
            if len(passes) == 1:
                raise RuntimeError("first pass breaks")

    thread = PassThread("test-passes", run_pass, logging.getLogger("wardlink.test.passes"))
    # A long poll: every pass after the first happens only because it was kicked.
    thread.start(poll_s=3600)
    thread.start(poll_s=3600)  # idempotent: still one thread
    try:
        wait_for(lambda: len(passes) == 1, 10, "the first pass")
        wait_for(lambda: "test-passes pass failed" in caplog.text, 10, "the failed pass logged")
        thread.kick()
        wait_for(lambda: len(passes) == 2, 10, "a pass after the kick")
        assert thread.running
        assert sum(t.name == "test-passes" for t in threading.enumerate()) == 1
    finally:
        thread.stop()
        thread.stop()
    assert not thread.running
    assert not any(t.name == "test-passes" for t in threading.enumerate())
