"""What every evaluator shares: its inputs, the context it is given, the actions it returns,
and parameter validation.

An evaluator is pure: ``on_sample(state, sample, ctx) -> (new_state, actions)`` (likewise
``on_status``, ``on_event``, ``on_tick``). It never reads a clock or a database; time comes
from the sample's timestamp or ``ctx.now_ms``, and state is a JSON-ready dict that the engine
persists between calls. The input ``state`` is never modified.
"""

from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Any, ClassVar, Mapping

from wardlink.hub.db import units
from wardlink.hub.db.vocab import ALERT_SEVERITIES
from wardlink.hub.errors import Duration, Message, Quantity, Term
from wardlink.hub.i18n import N_
from wardlink.hub.rules.errors import RuleDefinitionError

#: Gap between two live readings above which the channel counts as interrupted (and readings
#: replayed later into that gap are evaluated as backfill) when the channel's interval is unknown.
DEFAULT_GAP_S = 60.0
#: A gap is this many sampling intervals when the interval is known.
GAP_INTERVALS = 3


# --------------------------------------------------------------------------- inputs


@dataclass(frozen=True, slots=True)
class Sample:
    """One reading of one channel (``value`` None = the read failed)."""

    ts_ms: int
    value: float | None
    quality: str = "good"


@dataclass(frozen=True, slots=True)
class StatusInput:
    """A gateway status as the engine received it."""

    state: str  # online / offline
    received_ms: int
    buffer_depth: int | None = None
    oldest_unsent_ms: int | None = None  # age of the oldest reading still on the gateway


@dataclass(frozen=True, slots=True)
class EventInput:
    """A gateway event, with the location it names already resolved to a ward."""

    type: str
    ts_ms: int
    gateway: str | None  # the gateway the event places its subject at (presence), if any
    ward: str | None  # that gateway's department code
    data: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Context:
    """What the engine knows around an evaluation."""

    now_ms: int
    interval_s: float | None = None  # the channel's sampling interval
    unit: str = ""
    metric: str | None = None
    gateway_state: str | None = None  # online / offline / None when never heard
    buffering: bool = False  # the gateway reports a backlog: data is delayed, not missing
    home: frozenset[str] = frozenset()  # wards where the subject belongs (presence)
    label: str = ""  # human name of the subject, for messages
    clock_offset_ms: int = 0  # hub time minus the gateway's, from its newest status (0 if unknown)
    stalled_since_ms: int | None = None  # an online gateway gone silent: its last word (hub time)

    @property
    def gateway_now_ms(self) -> int:
        """Return ``now_ms`` on the gateway's clock, which its readings' timestamps use."""
        return self.now_ms - self.clock_offset_ms


# --------------------------------------------------------------------------- actions


@dataclass(frozen=True, slots=True)
class Raise:
    """The condition starts to hold: open an alert."""

    at_ms: int  # when the rule decided (a reading's time, or now on a tick)
    since_ms: int  # when the condition began
    value: float | None
    said: Message  # what happened, for people: an English template and its values

    @property
    def message(self) -> str:
        """Return what happened in English (logs, the API, webhooks)."""
        return str(self.said)


@dataclass(frozen=True, slots=True)
class Clear:
    """The condition no longer holds: resolve the alert."""

    at_ms: int
    value: float | None
    said: Message

    @property
    def message(self) -> str:
        """Return what happened in English (logs, the API, webhooks)."""
        return str(self.said)


@dataclass(frozen=True, slots=True)
class RunTime:
    """Add ``seconds`` of running time to the subject's meter (up to ``until_ms``)."""

    seconds: float
    until_ms: int


Action = Raise | Clear | RunTime


# --------------------------------------------------------------------------- parameters

REQUIRED = object()


@dataclass(frozen=True)
class Param:
    """One evaluator parameter: its type, default and bounds."""

    kind: str  # number, integer, string, strings, mapping, boolean
    default: Any = REQUIRED
    minimum: float | None = None
    positive: bool = False
    help: str = ""


def _check_param(where: str, p: Param, value: Any) -> Any:
    if value is None:
        if p.default is REQUIRED:
            raise RuleDefinitionError(N_("%(where)s: required"), where=where)
        return copy.deepcopy(p.default)
    if p.kind in ("number", "integer"):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise RuleDefinitionError(N_("%(where)s: must be a finite number, got %(value)r"), where=where, value=value)
        if p.kind == "integer" and value != int(value):
            raise RuleDefinitionError(N_("%(where)s: must be a whole number, got %(value)r"), where=where, value=value)
        if p.positive and value <= 0:
            raise RuleDefinitionError(N_("%(where)s: must be > 0, got %(value)r"), where=where, value=value)
        if p.minimum is not None and value < p.minimum:
            raise RuleDefinitionError(N_("%(where)s: must be >= %(minimum)s, got %(value)r"), where=where,
                                      minimum=Quantity(f"{p.minimum:g}"), value=value)
        return int(value) if p.kind == "integer" else float(value)
    if p.kind == "boolean":
        if not isinstance(value, bool):
            raise RuleDefinitionError(N_("%(where)s: must be true or false, got %(value)r"), where=where, value=value)
        return value
    if p.kind == "string":
        if not isinstance(value, str) or not value.strip():
            raise RuleDefinitionError(N_("%(where)s: must be a non-empty string, got %(value)r"), where=where,
                                      value=value)
        return value.strip()
    if p.kind == "strings":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, (list, tuple)) or not all(isinstance(v, str) and v for v in value):
            raise RuleDefinitionError(N_("%(where)s: must be a list of strings, got %(value)r"), where=where,
                                      value=value)
        return list(value)
    if p.kind == "mapping":
        if not isinstance(value, Mapping) or not all(isinstance(k, str) and k for k in value):
            raise RuleDefinitionError(N_("%(where)s: must be a table, got %(value)r"), where=where, value=value)
        return dict(value)
    raise AssertionError(f"unknown parameter kind {p.kind}")


# --------------------------------------------------------------------------- the base class


class Evaluator:
    """Base of every rule kind. Subclasses set the class attributes and override handlers."""

    kind: ClassVar[str] = ""
    #: What the kind does, in one line for people (the rule form shows it in their language).
    summary: ClassVar[str] = ""
    #: Which inputs feed it: "reading", "status", "event".
    inputs: ClassVar[frozenset[str]] = frozenset()
    #: Whether :meth:`on_tick` does anything (the engine only loads ticking states on a tick).
    ticks: ClassVar[bool] = False
    #: Whether readings replayed into a gap of the live stream are evaluated (as history).
    backfill: ClassVar[bool] = True
    #: What its alerts are about: "channel" (the bound asset, else the channel), "gateway", "asset".
    scope: ClassVar[str] = "channel"
    default_severity: ClassVar[str] = "warning"
    #: Selector applied when the rule gives none (e.g. battery rules watch the battery metric).
    default_match: ClassVar[Mapping[str, Any]] = {}
    #: Whether the rule opens alerts (a run-hours meter does not).
    raises: ClassVar[bool] = True
    PARAMS: ClassVar[Mapping[str, Param]] = {}
    COMMON: ClassVar[Mapping[str, Param]] = {
        "gap_s": Param("number", None, positive=True,
                       help="live readings further apart than this leave a gap that replayed readings may fill"),
    }

    def __init__(self, params: Mapping[str, Any] | None = None, *, rule: str = "rule") -> None:
        params = dict(params or {})
        allowed = {**self.COMMON, **self.PARAMS}
        unknown = sorted(set(params) - set(allowed))
        if unknown:
            raise RuleDefinitionError(
                N_("rules[%(rule)s]: unknown parameter(s) %(unknown)s for kind %(kind)r; allowed: %(allowed)s"),
                rule=rule, unknown=", ".join(unknown), kind=self.kind,
                allowed=", ".join(sorted(allowed)) or Message(N_("none")))
        self.rule = rule
        self.params = {name: _check_param(f"rules[{rule}].{name}", p, params.get(name))
                       for name, p in allowed.items()}
        self.check()
        # Parameters are fixed from here on. Plain attributes: evaluators read them for every
        # reading, and __getattr__ below is a Python call each time (names the class itself
        # defines keep going to the class, as they did through __getattr__).
        for name, value in self.params.items():
            if not hasattr(type(self), name):
                self.__dict__[name] = value
        self.__dict__["_gap_ms"] = {}  # channel interval -> gap_ms(), asked for every reading

    def check(self) -> None:
        """Raise :class:`RuleDefinitionError` when parameters contradict each other."""

    def fail(self, key: str, problem: Message) -> RuleDefinitionError:
        """Return an error naming this rule's parameter ``key``."""
        return RuleDefinitionError(N_("rules[%(rule)s].%(key)s: %(problem)s"), rule=self.rule, key=key, problem=problem)

    def __getattr__(self, name: str) -> Any:
        try:
            return self.__dict__["params"][name]
        except KeyError:
            raise AttributeError(name) from None

    # -------------------------------------------------------------- handlers

    def initial(self) -> dict[str, Any]:
        """Return the state of a key the rule has never seen."""
        return {"active": False}

    def is_active(self, state: Mapping[str, Any]) -> bool:
        """Return True while the condition holds (an alert was raised and not cleared)."""
        return bool(state.get("active"))

    def on_sample(self, state: Mapping[str, Any], sample: Sample, ctx: Context) -> tuple[dict, list[Action]]:
        """Apply one reading."""
        return dict(state), []

    def on_status(self, state: Mapping[str, Any], status: StatusInput, ctx: Context) -> tuple[dict, list[Action]]:
        """Apply one gateway status."""
        return dict(state), []

    def on_event(self, state: Mapping[str, Any], event: EventInput, ctx: Context) -> tuple[dict, list[Action]]:
        """Apply one gateway event."""
        return dict(state), []

    def on_tick(self, state: Mapping[str, Any], ctx: Context) -> tuple[dict, list[Action]]:
        """Re-evaluate with the passage of time alone."""
        return dict(state), []

    def gap_ms(self, ctx: Context) -> int:
        """Return the spacing of live readings that counts as an interruption."""
        gaps = self.__dict__.get("_gap_ms")
        if gaps is None:
            return self._gap_ms_for(ctx)
        gap = gaps.get(ctx.interval_s)
        if gap is None:
            gap = gaps[ctx.interval_s] = self._gap_ms_for(ctx)
        return gap

    def _gap_ms_for(self, ctx: Context) -> int:
        if self.params.get("gap_s"):
            return round(self.params["gap_s"] * 1000)
        if ctx.interval_s:
            return round(max(ctx.interval_s * GAP_INTERVALS, 1.0) * 1000)
        return round(DEFAULT_GAP_S * 1000)


def check_severity(rule: str, severity: Any) -> str:
    """Return ``severity`` if it is an alert severity, else raise naming the rule."""
    if severity not in ALERT_SEVERITIES:
        raise RuleDefinitionError(N_("%(where)s.%(key)s: must be one of %(choices)s, got %(value)r"),
                                  where=f"rules[{rule}]", key="severity", choices=", ".join(ALERT_SEVERITIES),
                                  value=severity)
    return severity


# --------------------------------------------------------------------------- message helpers


def fmt(value: float | None, unit: str = "") -> Quantity | Message:
    """Return a reading for a message: 4 significant digits in the unit people read
    (``wardlink.hub.db.units``: 9.3 °C, 1013 hPa for 101325 Pa)."""
    if value is None:
        return Message(N_("no value"))
    shown = units.unit(unit)
    return Quantity(f"{shown.convert(value) if not shown.digital else value:.4g}", shown.symbol)


def duration(ms: int | float) -> Duration:
    """Return a duration for a message: '45 s', '5 min', '2 h 5 min', '3 d 4 h'."""
    return Duration(ms)


def metric_word(metric: str | None) -> Term | Message:
    """Return the metric a message is about (``temperature``) as a word a page translates
    (its label in the reader's language), or 'value' when the channel names none."""
    return Term(metric) if metric else Message(N_("value"))


def asset_word(label: str) -> str | Message:
    """Return an asset's label for a message as it is (a name), or 'asset' when it has none."""
    return label or Message(N_("asset"))


#: The metrics rules name in their messages, and the default words, for the catalogues
#: (a page shows ``temperature`` as the label of the metric in the reader's language).
METRIC_WORDS = (N_("Temperature"), N_("Humidity"), N_("Pressure"), N_("Current"), N_("Door"), N_("Battery"),
                N_("In state"))
