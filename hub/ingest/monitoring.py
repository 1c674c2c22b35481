"""What an ingest worker tells Prometheus (``/metrics``) and its ``/health``.

Every figure comes from what the worker already keeps: its counters
(:class:`~wardlink.hub.ingest.counters.IngestStats`), its queue, its connection and outage
records and the row it publishes for the web UI, judged by the same rule the web UI uses
(:func:`wardlink.hub.services.gateways.ingest_status.judge_worker`). Readings per second is
Prometheus' ``rate(wardlink_ingest_readings_received_total[1m])``; nothing here computes rates.

A worker is **unhealthy** while it is not connected to the broker (noticed as soon as paho
loses the connection, within one MQTT keep-alive when the broker goes silent), while it
retries a store or the rules engine's database, while it holds a message unacknowledged for
longer than ``ingest_stall_s``, or when its writer or listener loop stopped going round.
"""

from __future__ import annotations

from wardlink.hub.ingest.worker import IngestWorker
from wardlink.hub.services.gateways.ingest_records import WorkerRow
from wardlink.hub.services.gateways.ingest_status import judge_worker
from wardlink.metrics import Family, counter, gauge
from wardlink.monitor import HealthReport

_RETRYING = {"stores": "cannot write to a store", "listeners": "cannot hand readings to the rules engine"}


def watchdog_problem(worker: IngestWorker) -> str | None:
    """Return why the worker's loops count as dead or wedged (systemd's watchdog), or None."""
    if not worker.is_running:
        return "the writer thread has stopped"
    ctx = worker.context
    loops = ("writer", "listener") if worker.has_listeners else ("writer",)
    return next((p for loop in loops if (p := ctx.heartbeats[loop].problem()) is not None), None)


def ingest_health(worker: IngestWorker, *, stall_after_s: float) -> HealthReport:
    """Return the worker's health: the reasons it cannot do its work now, and its state."""
    ctx, stats = worker.context, worker.stats()
    now_ms = ctx.now_ms()
    reasons: list[str] = []
    wedged = watchdog_problem(worker)
    if wedged:
        reasons.append(wedged)
    if not stats.connected:
        outage = worker.broker_outage
        since = outage.down_since
        text = f"not connected to the broker at {worker.broker}"
        if since is not None:
            text += f" for {max(0.0, ctx.clock.now() - since):.0f} s"
        reasons.append(f"{text}: {outage.reason}" if outage.reason else text)
    for what, since_ms in sorted(ctx.retrying_since.items()):
        reason = ctx.outages[what].reason
        text = f"{_RETRYING.get(what, what)} for {max(0, now_ms - since_ms) / 1000:.0f} s"
        reasons.append(f"{text}: {reason}" if reason else text)
    judged = judge_worker(WorkerRow(**worker.published_row()), now_ms, stall_after_s)
    if judged.state == "stalled" and judged.reason and not judged.reason.startswith("retrying"):
        reasons.append(judged.reason)  # (retrying is said above, with its reason)
    return HealthReport(tuple(reasons), {"worker": worker.client_id, "broker": worker.broker,
                                         "connected": stats.connected, "pending": stats.pending,
                                         "last_commit_ms": stats.last_commit_ms})


def ingest_families(worker: IngestWorker, *, stall_after_s: float) -> list[Family]:
    """Return the worker's metrics, labelled with its client id."""
    s, ctx = worker.stats(), worker.context
    now_ms = ctx.now_ms()
    w = {"worker": worker.client_id}
    queued_messages, queued_readings = worker.queue_depth()
    oldest = worker.published_row()["oldest_pending_ms"]
    committed = Family("wardlink_ingest_messages_committed_total", "counter",
                       "Messages committed, by what they were (dead letters are counted apart).")
    for kind, value in (("telemetry", s.telemetry_batches), ("events", s.event_batches),
                        ("status", s.status_messages), ("ignored", s.ignored)):
        committed.add(value, {**w, "kind": kind})
    retrying = Family("wardlink_ingest_retrying", "gauge",
                      "1 while the worker retries a write: what = stores (telemetry or relational) or listeners.")
    for what in ("stores", "listeners"):
        retrying.add(what in ctx.retrying_since, {**w, "what": what})
    return [
        counter("wardlink_ingest_messages_received_total", "MQTT messages received, re-deliveries included.",
                s.received, w),
        counter("wardlink_ingest_readings_received_total",
                "Readings in the telemetry messages received (rate() of it is readings per second).",
                s.readings_received, w),
        counter("wardlink_ingest_readings_committed_total", "Readings written to the telemetry store.",
                s.points_written, w),
        committed,
        counter("wardlink_ingest_messages_acknowledged_total",
                "Messages acknowledged to the broker after their commit.", s.acked, w),
        counter("wardlink_ingest_dead_letters_total", "Messages refused (invalid, or refused by a store) and kept.",
                s.dead_lettered, w),
        counter("wardlink_ingest_store_errors_total", "Failed store or rules-engine writes (each retried).",
                s.store_errors, w),
        counter("wardlink_ingest_reconnects_total", "Connections to the broker made again after the first.",
                s.reconnects, w),
        counter("wardlink_ingest_resend_requests_total", "resend-from commands sent to gateways.",
                s.resend_requests, w),
        gauge("wardlink_ingest_broker_connected", "1 while connected to the broker.", s.connected, w),
        gauge("wardlink_ingest_subscribed", "1 once the broker acknowledged every subscription.", s.subscribed, w),
        gauge("wardlink_ingest_pending_messages", "Messages received and not yet acknowledged.", s.pending, w),
        gauge("wardlink_ingest_queued_messages", "Messages waiting for a store write.", queued_messages, w),
        gauge("wardlink_ingest_queued_readings", "Readings waiting for a store write.", queued_readings, w),
        gauge("wardlink_ingest_oldest_pending_age_seconds", "Age of the oldest message not yet acknowledged.",
              max(0, now_ms - oldest) / 1000 if oldest is not None else 0, w),
        gauge("wardlink_ingest_commit_lag_seconds",
              "Last committed batch: from its oldest message's arrival to its commit.",
              s.commit_lag_ms / 1000 if s.commit_lag_ms is not None else None, w),
        gauge("wardlink_ingest_last_commit_timestamp_seconds", "When the last batch was committed (Unix time).",
              s.last_commit_ms / 1000 if s.last_commit_ms is not None else None, w),
        gauge("wardlink_ingest_last_commit_age_seconds", "Seconds since the last batch was committed.",
              max(0, now_ms - s.last_commit_ms) / 1000 if s.last_commit_ms is not None else None, w),
        retrying,
        gauge("wardlink_ingest_started_timestamp_seconds", "When the worker started (Unix time).",
              s.started_ms / 1000 if s.started_ms is not None else None, w),
        gauge("wardlink_ingest_healthy", "1 while /health answers 200.",
              ingest_health(worker, stall_after_s=stall_after_s).healthy, w),
    ]
