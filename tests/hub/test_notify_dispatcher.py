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

