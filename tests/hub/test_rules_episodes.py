"""Door alerts are keyed by episode: two workers (two engines on one database, SQLite and
PostgreSQL) fed a replayed backlog out of order, or readings stranded in another worker's
offline session, raise exactly one alert per episode of the readings."""

from __future__ import annotations

import random
import threading

import pytest
from relational_support import clock, engine
from rules_support import alerts, make_engine, series
from sqlalchemy.exc import IntegrityError

from wardlink.hub.db import session_scope
from wardlink.hub.db.models.rules import AlertLifecycle
from wardlink.hub.rules import RulesEngine
from wardlink.hub.rules.errors import RuleStoreError

DOOR = "fridge1.door"  # one reading a second on the seeded site
DOOR_OPEN = {"name": "door-open", "kind": "threshold", "severity": "warning", "match": {"channel": DOOR},
             "above": 0.5}


def now_ms(clock):
    return round(clock.now() * 1000)


def wave(s: int) -> float:
    """The door: open from second 12 to 20 of every 30."""
    return 1.0 if 12 <= s % 30 < 21 else 0.0


def episodes(start_ms: int, seconds: range) -> list[tuple[int, int]]:
    """Return (start, end) of every door opening among ``seconds`` (end = first closed reading)."""
    out, since = [], None
    for s in seconds:
        if wave(s) > 0.5 and since is None:
            since = s
        elif wave(s) <= 0.5 and since is not None:
            out.append((start_ms + since * 1000, start_ms + s * 1000))
            since = None
    return out


def door_alerts(db) -> list[tuple[int, str, bool, int | None, int | None]]:
    """Return (condition since, state, historical, episode start, episode end) of every door alert."""
    return sorted((round(lc.condition_since.timestamp() * 1000), a.state, lc.historical, lc.episode_ms,
                   lc.episode_end_ms) for a, lc in alerts(db, "door-open"))


def feed(rules: RulesEngine, batch) -> None:
    """Evaluate one batch as an ingest worker does: a store error is retried with the same batch."""
    for _ in range(50):
        try:
            rules.on_points(batch)
            return
        except RuleStoreError:
            continue
    raise AssertionError("the rules engine kept failing on one batch")


def backlog(clock):
    """Ten minutes cut off: live readings before and after, the backlog between in 5-reading batches."""
    t = now_ms(clock) - 900_000
    live = series(DOOR, t, 1, [0.0] * 10) + series(DOOR, t + 600_000, 1, [0.0] * 10)
    batches = [series(DOOR, t + s * 1000, 1, [wave(s + i) for i in range(5)], late=True) for s in range(10, 600, 5)]
    return t, live, batches


@pytest.mark.timeout(120)
def test_a_backlog_dealt_to_two_workers_out_of_order_gets_one_alert_per_episode(engine, clock):
    first = make_engine(engine, clock, [DOOR_OPEN])
    second = RulesEngine(engine, clock=clock)
    t, live, batches = backlog(clock)
    first.on_points(live[:10])
    second.on_points(live[10:])
    order = list(range(len(batches)))
    random.Random(13).shuffle(order)  # a fixed shuffle: the test does not depend on chance
    for n, i in enumerate(order):
        feed(first if n % 2 else second, batches[i])
    for i in order[:20]:  # part of the backlog delivered again (at-least-once)
        feed(second, batches[i])
    want = episodes(t, range(10, 600))
    assert len(want) == 20
    assert door_alerts(engine) == [(s, "resolved", True, s, e) for s, e in want]


@pytest.mark.timeout(180)
def test_two_workers_racing_on_one_backlog_open_one_alert_per_episode(engine, clock):
    first = make_engine(engine, clock, [DOOR_OPEN])
    second = RulesEngine(engine, clock=clock)
    t, live, batches = backlog(clock)
    first.on_points(live)
    order = list(range(len(batches)))
    random.Random(7).shuffle(order)
    halves = [[batches[i] for i in order[0::2]], [batches[i] for i in order[1::2]]]
    # Both workers also get the whole backlog once more, as after a redelivery.
    halves[0] += batches[::-1]
    halves[1] += batches
    errors = []

    def work(rules, mine):
        try:
            for batch in mine:
                feed(rules, batch)
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(r, h)) for r, h in zip((first, second), halves)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert errors == []
    want = episodes(t, range(10, 600))
    assert door_alerts(engine) == [(s, "resolved", True, s, e) for s, e in want]


def test_the_database_refuses_a_second_alert_for_one_episode(engine, clock):
    rules = make_engine(engine, clock, [DOOR_OPEN])
    t, live, batches = backlog(clock)
    rules.on_points(live)
    rules.on_points([p for b in batches for p in b])
    [(alert, lc), *_] = alerts(engine, "door-open")
    with pytest.raises(IntegrityError):
        with session_scope(engine) as s:
            s.add(AlertLifecycle(alert_id=_spare_alert(s, alert), rule_id=lc.rule_id,
                                 subject=lc.subject, episode_ms=lc.episode_ms, historical=True,
                                 shelve_note="", updated_at=lc.updated_at))
            s.flush()


def _spare_alert(session, like) -> int:
    from wardlink.hub.db.models import Alert

    other = Alert(rule=like.rule, severity=like.severity, title="copy", detail="", state="open",
                  opened_at=like.opened_at)
    session.add(other)
    session.flush()
    return other.id


def test_readings_stranded_in_an_offline_session_raise_a_historical_alert_once(engine, clock):
    """Every other batch sat two minutes in a retired worker's session: an excursion only in
    those readings gets one historical alert; one seen in part live keeps its live alert."""
    live_worker = make_engine(engine, clock, [DOOR_OPEN])
    stranded_worker = RulesEngine(engine, clock=clock)
    t = now_ms(clock) - 300_000
    # The door opens at 41 s for a second (seen only in the stranded half), and from 60 s to 69 s.
    values = {s: 1.0 if s == 41 or 60 <= s < 70 else 0.0 for s in range(0, 120)}
    batches = [series(DOOR, t + s * 1000, 1, [values[s]]) for s in range(0, 120)]
    for s in range(0, 120, 2):
        live_worker.on_points(batches[s])
    assert door_alerts(engine) == [(t + 60_000, "resolved", False, t + 60_000, t + 70_000)]
    for s in range(1, 120, 2):  # two minutes later, from the reconnected session
        feed(stranded_worker, batches[s])
    for s in range(1, 120, 2):  # and once more
        feed(live_worker, batches[s])
    assert door_alerts(engine) == [(t + 41_000, "resolved", True, t + 41_000, t + 42_000),
                                   (t + 60_000, "resolved", False, t + 60_000, t + 70_000)]


def test_an_episode_that_ends_in_a_late_batch_is_not_taken_for_the_next_one(engine, clock):
    """The live track alerts an opening seen at the end of one backlog batch; the next batch is
    evaluated after the one after it, which shows the door shut. The late batch holds the end
    of that opening and a whole second one: two alerts, each with its own end."""
    rules = make_engine(engine, clock, [DOOR_OPEN])
    t = now_ms(clock) - 300_000

    def batch(first, last):
        return series(DOOR, t + first * 1000, 1, [wave(s) for s in range(first, last + 1)], late=True)

    rules.on_points(series(DOOR, t, 1, [wave(s) for s in range(0, 10)]))
    for first, last in ((10, 15), (53, 70), (16, 52)):  # the middle batch evaluated last
        rules.on_points(batch(first, last))
    assert door_alerts(engine) == [(t + 12_000, "resolved", True, t + 12_000, t + 21_000),
                                   (t + 42_000, "resolved", True, t + 42_000, t + 51_000)]


def test_an_episode_at_the_end_of_a_hole_cleared_live_before_the_hole_was_filled(engine, clock):
    """The pattern of a system test run on a loaded machine: one worker evaluated a backlog
    batch ending in an opening (its alert opened), the other the batch that begins in the next
    opening, then the batch that shows that one end, and the door opened again live; only then
    did the batch between them arrive. The live track took the second opening for part of the
    first, so its clearing reading resolved the first alert; the second opening must still get
    its own alert (resolved where the live readings saw it end), not be taken for the open one."""
    first = make_engine(engine, clock, [DOOR_OPEN])
    second = RulesEngine(engine, clock=clock)
    t = now_ms(clock) - 300_000

    def late(a, b):
        return series(DOOR, t + a * 1000, 1, [wave(s) for s in range(a, b + 1)], late=True)

    def live(a, b):
        return series(DOOR, t + a * 1000, 1, [wave(s) for s in range(a, b + 1)])

    feed(first, live(0, 9))
    feed(second, late(10, 15))  # the door opens at 12: a historical alert, open
    feed(first, late(44, 47))  # open again (from 42): a hole from 15 to 44
    feed(first, late(48, 59))  # shut at 51: the open alert is resolved there
    feed(second, live(72, 75))  # open again, live: the live alert holds the subject's open slot
    feed(second, late(16, 43))  # the hole: shut from 21 to 41, open from 42
    feed(first, late(60, 71))
    feed(first, live(76, 85))
    assert door_alerts(engine) == [(t + 12_000, "resolved", True, t + 12_000, t + 21_000),
                                   (t + 42_000, "resolved", True, t + 42_000, t + 51_000),
                                   (t + 72_000, "resolved", False, t + 72_000, t + 81_000)]


def test_a_live_alert_open_at_the_cut_off_does_not_swallow_the_episodes_of_the_outage(engine, clock):
    """The door was open when the gateway was cut off and is open again when it comes back:
    the live track sees one long opening. The backlog, dealt to two workers out of order,
    shows it shut at 21 and three more openings: the live alert is resolved at 21 and each
    opening gets its own alert; the one still going on at the reconnect is promoted by live
    readings and resolved by them."""
    first = make_engine(engine, clock, [DOOR_OPEN])
    second = RulesEngine(engine, clock=clock)
    t = now_ms(clock) - 300_000
    feed(first, series(DOOR, t, 1, [wave(s) for s in range(0, 15)]))  # open from 12: a live alert
    feed(second, series(DOOR, t + 102_000, 1, [wave(s) for s in range(102, 106)]))  # back, open
    batches = [series(DOOR, t + s * 1000, 1, [wave(s + i) for i in range(5)], late=True) for s in range(15, 100, 5)]
    batches.append(series(DOOR, t + 100_000, 1, [wave(100), wave(101)], late=True))
    order = list(range(len(batches)))
    random.Random(5).shuffle(order)  # a fixed shuffle: the test does not depend on chance
    for n, i in enumerate(order):
        feed(first if n % 2 else second, batches[i])
    feed(first, series(DOOR, t + 106_000, 1, [wave(s) for s in range(106, 116)]))
    assert door_alerts(engine) == [(t + 12_000, "resolved", False, t + 12_000, t + 21_000),
                                   (t + 42_000, "resolved", True, t + 42_000, t + 51_000),
                                   (t + 72_000, "resolved", True, t + 72_000, t + 81_000),
                                   (t + 102_000, "resolved", False, t + 102_000, t + 111_000)]
