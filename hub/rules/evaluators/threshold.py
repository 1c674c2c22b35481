"""Threshold rules: a value above, below or outside a band for a while; and battery low.

States: ``normal`` -> ``pending`` (limit crossed, waiting out ``for_s``) -> ``active``
(alert raised) -> ``normal`` once the value is back inside the limit by ``hysteresis``
(and stays there for ``clear_for_s``). A reading that returns inside the limit while
pending cancels it; readings without a value (failed reads) neither start nor clear anything.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.hub.errors import Message, Quantity
from wardlink.hub.i18n import N_
from wardlink.hub.rules.evaluators.base import (Action, Clear, Context, Evaluator, Param, Raise, Sample, duration,
                                                fmt, metric_word)

#: What a raise says, by the condition and whether the rule waits (``for_s``) before raising.
_RAISED = {
    ("high", False): N_("%(metric)s %(value)s above %(limit)s"),
    ("high", True): N_("%(metric)s %(value)s above %(limit)s for %(held)s"),
    ("low", False): N_("%(metric)s %(value)s below %(limit)s"),
    ("low", True): N_("%(metric)s %(value)s below %(limit)s for %(held)s"),
}


class ThresholdEvaluator(Evaluator):
    """Alert when a reading stays above ``above`` or below ``below`` for ``for_s`` seconds."""

    summary = N_("Alert when a reading stays above above or below below for for_s seconds.")

    kind = "threshold"
    inputs = frozenset({"reading"})
    default_severity = "warning"
    PARAMS = {
        "above": Param("number", None, help="alert when the value is greater than this"),
        "below": Param("number", None, help="alert when the value is less than this"),
        "for_s": Param("number", 0.0, minimum=0, help="how long the limit must be crossed before alerting"),
        "hysteresis": Param("number", 0.0, minimum=0,
                            help="how far back inside the limit the value must come to clear"),
        "clear_for_s": Param("number", 0.0, minimum=0, help="how long it must stay there to clear"),
    }

    def check(self) -> None:
        """Require a limit; with both, ``below`` must be under ``above``."""
        if self.above is None and self.below is None:
            raise self.fail("above", Message(N_("a threshold rule needs 'above', 'below' or both")))
        if self.above is not None and self.below is not None and not self.below < self.above:
            raise self.fail("below", Message(N_("must be less than above (%(above)s), got %(below)s"),
                                             above=Quantity(f"{self.above:g}"), below=Quantity(f"{self.below:g}")))

    def initial(self) -> dict[str, Any]:
        """Return the normal state."""
        return {"phase": "normal", "cond": None, "since": None, "clearing": None, "active": False, "peak": None}

    def _condition(self, value: float) -> str | None:
        if self.above is not None and value > self.above:
            return "high"
        if self.below is not None and value < self.below:
            return "low"
        return None

    def _cleared(self, cond: str, value: float) -> bool:
        if cond == "high":
            return value <= self.above - self.hysteresis
        return value >= self.below + self.hysteresis

    def _limit(self, cond: str) -> float:
        return self.above if cond == "high" else self.below

    def on_sample(self, state: Mapping[str, Any], sample: Sample, ctx: Context) -> tuple[dict, list[Action]]:
        """Advance the state machine by one reading."""
        value = sample.value
        if value is None:
            return dict(state), []
        if (state["phase"] == "normal" and state["cond"] is None and state["since"] is None
                and self._condition(value) is None):
            # Nothing changes, by far the commonest case: the same (never modified) state will do.
            return state, []
        st = dict(state)
        actions: list[Action] = []
        if st["phase"] == "active":
            cond = st["cond"]
            if not self._cleared(cond, value):
                st["clearing"] = None
                peak = st.get("peak")
                st["peak"] = value if peak is None else (max(peak, value) if cond == "high" else min(peak, value))
                return st, actions
            if st.get("clearing") is None:
                st["clearing"] = sample.ts_ms
            if sample.ts_ms - st["clearing"] < self.clear_for_s * 1000:
                return st, actions
            actions.append(Clear(sample.ts_ms, value, Message(
                N_("%(metric)s back to %(value)s (limit %(limit)s; peak %(peak)s)"), metric=metric_word(ctx.metric),
                value=fmt(value, ctx.unit), limit=fmt(self._limit(cond), ctx.unit),
                peak=fmt(st.get("peak"), ctx.unit))))
            st = self.initial()
        cond = self._condition(value)
        if cond is None:
            st.update(phase="normal", cond=None, since=None)
            return st, actions
        if st["phase"] != "pending" or st["cond"] != cond:
            st.update(phase="pending", cond=cond, since=sample.ts_ms)
        held = sample.ts_ms - st["since"]
        if held >= self.for_s * 1000:
            st.update(phase="active", active=True, peak=value, clearing=None)
            actions.append(Raise(sample.ts_ms, st["since"], value, Message(
                _RAISED[cond, bool(self.for_s)], metric=metric_word(ctx.metric), value=fmt(value, ctx.unit),
                limit=fmt(self._limit(cond), ctx.unit), held=duration(held))))
        return st, actions


class BatteryLowEvaluator(ThresholdEvaluator):
    """Alert when a battery level falls below ``below``; clear at ``clear_above``."""

    summary = N_("Alert when a battery level falls below below; clear at clear_above.")

    kind = "battery_low"
    default_match = {"metric": "battery"}
    PARAMS = {
        "below": Param("number", 20.0, help="alert below this level (percent or volts, as the channel reports)"),
        "clear_above": Param("number", None, help="clear at or above this level; default below + 5"),
        "for_s": Param("number", 0.0, minimum=0, help="how long the level must stay low"),
    }

    def check(self) -> None:
        """Turn the battery parameters into a threshold below with hysteresis."""
        clear = self.clear_above if self.clear_above is not None else self.below + 5
        if clear < self.below:
            raise self.fail("clear_above", Message(N_("must be >= below (%(below)s), got %(clear)s"),
                                                   below=Quantity(f"{self.below:g}"), clear=Quantity(f"{clear:g}")))
        self.params.update(above=None, hysteresis=clear - self.below, clear_for_s=0.0)
