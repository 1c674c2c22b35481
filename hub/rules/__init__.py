"""The hub's rules engine: telemetry, gateway status and events in; alerts, work orders,
run-hour meters and notifications out.

- :mod:`hub.rules.spec`: rule definitions (TOML/JSON), validated once, stored in the ``rules`` table.
- :mod:`hub.rules.evaluators`: one pure evaluator per rule kind, ``(state, input) -> (state, actions)``.
- :mod:`hub.rules.tracks`: live / late / backfilled readings routed in timestamp order per channel.
- :class:`RulesEngine` (:mod:`hub.rules.engine`): loads rules, persists state, applies actions.
- :mod:`hub.rules.lifecycle`: shelving, escalation and reconciliation of alerts changed by people.
- :mod:`hub.rules.meters`: accumulated run-hours per asset, for meter-based maintenance.

The rules engine's tables are models of the relational store (:mod:`hub.db.models.rules`).
Names are imported on first use, so importing one submodule loads nothing else.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

_EXPORTS = {
    "RulesEngine": "hub.rules.engine",
    "Outcome": "hub.rules.engine",
    "RuleSpec": "hub.rules.spec",
    "RuleSet": "hub.rules.spec",
    "parse_rules": "hub.rules.spec",
    "load_rules_file": "hub.rules.spec",
    "sync_rules": "hub.rules.spec",
    "EVALUATORS": "hub.rules.evaluators",
    "RulesError": "hub.rules.errors",
    "RuleDefinitionError": "hub.rules.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from hub.rules.engine import Outcome, RulesEngine
    from hub.rules.errors import RuleDefinitionError, RulesError
    from hub.rules.evaluators import EVALUATORS
    from hub.rules.spec import RuleSet, RuleSpec, load_rules_file, parse_rules, sync_rules


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'hub.rules' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
