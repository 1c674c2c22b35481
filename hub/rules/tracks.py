"""Route a channel's readings to a live track or a backfill track, in timestamp order.

Gateways send live readings first and replay their backlog afterwards, oldest first, marked
``late`` (see the edge forwarder). So after an outage the hub sees a live reading at 10:30,
then replayed readings from 10:00 to 10:29. An evaluator's state machine must only ever move
forward in time, so each (rule, channel) document holds:

- ``live``: the evaluator state fed by readings newer than any seen (``last``). A reading
  newer than ``last`` but from a ``late`` batch still moves the live state (it is the newest
  news there is) but anything it raises is *historical*.
- ``gaps``: spans where consecutive live readings were further apart than the evaluator's gap
  (:meth:`~hub.rules.evaluators.base.Evaluator.gap_ms`), each with a copy of the live state
  at its start.
- ``bf``: a backfill track. A reading older than ``last`` that falls inside a recorded gap is
  evaluated there, starting from the gap's saved state, so an excursion that happened while
  the gateway was cut off is found exactly, and raised as historical.

A reading older than ``last`` outside every gap was already seen (at-least-once delivery
re-sends batches) and is ignored, as is one at exactly ``last``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from hub.rules.evaluators.base import Action, Context, Evaluator, Sample

#: How many gaps a channel remembers; older ones can no longer be backfilled.
MAX_GAPS = 8

LIVE, BACKFILL, DUPLICATE = "live", "backfill", "duplicate"


@dataclass(frozen=True, slots=True)
class Routed:
    """An evaluator action with where it came from."""

    action: Action
    historical: bool
    track: str  # live or backfill


def new_document(evaluator: Evaluator) -> dict[str, Any]:
    """Return the document of a channel never seen by the rule."""
    return {"live": evaluator.initial(), "last": None, "gaps": [], "bf": None}


def feed(evaluator: Evaluator, doc: dict[str, Any], sample: Sample, late: bool,
         ctx: Context) -> tuple[str, list[Routed]]:
    """Apply one reading to ``doc`` in place; return its track and the routed actions."""
    last = doc["last"]
    if last is None or sample.ts_ms > last:
        if last is not None and evaluator.backfill and sample.ts_ms - last > evaluator.gap_ms(ctx):
            doc["gaps"].append([last, sample.ts_ms, copy.deepcopy(doc["live"])])
            del doc["gaps"][:-MAX_GAPS]
        doc["live"], actions = evaluator.on_sample(doc["live"], sample, ctx)
        doc["last"] = sample.ts_ms
        return LIVE, [Routed(a, late, LIVE) for a in actions] if actions else []
    if not evaluator.backfill:
        return DUPLICATE, []
    gap = next((g for g in doc["gaps"] if g[0] < sample.ts_ms < g[1]), None)
    if gap is None:
        return DUPLICATE, []
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


def copy_document(doc: dict[str, Any]) -> dict[str, Any]:
    """Return a copy of ``doc`` that :func:`feed`, :func:`tick` and the engine may change freely.

    Only what is changed in place is copied: the document itself, its gap list and its
    backfill track. Evaluator states are shared, because an evaluator never modifies the state
    it is given (it returns a new one), so this costs the same for a rate-of-change window of
    thousands of entries as for a threshold.
    """
    out = dict(doc)
    if "gaps" in doc:
        out["gaps"] = list(doc["gaps"])
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
