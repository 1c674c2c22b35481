"""The hub scheduler (``wardlink hub scheduler``): PM generation, maintenance status, PM and
work-order escalation, the rules engine's tick, the daily digest, the monthly KPI report and
telemetry retention, run by one leader
at a time (a database lock), with any other scheduler waiting as a standby.
"""

from wardlink.hub.scheduler.jobs import JOBS, Job, JobContext
from wardlink.hub.scheduler.leader import AdvisoryLeader, LeaseLeader, leader_for
from wardlink.hub.scheduler.loop import RoundReport, Scheduler

__all__ = ["JOBS", "AdvisoryLeader", "Job", "JobContext", "LeaseLeader", "RoundReport", "Scheduler",
           "leader_for"]
