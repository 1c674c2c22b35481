"""Alerts go open -> acknowledged -> resolved with notes and audit rows, and are never deleted."""

from __future__ import annotations

import pytest
from relational_support import GATEWAY, actor, clock, engine, session
from sqlalchemy import select

from wardlink.hub.db.models import Alert, AuditLog
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.services.alerts import records as alerts


def _open(session, clock, severity="critical", tag="VF-0001"):
    return alerts.raise_alert(session, rule="fridge.temp_high", severity=severity,
                              title="Fridge above 8 °C for 5 minutes", asset_tag=tag,
                              gateway_id=GATEWAY, channel="fridge1.temp", value=8.6, actor=None, clock=clock)


def test_an_alert_is_acknowledged_then_resolved_by_people_with_notes(session, clock):
    alert = _open(session, clock)
    assert (alert.state, alert.asset.tag, alert.gateway.gateway_id) == ("open", "VF-0001", GATEWAY)
    nurse, tech = actor(session, "nurse"), actor(session, "tech")
    clock.advance(120)
    alerts.acknowledge(session, alert.id, note="Door was ajar, closed it", actor=nurse, clock=clock)
    assert (alert.state, alert.acknowledged_by_id, alert.ack_note) == ("acknowledged", nurse.user_id,
                                                                       "Door was ajar, closed it")
    with pytest.raises(PermissionDenied):
        alerts.resolve(session, alert.id, note="fine", actor=nurse, clock=clock)
    clock.advance(600)
    alerts.resolve(session, alert.id, note="Temperature back to 5 °C; seal checked", actor=tech, clock=clock)
    assert (alert.state, alert.resolved_by_id) == ("resolved", tech.user_id)
    assert alert.resolved_at - alert.opened_at == alerts.utc_now(clock) - alert.opened_at
    actions = session.scalars(select(AuditLog.action).where(AuditLog.entity == "alert")
                              .order_by(AuditLog.seq)).all()
    assert actions == ["alert.open", "alert.acknowledge", "alert.resolve"]


def test_transitions_that_make_no_sense_are_refused(session, clock):
    alert = _open(session, clock)
    with pytest.raises(InvalidInput, match="note: is required"):
        alerts.resolve(session, alert.id, note="  ", actor=None, clock=clock)
    alerts.resolve(session, alert.id, note="false alarm: probe unplugged during cleaning", actor=None, clock=clock)
    assert alert.acknowledged_at is not None  # resolving implies having seen it
    with pytest.raises(InvalidInput, match="is resolved; only open alerts can be acknowledged"):
        alerts.acknowledge(session, alert.id, actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="only acknowledged or open alerts can be resolved"):
        alerts.resolve(session, alert.id, note="again", actor=None, clock=clock)
    with pytest.raises(NotFound):
        alerts.acknowledge(session, 99999, actor=None, clock=clock)


def test_lists_show_unresolved_first_and_filter_by_state_and_severity(session, clock):
    old = _open(session, clock, severity="warning")
    clock.advance(10)
    alerts.resolve(session, old.id, note="done", actor=None, clock=clock)
    clock.advance(10)
    newer = _open(session, clock, severity="critical", tag="VF-0002")
    viewer = actor(session, "viewer")
    assert [a.id for a in alerts.list_alerts(session, actor=viewer).items] == [newer.id, old.id]
    assert [a.id for a in alerts.list_alerts(session, actor=viewer, state="active").items] == [newer.id]
    assert [a.id for a in alerts.list_alerts(session, actor=viewer, severity="warning").items] == [old.id]
    assert [a.id for a in alerts.list_alerts(session, actor=viewer, asset_tag="VF-0001").items] == [old.id]
    assert alerts.open_counts(session, actor=viewer) == {"info": 0, "warning": 0, "critical": 1}
    with pytest.raises(InvalidInput, match="state: must be one of"):
        alerts.list_alerts(session, actor=viewer, state="closed")


def test_bad_alerts_are_refused(session, clock):
    with pytest.raises(InvalidInput, match="severity"):
        alerts.raise_alert(session, rule="r", severity="catastrophic", title="t", actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="asset_tag"):
        alerts.raise_alert(session, rule="r", severity="info", title="t", asset_tag="NOPE", actor=None, clock=clock)
    with pytest.raises(InvalidInput, match="finite"):
        alerts.raise_alert(session, rule="r", severity="info", title="t", value=float("nan"), actor=None,
                           clock=clock)
    assert session.query(Alert).count() == 0


def test_resolved_alerts_stay_in_the_database(session, clock):
    alert = _open(session, clock)
    alerts.resolve(session, alert.id, note="done", actor=None, clock=clock)
    session.flush()
    assert session.get(Alert, alert.id).state == "resolved"
    assert not hasattr(alerts, "delete_alert")
