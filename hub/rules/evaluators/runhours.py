"""Run-hours rules: accumulate the time an asset runs, for meter-based maintenance.

"Running" is a reading above ``above`` (e.g. a pump dock drawing more than 0.2 A), held until
it drops below ``above - hysteresis``. The interval between two consecutive readings counts
when the first of them was running and they are at most a gap apart, so an outage is never
billed as running time. Readings replayed into that gap later (backfill) fill it, except the
one interval between the last replayed reading and the first live one after the outage.
The engine adds the time to the asset's meter in ``asset_meters``.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.hub.i18n import N_
from wardlink.hub.rules.evaluators.base import Action, Context, Evaluator, Param, RunTime, Sample


class RunHoursEvaluator(Evaluator):
    """Accumulate the time a reading stays above ``above`` into the asset's ``meter``."""

    summary = N_("Accumulate the time a reading stays above above into the asset's meter.")

    kind = "run_hours"
    inputs = frozenset({"reading"})
    raises = False
    default_severity = "info"
    PARAMS = {
        "above": Param("number", help="the asset runs while the reading is above this"),
        "hysteresis": Param("number", 0.0, minimum=0, help="how far below 'above' it must drop to stop"),
        "meter": Param("string", "run_hours", help="name of the meter to accumulate into"),
    }

    def initial(self) -> dict[str, Any]:
        """Return a stopped asset."""
        return {"running": False, "last": None, "active": False}

    def on_sample(self, state: Mapping[str, Any], sample: Sample, ctx: Context) -> tuple[dict, list[Action]]:
        """Count the interval since the previous reading if the asset was running through it."""
        st = dict(state)
        actions: list[Action] = []
        last = st.get("last")
        if last is not None and sample.ts_ms > last and st["running"] and sample.ts_ms - last <= self.gap_ms(ctx):
            actions.append(RunTime((sample.ts_ms - last) / 1000.0, sample.ts_ms))
        value = sample.value
        if value is None:
            st["running"] = False  # unknown: the next interval is not counted
        elif st["running"]:
            st["running"] = value >= self.above - self.hysteresis
        else:
            st["running"] = value > self.above
        st["last"] = sample.ts_ms
        return st, actions
