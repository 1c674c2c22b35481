"""What the scheduler tells Prometheus (``/metrics``) and its ``/health``.

The figures are this process's: whether it leads, when each job last ran and how that ended,
and counters of runs and failures per job since it started (the ``scheduler_jobs`` table
keeps the totals of every holder; Prometheus wants one process's monotonic counters). A
standby is healthy: it waits to take over. The scheduler is unhealthy while it cannot reach
the database (it can neither lead nor run a job) or when its loop stopped going round.
"""

from __future__ import annotations

from wardlink.hub.scheduler.loop import Scheduler
from wardlink.metrics import Family, counter, gauge
from wardlink.monitor import HealthReport


def scheduler_health(scheduler: Scheduler) -> HealthReport:
    """Return the scheduler's health: the reasons it cannot do its work now, and its role."""
    reasons = []
    wedged = scheduler.heartbeat.problem()
    if wedged:
        reasons.append(wedged)
    outage = scheduler.database_outage
    if outage.down_since is not None:
        down = max(0.0, scheduler.clock.now() - outage.down_since)
        reasons.append(f"the database does not answer (for {down:.0f} s): {outage.reason}")
    failing = sorted(name for name, runs in scheduler.job_runs.items() if runs.last_ok is False)
    return HealthReport(tuple(reasons), {"holder": scheduler.holder,
                                         "role": "leader" if scheduler.is_leader else "standby",
                                         "failing_jobs": failing})


def scheduler_families(scheduler: Scheduler) -> list[Family]:
    """Return the scheduler's metrics; job figures carry a ``job`` label."""
    h = {"holder": scheduler.holder}
    families = {name: Family(name, kind, text) for name, kind, text in (
        ("wardlink_scheduler_job_runs_total", "counter", "Runs of each job by this process, failures included."),
        ("wardlink_scheduler_job_failures_total", "counter", "Failed runs of each job by this process."),
        ("wardlink_scheduler_job_last_run_timestamp_seconds", "gauge",
         "When each job's last run by this process ended (Unix time)."),
        ("wardlink_scheduler_job_last_run_success", "gauge", "1 when each job's last run succeeded, 0 when it failed."),
        ("wardlink_scheduler_job_period_seconds", "gauge", "How often each job runs."),
    )}
    for job in scheduler.jobs:
        runs, labels = scheduler.job_runs[job.name], {**h, "job": job.name}
        families["wardlink_scheduler_job_runs_total"].add(runs.runs, labels)
        families["wardlink_scheduler_job_failures_total"].add(runs.failures, labels)
        families["wardlink_scheduler_job_last_run_timestamp_seconds"].add(runs.last_finished, labels)
        families["wardlink_scheduler_job_last_run_success"].add(runs.last_ok, labels)
        families["wardlink_scheduler_job_period_seconds"].add(job.every_s, labels)
    return [
        gauge("wardlink_scheduler_leader", "1 while this scheduler leads (runs the jobs), 0 as a standby.",
              scheduler.is_leader, h),
        counter("wardlink_scheduler_rounds_total", "Rounds this scheduler went through.", scheduler.rounds, h),
        gauge("wardlink_scheduler_last_round_timestamp_seconds", "When the last round began (Unix time).",
              scheduler.last_round_at, h),
        gauge("wardlink_scheduler_database_up", "0 while the database does not answer.",
              scheduler.database_outage.down_since is None, h),
        *families.values(),
        gauge("wardlink_scheduler_healthy", "1 while /health answers 200.", scheduler_health(scheduler).healthy, h),
    ]
