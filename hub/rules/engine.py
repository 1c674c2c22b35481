"""The rules engine: feed it incoming telemetry, gateway status and events; tick it with time.

Entry points (the ingest worker's listener thread calls the first three as messages arrive,
before acknowledging them; a scheduler calls
:meth:`RulesEngine.tick` every few seconds):

- :meth:`RulesEngine.on_points` with the :class:`wardlink.hub.telemetry.Point` objects just decoded;
- :meth:`RulesEngine.on_status` with a decoded :class:`wardlink.protocol.Status` (Last Will too);
- :meth:`RulesEngine.on_events` with a gateway's :class:`wardlink.protocol.Event` list;
- :meth:`RulesEngine.tick` for silence, offline grace periods, unattended durations,
  escalation, alerts changed by people, and notification delivery.

Each call is one transaction: load the touched rule states, run the pure evaluators
(:mod:`wardlink.hub.rules.evaluators`) through the live/backfill tracks (:mod:`wardlink.hub.rules.tracks`),
apply their actions (:mod:`wardlink.hub.rules.actions`) and save the states. Nothing is cached
between calls except rule definitions, the catalog and which rules select which series, so
several hub processes may share one database and a restart continues every for-duration
where it stood.

Telemetry arrives by the thousand per call, and most series have no rule at all: such a
point costs one dictionary lookup. The states of the other series are read and written in
bulk, a statement per few hundred states; only a rule that acts (raises, clears, meters) goes
through the ORM with the alert services, after the bulk writes so far, so it sees every state
as it now stands.

Errors: an evaluator that fails on one input is logged and counted (``Outcome.errors``) and
the rest of the call goes on; a database failure raises :class:`RuleStoreError` with nothing
committed, so the caller may retry the same input.
"""

from __future__ import annotations

import gc
import logging
import threading
from collections import Counter, defaultdict
from contextlib import contextmanager
from dataclasses import dataclass, replace
from datetime import datetime, timedelta, UTC
from typing import Any, Callable, Iterable, Iterator, Mapping, Sequence

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wardlink.hub.db.engine import session_scope
from wardlink.hub.db.models.rules import Rule, RuleGateway, RuleState
from wardlink.hub.rules import lifecycle, states, tracks
from wardlink.hub.rules.actions import Applier, Outbox, Outcome, Subject
from wardlink.hub.rules.catalog import Catalog
from wardlink.hub.rules.errors import RuleDefinitionError, RuleStoreError
from wardlink.hub.rules.evaluators import Context, EventInput, Raise, Sample, StatusInput
from wardlink.hub.rules.evaluators.digital import EVENT_LEVELS
from wardlink.hub.rules.evaluators.silence import DEFAULT_TIMEOUT_S
from wardlink.hub.rules.spec import EscalationStep, RuleSpec
from wardlink.hub.rules.tracks import BACKFILL, DUPLICATE, LIVE, Routed
from wardlink.hub.services.gateways import registry as gateway_links
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.alerts.notifications import Deliveries
from wardlink.clock import Clock, SystemClock

log = logging.getLogger(__name__)

RULES_ACTOR = Actor.system("rules")
#: Series -> matching rules entries kept between rule reloads (the cache is cleared on reload).
MATCH_CACHE_SIZE = 100_000
__all__ = ["CompiledRule", "Outcome", "RulesEngine", "RULES_ACTOR"]


@dataclass(frozen=True)
class CompiledRule:
    """A stored rule with its evaluator built and its selector as sets."""

    id: int
    name: str
    kind: str
    severity: str
    title: str
    evaluator: Any
    match: Mapping[str, frozenset[str]]
    notify: tuple[str, ...]
    escalate: tuple[EscalationStep, ...]
    work_order: Mapping[str, Any] | None

    @classmethod
    def from_row(cls, row: Rule) -> CompiledRule:
        """Validate a stored rule and build it."""
        spec = RuleSpec.from_row(row)
        return cls(row.id, spec.name, spec.kind, spec.severity, spec.title, spec.evaluator(),
                   {k: frozenset(v) for k, v in spec.match.items()}, spec.notify, spec.escalate, spec.work_order)

    def matches(self, facts: Mapping[str, str | None]) -> bool:
        """Return True when every selector key allows the fact of the same name."""
        return all(facts.get(key) in allowed for key, allowed in self.match.items())


@dataclass
class _Job:
    """One rule applied to one state key within a call."""

    rule: CompiledRule
    key: str
    subject: Subject
    run: Callable[[dict, Callable[[list[Routed]], None]], tuple[int, int]]  # -> (evaluated, duplicates)


_pause_lock = threading.Lock()
_pauses = [0, False]  # calls under way, whether the collector was enabled before the first


@contextmanager
def collector_paused() -> Iterator[None]:
    """Keep the cyclic garbage collector from running inside the block (any thread, nestable).

    A telemetry call allocates tens of thousands of short-lived containers (state documents,
    samples, jobs) and keeps them to its end. Collections in the middle of it would find them
    all alive and promote them, and promoted objects set off full collections over the whole
    heap. With the collector paused, they are freed by reference counting at the end of the
    call and never reach it; reference cycles made meanwhile are collected afterwards.
    """
    with _pause_lock:
        if _pauses[0] == 0:
            _pauses[1] = gc.isenabled()
            gc.disable()
        _pauses[0] += 1
    try:
        yield
    finally:
        with _pause_lock:
            _pauses[0] -= 1
            if _pauses[0] == 0 and _pauses[1]:
                gc.enable()


class _Series:
    """What the engine derives once per series (measurement + tags) and keeps until rules or catalog change."""

    __slots__ = ("tags", "measurement", "rules", "key", "subject", "interval_s", "unit")

    def __init__(self, tags: tuple, measurement: str | None, rules: list[CompiledRule]) -> None:
        self.tags, self.measurement, self.rules = tags, measurement, rules
        self.key = self.subject = self.interval_s = None
        self.unit = ""


def channel_key(gateway: str, channel: str, asset: str | None) -> str:
    """Return the state key of a rule on one channel (a re-bound channel starts afresh)."""
    return f"{gateway}/{channel}@{asset or '-'}"


def _insert_missing_gateway(session: Session, **values: Any) -> None:
    """Insert a ``rule_gateways`` row unless one for its gateway exists (or is being inserted) already."""
    dialect = session.get_bind().dialect.name
    if dialect == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    elif dialect == "sqlite":
        from sqlalchemy.dialects.sqlite import insert
    else:
        session.add(RuleGateway(**values))
        session.flush()
        return
    session.execute(insert(RuleGateway).values(**values).on_conflict_do_nothing(index_elements=["gateway"]))


class RulesEngine:
    """Evaluate stored rules against hub inputs and keep alerts in step."""

    def __init__(self, engine: Engine, *, clock: Clock | None = None, dispatcher: Deliveries | None = None,
                 public_url: str = "", site_name: str = "Wardlink", refresh_s: float = 10.0,
                 buffering_lag_s: float = 60.0, late_after_s: float = 300.0, settle_s: float = 900.0,
                 actor: Actor = RULES_ACTOR, stall_min_s: float = gateway_links.STALL_MIN_S) -> None:
        self._db = engine
        self.clock = clock or SystemClock()
        self.dispatcher = dispatcher
        self.actor = actor
        self.catalog = Catalog(engine, self.clock, refresh_s=refresh_s)
        self.outbox = Outbox(dispatcher, public_url=public_url, site=site_name)
        self.refresh_s = refresh_s
        self.buffering_lag_ms = round(buffering_lag_s * 1000)
        self.late_after_ms = round(late_after_s * 1000)
        self.settle_ms = round(settle_s * 1000)
        self.stall_min_s = stall_min_s
        self._stalls: dict[str, int] = {}  # gateway -> silent since (ms), during a tick
        self.stats: Counter[str] = Counter()
        self._lock = threading.RLock()
        self._rules: list[CompiledRule] | None = None
        self._fingerprint: tuple | None = None
        self._checked_at: float | None = None
        self._match_cache: dict[tuple, list[CompiledRule]] = {}
        # id(tags) -> what a series needs: the reading rules selecting it, its state key, subject
        # and channel facts; holding ``tags`` keeps its id from being reused while the entry lives.
        self._series_rules: dict[int, _Series] = {}
        self._generation = 0  # incremented whenever the rules are compiled anew
        self._facts_seen: tuple | None = None  # (rules generation, catalog version) the caches were made for

    # ------------------------------------------------------------------ rules

    def reload(self) -> None:
        """Re-read rules and the catalog now (after editing rules or assets in this process)."""
        with self._lock:
            self._checked_at = None
            self._fingerprint = None
            self.catalog.invalidate()

    def rules(self) -> list[CompiledRule]:
        """Return the enabled rules, re-reading them when the table changed."""
        with self._lock:
            now = self.clock.monotonic()
            if self._rules is not None and self._checked_at is not None and now - self._checked_at < self.refresh_s:
                return self._rules
            try:
                with Session(self._db) as session:
                    fingerprint = tuple(session.execute(select(func.count(), func.max(Rule.updated_at))).one())
                    if fingerprint != self._fingerprint or self._rules is None:
                        self._rules = self._compile(session.scalars(select(Rule).where(Rule.enabled.is_(True))
                                                                    .order_by(Rule.id)))
                        self._fingerprint = fingerprint
                        self._generation += 1
            except SQLAlchemyError as exc:
                raise RuleStoreError(f"cannot read rules: {exc.__class__.__name__}: {exc}") from exc
            self.catalog.refresh()
            facts = (self._generation, self.catalog.version)
            if facts != self._facts_seen:
                # Which rules select which series follows from the rules and the catalog only.
                self._match_cache.clear()
                self._series_rules.clear()
                self._facts_seen = facts
            self._checked_at = now
            return self._rules

    def _compile(self, rows: Iterable[Rule]) -> list[CompiledRule]:
        compiled = []
        for row in rows:
            try:
                rule = CompiledRule.from_row(row)
            except RuleDefinitionError as exc:
                self.stats["invalid_rules"] += 1
                log.error("rule %s skipped: %s", row.name, exc)
                continue
            targets = (*rule.notify, *(t for step in rule.escalate for t in step.notify))
            missing = sorted({t for t in targets if self.dispatcher is not None and t not in self.dispatcher.notifiers})
            if missing:
                self.stats["unknown_targets"] += 1
                log.warning("rule %s notifies %s, which no notifier is configured for", rule.name, ", ".join(missing))
            compiled.append(rule)
        log.info("rules engine: %d rule(s) enabled", len(compiled))
        return compiled

    def _by_input(self, kind: str) -> list[CompiledRule]:
        return [r for r in self.rules() if kind in r.evaluator.inputs]

    def _now_ms(self) -> int:
        return round(self.clock.now() * 1000)

    # ------------------------------------------------------------------ subjects

    def _channel_subject(self, gateway: str, channel: str, asset: str | None) -> Subject:
        info = self.catalog.asset(asset)
        if asset:
            return Subject(f"asset:{asset}", info.label if info else asset, asset, gateway, channel)
        return Subject(f"channel:{gateway}/{channel}", f"{gateway}/{channel}", None, gateway, channel)

    def _facts(self, measurement: str | None, tags: Mapping[str, str]) -> dict[str, str | None]:
        asset = self.catalog.asset(tags.get("asset"))
        return {"metric": measurement, "asset": tags.get("asset"), "category": asset.category if asset else None,
                "ward": tags.get("ward") or (asset.ward if asset else None),
                "site": tags.get("site") or (asset.site if asset else None),
                "gateway": tags.get("gateway"), "channel": tags.get("channel")}

    def _channel_rules(self, group: str, rules: list[CompiledRule], measurement: str | None,
                       tags: Mapping[str, str]) -> list[CompiledRule]:
        """Return the ``rules`` (of cache group ``group``) whose selector matches a series."""
        key = (group, measurement, tuple(sorted(tags.items())))  # tags given as a dict
        hit = self._match_cache.get(key)
        if hit is None:
            if len(self._match_cache) >= MATCH_CACHE_SIZE:
                self._match_cache.clear()
            facts = self._facts(measurement, tags)
            hit = self._match_cache[key] = [r for r in rules if r.matches(facts)]
        return hit

    def _reading_context(self, now_ms: int, gateway: str, channel: str, measurement: str | None,
                         label: str) -> Context:
        info = self.catalog.channel(gateway, channel)
        return Context(now_ms=now_ms, interval_s=info.interval_s if info else None,
                       unit=info.unit if info else "", metric=measurement, label=label)

    # ------------------------------------------------------------------ readings

    def on_points(self, points: Sequence[Any]) -> Outcome:
        """Evaluate stored telemetry points (``wardlink.hub.telemetry.Point``), in timestamp order per channel."""
        rules = self._by_input("reading")
        if not rules or not points:
            return Outcome()
        with collector_paused():
            return self._on_points(rules, points)

    def _on_points(self, rules: list[CompiledRule], points: Sequence[Any]) -> Outcome:
        now = self._now_ms()
        series_rules = self._series_rules
        groups: dict[tuple, tuple[_Series, list[tuple[Sample, bool]]]] = {}
        for measurement, tags, ts_ms, value, quality, late in points:
            # Ingest hands over one tags object per series, so an identity lookup finds the
            # series' rules; a series without any (most of them) costs nothing more.
            series = series_rules.get(id(tags))
            if series is None or series.tags is not tags or series.measurement != measurement:
                series = self._remember_series(rules, measurement, tags)
            if not series.rules:
                continue
            key = (measurement, tags)  # a point's tags are already a sorted tuple: the series key as it is
            group = groups.get(key)
            if group is None:
                group = groups[key] = (series, [])
            group[1].append((Sample(ts_ms, value, quality), bool(late)))
        jobs = []
        for (measurement, _), (series, samples) in groups.items():
            if len(samples) > 1:
                samples.sort(key=lambda s: s[0].ts_ms)
            ctx = Context(now_ms=now, interval_s=series.interval_s, unit=series.unit, metric=measurement,
                          label=series.subject.label)
            for rule in series.rules:
                jobs.append(_Job(rule, series.key, series.subject, self._reading_runner(rule, samples, ctx)))
        return self._execute_in_bulk(jobs)

    def _remember_series(self, rules: list[CompiledRule], measurement: str | None, tags: tuple) -> _Series:
        """Find and cache the reading rules that select a series (none without gateway and channel)."""
        tag_map = dict(tags)
        gateway, channel, asset = tag_map.get("gateway"), tag_map.get("channel"), tag_map.get("asset")
        series = _Series(tags, measurement, [])
        if gateway and channel:
            series.rules = self._channel_rules("reading", rules, measurement, tag_map)
        if series.rules:
            series.key = channel_key(gateway, channel, asset)
            series.subject = self._channel_subject(gateway, channel, asset)
            info = self.catalog.channel(gateway, channel)
            if info is not None:
                series.interval_s, series.unit = info.interval_s, info.unit
        if len(self._series_rules) >= MATCH_CACHE_SIZE:
            self._series_rules.clear()
        self._series_rules[id(tags)] = series
        return series

    @staticmethod
    def _reading_runner(rule: CompiledRule, samples: list[tuple[Sample, bool]], ctx: Context):
        evaluator = rule.evaluator

        def run(doc: dict, apply: Callable[[list[Routed]], None]) -> tuple[int, int]:
            evaluated = duplicates = 0
            holes: list[int] = []  # starts of the holes late readings were added to, in order
            for sample, late in samples:
                track, routed = tracks.feed(evaluator, doc, sample, late, ctx)
                if track == DUPLICATE:
                    duplicates += 1
                    continue
                evaluated += 1
                if track == BACKFILL and evaluator.raises:
                    start = tracks.hole_at(doc, sample.ts_ms)
                    if start is not None and start not in holes:
                        holes.append(start)
                    continue
                apply(routed)
                if (track == LIVE and not late and doc.get("hist") and evaluator.raises
                        and tracks.is_active(evaluator, doc) and not any(isinstance(r.action, Raise) for r in routed)):
                    # The condition raised from late data still holds in live data: a live alert now.
                    apply([Routed(Raise(sample.ts_ms, sample.ts_ms, sample.value,
                                        "live data shows the condition still holds"), False, LIVE)])
            for start in holes:
                # The hole's readings as they now stand, whatever order they came in: its
                # episodes, which the applier matches with the alerts already open by start.
                replayed = tracks.replay(evaluator, doc, start, ctx)
                if replayed is not None:
                    apply([Routed(replayed, True, BACKFILL)])
            if holes:
                tracks.drop_filled(evaluator, doc, holes, ctx)
            return evaluated, duplicates

        return run

    # ------------------------------------------------------------------ status

    def _gateway_buffering(self, row: RuleGateway | None) -> bool:
        return (row is not None and row.state == "online"
                and (row.oldest_unsent_ms or 0) >= self.buffering_lag_ms and (row.buffer_depth or 0) > 0)

    def on_status(self, gateway_id: str, status: Any, received_ms: int | None = None) -> Outcome:
        """Apply a gateway's status (``wardlink.protocol.Status``; the Last Will says offline)."""
        received = self._now_ms() if received_ms is None else received_ms
        rules = self._by_input("status")
        facts = {"gateway": gateway_id, "ward": self.catalog.gateway_ward(gateway_id)}
        matched = [r for r in rules if r.matches(facts)]
        inp = StatusInput(status.state, received, status.buffer_depth, status.oldest_unsent_ms)
        ctx = Context(now_ms=received, label=f"gateway {gateway_id}")
        subject = Subject(f"gateway:{gateway_id}", f"gateway {gateway_id}", gateway=gateway_id)
        applies = {"ok": True}

        def prelude(session: Session) -> bool:
            row = session.get(RuleGateway, gateway_id)
            if row is None:
                # Status is not shared between workers: each sees a gateway's first status and
                # would insert its row; the loser must take the winner's row, not fail the batch.
                _insert_missing_gateway(session, gateway=gateway_id, state=status.state, since_ms=received,
                                        status_ms=received)
                row = session.get(RuleGateway, gateway_id, populate_existing=True)
            if status.state == "offline" and row.state == "online" and row.boot and status.boot != row.boot:
                # The Last Will of an earlier boot, published after the new boot said hello.
                self.stats["stale_status"] += 1
                applies["ok"] = False
                return False
            if row.state != status.state:
                row.since_ms = received
            if status.state == "online" and status.ts_ms is not None and (
                    row.status_ts_ms is None or status.boot != row.boot or status.ts_ms > row.status_ts_ms):
                # A fresh status (not the retained one delivered again on a new subscription,
                # whose timestamp is old) tells how far the gateway's clock is from ours. The
                # Last Will is left out: its timestamp is from when the gateway connected.
                row.status_ts_ms = status.ts_ms
                row.clock_offset_ms = received - status.ts_ms
            row.state, row.boot, row.status_ms = status.state, status.boot, received
            if status.state == "online":
                row.buffer_depth, row.oldest_unsent_ms = status.buffer_depth, status.oldest_unsent_ms
            return True

        def runner(rule: CompiledRule):
            def run(doc: dict, apply) -> tuple[int, int]:
                doc["live"], actions = rule.evaluator.on_status(doc["live"], inp, ctx)
                apply([Routed(a, False, LIVE) for a in actions])
                return 1, 0
            return run

        jobs = [_Job(r, subject.key, subject, runner(r)) for r in matched]
        return self._execute(jobs, prelude=prelude)

    # ------------------------------------------------------------------ events

    def on_events(self, gateway_id: str, events: Sequence[Any]) -> Outcome:
        """Apply a gateway's events (``wardlink.protocol.Event``): door/input levels and BLE presence."""
        rules = self._by_input("event")
        if not rules or not events:
            return Outcome()
        now = self._now_ms()
        # An event is late when it happened long before now on the gateway's own clock; judged on
        # the hub's, every event of a gateway 10 minutes behind would count as late (historical).
        offset = self._clock_offset(gateway_id)
        level_rules = [r for r in rules if "reading" in r.evaluator.inputs]
        presence_rules = [r for r in rules if r.evaluator.kind == "presence_mismatch"]
        samples: dict[tuple, list[tuple[Sample, bool]]] = defaultdict(list)
        placed: dict[tuple, list[EventInput]] = defaultdict(list)
        for event in sorted(events, key=lambda e: e.ts_ms):
            late = now - offset - event.ts_ms > self.late_after_ms
            if event.type in EVENT_LEVELS and event.channel and level_rules:
                value = EVENT_LEVELS[event.type]
                if value is None:
                    value = event.data.get("value", event.data.get("state"))
                if isinstance(value, bool):
                    value = float(value)
                if not isinstance(value, (int, float)):
                    self.stats["events_without_level"] += 1
                    continue
                samples[(gateway_id, event.channel)].append((Sample(event.ts_ms, float(value)), late))
            elif presence_rules and isinstance(event.data.get("tag"), str):
                where = event.data.get("gateway", gateway_id) if event.type == "presence.changed" else \
                    event.data.get("gateway") or gateway_id
                inp = EventInput(event.type, event.ts_ms, where, self.catalog.gateway_ward(where), event.data)
                for rule in presence_rules:
                    asset = rule.evaluator.tags.get(event.data["tag"])
                    if asset is not None and event.type in rule.evaluator.events:
                        placed[(rule.id, asset)].append(inp)
        jobs = []
        for (gateway, channel), series in samples.items():
            info = self.catalog.channel(gateway, channel)
            asset = info.asset if info else None
            measurement = (info.measurement or info.metric) if info else None
            tags = {"gateway": gateway, "channel": channel, **({"asset": asset} if asset else {})}
            subject = self._channel_subject(gateway, channel, asset)
            ctx = self._reading_context(now, gateway, channel, measurement, subject.label)
            ctx = replace(ctx, clock_offset_ms=offset)
            for rule in self._channel_rules("event-level", level_rules, measurement, tags):
                jobs.append(_Job(rule, channel_key(gateway, channel, asset), subject,
                                 self._reading_runner(rule, series, ctx)))
        by_id = {r.id: r for r in presence_rules}
        for (rule_id, asset), inputs in placed.items():
            rule = by_id[rule_id]
            subject, ctx = self._asset_subject(rule, asset, now)
            jobs.append(_Job(rule, subject.key, subject, self._event_runner(rule, inputs, ctx, now - offset)))
        return self._execute(jobs)

    def _clock_offset(self, gateway_id: str) -> int:
        """Return how far ``gateway_id``'s clock runs behind the hub's, per its newest status (0 if unknown)."""
        try:
            with Session(self._db) as session:
                offset = session.scalar(select(RuleGateway.clock_offset_ms).where(RuleGateway.gateway == gateway_id))
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"cannot read the clock of gateway {gateway_id}: {exc}") from exc
        return offset or 0

    def _asset_subject(self, rule: CompiledRule, asset: str, now_ms: int) -> tuple[Subject, Context]:
        info = self.catalog.asset(asset)
        home = rule.evaluator.home.get(asset) or ([info.ward] if info and info.ward else [])
        label = info.label if info else asset
        ctx = Context(now_ms=now_ms, home=frozenset(home) | frozenset(rule.evaluator.allowed), label=label)
        return Subject(f"asset:{asset}", label, asset), ctx

    def _event_runner(self, rule: CompiledRule, inputs: list[EventInput], ctx: Context, now: int):
        def run(doc: dict, apply) -> tuple[int, int]:
            for inp in inputs:
                doc["live"], actions = rule.evaluator.on_event(doc["live"], inp, ctx)
                apply([Routed(a, now - inp.ts_ms > self.late_after_ms, LIVE) for a in actions])
            return len(inputs), 0
        return run

    # ------------------------------------------------------------------ the transaction

    def _execute(self, jobs: list[_Job], prelude: Callable[[Session], bool] | None = None) -> Outcome:
        outcome = Outcome()
        if not jobs and prelude is None:
            return outcome
        try:
            with self._lock, session_scope(self._db) as session:
                if prelude is not None and not prelude(session):
                    return outcome
                applier = Applier(session, catalog=self.catalog, outbox=self.outbox, clock=self.clock,
                                  actor=self.actor, outcome=outcome)
                rows = self._load_states(session, {(j.rule.id, j.key) for j in jobs})
                for job in jobs:
                    self._run_job(session, applier, rows, job, outcome)
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"rules engine transaction failed: {exc.__class__.__name__}: {exc}") from exc
        self._after_commit(outcome)
        return outcome

    def _execute_in_bulk(self, jobs: list[_Job]) -> Outcome:
        """Run ``jobs`` in one transaction, reading and writing their states a few hundred at a time.

        A job whose evaluation produces no action only moves its state, which is saved with the
        others at the end. A job that acts first writes out the states moved so far, then runs
        through :meth:`_run_job` (ORM rows, alert services, audit, savepoint), exactly as alone.
        """
        outcome = Outcome()
        if not jobs:
            return outcome
        try:
            with self._lock, session_scope(self._db) as session:
                applier = Applier(session, catalog=self.catalog, outbox=self.outbox, clock=self.clock,
                                  actor=self.actor, outcome=outcome)
                docs = states.load(session, {(j.rule.id, j.key) for j in jobs})
                moved: dict[tuple[int, str], tuple[bool, _Job, dict]] = {}  # ident -> (new row?, job, doc)
                for job in jobs:
                    ident = (job.rule.id, job.key)
                    original = docs.get(ident)
                    fresh = original is None and ident not in moved
                    base = tracks.new_document(job.rule.evaluator) if original is None else original
                    doc = tracks.copy_document(base)
                    produced: list[Routed] = []
                    try:
                        evaluated, duplicates = job.run(doc, produced.extend)
                    except Exception:
                        outcome.errors += 1
                        self.stats["evaluation_errors"] += 1
                        log.exception("rule %s failed on %s; its state is left as it was", job.rule.name, job.key)
                        if fresh:
                            moved[ident] = (True, job, base)  # a new key is stored at its start, as alone
                            docs[ident] = base
                        continue
                    if produced:
                        self._write_documents(session, moved, applier.now)
                        moved.clear()
                        row = session.get(RuleState, ident, populate_existing=True)
                        rows = {ident: row} if row is not None else {}
                        self._run_job(session, applier, rows, job, outcome)
                        session.flush()
                        if ident in rows:
                            docs[ident] = rows[ident].data
                        continue
                    outcome.evaluated += evaluated
                    outcome.duplicates += duplicates
                    # A reading that was not a duplicate moved the document (its newest time or
                    # its backfill track); duplicates alone leave it exactly as it was.
                    if fresh or evaluated:
                        moved[ident] = (fresh or moved.get(ident, (False,))[0], job, doc)
                        docs[ident] = doc
                self._write_documents(session, moved, applier.now)
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"rules engine transaction failed: {exc.__class__.__name__}: {exc}") from exc
        self._after_commit(outcome)
        return outcome

    @staticmethod
    def _write_documents(session: Session, moved: dict[tuple[int, str], tuple[bool, _Job, dict]],
                         now: Any) -> None:
        """Store the states in ``moved``: new keys inserted, the others updated, in bulk."""
        if not moved:
            return
        added, changed = [], []
        for (rule_id, key), (fresh, job, doc) in moved.items():
            active = tracks.is_active(job.rule.evaluator, doc)
            if fresh:
                subject = job.subject
                added.append({"rule_id": rule_id, "key": key, "subject": subject.key, "gateway": subject.gateway,
                              "channel": subject.channel, "asset": subject.asset, "active": active,
                              "last_ts_ms": doc.get("last"), "data": doc, "updated_at": now})
            else:
                changed.append((rule_id, key, doc, active, doc.get("last")))
        states.insert(session, added)
        states.update(session, changed, now)

    def _run_job(self, session: Session, applier: Applier, rows: dict, job: _Job, outcome: Outcome) -> None:
        ident = (job.rule.id, job.key)
        row = rows.get(ident)
        if row is None:
            row = rows[ident] = RuleState(rule_id=job.rule.id, key=job.key, subject=job.subject.key,
                                          gateway=job.subject.gateway, channel=job.subject.channel,
                                          asset=job.subject.asset, active=False,
                                          data=tracks.new_document(job.rule.evaluator), updated_at=applier.now)
            session.add(row)
        original = row.data
        # Most inputs change a state and nothing else. Evaluators are pure, so the job first runs
        # without touching the database; only when it produced actions is it run again for real,
        # applying them as it goes, inside a savepoint that a failing rule rolls back alone.
        doc = tracks.copy_document(original)
        produced: list[Routed] = []
        try:
            evaluated, duplicates = job.run(doc, produced.extend)
            if produced:
                doc = tracks.copy_document(original)
                with session.begin_nested():
                    evaluated, duplicates = job.run(doc, self._applying(session, applier, row, job, doc))
                    self._store(row, job, doc, applier)
                    session.flush()
            elif doc != original:
                self._store(row, job, doc, applier)
        except SQLAlchemyError:
            raise
        except Exception:
            outcome.errors += 1
            self.stats["evaluation_errors"] += 1
            log.exception("rule %s failed on %s; its state is left as it was", job.rule.name, job.key)
            return
        outcome.evaluated += evaluated
        outcome.duplicates += duplicates

    @staticmethod
    def _applying(session: Session, applier: Applier, row: RuleState, job: _Job, doc: dict):
        def apply(routed: list[Routed]) -> None:
            if not routed:
                return
            # Save the state first, so the applier sees this key's own activity when it checks
            # whether another channel still holds the subject's condition.
            row.active = tracks.is_active(job.rule.evaluator, doc)
            session.flush()
            for r in routed:
                applier.apply(job.rule, job.subject, r, doc, job.key)
        return apply

    @staticmethod
    def _store(row: RuleState, job: _Job, doc: dict, applier: Applier) -> None:
        row.data = doc  # a fresh copy, never shared with another row
        row.active = tracks.is_active(job.rule.evaluator, doc)
        row.last_ts_ms = doc.get("last")
        row.updated_at = applier.now

    @staticmethod
    def _load_states(session: Session, idents: set[tuple[int, str]]) -> dict[tuple[int, str], RuleState]:
        rows: dict[tuple[int, str], RuleState] = {}
        by_rule: dict[int, list[str]] = defaultdict(list)
        for rule_id, key in idents:
            by_rule[rule_id].append(key)
        for keys in by_rule.values():
            keys.sort()
        for rule_id, keys in sorted(by_rule.items()):
            for start in range(0, len(keys), 500):
                chunk = keys[start:start + 500]
                # FOR UPDATE: two ingest workers on PostgreSQL evaluating the same key must take
                # turns, or the second would overwrite the first's state (SQLite serialises anyway).
                for row in session.scalars(select(RuleState).where(RuleState.rule_id == rule_id,
                                                                   RuleState.key.in_(chunk))
                                           .order_by(RuleState.key).with_for_update()):
                    rows[(row.rule_id, row.key)] = row
        return rows

    def _after_commit(self, outcome: Outcome) -> None:
        for name in ("opened", "historical", "promoted", "resolved", "escalated", "work_orders",
                     "notifications", "errors", "duplicates", "evaluated"):
            self.stats[name] += getattr(outcome, name)
        if outcome.notifications and self.dispatcher is not None:
            self.dispatcher.kick()

    # ------------------------------------------------------------------ time

    def tick(self, *, deliver: bool = True) -> Outcome:
        """Evaluate time-driven rules, escalate, reconcile people's changes, deliver notifications."""
        rules = self.rules()
        now = self._now_ms()
        outcome = Outcome()
        ticking = [r for r in rules if r.evaluator.ticks]
        by_id = {r.id: r for r in rules}
        # Read before the transaction: on SQLite a second connection must not wait on our own writes.
        heard, deaf = {}, False
        if any(r.evaluator.scope == "gateway" for r in ticking):
            heard = gateway_links.heard_at(self._db)
            deaf = gateway_links.ingest_deaf(self._db, datetime.fromtimestamp(now / 1000, UTC),
                                             timedelta(seconds=self.stall_min_s))
        try:
            with self._lock, session_scope(self._db) as session:
                applier = Applier(session, catalog=self.catalog, outbox=self.outbox, clock=self.clock,
                                  actor=self.actor, outcome=outcome)
                gateways = {g.gateway: g for g in session.scalars(select(RuleGateway))}
                self._stalls = self._stalled_gateways(gateways, heard, now, deaf)
                for rule in ticking:
                    self._tick_rule(session, applier, rule, gateways, now, outcome)
                lifecycle.reconcile(session, applier, by_id)
                lifecycle.escalate(session, applier, by_id)
                lifecycle.settle(session, applier, by_id, self.settle_ms)
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"rules engine tick failed: {exc.__class__.__name__}: {exc}") from exc
        self._after_commit(outcome)
        if deliver and self.dispatcher is not None:
            try:
                report = self.dispatcher.run_pending()
            except Exception:
                self.stats["delivery_errors"] += 1
                log.exception("notification delivery failed; the outbox keeps the rows for the next tick")
            else:
                self.stats["delivered"] += report.sent
                self.stats["delivery_failures"] += report.retried + report.failed
        return outcome

    def _tick_rule(self, session: Session, applier: Applier, rule: CompiledRule, gateways: dict,
                   now: int, outcome: Outcome) -> None:
        stmt = select(RuleState).where(RuleState.rule_id == rule.id)
        if rule.kind == "channel_silent":
            # Only channels quiet for longer than the shortest timeout can turn silent: at one
            # reading a second from thousands of channels, loading every state each tick would not do.
            # Silence counts from when the hub last heard a channel, which its state's
            # ``updated_at`` (hub time) bounds from above; ``last_ts_ms`` is the gateway's clock
            # and also selects states saved before the evaluator kept that time.
            horizon = now - self._shortest_silence_ms(rule)
            stmt = stmt.where(RuleState.active.is_(False),
                              or_(RuleState.last_ts_ms.is_(None), RuleState.last_ts_ms < horizon,
                                  RuleState.updated_at < datetime.fromtimestamp(horizon / 1000, UTC)))
        rows = {row.key: row for row in session.scalars(stmt.order_by(RuleState.key).with_for_update())}
        if rule.kind == "channel_silent":
            known = set(session.scalars(select(RuleState.key).where(RuleState.rule_id == rule.id)))
            self._seed_channels(session, rule, rows, known, applier)
        for key, row in rows.items():
            if rule.evaluator.scope == "channel" and row.channel is not None:
                info = self.catalog.channel(row.gateway, row.channel)
                if info is not None and info.asset != row.asset:
                    continue  # the channel was re-bound: this key belongs to its previous asset
            gw_row = gateways.get(row.gateway) if row.gateway else None
            subject, ctx = self._tick_subject(rule, row, gw_row, now, gateways)
            job = _Job(rule, key, subject, self._tick_runner(rule, ctx))
            self._run_job(session, applier, {(rule.id, key): row}, job, outcome)

    def _stalled_gateways(self, gateways: Mapping[str, RuleGateway], heard: Mapping[str, datetime],
                          now: int, deaf: bool) -> dict[str, int]:
        """Return the gateways whose status says online but which went silent, with since when (ms)."""
        intervals: dict[str, list[float | None]] = defaultdict(list)
        for info in self.catalog.channels.values():
            intervals[info.gateway].append(info.interval_s)
        moment = datetime.fromtimestamp(now / 1000, UTC)
        stalls = {}
        for gateway, row in gateways.items():
            last = datetime.fromtimestamp(row.status_ms / 1000, UTC)
            if gateway in heard:
                last = max(last, heard[gateway])
            link = gateway_links.judge_link(row.state, last, moment,
                                            gateway_links.stall_after(intervals[gateway], self.stall_min_s),
                                            hub_deaf=deaf)
            if link.stalled_since is not None:
                stalls[gateway] = round(link.stalled_since.timestamp() * 1000)
        return stalls

    def _tick_subject(self, rule: CompiledRule, row: RuleState, gw_row: RuleGateway | None,
                      now: int, gateways: Mapping[str, RuleGateway]) -> tuple[Subject, Context]:
        gateway_state = gw_row.state if gw_row is not None else None
        buffering = self._gateway_buffering(gw_row)
        if rule.evaluator.scope == "asset":
            subject, ctx = self._asset_subject(rule, row.asset or row.subject.removeprefix("asset:"), now)
            # The asset's times come from the gateway that placed it: measure on that one's clock.
            live = row.data.get("live") if isinstance(row.data, dict) else None
            placed = gateways.get(live.get("gateway")) if isinstance(live, dict) else None
            if placed is not None and placed.clock_offset_ms:
                ctx = replace(ctx, clock_offset_ms=placed.clock_offset_ms)
            return subject, ctx
        if rule.evaluator.scope == "gateway":
            subject = Subject(row.subject, f"gateway {row.gateway}", gateway=row.gateway)
            return subject, Context(now_ms=now, gateway_state=gateway_state, label=subject.label,
                                    stalled_since_ms=self._stalls.get(row.gateway))
        subject = self._channel_subject(row.gateway, row.channel, row.asset)
        info = self.catalog.channel(row.gateway, row.channel)
        return subject, Context(now_ms=now, interval_s=info.interval_s if info else None,
                                unit=info.unit if info else "", metric=info.measurement if info else None,
                                gateway_state=gateway_state, buffering=buffering, label=subject.label,
                                clock_offset_ms=(gw_row.clock_offset_ms or 0) if gw_row is not None else 0)

    @staticmethod
    def _tick_runner(rule: CompiledRule, ctx: Context):
        def run(doc: dict, apply) -> tuple[int, int]:
            apply(tracks.tick(rule.evaluator, doc, ctx))
            return 0, 0
        return run

    def _shortest_silence_ms(self, rule: CompiledRule) -> int:
        """Return the smallest timeout the rule can apply to any channel."""
        intervals = [c.interval_s for c in self.catalog.channels.values() if c.interval_s]
        shortest = rule.evaluator.timeout_ms(Context(now_ms=0, interval_s=min(intervals) if intervals else None))
        if not rule.evaluator.timeout_s:  # channels of unknown interval get the default timeout
            shortest = min(shortest, round(DEFAULT_TIMEOUT_S * 1000))
        return shortest

    def _seed_channels(self, session: Session, rule: CompiledRule, rows: dict[str, RuleState],
                       known: set[str], applier: Applier) -> None:
        """Start watching registered channels the rule selects but has never heard."""
        for info in self.catalog.channels.values():
            tags = {"gateway": info.gateway, "channel": info.channel, **({"asset": info.asset} if info.asset else {})}
            if not rule.matches(self._facts(info.measurement or info.metric, tags)):
                continue
            key = channel_key(info.gateway, info.channel, info.asset)
            if key in known:
                continue
            subject = self._channel_subject(info.gateway, info.channel, info.asset)
            doc = tracks.new_document(rule.evaluator)
            row = RuleState(rule_id=rule.id, key=key, subject=subject.key, gateway=info.gateway,
                            channel=info.channel, asset=info.asset, active=False, data=doc,
                            updated_at=applier.now)
            session.add(row)
            rows[key] = row
            known.add(key)

    # ------------------------------------------------------------------ lifecycle

    def close(self) -> None:
        """Release nothing held: the engine keeps no connections of its own (idempotent)."""
        self._rules = None

    def __enter__(self) -> RulesEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

