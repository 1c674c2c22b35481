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

The engine turns inputs into jobs; the parts live beside it: :mod:`wardlink.hub.rules.jobs` (jobs and
their transactions), :mod:`wardlink.hub.rules.runners` (what a job does to a state, with the replay
of late batches), :mod:`wardlink.hub.rules.links` (gateway status, clock offset, stalls) and
:mod:`wardlink.hub.rules.ticking` (the time-driven rules).

Errors: an evaluator that fails on one input is logged and counted (``Outcome.errors``) and
the rest of the call goes on; a database failure raises :class:`RuleStoreError` with nothing
committed, so the caller may retry the same input.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter, defaultdict
from dataclasses import replace
from datetime import datetime, timedelta, UTC
from typing import Any, Iterable, Mapping, Sequence

from sqlalchemy import Engine, func, select
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from wardlink.hub.db.engine import session_scope
from wardlink.hub.db.models.rules import Rule
from wardlink.hub.rules import generation, lifecycle, links
from wardlink.hub.rules.actions import Applier, Outbox, Outcome, Subject
from wardlink.hub.rules.catalog import Catalog
from wardlink.hub.rules.errors import RuleDefinitionError, RuleStoreError
from wardlink.hub.rules.evaluators import Context, EventInput, Sample, StatusInput
from wardlink.hub.rules.evaluators.digital import EVENT_LEVELS
from wardlink.hub.rules.jobs import CompiledRule, Job, Transactions, channel_key, collector_paused
from wardlink.hub.rules.runners import event_runner, reading_runner, status_runner
from wardlink.hub.rules.ticking import Ticker
from wardlink.hub.services.gateways import registry as gateway_links
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.alerts.notifications import Deliveries
from wardlink.clock import Clock, SystemClock

log = logging.getLogger(__name__)

RULES_ACTOR = Actor.system("rules")
#: Series -> matching rules entries kept between rule reloads (the cache is cleared on reload).
MATCH_CACHE_SIZE = 100_000
__all__ = ["CompiledRule", "Outcome", "RulesEngine", "RULES_ACTOR", "channel_key", "collector_paused"]


class _Series:
    """What the engine derives once per series (measurement + tags) and keeps until rules or catalog change."""

    __slots__ = ("tags", "measurement", "rules", "key", "subject", "interval_s", "unit")

    def __init__(self, tags: tuple, measurement: str | None, rules: list[CompiledRule]) -> None:
        self.tags, self.measurement, self.rules = tags, measurement, rules
        self.key = self.subject = self.interval_s = None
        self.unit = ""



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
        self.stats: Counter[str] = Counter()
        self._lock = threading.RLock()
        self.jobs = Transactions(engine, self._lock, self.stats, self._applier, dispatcher)
        self._rules: list[CompiledRule] | None = None
        self._fingerprint: tuple | None = None
        self._rules_generation: int | None = None  # the rules generation the rules were read at
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
            try:
                changed = self._rules_generation != generation.read(self._db)  # one cheap read per call
            except SQLAlchemyError as exc:
                raise RuleStoreError(f"cannot read rules: {exc.__class__.__name__}: {exc}") from exc
            if (not changed and self._rules is not None and self._checked_at is not None
                    and now - self._checked_at < self.refresh_s):
                return self._rules
            try:
                with Session(self._db) as session:
                    self._rules_generation = generation.current(session)
                    fingerprint = (self._rules_generation,
                                   *session.execute(select(func.count(), func.max(Rule.updated_at))).one())
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

    def _applier(self, session: Session, outcome: Outcome) -> Applier:
        return Applier(session, catalog=self.catalog, outbox=self.outbox, clock=self.clock, actor=self.actor,
                       outcome=outcome)

    # ------------------------------------------------------------------ subjects

    def channel_subject(self, gateway: str, channel: str, asset: str | None) -> Subject:
        info = self.catalog.asset(asset)
        if asset:
            return Subject(f"asset:{asset}", info.label if info else asset, asset, gateway, channel)
        return Subject(f"channel:{gateway}/{channel}", f"{gateway}/{channel}", None, gateway, channel)

    def series_facts(self, measurement: str | None, tags: Mapping[str, str]) -> dict[str, str | None]:
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
            facts = self.series_facts(measurement, tags)
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
                jobs.append(Job(rule, series.key, series.subject, reading_runner(rule, samples, ctx)))
        return self.jobs.execute_in_bulk(jobs)

    def _remember_series(self, rules: list[CompiledRule], measurement: str | None, tags: tuple) -> _Series:
        """Find and cache the reading rules that select a series (none without gateway and channel)."""
        tag_map = dict(tags)
        gateway, channel, asset = tag_map.get("gateway"), tag_map.get("channel"), tag_map.get("asset")
        series = _Series(tags, measurement, [])
        if gateway and channel:
            series.rules = self._channel_rules("reading", rules, measurement, tag_map)
        if series.rules:
            series.key = channel_key(gateway, channel, asset)
            series.subject = self.channel_subject(gateway, channel, asset)
            info = self.catalog.channel(gateway, channel)
            if info is not None:
                series.interval_s, series.unit = info.interval_s, info.unit
        if len(self._series_rules) >= MATCH_CACHE_SIZE:
            self._series_rules.clear()
        self._series_rules[id(tags)] = series
        return series

    # ------------------------------------------------------------------ status

    def on_status(self, gateway_id: str, status: Any, received_ms: int | None = None) -> Outcome:
        """Apply a gateway's status (``wardlink.protocol.Status``; the Last Will says offline)."""
        received = self._now_ms() if received_ms is None else received_ms
        rules = self._by_input("status")
        facts = {"gateway": gateway_id, "ward": self.catalog.gateway_ward(gateway_id)}
        matched = [r for r in rules if r.matches(facts)]
        inp = StatusInput(status.state, received, status.buffer_depth, status.oldest_unsent_ms)
        ctx = Context(now_ms=received, label=f"gateway {gateway_id}")
        subject = Subject(f"gateway:{gateway_id}", f"gateway {gateway_id}", gateway=gateway_id)

        def prelude(session: Session) -> bool:
            if links.apply_status(session, gateway_id, status, received):
                return True
            self.stats["stale_status"] += 1  # the Last Will of an earlier boot, after the new boot said hello
            return False

        jobs = [Job(r, subject.key, subject, status_runner(r, inp, ctx)) for r in matched]
        return self.jobs.execute(jobs, prelude=prelude)

    # ------------------------------------------------------------------ events

    def on_events(self, gateway_id: str, events: Sequence[Any]) -> Outcome:
        """Apply a gateway's events (``wardlink.protocol.Event``): door/input levels and BLE presence."""
        rules = self._by_input("event")
        if not rules or not events:
            return Outcome()
        now = self._now_ms()
        # An event is late when it happened long before now on the gateway's own clock; judged on
        # the hub's, every event of a gateway 10 minutes behind would count as late (historical).
        try:
            offset = links.clock_offset(self._db, gateway_id)
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"cannot read the clock of gateway {gateway_id}: {exc}") from exc
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
            subject = self.channel_subject(gateway, channel, asset)
            ctx = self._reading_context(now, gateway, channel, measurement, subject.label)
            ctx = replace(ctx, clock_offset_ms=offset)
            for rule in self._channel_rules("event-level", level_rules, measurement, tags):
                jobs.append(Job(rule, channel_key(gateway, channel, asset), subject,
                                 reading_runner(rule, series, ctx)))
        by_id = {r.id: r for r in presence_rules}
        for (rule_id, asset), inputs in placed.items():
            rule = by_id[rule_id]
            subject, ctx = self.asset_subject(rule, asset, now)
            run = event_runner(rule, inputs, ctx, now - offset, self.late_after_ms)
            jobs.append(Job(rule, subject.key, subject, run))
        return self.jobs.execute(jobs)

    def asset_subject(self, rule: CompiledRule, asset: str, now_ms: int) -> tuple[Subject, Context]:
        info = self.catalog.asset(asset)
        home = rule.evaluator.home.get(asset) or ([info.ward] if info and info.ward else [])
        label = info.label if info else asset
        ctx = Context(now_ms=now_ms, home=frozenset(home) | frozenset(rule.evaluator.allowed), label=label)
        return Subject(f"asset:{asset}", label, asset), ctx


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
                applier = self._applier(session, outcome)
                Ticker(self, now).run(session, applier, ticking, heard, deaf, outcome)
                lifecycle.reconcile(session, applier, by_id)
                lifecycle.escalate(session, applier, by_id)
                lifecycle.settle(session, applier, by_id, self.settle_ms)
        except SQLAlchemyError as exc:
            self.stats["store_errors"] += 1
            raise RuleStoreError(f"rules engine tick failed: {exc.__class__.__name__}: {exc}") from exc
        self.jobs.after_commit(outcome)
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


    def close(self) -> None:
        """Release nothing held: the engine keeps no connections of its own (idempotent)."""
        self._rules = None

    def __enter__(self) -> RulesEngine:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

