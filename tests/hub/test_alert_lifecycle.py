"""Alerts raised by rules: open -> acknowledged -> resolved, shelving, escalation, settling of
historical alerts, and the notifications each step queues. Alerts are never deleted."""

from __future__ import annotations

from datetime import timedelta

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from relational_support import GATEWAY, actor, clock, engine
from rules_support import alerts, make_engine, outbox, point, series
from sqlalchemy import func, select

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Alert, AuditLog
from wardlink.hub.db.types import utc_now
from wardlink.hub.errors import InvalidInput, PermissionDenied
from wardlink.hub.notify.dispatcher import Dispatcher
from wardlink.hub.notify.gateway import GatewayCommandNotifier
from wardlink.hub.notify.webhook import WebhookNotifier
from wardlink.hub.rules import lifecycle
from wardlink.hub.services.alerts import records as alert_service

NOTIFIERS = {"ops": {"type": "webhook", "url": "http://127.0.0.1:9/ops"},
             "manager": {"type": "webhook", "url": "http://127.0.0.1:9/manager"},
             "buzzer": {"type": "gateway"}}


@pytest.fixture
def dispatcher(engine, clock):
    """Real notifiers; nothing is delivered in these tests, the outbox is what is checked."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id="unused")
    d = Dispatcher(engine, {
        "ops": WebhookNotifier("ops", url="http://127.0.0.1:9/ops"),
        "manager": WebhookNotifier("manager", url="http://127.0.0.1:9/manager"),
        "buzzer": GatewayCommandNotifier("buzzer", client=client, clock=clock),
    }, clock=clock)
    yield d
    d.close()


def fridge_rule(**extra):
    return {"name": "fridge-high", "kind": "threshold", "severity": "warning", "above": 8.0,
            "match": {"metric": "temperature", "asset": "VF-0001"}, "notify": ["ops", "buzzer"], **extra}


def now_ms(clock):
    return round(clock.now() * 1000)


def events(db):
    return [(o.target, o.event) for o in outbox(db)]


def test_acknowledging_at_the_hub_silences_the_buzzer_and_a_manual_resolution_re_arms_the_rule(
        engine, clock, dispatcher):
    rules = make_engine(engine, clock, [fridge_rule()], notifiers=NOTIFIERS, dispatcher=dispatcher)
    t = now_ms(clock)
    rules.on_points([point("fridge1.temp", t, 9.0)])
    [(alert, _)] = alerts(engine)
    assert events(engine) == [("ops", "opened")]  # the buzzer target only acts on acknowledgement

    with session_scope(engine) as s:
        alert_service.acknowledge(s, alert.id, note="Door was ajar", actor=actor(s, "nurse"), clock=clock)
    rules.tick(deliver=False)
    assert events(engine)[1:] == [("ops", "acknowledged"), ("buzzer", "acknowledged")]
    ack = outbox(engine)[-1].payload
    assert (ack["by"], ack["note"], ack["gateway"], ack["channel"]) == ("nurse", "Door was ajar", GATEWAY,
                                                                        "fridge1.temp")
    rules.tick(deliver=False)
    assert len(outbox(engine)) == 3  # told once

    with session_scope(engine) as s:
        alert_service.resolve(s, alert.id, note="Seal replaced", actor=actor(s, "tech"), clock=clock)
    assert rules.on_points([point("fridge1.temp", t + 60_000, 9.2)]).opened == 0  # same excursion
    rules.tick(deliver=False)
    assert events(engine)[-1] == ("ops", "resolved") and outbox(engine)[-1].payload["by"] == "tech"
    rules.on_points([point("fridge1.temp", t + 120_000, 7.0)])
    assert rules.on_points([point("fridge1.temp", t + 180_000, 9.5)]).opened == 1  # a new excursion
    assert [a.state for a, _ in alerts(engine)] == ["resolved", "open"]


def test_escalation_fires_each_step_once_pauses_while_shelved_and_stops_when_acknowledged(
        engine, clock, dispatcher):
    rule = fridge_rule(escalate=[{"after_s": 600, "notify": ["manager"]},
                                 {"after_s": 1800, "notify": ["manager"], "severity": "critical"},
                                 {"after_s": 3600, "notify": ["manager"]}])
    rules = make_engine(engine, clock, [rule], notifiers=NOTIFIERS, dispatcher=dispatcher)
    rules.on_points([point("fridge1.temp", now_ms(clock), 9.0)])
    [(alert, _)] = alerts(engine)
    clock.advance(599)
    assert rules.tick(deliver=False).escalated == 0
    clock.advance(2)
    assert rules.tick(deliver=False).escalated == 1
    assert rules.tick(deliver=False).escalated == 0
    assert events(engine)[-1] == ("manager", "escalated")
    assert outbox(engine)[-1].payload["escalation_level"] == 1

    with session_scope(engine) as s:
        lifecycle.shelve(s, alert.id, until=utc_now(clock) + timedelta(hours=1),
                         note="Compressor being replaced", actor=actor(s, "tech"), clock=clock)
    rules.tick(deliver=False)
    assert events(engine)[-2:] == [("ops", "shelved"), ("buzzer", "shelved")]
    clock.advance(3000)
    assert rules.tick(deliver=False).escalated == 0  # shelved
    clock.advance(600 + 1799)  # shelving ended 1799 s ago: step 2 counts from there
    assert rules.tick(deliver=False).escalated == 0
    clock.advance(2)
    assert rules.tick(deliver=False).escalated == 1
    [(alert, lc)] = alerts(engine)
    assert (alert.severity, lc.escalation_level) == ("critical", 2)

    with session_scope(engine) as s:
        alert_service.acknowledge(s, alert.id, actor=actor(s, "tech"), clock=clock)
    clock.advance(7200)
    assert rules.tick(deliver=False).escalated == 0
    with session_scope(engine, readonly=True) as s:
        escalations = s.scalars(select(AuditLog.after_json).where(AuditLog.action == "alert.escalate")).all()
    assert len(escalations) == 2


def test_shelving_is_checked_and_audited(engine, clock):
    rules = make_engine(engine, clock, [fridge_rule(notify=[])])
    rules.on_points([point("fridge1.temp", now_ms(clock), 9.0)])
    [(alert, _)] = alerts(engine)
    now = utc_now(clock)
    with session_scope(engine) as s:
        tech = actor(s, "tech")
        with pytest.raises(InvalidInput, match="until: must be in the future"):
            lifecycle.shelve(s, alert.id, until=now - timedelta(minutes=1), note="x", actor=tech, clock=clock)
        with pytest.raises(InvalidInput, match="until: at most 7 days ahead"):
            lifecycle.shelve(s, alert.id, until=now + timedelta(days=8), note="x", actor=tech, clock=clock)
        with pytest.raises(InvalidInput, match="until: must be a date and time with a time zone"):
            lifecycle.shelve(s, alert.id, until=now.replace(tzinfo=None), note="x", actor=tech, clock=clock)
        with pytest.raises(InvalidInput, match="note: is required"):
            lifecycle.shelve(s, alert.id, until=now + timedelta(hours=1), note=" ", actor=tech, clock=clock)
        with pytest.raises(PermissionDenied):
            lifecycle.shelve(s, alert.id, until=now + timedelta(hours=1), note="x", actor=actor(s, "viewer"),
                             clock=clock)
        lc = lifecycle.shelve(s, alert.id, until=now + timedelta(hours=2), note="Awaiting part", actor=tech,
                              clock=clock)
        assert lifecycle.is_shelved(lc, now) and lc.shelved_by_id == tech.user_id
        clock.advance(60)
        lifecycle.unshelve(s, alert.id, actor=tech, clock=clock)
        assert not lifecycle.is_shelved(lifecycle.get_lifecycle(s, alert.id), utc_now(clock))
        with pytest.raises(InvalidInput, match="is not shelved"):
            lifecycle.unshelve(s, alert.id, actor=tech, clock=clock)
        alert_service.resolve(s, alert.id, note="fixed", actor=tech, clock=clock)
        with pytest.raises(InvalidInput, match="only unresolved alerts can be shelved"):
            lifecycle.shelve(s, alert.id, until=utc_now(clock) + timedelta(hours=1), note="x", actor=tech,
                             clock=clock)
        actions = s.scalars(select(AuditLog.action).where(AuditLog.entity == "alert").order_by(AuditLog.seq)).all()
    assert actions == ["alert.open", "alert.shelve", "alert.unshelve", "alert.resolve"]


def test_a_replay_that_stops_halfway_ends_its_episode_at_the_first_live_reading_after_the_gap(engine, clock):
    rules = make_engine(engine, clock, [fridge_rule(gap_s=30, notify=[])], settle_s=900)
    t = now_ms(clock)
    rules.on_points(series("fridge1.temp", t, 10, [5.0, 5.0]) + series("fridge1.temp", t + 3_600_000, 10, [5.0]))
    # the replay stops halfway (the gateway's buffer overflowed): the excursion never ends in it
    rules.on_points(series("fridge1.temp", t + 60_000, 60, [5.0, 9.0, 9.2], late=True))
    [(alert, lc)] = alerts(engine)
    assert lc.historical and alert.state == "resolved"
    assert (lc.episode_ms, lc.episode_end_ms) == (t + 120_000, t + 3_600_000)
    assert "reached the hub late" in alert.resolution_note


def test_alerts_are_kept_after_every_transition(engine, clock):
    rules = make_engine(engine, clock, [fridge_rule(notify=[])])
    t = now_ms(clock)
    for i in range(5):
        rules.on_points([point("fridge1.temp", t + i * 120_000, 9.0),
                         point("fridge1.temp", t + i * 120_000 + 60_000, 5.0)])
    with session_scope(engine, readonly=True) as s:
        states = s.execute(select(Alert.state, func.count()).group_by(Alert.state)).all()
    assert states == [("resolved", 5)]
