"""Pure evaluators, one per rule kind: :data:`EVALUATORS` maps a kind to its class."""

from __future__ import annotations

from wardlink.hub.db.models.rules import RULE_KINDS
from wardlink.hub.rules.evaluators.base import (Action, Clear, Context, Evaluator, EventInput, Param, Raise, RunTime,
                                       Sample, StatusInput)
from wardlink.hub.rules.evaluators.digital import StateDurationEvaluator
from wardlink.hub.rules.evaluators.gateway import GatewayBufferingEvaluator, GatewayOfflineEvaluator
from wardlink.hub.rules.evaluators.presence import PresenceMismatchEvaluator
from wardlink.hub.rules.evaluators.rate import RateOfChangeEvaluator
from wardlink.hub.rules.evaluators.runhours import RunHoursEvaluator
from wardlink.hub.rules.evaluators.silence import ChannelSilentEvaluator
from wardlink.hub.rules.evaluators.threshold import BatteryLowEvaluator, ThresholdEvaluator

EVALUATORS: dict[str, type[Evaluator]] = {
    cls.kind: cls for cls in (
        ThresholdEvaluator, RateOfChangeEvaluator, ChannelSilentEvaluator, GatewayOfflineEvaluator,
        GatewayBufferingEvaluator, StateDurationEvaluator, BatteryLowEvaluator, PresenceMismatchEvaluator,
        RunHoursEvaluator,
    )
}

if set(EVALUATORS) != set(RULE_KINDS):  # the table and the CHECK constraint must agree
    raise RuntimeError(f"evaluator table {sorted(EVALUATORS)} differs from RULE_KINDS {sorted(RULE_KINDS)}")

__all__ = [
    "EVALUATORS", "Action", "Clear", "Context", "Evaluator", "EventInput", "Param", "Raise", "RunTime",
    "Sample", "StatusInput",
]
