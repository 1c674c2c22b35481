"""Following each manifold's bank pressures in the telemetry store: changeovers and reserve alerts.

:func:`refresh` reads what the store received since the last run, runs the detector
(:mod:`.detection`) from its saved state, records each changeover once, and opens the alerts:
"reserve in use" once per changeover (resolved when the emptied bank's cylinders are
replaced), "reserve below N hours" once per episode (resolved when the supply left lasts N
hours again). Running it again over the same readings changes nothing, so the scheduler may
run it as often as it likes and a run that fails is simply repeated.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models.manifolds import Manifold, ManifoldChangeover
from wardlink.hub.db.types import from_ms, utc_now
from wardlink.hub.errors import Message, Quantity
from wardlink.hub.i18n import N_
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.manifolds import detection
from wardlink.clock import Clock

ACTOR = Actor.system("manifolds")
RESERVE_RULE = "manifold.reserve_in_use"
LOW_RULE = "manifold.reserve_low"
#: Readings older than this before the first run are not read back (a new manifold starts fresh).
LOOKBACK_MS = 7 * 86_400_000


class Readings(Protocol):
    """What tracking needs from a telemetry store."""

    def range(self, *, gateway: str, channel: str, start_ms: int, end_ms: int) -> Any:
        """Return the channel's readings in [start_ms, end_ms), each with ``ts_ms`` and ``value``."""


@dataclass
class Refreshed:
    """What one run found."""

    manifolds: int = 0
    readings: int = 0
    changeovers: int = 0
    alerts: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        """Return the run's counts for the scheduler's log."""
        return {"manifolds": self.manifolds, "readings": self.readings, "changeovers": self.changeovers,
                "alerts": len(self.alerts)}


def settings_of(manifold: Manifold) -> detection.Settings:
    """Return the detector's settings for ``manifold``."""
    return detection.Settings(manifold.bank_capacity_l, manifold.full_bar, manifold.changeover_bar,
                              manifold.reserve_hours)


def state_of(manifold: Manifold) -> dict[str, Any]:
    """Return the detector's saved state for ``manifold``."""
    return json.loads(manifold.tracking or "{}") or detection.new_state()


def refresh(session: Session, store: Readings, *, clock: Clock) -> Refreshed:
    """Follow every manifold up to now; record changeovers and open or resolve the reserve alerts."""
    result = Refreshed()
    now_ms = round(clock.now() * 1000)
    for manifold in session.scalars(select(Manifold).order_by(Manifold.id)):
        result.manifolds += 1
        _refresh_one(session, store, manifold, now_ms, clock, result)
    return result


def _read(store: Readings, manifold: Manifold, start_ms: int, end_ms: int) -> list[tuple[str, int, float | None]]:
    rows = []
    for bank, channel in (("a", manifold.bank_a_channel), ("b", manifold.bank_b_channel)):
        for r in store.range(gateway=manifold.gateway_id, channel=channel, start_ms=start_ms, end_ms=end_ms):
            rows.append((bank, r.ts_ms, r.value))
    rows.sort(key=lambda row: (row[1], row[0]))
    return rows


def _refresh_one(session: Session, store: Readings, manifold: Manifold, now_ms: int, clock: Clock,
                 result: Refreshed) -> None:
    start = manifold.tracked_until_ms + 1 if manifold.tracked_until_ms else now_ms - LOOKBACK_MS
    readings = _read(store, manifold, start, now_ms + 1)
    if not readings:
        return
    result.readings += len(readings)
    state, events = detection.track(state_of(manifold), readings, settings_of(manifold))
    for event in events:
        if isinstance(event, detection.Changeover):
            _record_changeover(session, manifold, event, state, clock, result)
        elif isinstance(event, detection.Replaced):
            _close(session, state, "reserve_alert", N_("bank %(bank)s: new cylinders fitted"),
                   {"bank": event.bank.upper()}, clock)
        elif isinstance(event, detection.ReserveLow):
            _raise_low(session, manifold, event, state, clock, result)
        else:
            _close(session, state, "low_alert", N_("the supply lasts %(hours)s hours again"),
                   {"hours": f"{manifold.reserve_hours:g}"}, clock)
    manifold.tracking = json.dumps(state)
    manifold.tracked_until_ms = readings[-1][1]
    manifold.updated_at = utc_now(clock)
    session.flush()


def _record_changeover(session: Session, manifold: Manifold, event: detection.Changeover, state: dict,
                       clock: Clock, result: Refreshed) -> None:
    session.add(ManifoldChangeover(manifold_id=manifold.id, at=from_ms(event.at_ms), bank=event.bank,
                                   litres=round(event.litres, 1), detected_at=from_ms(event.detected_ms)))
    result.changeovers += 1
    _close(session, state, "reserve_alert", N_("superseded by the next changeover"), {}, clock)
    bank = event.bank.upper()
    title = Message(N_("%(tag)s: reserve in use, bank %(bank)s empty"), tag=manifold.asset.tag, bank=bank)
    detail = Message(N_("The manifold changed over from bank %(bank)s to bank %(other)s after %(litres)s; "
                        "replace the cylinders of bank %(bank)s."), bank=bank,
                     other=detection.other(event.bank).upper(), litres=Quantity(f"{event.litres:.0f}", "L"))
    alert = alerts.raise_alert(
        session, rule=RESERVE_RULE, severity="warning", title=str(title), detail=str(detail),
        asset_tag=manifold.asset.tag, gateway_id=None, value=round(event.litres, 1), actor=ACTOR, clock=clock,
        title_message=title, detail_message=[detail])
    state["reserve_alert"] = alert.id
    result.alerts.append(RESERVE_RULE)


def _raise_low(session: Session, manifold: Manifold, event: detection.ReserveLow, state: dict, clock: Clock,
               result: Refreshed) -> None:
    _close(session, state, "low_alert", N_("superseded by the next episode"), {}, clock)
    title = Message(N_("%(tag)s: reserve below %(hours)s hours"), tag=manifold.asset.tag,
                    hours=Quantity(f"{manifold.reserve_hours:g}"))
    detail = Message(N_("The oxygen left lasts about %(hours)s h at the present flow and the other bank is empty."),
                     hours=Quantity(f"{event.hours:.1f}"))
    alert = alerts.raise_alert(
        session, rule=LOW_RULE, severity="critical", title=str(title), detail=str(detail),
        asset_tag=manifold.asset.tag, value=round(event.hours, 2), actor=ACTOR, clock=clock,
        title_message=title, detail_message=[detail])
    state["low_alert"] = alert.id
    result.alerts.append(LOW_RULE)


def _close(session: Session, state: dict, key: str, note: str, values: dict, clock: Clock) -> None:
    alert_id = state.pop(key, None)
    if alert_id is None:
        return
    alert = alerts.get_alert(session, alert_id, actor=ACTOR)
    if alert.state != "resolved":
        said = Message(note, **values)
        alerts.resolve(session, alert_id, note=str(said), note_message=said, actor=ACTOR, clock=clock)
