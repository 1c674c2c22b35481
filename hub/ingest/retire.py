"""Retire an ingest worker: drain its persistent session, then remove the session from the broker.

A worker's client id keeps a persistent session (``clean_session=false``) on the broker, and
with it a member's place in the shared-subscription group. A worker that is shut down for good
without more stays in the group: the broker keeps routing its round-robin share of telemetry
into the offline session, where it waits until that client id connects again (stranded, late,
or never). ``wardlink hub ingest --retire`` ends a member properly:

1. connect with the retired client id and ``clean_session=false``, as the worker itself did,
   and run a full worker (store, records, rules engine): whatever the session holds is
   delivered, committed and acknowledged exactly like a worker does;
2. unsubscribe from every filter (:meth:`IngestWorker.leave_group`): the group stops routing
   new messages to this client id, while those already queued for it keep coming;
3. wait until the session is drained: nothing arrived and nothing is unacknowledged for
   ``quiet_s`` seconds (a broker hands a session's queue over as fast as the client
   acknowledges, so a pause that long means it is empty);
4. stop the worker and connect once more with ``clean_session=true``, which makes the broker
   discard the session (now empty, without subscriptions), and disconnect;
5. delete the worker's row of counters, so health no longer counts it as a member.

Nothing queued for the retired id is lost: it is stored by step 1 before the session is removed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Callable

from sqlalchemy import Engine, delete
from sqlalchemy.exc import SQLAlchemyError

from wardlink.hub.config import HubConfig
from wardlink.hub.db.models.ingest import workers
from wardlink.hub.errors import HubError
from wardlink.hub.ingest.worker import IngestWorker, broker_address, mqtt_client
from wardlink import mqtt as mqtt_adapter

log = logging.getLogger(__name__)

#: Seconds without a delivery or an unacknowledged message that count as a drained session.
QUIET_S = 3.0
#: Longest a retirement may take to drain the session, in seconds.
TIMEOUT_S = 600.0


class RetireError(HubError):
    """The session could not be drained or removed; it is left as it was (nothing is lost)."""


@dataclass(frozen=True, slots=True)
class RetireReport:
    """What retiring a worker did."""

    client_id: str
    drained: int  # messages the session still held, committed and acknowledged
    points_written: int
    session_removed: bool


def retire(worker: IngestWorker, *, quiet_s: float = QUIET_S, timeout_s: float = TIMEOUT_S) -> RetireReport:
    """Drain ``worker``'s session (the worker is built with the retired client id), then remove it."""
    deadline = time.monotonic() + timeout_s
    worker.start()
    try:
        _wait(lambda: worker.stats().subscribed, deadline, "the broker to accept the retired client id's session")
        if not worker.leave_group(max(0.0, deadline - time.monotonic())):
            raise RetireError(f"the broker did not confirm unsubscribing {worker.client_id} in time")
        _wait_quiet(worker, quiet_s, deadline)
    finally:
        worker.stop(drain=True)
    stats = worker.stats()
    if stats.pending:
        raise RetireError(f"{stats.pending} message(s) of {worker.client_id} were not acknowledged; the session "
                          "keeps them: run the retirement again")
    remove_session(worker.config)
    if worker.records is not None:
        forget_worker(worker.records.engine, worker.client_id)
    log.info("ingest %s retired: %d message(s) drained, session removed", worker.client_id, stats.received)
    return RetireReport(worker.client_id, stats.received, stats.points_written, True)


def _wait(predicate: Callable[[], bool], deadline: float, what: str) -> None:
    while not predicate():
        if time.monotonic() >= deadline:
            raise RetireError(f"timed out waiting for {what}")
        time.sleep(0.05)


def _wait_quiet(worker: IngestWorker, quiet_s: float, deadline: float) -> None:
    """Wait until nothing arrived and nothing was unacknowledged for ``quiet_s`` seconds."""
    seen = -1
    since = time.monotonic()
    while True:
        stats = worker.stats()
        now = time.monotonic()
        if stats.received != seen or stats.pending:
            seen, since = stats.received, now
        elif now - since >= quiet_s:
            return
        if now >= deadline:
            raise RetireError(f"the session of {worker.client_id} was still delivering after the timeout")
        time.sleep(0.05)


def remove_session(config: HubConfig, timeout: float = 10.0) -> None:
    """Connect as ``config.mqtt_client_id`` with a clean session and disconnect: the broker drops the session."""
    host, port, _ = broker_address(config.mqtt_url)
    client = mqtt_client(config, config.mqtt_client_id, clean_session=True)
    try:
        mqtt_adapter.connect(client, host, port, 30, timeout=timeout)
    except mqtt_adapter.MQTTUnreachable as exc:
        raise RetireError(f"cannot reach the broker at {config.mqtt_url} to remove the session: "
                          f"{exc.__cause__ or exc}") from exc
    except (mqtt_adapter.MQTTRefused, mqtt_adapter.MQTTTimeout) as exc:
        raise RetireError(f"the broker refused the clean session of {config.mqtt_client_id}: "
                          f"{exc.reason if isinstance(exc, mqtt_adapter.MQTTRefused) else 'no answer'}") from exc
    mqtt_adapter.stop(client)


def forget_worker(engine: Engine, client_id: str) -> None:
    """Delete a retired worker's counters, so health stops counting it as a member of the group."""
    try:
        with engine.begin() as conn:
            conn.execute(delete(workers).where(workers.c.client_id == client_id))
    except SQLAlchemyError as exc:
        raise RetireError(f"the session was removed, but the counters of {client_id} could not be deleted: "
                          f"{exc}") from exc
