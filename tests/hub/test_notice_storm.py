"""A storm of notices: every e-mail copy leaves exactly once, over few SMTP connections, through
a real SMTP server (aiosmtpd) and the real mailer, on SQLite and PostgreSQL.

Events come through the services' entry points (work-order reassignment and the announce
hook), each in a transaction of its own as requests and jobs make them. Two mailers claiming
at once never send a row twice (the lease); a server that refuses the first attempts makes
rows wait out their backoff (on an injected clock) and still arrive; a row ends sent or
failed with its last error, never vanishes. A storm leaves at the mailer's rate, its outcomes
recorded ten to a transaction, from threads of lower CPU priority.
"""

from __future__ import annotations

import os
import threading
from datetime import timedelta

import pytest
from sqlalchemy import event, select
from waiting import wait_for
from workorder_support import env, open_order, pg_workorder_template

from wardlink.hub.db.models import NoticeEmail
from wardlink.hub.db.types import utc_now
from wardlink.hub.notify.notices import NoticeMailer
from wardlink.hub.notify.pacing import lower_priority
from wardlink.hub.notify.smtp import EmailNotifier
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.notices import mail
from wardlink.hub.services.people import users

PUBLIC = "https://wardlink.hospital.example"
TECHS = 4
ORDERS = 4


def _people(env) -> list[int]:
    """Technicians with an e-mail address (the seeded users have none, so only they get mail)."""
    ids = []
    for i in range(TECHS):
        env.add_user(f"storm{i:02d}", "technician")
        user = users.find_user(env.session, f"storm{i:02d}")
        user.email = f"storm{i:02d}@hospital.example"
        ids.append(user.id)
    env.session.commit()
    return ids


def storm(env, events: int) -> list[int]:
    """Make ``events`` events, each telling one technician who wants e-mail; return the outbox ids.

    One in ten is a reassignment of a work order (``workorders.reassign``), the rest go through
    the hook (``notices.announce``); each commits on its own.
    """
    techs = _people(env)
    orders = [open_order(env).id for _ in range(ORDERS)]
    env.session.commit()
    manager = env.actor("manager")
    for n in range(events):
        if n % 10 == 0:
            turn = n // 10
            order, round_ = orders[turn % ORDERS], turn // ORDERS
            workorders.reassign(env.session, order, techs[(turn + round_) % TECHS], actor=manager, clock=env.clock)
        else:
            notices.announce(env.session, "low_stock", subject=f"Storm event {n}: gloves below minimum",
                             body="Order more.\n", link="/stock", key=f"storm:{n}", clock=env.clock,
                             users=(techs[n % TECHS],))
        env.session.commit()
    ids = list(env.session.scalars(select(NoticeEmail.id).order_by(NoticeEmail.id)))
    env.session.rollback()
    assert len(ids) == events  # each event queued exactly one e-mail
    return ids


def _mailer(env, sink, **kwargs) -> NoticeMailer:
    server = EmailNotifier("mail", host=sink.host, port=sink.port, sender="wardlink@hospital.example", to=[],
                           timeout_s=10)
    return NoticeMailer(env.engine, server, public_url=PUBLIC, clock=env.clock, **kwargs)


def received_ids(sink) -> list[int]:
    """Return the outbox ids of the messages the server kept, in id order (duplicates included)."""
    return sorted(int(m["X-Wardlink-Notice-Email"]) for m in sink.messages)


def _rows(env) -> list:
    """Return every outbox row as plain values (id, to_addr, state, attempts, next_attempt_at,
    last_error), leaving no transaction open behind."""
    rows = env.session.execute(select(NoticeEmail.id, NoticeEmail.to_addr, NoticeEmail.state, NoticeEmail.attempts,
                                      NoticeEmail.next_attempt_at, NoticeEmail.last_error)
                               .order_by(NoticeEmail.id)).all()
    env.session.rollback()
    return rows


def test_a_storm_is_sent_exactly_once_by_two_mailers_claiming_at_once(env, smtp_server):
    outbox = storm(env, 500)
    mailers = [_mailer(env, smtp_server, batch=20) for _ in range(2)]
    start = threading.Barrier(2)
    reports: list = [None, None]

    def run(i: int) -> None:
        start.wait(10)
        reports[i] = mailers[i].run_pending()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads)
    assert received_ids(smtp_server) == outbox  # each row once: none lost, none twice
    assert sum(r.sent for r in reports) == 500 and sum(r.retried + r.failed for r in reports) == 0
    assert mail.counts(env.session, actor=env.actor("admin")) == {"pending": 0, "sent": 500, "failed": 0}
    assert {(row.state, row.attempts) for row in _rows(env)} == {("sent", 1)}
    # A batch goes over one connection, not one per message.
    assert sum(m.counters["connections"] for m in mailers) <= sum(m.counters["sent"] for m in mailers) / 10


def test_a_slow_server_gets_the_untried_rest_of_a_batch_back_before_its_lease_runs_out(env, smtp_server):
    outbox = storm(env, 120)

    # Each message takes the server 12 s: after half the lease (50 s) the sender takes no more
    # rows from its batch and gives the untried ones back, long before another process could
    # claim them, then claims again.
    def slow(_message):
        env.clock.advance(12)

    smtp_server.before_accept = slow
    mailer = _mailer(env, smtp_server, batch=50, lease_s=100, senders=1)
    report = mailer.run_pending()
    assert report.sent == 120 and received_ids(smtp_server) == outbox
    assert mailer.counters["connections"] == 24  # five messages per claim, one connection each
    assert mailer.counters["given_back"] == sum(min(50, 120 - 5 * k) - 5 for k in range(24))
    assert {(row.state, row.attempts) for row in _rows(env)} == {("sent", 1)}  # given back is no attempt


def test_a_server_refusing_the_first_attempts_makes_rows_back_off_and_all_still_arrive(env, smtp_server):
    outbox = storm(env, 60)
    refusals = iter(range(25))
    smtp_server.before_accept = lambda _m: "451 4.3.0 Try again later" if next(refusals, None) is not None else None
    mailer = _mailer(env, smtp_server, retry_initial_s=60, retry_max_s=600, max_attempts=3)
    first = mailer.run_pending()
    assert (first.sent, first.retried, first.failed) == (35, 25, 0)
    assert mailer.counters["connections"] == 2  # a refused message leaves the connection usable
    waiting = [row for row in _rows(env) if row.state == "pending"]
    assert len(waiting) == 25
    assert all(row.attempts == 1 and "451" in row.last_error for row in waiting)
    assert {row.next_attempt_at for row in waiting} == {utc_now(env.clock) + timedelta(seconds=60)}
    assert mailer.run_pending().sent == 0  # not due before the backoff has passed
    env.clock.advance(61)
    assert mailer.run_pending().sent == 25
    assert received_ids(smtp_server) == outbox and smtp_server.refused == 25
    rows = _rows(env)
    assert {row.state for row in rows} == {"sent"}
    assert sorted(row.attempts for row in rows) == [1] * 35 + [2] * 25


def test_a_row_ends_sent_or_failed_with_its_last_error_never_lost(env, smtp_server):
    outbox = storm(env, 30)

    def refuse(message):
        if message["To"] == "storm01@hospital.example":
            return "550 5.1.1 Mailbox unavailable"  # permanent: not tried again
        if message["To"] == "storm02@hospital.example":
            return "451 4.3.0 Try again later"  # until the attempts run out
        return None

    smtp_server.before_accept = refuse
    mailer = _mailer(env, smtp_server, retry_initial_s=60, retry_max_s=600, max_attempts=3)
    for _ in range(3):
        mailer.run_pending()
        env.clock.advance(600)
    rows = {row.id: row for row in _rows(env)}
    assert sorted(rows) == outbox
    by_to: dict[str, set] = {}
    for row in rows.values():
        code = next((c for c in ("550", "451") if c in row.last_error), row.last_error)
        by_to.setdefault(row.to_addr.split("@")[0], set()).add((row.state, row.attempts, code))
    assert by_to["storm01"] == {("failed", 1, "550")}
    assert by_to["storm02"] == {("failed", 3, "451")}
    assert all(by_to[f"storm{i:02d}"] == {("sent", 1, "")} for i in range(TECHS) if i not in (1, 2))
    failed = mail.list_emails(env.session, actor=env.actor("admin"), state="failed").items
    assert {e.id for e in failed} == {i for i, row in rows.items() if row.state == "failed"}
    assert all("550" in e.last_error or "451" in e.last_error for e in failed)
    sent = {i for i, row in rows.items() if row.state == "sent"}
    assert received_ids(smtp_server) == sorted(sent)  # refused messages were not kept


def test_the_mailer_keeps_to_its_rate_and_records_outcomes_ten_to_a_transaction(env, smtp_server):
    outbox = storm(env, 100)
    waits: list[float] = []

    def pause(seconds: float) -> bool:  # the sender's wait for its turn, on the injected clock
        waits.append(seconds)
        env.clock.advance(seconds)
        return True

    commits = []
    event.listen(env.engine, "commit", lambda _conn: commits.append(1))
    mailer = _mailer(env, smtp_server, rate_per_s=20, senders=1, pause=pause)
    report = mailer.run_pending()
    assert report.sent == 100 and received_ids(smtp_server) == outbox
    # A burst of 20 (one second's worth) at once, then one every 1/20 s: 80 waits of 0.05 s.
    assert len(waits) == 80 and all(w == pytest.approx(0.05) for w in waits)
    sent_at = [row[0] for row in env.session.execute(select(NoticeEmail.sent_at).order_by(NoticeEmail.id))]
    env.session.rollback()
    gaps = [(b - a).total_seconds() for a, b in zip(sent_at, sent_at[1:])]  # each row's own send time
    assert gaps[:19] == [0.0] * 19 and gaps[19:] == pytest.approx([0.05] * 80, abs=1e-4)
    # Three claims (two batches of 50, then nothing due) and ten outcome transactions, not 100.
    assert len(commits) == 13
    assert {(row.state, row.attempts) for row in _rows(env)} == {("sent", 1)}


def test_a_mailer_stopped_while_waiting_for_its_turn_gives_the_rest_back(env, smtp_server):
    outbox = storm(env, 60)
    mailer = _mailer(env, smtp_server, rate_per_s=2, senders=1)  # the clock stands still: each turn waits longer
    mailer.start(poll_s=60)
    wait_for(lambda: len(smtp_server.messages) >= 2, timeout=30, what="the first burst")
    mailer.close(timeout=30)
    rows = _rows(env)
    sent = [row.id for row in rows if row.state == "sent"]
    assert sent == received_ids(smtp_server) and len(sent) >= 2
    # Every other row is due again at once, its attempt not counted: none lost, none in a lease.
    assert {(row.state, row.attempts, row.next_attempt_at) for row in rows if row.id not in sent} == {
        ("pending", 0, utc_now(env.clock))}
    assert len(rows) == len(outbox)


def test_the_mailer_runs_its_threads_at_a_lower_cpu_priority_and_leaves_the_rest_of_the_process_alone(
        env, smtp_server):
    mine = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())
    mailer = _mailer(env, smtp_server, nice=10).start(poll_s=60)
    try:
        wait_for(lambda: mailer.native_id is not None, timeout=10, what="the mailer thread")
        assert os.getpriority(os.PRIO_PROCESS, mailer.native_id) == max(mine, 10)
    finally:
        mailer.close()
    seen: dict[str, int] = {}

    def helper() -> None:
        lower_priority(15)
        seen["helper"] = os.getpriority(os.PRIO_PROCESS, threading.get_native_id())

    thread = threading.Thread(target=helper)
    thread.start()
    thread.join(10)
    assert seen == {"helper": max(mine, 15)}
    assert os.getpriority(os.PRIO_PROCESS, threading.get_native_id()) == mine  # the caller is untouched
