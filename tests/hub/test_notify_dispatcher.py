"""The outbox is delivered after the alert change commits, retried with backoff on the manual
clock, given up after the last attempt, and never sent twice, whatever the notifiers do."""

from __future__ import annotations

import json
import threading

import pytest
from relational_support import clock, engine
from rules_support import HookServer, alerts, make_engine, outbox, point

from wardlink.hub.notify.dispatcher import Dispatcher
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.notify.webhook import WebhookNotifier

RULE = {"name": "fridge-high", "kind": "threshold", "severity": "critical", "above": 8.0,
        "match": {"metric": "temperature", "asset": "VF-0001"}, "notify": ["biomed", "ops"]}
REFS = {"biomed": {"type": "email"}, "ops": {"type": "webhook"}}


@pytest.fixture
def hook():
    servers = []

    def make(**kwargs) -> HookServer:
        servers.append(HookServer(**kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def now_ms(clock):
    return round(clock.now() * 1000)


def test_an_alert_reaches_mail_and_a_flaky_webhook_which_is_retried_with_backoff(engine, clock, smtp_server, hook):
    server = hook(fail_first=2, fail_status=502)
    dispatcher = Dispatcher(engine, {
        "biomed": EmailNotifier("biomed", host=smtp_server.host, port=smtp_server.port, security="none",
                                sender="wardlink@hospital.example", to=["biomed@hospital.example"]),
        "ops": WebhookNotifier("ops", url=server.url, retries=0),
    }, clock=clock, retry_initial_s=30, retry_max_s=300)
    rules = make_engine(engine, clock, [RULE], notifiers=REFS, dispatcher=dispatcher,
                        public_url="https://wardlink.example/", site_name="Riverside General")
    rules.on_points([point("fridge1.temp", now_ms(clock), 9.1)])
    assert [(o.target, o.state) for o in outbox(engine)] == [("biomed", "pending"), ("ops", "pending")]
    assert smtp_server.messages == []  # nothing is sent inside the engine's transaction

    rules.tick()
    assert len(smtp_server.messages) == 1 and "CRITICAL" in smtp_server.messages[0]["Subject"]
    rows = {o.target: o for o in outbox(engine)}
    assert (rows["biomed"].state, rows["ops"].state, rows["ops"].attempts) == ("sent", "pending", 1)
    assert rows["ops"].last_error == f"NotifyError: {server.url}: HTTP 502 Bad Gateway (after 1 attempts)"
    assert (rows["ops"].next_attempt_at - rows["ops"].created_at).total_seconds() == 30

    clock.advance(29)
    rules.tick()
    assert len(server.requests) == 1  # not due yet
    clock.advance(1)
    rules.tick()
    assert len(server.requests) == 2 and outbox(engine)[1].attempts == 2
    clock.advance(59)
    rules.tick()
    assert len(server.requests) == 2  # the second wait is twice the first
    clock.advance(1)
    rules.tick()
    assert [o.state for o in outbox(engine)] == ["sent", "sent"]
    payload = json.loads(server.bodies[-1])
    [(alert, _)] = alerts(engine)
    assert (payload["alert_id"], payload["site"], payload["url"]) == (alert.id, "Riverside General",
                                                                      "https://wardlink.example/alerts")
    assert dispatcher.counters["ops.sent"] == 1 and dispatcher.counters["ops.retried"] == 2
    assert rules.stats["delivered"] == 2 and rules.stats["delivery_failures"] == 2
    assert dispatcher.backlog() == {"pending": 0, "sent": 2, "failed": 0}


class Exploding:
    """A notifier plug-in that fails in a way no notifier is expected to."""

    events = frozenset({"opened"})

    def __init__(self):
        self.calls = 0

    def send(self, note):
        self.calls += 1
        raise ZeroDivisionError("plug-in bug")

    def close(self):
        pass


def test_a_broken_notifier_is_retried_then_given_up_without_disturbing_the_engine(engine, clock):
    exploding = Exploding()
    dispatcher = Dispatcher(engine, {"ops": exploding}, clock=clock, max_attempts=3, retry_initial_s=10)
    rules = make_engine(engine, clock, [{**RULE, "notify": ["ops"]}], notifiers={"ops": {}}, dispatcher=dispatcher)
    t = now_ms(clock)
    rules.on_points([point("fridge1.temp", t, 9.1)])
    for _ in range(5):
        out = rules.tick()
        assert out.errors == 0
        clock.advance(100)
    [row] = outbox(engine)
    assert (row.state, row.attempts, exploding.calls) == ("failed", 3, 3)
    assert row.last_error == "ZeroDivisionError: plug-in bug"
    assert rules.on_points([point("fridge1.temp", t + 60_000, 5.0)]).resolved == 1  # the engine carries on


def test_a_refused_notification_is_not_retried_and_an_unconfigured_target_fails(engine, clock, hook):
    server = hook(fail_first=100, fail_status=410)
    dispatcher = Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url, retries=3)}, clock=clock)
    rules = make_engine(engine, clock, [{**RULE, "notify": ["ops"]}], notifiers={"ops": {}}, dispatcher=dispatcher)
    rules.on_points([point("fridge1.temp", now_ms(clock), 9.1)])
    report = dispatcher.run_pending()
    assert (report.sent, report.failed, len(server.requests)) == (0, 1, 1)
    assert "HTTP 410" in outbox(engine)[0].last_error

    rules.on_points([point("fridge1.temp", now_ms(clock) + 60_000, 5.0)])  # queues "resolved" for ops
    del dispatcher.notifiers["ops"]  # the target was removed from the configuration meanwhile
    report = dispatcher.run_pending()
    assert report.failed == 1 and outbox(engine)[1].last_error == "no notifier named 'ops' is configured"


def test_two_dispatchers_sharing_the_outbox_send_each_notification_once(engine, clock, hook):
    server = hook()
    rules = make_engine(engine, clock, [{**RULE, "notify": ["ops"]}], notifiers={"ops": {}},
                        dispatcher=Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url)}, clock=clock))
    t = now_ms(clock)
    for i in range(20):  # 20 openings and 20 resolutions
        rules.on_points([point("fridge1.temp", t + i * 2000, 9.0), point("fridge1.temp", t + i * 2000 + 1000, 5.0)])
    workers = [Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url)}, clock=clock, batch=3)
               for _ in range(2)]
    threads = [threading.Thread(target=w.run_pending) for w in workers]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    bodies = [json.loads(b) for b in server.bodies]
    assert len(bodies) == 40
    assert len({(b["alert_id"], b["event"]) for b in bodies}) == 40
    assert sum(w.counters["ops.sent"] for w in workers) == 40


def test_the_background_thread_delivers_when_kicked(engine, clock, smtp_server):
    dispatcher = Dispatcher(engine, {"biomed": EmailNotifier(
        "biomed", host=smtp_server.host, port=smtp_server.port, security="none", sender="w@h.example",
        to=["b@h.example"])}, clock=clock)
    rules = make_engine(engine, clock, [{**RULE, "notify": ["biomed"]}], notifiers={"biomed": {}},
                        dispatcher=dispatcher)
    with dispatcher.start(poll_s=60):
        rules.on_points([point("fridge1.temp", now_ms(clock), 9.1)])  # kicks the thread
        [msg] = smtp_server.wait_for(1)
        assert msg["X-Wardlink-Event"] == "opened"
    dispatcher.close()  # idempotent



def _queue(engine, clock, server, openings):
    rules = make_engine(engine, clock, [{**RULE, "notify": ["ops"]}], notifiers={"ops": {}},
                        dispatcher=Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url)}, clock=clock))
    t = now_ms(clock)
    for i in range(openings):
        rules.on_points([point("fridge1.temp", t + i * 2000, 9.0), point("fridge1.temp", t + i * 2000 + 1000, 5.0)])


def test_a_slow_receiver_cannot_make_a_batch_outlive_its_lease_and_be_sent_twice(engine, clock, hook):
    """Each request takes 200 s of a 300 s lease. Another dispatcher runs during every request: it
    must find nothing to claim, because the first gives back what it has not tried in time."""
    other: list[Dispatcher] = []
    inside = threading.Event()  # the other dispatcher's own requests (in other server threads) pass

    def slow(number):
        if inside.is_set():
            return
        clock.advance(200)
        inside.set()
        try:
            other[0].run_pending()
        finally:
            inside.clear()

    server = hook(on_request=slow)
    _queue(engine, clock, server, 3)  # 3 openings and 3 resolutions
    first = Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url)}, clock=clock, lease_s=300, batch=6)
    other.append(Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url)}, clock=clock, lease_s=300))
    report = first.run_pending()
    bodies = [json.loads(b) for b in server.bodies]
    assert len(bodies) == 6 and len({(b["alert_id"], b["event"]) for b in bodies}) == 6
    assert report.sent == 6 and other[0].counters["ops.sent"] == 0
    assert [(o.state, o.attempts) for o in outbox(engine)] == [("sent", 1)] * 6


def test_a_late_sender_does_not_overwrite_what_the_next_claimant_recorded(engine, clock, hook):
    """The first send outlives its lease; meanwhile another dispatcher claims the row and sends it.
    The first send's failure must not be written over the second's success."""
    other: list[Dispatcher] = []

    def late(number):
        if number == 1:
            clock.advance(400)  # past the 300 s lease
            other[0].run_pending()

    server = hook(fail_first=1, fail_status=503, on_request=late)
    _queue(engine, clock, server, 1)
    [first_row, second_row] = outbox(engine)
    first = Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url, retries=0)}, clock=clock,
                       lease_s=300, batch=1)
    other.append(Dispatcher(engine, {"ops": WebhookNotifier("ops", url=server.url)}, clock=clock,
                            lease_s=300, batch=1))
    first.run_pending(limit=1)
    row = next(o for o in outbox(engine) if o.id == first_row.id)
    assert (row.state, row.attempts, row.last_error) == ("sent", 2, "")
    assert other[0].counters["ops.sent"] == 2 and first.counters["ops.retried"] == 1
