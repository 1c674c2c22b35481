"""Readings reach the evaluators in timestamp order: live, late, backfilled into gaps, or duplicates."""

from __future__ import annotations

from wardlink.hub.rules import tracks
from wardlink.hub.rules.evaluators import EVALUATORS, Clear, Context, Raise, Sample

T = 1_767_229_200_000
CTX = Context(now_ms=T, interval_s=10.0)  # gaps are spacings over 30 s


def threshold(**params):
    return EVALUATORS["threshold"]({"above": 8.0, **params}, rule="t")


def feed(ev, doc, ts_s, value, late=False):
    return tracks.feed(ev, doc, Sample(T + ts_s * 1000, value), late, CTX)


def test_live_readings_move_the_state_and_late_ones_newer_than_it_raise_historically():
    ev = threshold()
    doc = tracks.new_document(ev)
    assert feed(ev, doc, 0, 5.0) == (tracks.LIVE, [])
    track, routed = feed(ev, doc, 10, 9.0, late=True)
    assert track == tracks.LIVE and [(type(r.action), r.historical) for r in routed] == [(Raise, True)]
    track, routed = feed(ev, doc, 20, 7.0)
    assert [(type(r.action), r.historical) for r in routed] == [(Clear, False)]
    assert doc["last"] == T + 20_000


def test_repeated_and_older_readings_outside_gaps_are_duplicates():
    ev = threshold()
    doc = tracks.new_document(ev)
    for ts in (0, 10, 20):
        feed(ev, doc, ts, 9.5)
    assert feed(ev, doc, 20, 9.5) == (tracks.DUPLICATE, [])
    assert feed(ev, doc, 10, 1.0) == (tracks.DUPLICATE, [])
    assert doc["gaps"] == [] and doc["bf"] is None


def test_readings_replayed_into_a_gap_run_from_the_state_at_the_gap_start():
    ev = threshold(for_s=60)
    doc = tracks.new_document(ev)
    feed(ev, doc, 0, 8.5)  # pending since 0
    feed(ev, doc, 10, 8.6)
    feed(ev, doc, 600, 5.0)  # the gateway was away 590 s; now normal
    assert [g[:2] for g in doc["gaps"]] == [[T + 10_000, T + 600_000]]
    assert doc["gaps"][0][2]["phase"] == "pending" and doc["gaps"][0][2]["since"] == T
    # the replay: still high through 70 s (70 s after it began at 0), back to normal at 200 s;
    # delivered out of order, it finds the same episode
    out = [feed(ev, doc, ts, v, late=True) for ts, v in ((100, 9.0), (200, 6.0), (40, 8.9), (70, 9.1))]
    assert out == [(tracks.BACKFILL, [])] * 4
    replay = tracks.replay(ev, doc, tracks.hole_at(doc, T + 40_000), CTX)
    [episode] = replay.episodes
    assert (episode.since_ms, episode.raised.at_ms, episode.end_ms) == (T, T + 70_000, T + 200_000)
    assert isinstance(episode.cleared, Clear) and isinstance(episode.raised, Raise)
    assert doc["live"]["phase"] == "normal" and doc["last"] == T + 600_000  # live state untouched
    assert feed(ev, doc, 100, 9.0, late=True) == (tracks.DUPLICATE, [])  # the replay re-delivered


def test_holes_that_follow_each_other_are_one_and_keep_the_live_readings_inside():
    ev = threshold()
    doc = tracks.new_document(ev)
    for ts in (0, 20, 40, 60, 70):  # every other reading missing, then regular again
        feed(ev, doc, ts, 5.0)
    assert [(g[0], g[1], [r[0] for r in g[3]]) for g in doc["gaps"]] == [(T, T + 60_000, [T + 20_000, T + 40_000,
                                                                                          T + 60_000])]
    assert feed(ev, doc, 30, 9.0) == (tracks.BACKFILL, [])
    [episode] = tracks.replay(ev, doc, T, CTX).episodes
    assert (episode.since_ms, episode.end_ms) == (T + 30_000, T + 40_000)


def test_the_shortest_holes_are_forgotten_first():
    ev = threshold()
    doc = tracks.new_document(ev)
    feed(ev, doc, 0, 5.0)
    feed(ev, doc, 600, 5.0)  # a ten-minute outage
    for i in range(tracks.MAX_GAPS + 3):  # then short holes, one after another
        feed(ev, doc, 630 + i * 30, 5.0)
        feed(ev, doc, 630 + i * 30 + 10, 5.0)
    assert len(doc["gaps"]) == tracks.MAX_GAPS
    assert doc["gaps"][0][:2] == [T, T + 630_000]  # the outage (and its first short hole) kept for its backlog


def test_kinds_without_backfill_treat_older_readings_as_duplicates():
    ev = EVALUATORS["channel_silent"]({}, rule="t")
    doc = tracks.new_document(ev)
    feed(ev, doc, 0, 1.0)
    feed(ev, doc, 900, 1.0)
    assert doc["gaps"] == []
    assert feed(ev, doc, 300, 1.0, late=True) == (tracks.DUPLICATE, [])


def test_a_channel_of_unknown_interval_learns_its_spacing_so_an_out_of_order_batch_is_not_lost():
    ev = threshold()
    ctx = Context(now_ms=T)  # no registered interval: a hole would otherwise take a minute
    doc = tracks.new_document(ev)
    for ts in range(0, 20):  # one reading a second
        tracks.feed(ev, doc, Sample(T + ts * 1000, 5.0), False, ctx)
    assert doc["iv"] == 1000
    for ts in range(25, 30):  # the next batch was evaluated first, by the other worker
        tracks.feed(ev, doc, Sample(T + ts * 1000, 5.0), True, ctx)
    out = [tracks.feed(ev, doc, Sample(T + ts * 1000, 9.0), True, ctx)[0] for ts in range(20, 25)]
    assert out == [tracks.BACKFILL] * 5
    [episode] = tracks.replay(ev, doc, T + 19_000, ctx).episodes
    assert (episode.since_ms, episode.end_ms) == (T + 20_000, T + 25_000)
