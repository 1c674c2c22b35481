"""Route a channel's readings to a live track or a backfill track, in timestamp order.

Gateways send live readings first and replay their backlog afterwards, oldest first, marked
``late`` (see the edge forwarder). So after an outage the hub sees a live reading at 10:30,
then replayed readings from 10:00 to 10:29. An evaluator's state machine must only ever move
forward in time, so each (rule, channel) document holds:

- ``live``: the evaluator state fed by readings newer than any seen (``last``). A reading
  newer than ``last`` but from a ``late`` batch still moves the live state (it is the newest
  news there is) but anything it raises is *historical*.
- ``gaps``: holes in the live stream, each ``[start, end, state, samples, touched_ms]``: live
  readings further apart than the hole spacing (:func:`hole_ms`: one and a half sampling
  intervals, so a single missing reading is a hole) leave one, holding a copy of the live
  state at its start and, in ``samples``, every reading seen inside it (``[ts, value,
  quality]``, sorted, the live reading at its end included). Holes that follow each other
  (every other batch missing, as when part of a shared subscription is stranded in an offline
  session) extend one entry.
- A reading older than ``last`` that falls inside a hole and is not among its samples is
  added to them (:data:`BACKFILL`); the caller then replays the hole (:func:`replay`): the
  evaluator runs over all its samples in timestamp order from the saved state, and the
  episodes it finds are handed to the engine as one :class:`Replay` action, which keys each
  alert by its episode's start. The outcome therefore depends only on which readings arrived,
  never on their order or on which worker evaluated which batch.
- Kinds that do not raise alerts (run hours) keep a streaming backfill track ``bf`` instead:
  replaying would count running time twice.

A reading older than ``last`` outside every hole was already seen (at-least-once delivery
re-sends batches) and is ignored, as is one at exactly ``last`` or already among a hole's
samples. Holes are forgotten :data:`KEEP_MS` after their end (on the readings' clock) or when
more than :data:`MAX_GAPS` are open (the shortest go first: an outage's long hole outlives the
short ones that batches evaluated out of order leave); a hole keeps at most :data:`MAX_SAMPLES`
readings, and one that late readings have filled is forgotten at once (:func:`drop_filled`).
"""

from __future__ import annotations

import copy
from bisect import bisect_left
from dataclasses import dataclass
from typing import Any

from wardlink.hub.rules.evaluators.base import Action, Clear, Context, Evaluator, Raise, Sample

#: How many holes a channel remembers; older ones can no longer be backfilled.
MAX_GAPS = 32
#: How long after its end a hole is kept for late readings (on the readings' clock): 30 min.
KEEP_MS = 30 * 60_000
#: Readings a hole keeps (an hour of a one-second channel); later ones extend no hole.
MAX_SAMPLES = 3600
#: A hole is a spacing of more than this many sampling intervals.
HOLE_INTERVALS = 1.5
#: Spacings a channel of unknown interval remembers to estimate it.
SPACINGS = 16

LIVE, BACKFILL, DUPLICATE = "live", "backfill", "duplicate"


@dataclass(frozen=True, slots=True)
class Routed:
    """An evaluator action with where it came from."""

    action: Action
    historical: bool
    track: str  # live or backfill


@dataclass(frozen=True, slots=True)
class Episode:
    """A span in which a replayed hole's readings held the condition."""

    since_ms: int  # when the condition began (the hole's start for one that began before it)
    raised: Raise | None  # None for an episode that began before the hole (``continued``)
    end_ms: int | None = None  # the reading that cleared it; None while it lasts to the hole's end
    cleared: Clear | None = None
    continued: bool = False  # it began before the hole: its alert, if any, is the one open at the start


@dataclass(frozen=True, slots=True)
class Replay:
    """The episodes found by replaying the hole ``start``..``end`` of a channel."""

    start_ms: int
    end_ms: int
    episodes: tuple[Episode, ...]


def hole_ms(evaluator: Evaluator, ctx: Context, doc: dict[str, Any] | None = None) -> int:
    """Return the spacing of live readings that leaves a hole late readings may fill.

    One and a half sampling intervals: the channel's registered interval, else the spacing
    learned from its readings (``iv`` in the document); the rule's ``gap_s`` when it sets one.
    """
    interval = ctx.interval_s
    if interval:  # per registered interval, worked out once (this runs for every reading)
        holes = evaluator.__dict__.setdefault("_hole_ms", {})
        hole = holes.get(interval)
        if hole is None:
            hole = holes[interval] = evaluator.gap_ms(ctx) if evaluator.params.get("gap_s") else \
                round(max(interval * HOLE_INTERVALS, 1.0) * 1000)
        return hole
    if evaluator.params.get("gap_s"):
        return evaluator.gap_ms(ctx)
    learned = doc.get("iv") if doc is not None else None
    if learned:
        return min(round(max(learned * HOLE_INTERVALS, 1000)), evaluator.gap_ms(ctx))
    return evaluator.gap_ms(ctx)


def _learn_interval(doc: dict[str, Any], spacing: int, longest: int) -> None:
    """Follow the spacing of a channel's readings (for channels of unknown interval).

    The document keeps the last :data:`SPACINGS` spacings up to ``longest`` (outages left out);
    the estimate ``iv`` is their second smallest, so one reading that came early does not
    shrink it, and batches evaluated out of order (long spacings among regular ones) do not
    stretch it. Register a channel's interval where it matters: a stretch of more than
    :data:`SPACINGS` readings with every other one missing is taken for the channel's rate.
    """
    if spacing > longest:
        return
    spacings = doc.get("sp")
    spacings = [*spacings[-(SPACINGS - 1):], spacing] if spacings else [spacing]
    doc["sp"] = spacings
    if len(spacings) >= 4:
        doc["iv"] = sorted(spacings)[1]


def _sample_row(sample: Sample) -> list:
    return [sample.ts_ms, sample.value, sample.quality]


def _holes(doc: dict[str, Any]) -> list[list]:
    """Return the document's holes, entries written by earlier versions brought to the new form."""
    gaps = doc["gaps"]
    for i, g in enumerate(gaps):
        if len(g) < 5:
            gaps[i] = [g[0], g[1], g[2], [], None]
    return gaps


def new_document(evaluator: Evaluator) -> dict[str, Any]:
    """Return the document of a channel never seen by the rule."""
    return {"live": evaluator.initial(), "last": None, "gaps": [], "bf": None}


def feed(evaluator: Evaluator, doc: dict[str, Any], sample: Sample, late: bool,
         ctx: Context) -> tuple[str, list[Routed]]:
    """Apply one reading to ``doc`` in place; return its track and the routed actions."""
    last = doc["last"]
    if last is None or sample.ts_ms > last:
        if last is not None and evaluator.backfill:
            gaps = doc["gaps"]
            spacing = sample.ts_ms - last
            hole = hole_ms(evaluator, ctx, doc)
            if not ctx.interval_s and spacing != doc.get("iv"):  # a regular stream confirms what is known
                _learn_interval(doc, spacing, evaluator.gap_ms(ctx))
            if spacing > hole:
                gaps = _holes(doc)
                if gaps and gaps[-1][1] == last and len(gaps[-1][3]) < MAX_SAMPLES:
                    gaps[-1][1] = sample.ts_ms  # the hole goes on: one entry for the whole stretch
                    gaps[-1][3].append(_sample_row(sample))
                else:
                    gaps.append([last, sample.ts_ms, copy.deepcopy(doc["live"]), [_sample_row(sample)], None])
                    while len(gaps) > MAX_GAPS:  # the shortest older hole goes
                        del gaps[min(range(len(gaps) - 1), key=lambda i: gaps[i][1] - gaps[i][0])]
            while gaps and gaps[0][1] < sample.ts_ms - KEEP_MS:
                del gaps[0]
        doc["live"], actions = evaluator.on_sample(doc["live"], sample, ctx)
        doc["last"] = sample.ts_ms
        return LIVE, [Routed(a, late, LIVE) for a in actions] if actions else []
    if not evaluator.backfill:
        return DUPLICATE, []
    gap = next((g for g in _holes(doc) if g[0] < sample.ts_ms < g[1]), None)
    if gap is None:
        return DUPLICATE, []
    if evaluator.raises:
        samples = gap[3]
        at = bisect_left(samples, sample.ts_ms, key=lambda row: row[0])
        if (at < len(samples) and samples[at][0] == sample.ts_ms) or len(samples) >= MAX_SAMPLES:
            return DUPLICATE, []
        samples.insert(at, _sample_row(sample))
        gap[4] = ctx.now_ms
        return BACKFILL, []
    bf = doc.get("bf")
    if bf is None or bf["gap"] != gap[0]:
        bf = doc["bf"] = {"gap": gap[0], "last": None, "state": copy.deepcopy(gap[2]), "alert": None,
                          "touched_ms": None}
    elif bf["last"] is not None and sample.ts_ms <= bf["last"]:
        return DUPLICATE, []
    bf["state"], actions = evaluator.on_sample(bf["state"], sample, ctx)
    bf["last"] = sample.ts_ms
    bf["touched_ms"] = ctx.now_ms
    return BACKFILL, [Routed(a, True, BACKFILL) for a in actions]


def hole_at(doc: dict[str, Any], ts_ms: int) -> int | None:
    """Return the start of the hole holding ``ts_ms`` (None outside every hole)."""
    return next((g[0] for g in doc["gaps"] if g[0] < ts_ms < g[1]), None)


def replay(evaluator: Evaluator, doc: dict[str, Any], start_ms: int, ctx: Context) -> Replay | None:
    """Run the evaluator over the hole starting at ``start_ms`` from its saved state; return its episodes."""
    hole = next((g for g in doc["gaps"] if g[0] == start_ms), None)
    if hole is None:
        return None
    state = copy.deepcopy(hole[2])
    episodes: list[Episode] = []
    current: Episode | None = None
    if evaluator.is_active(state):
        current = Episode(hole[0], None, continued=True)  # the condition held when the hole began
    for ts, value, quality in hole[3]:
        state, actions = evaluator.on_sample(state, Sample(ts, value, quality), ctx)
        for action in actions:
            if isinstance(action, Raise) and current is None:
                current = Episode(action.since_ms, action)
            elif isinstance(action, Clear) and current is not None:
                episodes.append(Episode(current.since_ms, current.raised, action.at_ms, action, current.continued))
                current = None
    if current is not None:
        episodes.append(current)
    return Replay(hole[0], hole[1], tuple(episodes))


def drop_filled(evaluator: Evaluator, doc: dict[str, Any], starts: list[int], ctx: Context) -> None:
    """Forget the holes of ``starts`` that late readings have filled (no spacing left above the hole size).

    A filled hole needs no more replays (what arrives for it now was seen) and must not push
    a hole still being filled out of the :data:`MAX_GAPS` kept.
    """
    limit = hole_ms(evaluator, ctx, doc)
    keep = []
    for g in doc["gaps"]:
        if g[0] in starts:
            stamps = [g[0], *(row[0] for row in g[3])]
            if stamps[-1] == g[1] and all(b - a <= limit for a, b in zip(stamps, stamps[1:])):
                continue
        keep.append(g)
    if len(keep) != len(doc["gaps"]):
        doc["gaps"] = keep


def copy_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``doc`` that :func:`feed`, :func:`tick` and the engine may change freely.

    Only what is changed in place is copied: the document itself, its gap list and its
    backfill track. Evaluator states are shared, because an evaluator never modifies the state
    it is given (it returns a new one), so this costs the same for a rate-of-change window of
    thousands of entries as for a threshold.
    """
    out = dict(doc)
    if "gaps" in doc:
        # A hole's entry and its samples are changed in place too; its state is not.
        out["gaps"] = [[*g[:3], list(g[3]), *g[4:]] if len(g) > 3 else list(g) for g in doc["gaps"]]
    if doc.get("bf") is not None:
        out["bf"] = dict(doc["bf"])
    return out


def tick(evaluator: Evaluator, doc: dict[str, Any], ctx: Context) -> list[Routed]:
    """Apply the passage of time to the live state in place; return the routed actions."""
    doc["live"], actions = evaluator.on_tick(doc["live"], ctx)
    return [Routed(a, False, LIVE) for a in actions]


def is_active(evaluator: Evaluator, doc: dict[str, Any]) -> bool:
    """Return True while the live condition holds."""
    return evaluator.is_active(doc["live"])
