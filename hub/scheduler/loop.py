"""The scheduler loop: each round, make sure of the leadership, then run the jobs that are due.

Only the leader runs jobs; any other scheduler is a standby that asks for the leadership
every round and takes over when the leader's lock is released (or its lease runs out).
Job periods are measured on the injected clock, so tests advance a
:class:`~wardlink.clock.ManualClock` and call :meth:`Scheduler.run_once` instead of waiting.
A failing job is logged, recorded in ``scheduler_jobs`` and retried on its next period; it
never stops the loop or the other jobs.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from datetime import time
from typing import Any

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from wardlink.hub.db.audit import to_jsonable
from wardlink.hub.db.engine import database_place, failure_reason, session_scope
from wardlink.hub.db.models import SchedulerJob
from wardlink.hub.db.types import utc_now
from wardlink.hub.i18n import SOURCE_LOCALE, defaulting
from wardlink.hub.scheduler.jobs import JOBS, Job, JobContext
from wardlink.hub.scheduler.leader import leader_for
from wardlink.clock import Clock
from wardlink.retry import OutageLog
from wardlink.systemd import Heartbeat

log = logging.getLogger(__name__)

DEFAULT_ROUND_S = 5.0
#: How long the loop may go without a round (or a job's end) before it counts as wedged;
#: ``wardlink hub scheduler`` sets it to half the systemd watchdog period.
DEFAULT_MAX_SILENCE_S = 450.0


@dataclass
class JobRuns:
    """What this process's runs of one job came to (for /metrics; the table keeps every holder's)."""

    runs: int = 0
    failures: int = 0
    last_started: float | None = None  # epoch seconds, the scheduler's clock
    last_finished: float | None = None
    last_ok: bool | None = None


@dataclass
class RoundReport:
    """What one round did: whether this process led, and each job's result or error."""

    leader: bool
    ran: dict[str, dict] = field(default_factory=dict)
    failed: dict[str, str] = field(default_factory=dict)


class Scheduler:
    """Run the hub's periodic jobs, one leader at a time."""

    def __init__(self, engine: Engine, *, clock: Clock, leader: Any = None, holder: str | None = None,
                 jobs: Iterable[Job] = JOBS, periods: Mapping[str, float] | None = None,
                 rules: Any = None, telemetry: Any = None, retention_days: float | None = None,
                 lease_s: float = 60.0, digest_at: time = time(7, 0), public_url: str = "",
                 site_name: str = "Wardlink", default_locale: str = SOURCE_LOCALE) -> None:
        """``default_locale``: the language of what the jobs write where nobody chose one (the
        hub's ``default_locale``)."""
        periods = dict(periods or {})
        jobs = tuple(jobs)
        unknown = sorted(set(periods) - {j.name for j in jobs})
        if unknown:
            raise ValueError(f"periods.{unknown[0]}: no such job; known: {', '.join(j.name for j in jobs)}")
        bad = {name: s for name, s in periods.items() if s <= 0}
        if bad:
            name, value = next(iter(bad.items()))
            raise ValueError(f"periods.{name}: must be > 0 seconds, got {value}")
        if retention_days is not None and retention_days <= 0:
            raise ValueError(f"retention_days: must be > 0, got {retention_days}")
        self.engine = engine
        self.clock = clock
        self.leader = leader or leader_for(engine, clock=clock, holder=holder, lease_s=lease_s)
        self.holder = self.leader.holder
        self.jobs = tuple(replace(j, every_s=periods.get(j.name, j.every_s)) for j in jobs)
        self.context = JobContext(engine=engine, clock=clock, rules=rules, telemetry=telemetry,
                                  retention_days=retention_days, digest_at=digest_at, public_url=public_url,
                                  site_name=site_name, holder=self.holder, default_locale=default_locale)
        self._last_run: dict[str, float] = {}
        self._role: bool | None = None  # None until the first round
        self._closed = False
        self.job_runs = {job.name: JobRuns() for job in self.jobs}
        self.rounds = 0
        self.last_round_at: float | None = None  # epoch seconds of the last round's start
        self.heartbeat = Heartbeat("the scheduler loop", DEFAULT_MAX_SILENCE_S, clock)
        place = database_place(engine.url.render_as_string(hide_password=True))
        self.database_outage = OutageLog(log, f"scheduler {self.holder}: {place}", clock=clock)

    @property
    def is_leader(self) -> bool:
        """Return True when the last round found this process leading."""
        return bool(self._role)

    def _due(self, job: Job, now: float) -> bool:
        last = self._last_run.get(job.name)
        return last is None or now - last >= job.every_s

    def run_once(self) -> RoundReport:
        """Run one round: claim or renew the leadership, then every job whose period has come."""
        if self._closed:
            raise RuntimeError(f"scheduler {self.holder} is closed")
        self.heartbeat.beat()
        self.rounds += 1
        self.last_round_at = self.clock.now()
        try:
            leading = self.leader.acquire()
        except SQLAlchemyError as exc:
            # One line naming the database and the reason, repeated at most every minute.
            self.database_outage.failed(f"cannot claim the leadership: {failure_reason(exc)}")
            leading = False
        else:
            self.database_outage.recovered()
        if leading != self._role:
            log.info("scheduler %s is now %s", self.holder, "the leader" if leading else "a standby")
            if not leading:
                self._last_run.clear()  # a leader again later runs everything at once
        self._role = leading
        report = RoundReport(leader=leading)
        if not leading:
            return report
        for job in self.jobs:
            now = self.clock.now()
            if not self._due(job, now):
                continue
            self._last_run[job.name] = now
            self._run_job(job, report)
            self.heartbeat.beat()
        return report

    def _run_job(self, job: Job, report: RoundReport) -> None:
        started = utc_now(self.clock)
        runs = self.job_runs.setdefault(job.name, JobRuns())
        runs.last_started = started.timestamp()
        try:
            with defaulting(self.context.default_locale):
                summary = job.run(self.context) or {}
        except Exception as exc:
            log.exception("scheduler job %s failed", job.name)
            report.failed[job.name] = f"{type(exc).__name__}: {exc}"
            self._count(runs, ok=False)
            self._record(job.name, started, ok=False, error=report.failed[job.name], summary={})
            return
        report.ran[job.name] = summary
        self._count(runs, ok=True)
        self._record(job.name, started, ok=True, error="", summary=summary)

    def _count(self, runs: JobRuns, *, ok: bool) -> None:
        runs.runs += 1
        runs.failures += 0 if ok else 1
        runs.last_finished = self.clock.now()
        runs.last_ok = ok

    def _record(self, name: str, started, *, ok: bool, error: str, summary: dict) -> None:
        finished = utc_now(self.clock)
        try:
            with session_scope(self.engine) as session:
                row = session.get(SchedulerJob, name, with_for_update=True)
                if row is None:
                    row = SchedulerJob(name=name, holder=self.holder, runs=0, failures=0, last_error="",
                                       last_summary={})
                    session.add(row)
                row.holder = self.holder
                row.runs += 1
                row.last_started_at, row.last_finished_at = started, finished
                if ok:
                    row.last_ok_at, row.last_error, row.last_summary = finished, "", to_jsonable(summary)
                else:
                    row.failures += 1
                    row.last_error = error[:2000]
        except SQLAlchemyError:
            log.warning("scheduler could not record the run of job %s", name, exc_info=True)

    def run(self, stop: threading.Event, *, round_s: float = DEFAULT_ROUND_S) -> None:
        """Run rounds every ``round_s`` seconds until ``stop`` is set, then release the leadership."""
        if round_s <= 0:
            raise ValueError(f"round_s: must be > 0, got {round_s}")
        try:
            while not stop.is_set():
                self.run_once()
                stop.wait(round_s)
        finally:
            self.close()

    def close(self) -> None:
        """Release the leadership so a standby takes over at once (idempotent)."""
        if self._closed:
            return
        self._closed = True
        self._role = False
        self.leader.release()

    def __enter__(self) -> Scheduler:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
