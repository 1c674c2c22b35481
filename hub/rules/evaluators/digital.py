"""Digital state-duration rules: an input held in one state too long (a door open > 5 min).

Fed by the channel's readings and by its ``door.open`` / ``door.close`` / ``input.changed``
events (the engine turns those into readings of 1 / 0 / ``data.value``). Digital inputs often
report only on change, so the duration is also checked on the tick against the injected
clock, unless the gateway is offline or delivering a backlog (the door may well have closed
in data not received yet). The level's start is a gateway timestamp, so the tick measures
the duration on the gateway's clock (``Context.gateway_now_ms``, the hub's clock less the
offset the gateway's status showed): a gateway whose clock runs 10 minutes behind must not
have every door that opens reported as open for 10 minutes.
"""

from __future__ import annotations

from typing import Any, Mapping

from wardlink.hub.errors import Message, Term
from wardlink.hub.i18n import N_
from wardlink.hub.rules.evaluators.base import Action, Clear, Context, Evaluator, Param, Raise, Sample, duration

#: Event types that carry a digital level, and the level each one means (None = ``data.value``).
EVENT_LEVELS: dict[str, float | None] = {"door.open": 1.0, "door.close": 0.0, "input.changed": None}


class StateDurationEvaluator(Evaluator):
    """Alert when a digital input stays at ``state`` for ``for_s`` seconds."""

    summary = N_("Alert when a digital input stays at state for for_s seconds.")

    kind = "state_duration"
    inputs = frozenset({"reading", "event"})
    ticks = True
    default_severity = "warning"
    PARAMS = {
        "state": Param("number", 1.0, help="the level that must not last (1 = open / on)"),
        "for_s": Param("number", positive=True, help="how long the level may last"),
        "label": Param("string", "in state", help="word for the level in messages, e.g. 'open'"),
    }

    def initial(self) -> dict[str, Any]:
        """Return an input not in the watched state."""
        return {"phase": "normal", "since": None, "active": False}

    def _in_state(self, value: float) -> bool:
        # Levels are integers on the wire; anything within half a step counts as that level.
        return abs(value - self.state) < 0.5

    def _raise(self, st: dict, at_ms: int) -> list[Action]:
        held = at_ms - st["since"]
        if held < self.for_s * 1000:
            return []
        st.update(phase="active", active=True)
        return [Raise(at_ms, st["since"], self.state,
                      Message(N_("%(label)s for %(held)s"), label=Term(self.label), held=duration(held)))]

    def on_sample(self, state: Mapping[str, Any], sample: Sample, ctx: Context) -> tuple[dict, list[Action]]:
        """Follow the level; raise when it has lasted long enough, clear when it changes."""
        st = dict(state)
        if sample.value is None:
            return st, []
        if self._in_state(sample.value):
            if st["phase"] == "normal":
                st.update(phase="pending", since=sample.ts_ms)
            if st["phase"] == "pending":
                return st, self._raise(st, sample.ts_ms)
            return st, []
        actions: list[Action] = []
        if st["active"]:
            actions.append(Clear(sample.ts_ms, sample.value, Message(
                N_("no longer %(label)s after %(held)s"), label=Term(self.label),
                held=duration(sample.ts_ms - st["since"]))))
        st.update(phase="normal", since=None, active=False)
        return st, actions

    def on_tick(self, state: Mapping[str, Any], ctx: Context) -> tuple[dict, list[Action]]:
        """Raise a pending level whose duration has passed, if the gateway is delivering live."""
        st = dict(state)
        if st["phase"] != "pending" or ctx.gateway_state == "offline" or ctx.buffering:
            return st, []
        return st, self._raise(st, ctx.gateway_now_ms)
