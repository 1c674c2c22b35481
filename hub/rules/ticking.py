"""The engine's tick for time-driven rules: silence, offline grace periods, unattended durations.

Each tick loads the states of every rule that ticks (for ``channel_silent``, only those quiet
long enough to turn silent, and registered channels never heard get a state), judges each
gateway's link once, and runs every state through its rule at the current time.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, UTC
from typing import Any, Mapping

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from wardlink.hub.db.models.gateways import GatewayLink
from wardlink.hub.db.models.rules import RuleState
from wardlink.hub.rules import links, tracks
from wardlink.hub.rules.actions import Applier, Outcome, Subject
from wardlink.hub.rules.evaluators import Context
from wardlink.hub.rules.evaluators.silence import DEFAULT_TIMEOUT_S
from wardlink.hub.rules.jobs import CompiledRule, Job, channel_key
from wardlink.hub.rules.runners import tick_runner


class Ticker:
    """One tick of the time-driven rules of ``engine`` (a :class:`wardlink.hub.rules.RulesEngine`)."""

    def __init__(self, engine: Any, now: int) -> None:
        self.engine = engine
        self.catalog = engine.catalog
        self.now = now
        self.gateways: dict[str, GatewayLink] = {}
        self.stalls: dict[str, int] = {}  # gateway -> silent since (ms)

    def run(self, session: Session, applier: Applier, ticking: list[CompiledRule], heard: Mapping[str, datetime],
            deaf: bool, outcome: Outcome) -> None:
        """Tick every rule of ``ticking`` (``heard`` and ``deaf`` as :mod:`wardlink.hub.services.gateways` says)."""
        self.gateways = links.load(session)
        self.stalls = links.stalled_gateways(self.catalog, self.gateways, heard, self.now, deaf,
                                             self.engine.stall_min_s)
        for rule in ticking:
            self.tick_rule(session, applier, rule, outcome)

    def tick_rule(self, session: Session, applier: Applier, rule: CompiledRule, outcome: Outcome) -> None:
        """Run every state of ``rule`` that may change at this time."""
        now = self.now
        stmt = select(RuleState).where(RuleState.rule_id == rule.id)
        if rule.kind == "channel_silent":
            # Only channels quiet for longer than the shortest timeout can turn silent: at one
            # reading a second from thousands of channels, loading every state each tick would not do.
            # Silence counts from when the hub last heard a channel, which its state's
            # ``updated_at`` (hub time) bounds from above; ``last_ts_ms`` is the gateway's clock
            # and also selects states saved before the evaluator kept that time.
            horizon = now - self.shortest_silence_ms(rule)
            stmt = stmt.where(RuleState.active.is_(False),
                              or_(RuleState.last_ts_ms.is_(None), RuleState.last_ts_ms < horizon,
                                  RuleState.updated_at < datetime.fromtimestamp(horizon / 1000, UTC)))
        rows = {row.key: row for row in session.scalars(stmt.order_by(RuleState.key).with_for_update())}
        if rule.kind == "channel_silent":
            known = set(session.scalars(select(RuleState.key).where(RuleState.rule_id == rule.id)))
            self.seed_channels(session, rule, rows, known, applier)
        for key, row in rows.items():
            if rule.evaluator.scope == "channel" and row.channel is not None:
                info = self.catalog.channel(row.gateway, row.channel)
                if info is not None and info.asset != row.asset:
                    continue  # the channel was re-bound: this key belongs to its previous asset
            subject, ctx = self.subject(rule, row)
            job = Job(rule, key, subject, tick_runner(rule, ctx))
            self.engine.jobs.run_job(session, applier, {(rule.id, key): row}, job, outcome)

    def subject(self, rule: CompiledRule, row: RuleState) -> tuple[Subject, Context]:
        """Return what a state is about and the context to tick it in."""
        now, gateways, engine = self.now, self.gateways, self.engine
        gw_row = gateways.get(row.gateway) if row.gateway else None
        gateway_state = gw_row.rules_state if gw_row is not None else None
        if rule.evaluator.scope == "asset":
            subject, ctx = engine.asset_subject(rule, row.asset or row.subject.removeprefix("asset:"), now)
            # The asset's times come from the gateway that placed it: measure on that one's clock.
            live = row.data.get("live") if isinstance(row.data, dict) else None
            placed = gateways.get(live.get("gateway")) if isinstance(live, dict) else None
            if placed is not None and placed.clock_offset_ms:
                ctx = replace(ctx, clock_offset_ms=placed.clock_offset_ms)
            return subject, ctx
        if rule.evaluator.scope == "gateway":
            subject = Subject(row.subject, f"gateway {row.gateway}", gateway=row.gateway)
            return subject, Context(now_ms=now, gateway_state=gateway_state, label=subject.label,
                                    stalled_since_ms=self.stalls.get(row.gateway))
        subject = engine.channel_subject(row.gateway, row.channel, row.asset)
        info = self.catalog.channel(row.gateway, row.channel)
        return subject, Context(now_ms=now, interval_s=info.interval_s if info else None,
                                unit=info.unit if info else "", metric=info.measurement if info else None,
                                gateway_state=gateway_state, label=subject.label,
                                buffering=links.buffering(gw_row, engine.buffering_lag_ms),
                                clock_offset_ms=(gw_row.clock_offset_ms or 0) if gw_row is not None else 0)

    def shortest_silence_ms(self, rule: CompiledRule) -> int:
        """Return the smallest timeout the rule can apply to any channel."""
        intervals = [c.interval_s for c in self.catalog.channels.values() if c.interval_s]
        shortest = rule.evaluator.timeout_ms(Context(now_ms=0, interval_s=min(intervals) if intervals else None))
        if not rule.evaluator.timeout_s:  # channels of unknown interval get the default timeout
            shortest = min(shortest, round(DEFAULT_TIMEOUT_S * 1000))
        return shortest

    def seed_channels(self, session: Session, rule: CompiledRule, rows: dict[str, RuleState],
                      known: set[str], applier: Applier) -> None:
        """Start watching registered channels the rule selects but has never heard."""
        for info in self.catalog.channels.values():
            tags = {"gateway": info.gateway, "channel": info.channel, **({"asset": info.asset} if info.asset else {})}
            if not rule.matches(self.engine.series_facts(info.measurement or info.metric, tags)):
                continue
            key = channel_key(info.gateway, info.channel, info.asset)
            if key in known:
                continue
            subject = self.engine.channel_subject(info.gateway, info.channel, info.asset)
            doc = tracks.new_document(rule.evaluator)
            row = RuleState(rule_id=rule.id, key=key, subject=subject.key, gateway=info.gateway,
                            channel=info.channel, asset=info.asset, active=False, data=doc,
                            updated_at=applier.now)
            session.add(row)
            rows[key] = row
            known.add(key)
