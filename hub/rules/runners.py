"""What a job does to one rule's state document: the runs of readings (with the replay of late
batches), events, status messages and ticks.

Each function returns ``run(doc, apply) -> (evaluated, duplicates)``: it moves ``doc`` through the
rule's pure evaluator and passes the actions it produces to ``apply``. A run must be repeatable:
:class:`wardlink.hub.rules.jobs.Transactions` runs it once dry and again for real when it acted.
"""

from __future__ import annotations

from typing import Any, Callable

from wardlink.hub.errors import Message
from wardlink.hub.i18n import N_
from wardlink.hub.rules import tracks
from wardlink.hub.rules.evaluators import Context, EventInput, Raise, Sample, StatusInput
from wardlink.hub.rules.tracks import BACKFILL, DUPLICATE, LIVE, Routed

Run = Callable[[dict, Callable[[list[Routed]], None]], tuple[int, int]]


def reading_runner(rule: Any, samples: list[tuple[Sample, bool]], ctx: Context) -> Run:
    """Return the run of a reading rule over one channel's samples, in timestamp order.

    Live readings are evaluated as they come; late readings that fill a hole of the backfill
    track are replayed once per hole at the end, so the episodes the hole holds are matched with
    the alerts already open, whatever order its readings arrived in.
    """
    evaluator = rule.evaluator

    def run(doc: dict, apply: Callable[[list[Routed]], None]) -> tuple[int, int]:
        evaluated = duplicates = 0
        holes: list[int] = []  # starts of the holes late readings were added to, in order
        for sample, late in samples:
            track, routed = tracks.feed(evaluator, doc, sample, late, ctx)
            if track == DUPLICATE:
                duplicates += 1
                continue
            evaluated += 1
            if track == BACKFILL and evaluator.raises:
                start = tracks.hole_at(doc, sample.ts_ms)
                if start is not None and start not in holes:
                    holes.append(start)
                continue
            apply(routed)
            if (track == LIVE and not late and doc.get("hist") and evaluator.raises
                    and tracks.is_active(evaluator, doc) and not any(isinstance(r.action, Raise) for r in routed)):
                # The condition raised from late data still holds in live data: a live alert now.
                apply([Routed(Raise(sample.ts_ms, sample.ts_ms, sample.value,
                                    Message(N_("live data shows the condition still holds"))), False, LIVE)])
        for start in holes:
            # The hole's readings as they now stand, whatever order they came in: its
            # episodes, which the applier matches with the alerts already open by start.
            replayed = tracks.replay(evaluator, doc, start, ctx)
            if replayed is not None:
                apply([Routed(replayed, True, BACKFILL)])
        if holes:
            tracks.drop_filled(evaluator, doc, holes, ctx)
        return evaluated, duplicates

    return run



def event_runner(rule: Any, inputs: list[EventInput], ctx: Context, now: int, late_after_ms: int) -> Run:
    """Return the run of an event rule over events placed at one asset (late: older than ``late_after_ms``)."""
    def run(doc: dict, apply) -> tuple[int, int]:
        for inp in inputs:
            doc["live"], actions = rule.evaluator.on_event(doc["live"], inp, ctx)
            apply([Routed(a, now - inp.ts_ms > late_after_ms, LIVE) for a in actions])
        return len(inputs), 0
    return run


def status_runner(rule: Any, inp: StatusInput, ctx: Context) -> Run:
    """Return the run of a gateway rule over one status message."""
    def run(doc: dict, apply) -> tuple[int, int]:
        doc["live"], actions = rule.evaluator.on_status(doc["live"], inp, ctx)
        apply([Routed(a, False, LIVE) for a in actions])
        return 1, 0
    return run


def tick_runner(rule: Any, ctx: Context) -> Run:
    """Return the run of a time-driven rule at ``ctx.now_ms``."""
    def run(doc: dict, apply) -> tuple[int, int]:
        apply(tracks.tick(rule.evaluator, doc, ctx))
        return 0, 0
    return run
