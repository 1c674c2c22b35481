"""Rate-of-change rules: a value rising or falling by more than a limit within a time window.

``rise``: alert when the newest value exceeds the lowest value of the last ``window_s``
seconds by more than ``rise`` (e.g. a fridge warming 2 degC in 10 minutes while still inside
its band: the door is open or the compressor stopped). ``fall`` likewise for drops (an oxygen
manifold pressure falling fast). Clears when the change over the window is back within the
limit by ``hysteresis``.

The window's minimum and maximum are kept as monotonic queues, so the persisted state holds
only the samples that can still become the extreme, not every reading of the window.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.hub.errors import Message
from wardlink.hub.i18n import N_
from wardlink.hub.rules.evaluators.base import (Action, Clear, Context, Evaluator, Param, Raise, Sample, duration, fmt,
                                                metric_word)

#: What a raise and a clear say, by direction.
_RAISED = {"rise": N_("%(metric)s rose %(change)s in %(held)s (limit %(limit)s per %(window)s); now %(value)s"),
           "fall": N_("%(metric)s fell %(change)s in %(held)s (limit %(limit)s per %(window)s); now %(value)s")}
_CLEARED = {"rise": N_("%(metric)s changed %(change)s in the last %(window)s, within the rise limit"),
            "fall": N_("%(metric)s changed %(change)s in the last %(window)s, within the fall limit")}

#: Bound on each queue, so a pathological series cannot grow the state without limit.
MAX_QUEUE = 2048


def _push(queue: list[list], ts: int, value: float, keep_lower: bool, horizon: int) -> list[list]:
    """Return ``queue`` with (ts, value) appended, dominated entries and expired entries removed."""
    out = [entry for entry in queue if entry[0] >= horizon]
    while out and ((out[-1][1] >= value) if keep_lower else (out[-1][1] <= value)):
        out.pop()
    out.append([ts, value])
    return out[-MAX_QUEUE:]


class RateOfChangeEvaluator(Evaluator):
    """Alert when a value changes by more than ``rise`` (up) or ``fall`` (down) within ``window_s``."""

    summary = N_("Alert when a value changes by more than rise (up) or fall (down) within window_s.")

    kind = "rate_of_change"
    inputs = frozenset({"reading"})
    PARAMS = {
        "rise": Param("number", None, positive=True, help="largest allowed increase within the window"),
        "fall": Param("number", None, positive=True, help="largest allowed decrease within the window"),
        "window_s": Param("number", positive=True, help="length of the window in seconds"),
        "hysteresis": Param("number", 0.0, minimum=0, help="how far under the limit the change must come to clear"),
    }

    def check(self) -> None:
        """Require at least one direction."""
        if self.rise is None and self.fall is None:
            raise self.fail("rise", Message(N_("a rate_of_change rule needs 'rise', 'fall' or both")))

    def initial(self) -> dict[str, Any]:
        """Return an empty window."""
        return {"lows": [], "highs": [], "active": False, "cond": None}

    def on_sample(self, state: Mapping[str, Any], sample: Sample, ctx: Context) -> tuple[dict, list[Action]]:
        """Slide the window to this reading and compare the change with the limits."""
        st = dict(state)
        value = sample.value
        if value is None:
            return st, []
        horizon = sample.ts_ms - round(self.window_s * 1000)
        st["lows"] = _push(st["lows"], sample.ts_ms, value, True, horizon)
        st["highs"] = _push(st["highs"], sample.ts_ms, value, False, horizon)
        low_ts, low = st["lows"][0]
        high_ts, high = st["highs"][0]
        changes = {"rise": (value - low, low_ts), "fall": (high - value, high_ts)}
        window = duration(self.window_s * 1000)
        if st["active"]:
            cond = st["cond"]
            change, _ = changes[cond]
            if change <= self.params[cond] - self.hysteresis:
                st.update(active=False, cond=None)
                return st, [Clear(sample.ts_ms, value, Message(
                    _CLEARED[cond], metric=metric_word(ctx.metric), change=fmt(change, ctx.unit), window=window))]
            return st, []
        for cond in ("rise", "fall"):
            limit = self.params[cond]
            change, since = changes[cond]
            if limit is not None and change > limit:
                st.update(active=True, cond=cond)
                return st, [Raise(sample.ts_ms, since, value, Message(
                    _RAISED[cond], metric=metric_word(ctx.metric), change=fmt(change, ctx.unit),
                    held=duration(sample.ts_ms - since), limit=fmt(limit, ctx.unit), window=window,
                    value=fmt(value, ctx.unit)))]
        return st, []
