"""Local alarm rules, evaluated on the gateway so a fridge alarm sounds in the ward without the hub.

A rule watches one channel: a value above ``above`` (or below ``below``) for ``for_s`` seconds
raises the alarm: an ``alarm.raised`` event is committed at once and the rule's output (a GPIO
buzzer or LED) switches on. The alarm clears when the value comes back inside the limit by at
least ``hysteresis`` (``value <= above - hysteresis``), so a temperature hovering at the limit
does not toggle the buzzer. Time is the readings' own timestamps (from the injected clock).
``bad`` readings neither start nor clear an alarm. The hub's ``silence-alarm`` command silences
the output until the alarm clears; the event stream records every step.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping, Sequence

from wardlink.protocol import Event

from wardlink.edge.config import AlarmRule

log = logging.getLogger(__name__)


class Output:
    """A switchable actuator (buzzer, LED) behind a hardware driver; tolerant of driver errors."""

    def __init__(self, name: str, device: Any) -> None:
        self.name = name
        self.device = device
        self.is_on = False

    def _call(self, method: str, *args, **kwargs) -> None:
        fn = getattr(self.device, method, None)
        if fn is None:
            raise AttributeError(f"output {self.name!r}: driver has no {method}()")
        try:
            fn(*args, **kwargs)
        except Exception as exc:
            log.error("output %s: %s() failed: %s", self.name, method, exc)

    def on(self) -> None:
        """Sound or light the output in its alarm pattern (steady if the driver has no patterns)."""
        if hasattr(self.device, "pattern"):
            self._call("pattern", "alarm")
        else:
            self._call("on")
        self.is_on = True

    def off(self) -> None:
        """Switch the output off."""
        self._call("off")
        self.is_on = False

    def blink(self, seconds: float) -> None:
        """Blink for about ``seconds`` so a technician finds the gateway (identify)."""
        if hasattr(self.device, "pattern"):
            # The "blink" pattern is one second per cycle.
            self._call("pattern", "blink", max(1, round(seconds)))
        else:
            self._call("on")

    def close(self) -> None:
        """Switch off and release the device; idempotent."""
        close = getattr(self.device, "close", None)
        if close is not None:
            try:
                close()
            except Exception as exc:
                log.warning("closing output %s failed: %s", self.name, exc)


@dataclass
class _RuleState:
    rule: AlarmRule
    pending: str | None = None  # "high" or "low" while waiting out for_s
    pending_since: int = 0
    raised: str | None = None
    raised_at: int = 0
    silenced: bool = False
    last_value: float | None = None


def _describe(rule: AlarmRule, condition: str) -> str:
    limit = rule.above if condition == "high" else rule.below
    word = "above" if condition == "high" else "below"
    return f"{rule.channel} {word} {limit:g} for {rule.for_s:g} s"


class AlarmEngine:
    """Evaluate local rules on each reading and drive outputs and events."""

    def __init__(self, rules: Sequence[AlarmRule], outputs: Mapping[str, Output],
                 emit_event: Callable[[Event], None]) -> None:
        self.outputs = dict(outputs)
        self._emit = emit_event
        self._states: dict[str, _RuleState] = {}
        self._by_channel: dict[str, list[_RuleState]] = {}
        self.set_rules(rules)

    def set_rules(self, rules: Sequence[AlarmRule]) -> None:
        """Replace the rules; a rule that is unchanged keeps its state (a raised alarm stays raised)."""
        old = self._states
        states: dict[str, _RuleState] = {}
        for rule in rules:
            prev = old.get(rule.id)
            states[rule.id] = prev if prev is not None and prev.rule == rule else _RuleState(rule)
        for rid, prev in old.items():
            if rid not in states and prev.raised:
                self._emit(Event("alarm.cleared", prev.raised_at, prev.rule.channel, "info",
                                 {"rule": rid, "reason": "rule removed"}))
        self._states = states
        self._by_channel = {}
        for state in states.values():
            self._by_channel.setdefault(state.rule.channel, []).append(state)
        self._drive_outputs()

    @property
    def rules(self) -> tuple[AlarmRule, ...]:
        """Return the active rules."""
        return tuple(s.rule for s in self._states.values())

    def active(self) -> list[dict]:
        """Return the raised alarms."""
        return [{"rule": s.rule.id, "channel": s.rule.channel, "condition": s.raised, "since": s.raised_at,
                 "silenced": s.silenced} for s in self._states.values() if s.raised]

    def evaluate(self, readings: Iterable[tuple[str, int, float | None, str]]) -> None:
        """Feed readings (channel, ts_ms, value, quality) through the rules."""
        changed = False
        by_channel = self._by_channel
        for channel, ts, value, quality in readings:
            states = by_channel.get(channel)
            if not states or value is None or quality == "bad":
                continue
            for state in states:
                changed |= self._step(state, ts, value)
        if changed:
            self._drive_outputs()

    def _step(self, s: _RuleState, ts: int, value: float) -> bool:
        rule = s.rule
        s.last_value = value
        if s.raised == "high" and rule.above is not None and value <= rule.above - rule.hysteresis:
            return self._clear(s, ts, value)
        if s.raised == "low" and rule.below is not None and value >= rule.below + rule.hysteresis:
            return self._clear(s, ts, value)
        if s.raised:
            return False
        if rule.above is not None and value > rule.above:
            condition = "high"
        elif rule.below is not None and value < rule.below:
            condition = "low"
        else:
            s.pending = None
            return False
        if s.pending != condition:
            s.pending, s.pending_since = condition, ts
        if ts - s.pending_since >= rule.for_s * 1000:
            s.raised, s.raised_at, s.pending, s.silenced = condition, ts, None, False
            limit = rule.above if condition == "high" else rule.below
            self._emit(Event("alarm.raised", ts, rule.channel, rule.severity, {
                "rule": _describe(rule, condition), "id": rule.id, "condition": condition,
                "value": value, "limit": limit, "since": s.pending_since,
            }))
            log.warning("ALARM %s: %s (value %g)", rule.id, _describe(rule, condition), value)
            return True
        return False

    def _clear(self, s: _RuleState, ts: int, value: float) -> bool:
        self._emit(Event("alarm.cleared", ts, s.rule.channel, "info", {
            "id": s.rule.id, "condition": s.raised, "value": value, "raised_at": s.raised_at,
        }))
        log.info("alarm %s cleared (value %g)", s.rule.id, value)
        s.raised, s.pending, s.silenced = None, None, False
        return True

    def silence(self, channel: str | None, ts_ms: int) -> list[str]:
        """Silence the outputs of raised alarms (all, or those of ``channel``); return rule ids."""
        silenced = []
        for s in self._states.values():
            if s.raised and not s.silenced and (channel is None or s.rule.channel == channel):
                s.silenced = True
                silenced.append(s.rule.id)
                self._emit(Event("alarm.silenced", ts_ms, s.rule.channel, "info", {"id": s.rule.id}))
        if silenced:
            self._drive_outputs()
        return silenced

    def _drive_outputs(self) -> None:
        wanted = {name: False for name in self.outputs}
        for s in self._states.values():
            if s.raised and not s.silenced and s.rule.output in wanted:
                wanted[s.rule.output] = True
        for name, on in wanted.items():
            out = self.outputs[name]
            if on and not out.is_on:
                out.on()
            elif not on and out.is_on:
                out.off()

    def close(self) -> None:
        """Switch every output off and release them; idempotent."""
        for out in self.outputs.values():
            if out.is_on:
                out.off()
            out.close()
        self.outputs = {}
