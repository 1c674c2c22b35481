"""The scheduler's jobs: one function each, run by the leader on its own period.

Every job is idempotent and opens its own transaction, so a job that fails, or a leader
that dies half-way, leaves nothing half-done and the next run simply repeats the work.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import time
from typing import Any

from sqlalchemy import Engine

from wardlink.hub.db.engine import session_scope
from wardlink.hub.db.types import to_ms, utc_now
from wardlink.clock import Clock


@dataclass
class JobContext:
    """What jobs may use: the database, the clock, and the optional collaborators."""

    engine: Engine
    clock: Clock
    rules: Any = None  # a wardlink.hub.rules.RulesEngine
    telemetry: Any = None  # the telemetry store (range for roll-ups, prune(older_than_ms) for retention)
    retention_days: float | None = None
    #: Local time of day of the daily digest and (on the 1st) the monthly report.
    digest_at: time = time(7, 0)
    #: The hub's public URL, prefixed to the links in digests.
    public_url: str = ""
    site_name: str = "Wardlink"
    #: This scheduler's name, recorded with the calendar runs it makes.
    holder: str = ""
    #: The language of digests, reports, notices and PM work orders where nobody chose one
    #: (the hub's ``default_locale``; jobs run under it, see :func:`wardlink.hub.i18n.defaulting`).
    default_locale: str = "en"


@dataclass(frozen=True)
class Job:
    """A named job and how often it runs (seconds of clock time)."""

    name: str
    every_s: float
    run: Callable[[JobContext], dict]
    help: str


def pm_generate(ctx: JobContext) -> dict:
    """Generate the PM work orders that are due (lead time included), each exactly once."""
    from wardlink.hub.services.maintenance.pm_generator import generate_due

    with session_scope(ctx.engine) as session:
        return generate_due(session, clock=ctx.clock).as_dict()


def maintenance_status(ctx: JobContext) -> dict:
    """Follow PM work orders to completion and recompute every asset's maintenance status."""
    from wardlink.hub.services.maintenance.pm_generator import refresh_status, sync_completions

    with session_scope(ctx.engine) as session:
        synced = sync_completions(session, clock=ctx.clock)
        return {"synced": synced, **refresh_status(session, clock=ctx.clock)}


def pm_escalation(ctx: JobContext) -> dict:
    """Escalate services that ran past their compliance window undone (once each)."""
    from wardlink.hub.services.maintenance.pm_generator import escalate_overdue_pm

    with session_scope(ctx.engine) as session:
        return {"escalated": escalate_overdue_pm(session, clock=ctx.clock)}


def workorder_sla(ctx: JobContext) -> dict:
    """Stamp SLA breaches on work orders and escalate each one once."""
    from wardlink.hub.services.maintenance.sla import escalate_overdue

    with session_scope(ctx.engine) as session:
        found = escalate_overdue(session, ctx.clock)
        return {"escalated": len(found),
                "breaches": [{"work_order": e.code, "breach": e.breach, "level": e.level,
                              "notify": list(e.notify_roles)} for e in found[:50]]}


def contract_expiry(ctx: JobContext) -> dict:
    """Warn managers and procurement 90 and 30 days before a service contract ends (once each)."""
    from wardlink.hub.services.contracts.expiry import warn_expiring

    with session_scope(ctx.engine) as session:
        warned = warn_expiring(session, clock=ctx.clock)
        return {"warned": len(warned), "contracts": [{"contract": w.reference, "days": w.threshold_days,
                                                      "told": w.told} for w in warned[:50]]}


def requisition_escalation(ctx: JobContext) -> dict:
    """Escalate requisitions past their due date to the assigned department's managers (once each)."""
    from wardlink.hub.services.requisitions.escalation import escalate_overdue

    with session_scope(ctx.engine) as session:
        done = escalate_overdue(session, clock=ctx.clock)
        return {"escalated": len(done), "requisitions": [{"requisition": e.code, "days": e.days_overdue,
                                                          "managers": e.managers} for e in done[:50]]}


def utility_rollup(ctx: JobContext) -> dict:
    """Roll pulse meters' closed days up from the telemetry store and judge them against their baselines."""
    if ctx.telemetry is None:
        return {"ran": False}
    from wardlink.hub.services.utilities.rollup import roll_up

    with session_scope(ctx.engine) as session:
        return {"ran": True, **roll_up(session, ctx.telemetry, clock=ctx.clock)}


def rules_tick(ctx: JobContext) -> dict:
    """Tick the rules engine: silence, durations, alert escalation, notification delivery."""
    if ctx.rules is None:
        return {"ran": False}
    outcome = ctx.rules.tick()
    return {"ran": True, **{k: getattr(outcome, k) for k in ("opened", "resolved", "escalated",
                                                             "notifications", "errors")}}


def daily_digest(ctx: JobContext) -> dict:
    """Send each person's daily digest once per local day, at or after the configured time."""
    from wardlink.hub.services.notices import digest

    with session_scope(ctx.engine) as session:
        return digest.send_due(session, clock=ctx.clock, at=ctx.digest_at, public_url=ctx.public_url,
                               holder=ctx.holder)


def monthly_report(ctx: JobContext) -> dict:
    """On the 1st, make last month's KPI reports (PDF) once, store them and mail them to managers."""
    from wardlink.hub.services.reports import monthly

    with session_scope(ctx.engine) as session:
        return monthly.make_due(session, clock=ctx.clock, at=ctx.digest_at, site_name=ctx.site_name,
                                holder=ctx.holder)


def telemetry_retention(ctx: JobContext) -> dict:
    """Roll raw telemetry older than the retention period into hourly rollups (SQLite store)."""
    if ctx.telemetry is None or ctx.retention_days is None:
        return {"ran": False}
    cutoff = to_ms(utc_now(ctx.clock)) - round(ctx.retention_days * 86_400_000)
    return {"ran": True, "pruned": ctx.telemetry.prune(cutoff)}


def manifold_supply(ctx: JobContext) -> dict:
    """Follow the oxygen manifolds' bank pressures: changeovers and the reserve alerts."""
    from wardlink.hub.services.manifolds import tracking

    if ctx.telemetry is None:
        return {"ran": False}
    with session_scope(ctx.engine) as session:
        return tracking.refresh(session, ctx.telemetry, clock=ctx.clock).as_dict()


def measured_usage(ctx: JobContext) -> dict:
    """Open and close measured usage sessions from the telemetry of assets with a usage measure."""
    from wardlink.hub.services.usage import measured

    if ctx.telemetry is None:
        return {"ran": False}
    with session_scope(ctx.engine) as session:
        return measured.refresh(session, ctx.telemetry, clock=ctx.clock).as_dict()


def usage_reminders(ctx: JobContext) -> dict:
    """Tell managers once of overuse, idle equipment, and rentals due back (before, on the day, overdue)."""
    from wardlink.hub.services.usage import reminders

    with session_scope(ctx.engine) as session:
        return reminders.remind(session, clock=ctx.clock).as_dict()


#: Every job, in the order a round runs them.
JOBS: tuple[Job, ...] = (
    Job("rules_tick", 5.0, rules_tick, rules_tick.__doc__),
    Job("pm_generate", 300.0, pm_generate, pm_generate.__doc__),
    Job("maintenance_status", 300.0, maintenance_status, maintenance_status.__doc__),
    Job("pm_escalation", 300.0, pm_escalation, pm_escalation.__doc__),
    Job("workorder_sla", 60.0, workorder_sla, workorder_sla.__doc__),
    Job("daily_digest", 60.0, daily_digest, daily_digest.__doc__),
    Job("monthly_report", 300.0, monthly_report, monthly_report.__doc__),
    Job("contract_expiry", 3600.0, contract_expiry, contract_expiry.__doc__),
    Job("requisition_escalation", 3600.0, requisition_escalation, requisition_escalation.__doc__),
    Job("manifold_supply", 60.0, manifold_supply, manifold_supply.__doc__),
    Job("utility_rollup", 900.0, utility_rollup, utility_rollup.__doc__),
    Job("measured_usage", 60.0, measured_usage, measured_usage.__doc__),
    Job("usage_reminders", 300.0, usage_reminders, usage_reminders.__doc__),
    Job("telemetry_retention", 3600.0, telemetry_retention, telemetry_retention.__doc__),
)
