"""Preview a rule against stored telemetry: "would have fired N times in the last 7 days".

The rule's own evaluator is run over the raw readings the telemetry store holds for every
channel the rule selects (by the channels' current bindings), in timestamp order, exactly as
the live engine feeds it, with a fresh state per channel; time-driven kinds (silence, pending
durations) are also ticked at each reading and at the end of the range. Nothing is written:
no alert, no state, no notification.

Bounded: at most :data:`MAX_DAYS` days, :data:`MAX_SERIES` channels and :data:`MAX_POINTS`
readings; past a bound the preview stops with a clear message rather than reading on.
Rules on gateway status and events (offline, buffering, presence) have no stored history to
replay and are refused with the reason.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from typing import Any, Mapping

from sqlalchemy import Connection, Engine
from sqlalchemy.orm import Session

from wardlink.clock import Clock
from wardlink.hub.errors import InvalidInput
from wardlink.hub.rules.catalog import Catalog
from wardlink.hub.rules.evaluators import Context, Sample
from wardlink.hub.rules.evaluators.base import Raise
from wardlink.hub.rules.spec import RuleSpec
from wardlink.hub.services.actor import Actor, resolve_actor, resolve_clock
from wardlink.hub.services.people.permissions import require

DAY_MS = 86_400_000
#: The longest history a preview replays.
MAX_DAYS = 31
#: The most channels a preview reads.
MAX_SERIES = 200
#: The most readings a preview evaluates.
MAX_POINTS = 2_000_000
#: Episodes listed in a preview (the count covers all of them).
MAX_LISTED = 20


class PreviewTooLarge(InvalidInput):
    """The preview would read more than its bounds allow; the message says how to narrow it."""


@dataclass
class Preview:
    """What a rule would have done over a stretch of stored telemetry."""

    rule: str
    start_ms: int
    end_ms: int
    fired: int = 0  # alerts it would have opened
    series: int = 0  # channels it selects that were read
    points: int = 0  # readings evaluated
    by_subject: dict[str, int] = field(default_factory=dict)
    episodes: list[dict[str, Any]] = field(default_factory=list)  # the first MAX_LISTED

    @property
    def days(self) -> float:
        """Return the length of the range in days."""
        return (self.end_ms - self.start_ms) / DAY_MS


def _facts(catalog: Catalog, gateway: str, channel: str, asset_tag: str | None,
           measurement: str) -> dict[str, str | None]:
    asset = catalog.asset(asset_tag)
    return {"metric": measurement, "asset": asset_tag, "category": asset.category if asset else None,
            "ward": asset.ward if asset else None, "site": asset.site if asset else None,
            "gateway": gateway, "channel": channel}


def preview_rule(session: Session, store: Any, name: str, *, days: float = 7, actor: Actor | None,
                 clock: Clock | None = None) -> Preview:
    """Preview the stored rule ``name`` (enabled or not)."""
    from wardlink.hub.rules import editing

    row = editing.get_rule(session, name, actor=actor)
    return preview(session.connection(), store, editing.validate(editing.entry_of(row)), days=days, actor=actor,
                   clock=clock)


def preview_entry(session: Session, store: Any, entry: Mapping[str, Any], *, days: float = 7,
                  actor: Actor | None, clock: Clock | None = None) -> Preview:
    """Preview a rule definition that is not stored (validated like the rules file first)."""
    from wardlink.hub.rules import editing

    return preview(session.connection(), store, editing.validate(entry), days=days, actor=actor, clock=clock)


def parse_days(raw: Any) -> float:
    """Return the ``days`` of a request (7 when empty), refusing what is not a number of days."""
    if raw is None or raw == "":
        return 7.0
    try:
        days = float(raw)
    except (TypeError, ValueError):
        raise InvalidInput(f"days: must be a number of days (at most {MAX_DAYS}), got {raw!r}") from None
    return days


def preview(db: Engine | Connection, store: Any, spec: RuleSpec, *, days: float = 7, actor: Actor | None,
            clock: Clock | None = None, max_points: int = MAX_POINTS, max_series: int = MAX_SERIES) -> Preview:
    """Run ``spec`` over the last ``days`` of stored readings and count the alerts it would open.

    ``db`` is an engine, or the connection of the caller's transaction (the catalog is read on it).
    """
    require(resolve_actor(actor), "alert.view")
    require(resolve_actor(actor), "telemetry.view")
    cls_inputs = spec.evaluator().inputs
    if "reading" not in cls_inputs or not spec.evaluator().raises:
        raise InvalidInput(f"rules[{spec.name}].kind: a preview replays stored readings; kind {spec.kind!r} "
                           + ("opens no alerts" if "reading" in cls_inputs else
                              "reacts to gateway status or events, which are not stored as history"))
    if isinstance(days, bool) or not isinstance(days, (int, float)) or not days > 0:
        raise InvalidInput(f"days: must be a number of days above 0, got {days!r}")
    if days > MAX_DAYS:
        raise PreviewTooLarge(f"days: {days:g} days is too long a range to replay; a preview covers at most "
                              f"{MAX_DAYS} days")
    if store is None:
        raise InvalidInput("telemetry: no telemetry store is configured, so there is no history to replay")
    clock = resolve_clock(clock)
    end_ms = round(clock.now() * 1000)
    result = Preview(spec.name, end_ms - round(days * DAY_MS), end_ms)
    catalog = Catalog(db, clock).refresh()
    match = {k: frozenset(v) for k, v in spec.match.items()}
    selected = []
    for info in catalog.channels.values():
        measurement = info.measurement if info.asset else "unbound"
        facts = _facts(catalog, info.gateway, info.channel, info.asset, measurement)
        if all(facts.get(k) in allowed for k, allowed in match.items()):
            selected.append((info, measurement))
    if len(selected) > max_series:
        raise PreviewTooLarge(f"match: the rule selects {len(selected)} channels; a preview reads at most "
                              f"{max_series}. Narrow the selector (asset, category or ward) to preview it")
    subjects: Counter[str] = Counter()
    for info, measurement in sorted(selected, key=lambda s: (s[0].gateway, s[0].channel)):
        counted = store.count(measurement=measurement, gateway=info.gateway, channel=info.channel,
                              start_ms=result.start_ms, end_ms=end_ms)
        if result.points + counted > max_points:
            raise PreviewTooLarge(f"days: {days:g} days hold more than {max_points} readings of the channels "
                                  f"this rule selects; preview fewer days or narrow the selector")
        rows = store.range(gateway=info.gateway, channel=info.channel, start_ms=result.start_ms, end_ms=end_ms,
                           measurement=measurement)
        result.series += 1
        result.points += len(rows)
        subject = f"asset:{info.asset}" if info.asset else f"channel:{info.gateway}/{info.channel}"
        asset = catalog.asset(info.asset)
        base = Context(now_ms=end_ms, interval_s=info.interval_s, unit=info.unit, metric=measurement,
                       label=asset.label if asset else f"{info.gateway}/{info.channel}")
        _replay(spec, rows, base, subject, result, subjects)
    result.by_subject = dict(subjects.most_common())
    result.episodes.sort(key=lambda e: e["at_ms"])
    return result


def _replay(spec: RuleSpec, rows: list, base: Context, subject: str, result: Preview,
            subjects: Counter[str]) -> None:
    """Feed one channel's readings to a fresh evaluator of ``spec`` and count what it raises."""
    evaluator = spec.evaluator()
    state: Mapping[str, Any] = evaluator.initial()

    def count(actions) -> None:
        for action in actions:
            if isinstance(action, Raise):
                result.fired += 1
                subjects[subject] += 1
                if len(result.episodes) < MAX_LISTED:
                    result.episodes.append({"subject": subject, "at_ms": action.at_ms, "since_ms": action.since_ms,
                                            "at": datetime.fromtimestamp(action.at_ms / 1000, UTC),
                                            "value": action.value, "message": action.message,
                                            "said": action.said})

    for row in rows:
        ctx = replace(base, now_ms=row.ts_ms)
        if evaluator.ticks:
            state, actions = evaluator.on_tick(state, ctx)
            count(actions)
        state, actions = evaluator.on_sample(state, Sample(row.ts_ms, row.value, row.quality or "good"), ctx)
        count(actions)
    if evaluator.ticks and rows:
        state, actions = evaluator.on_tick(state, base)
        count(actions)
