"""The hub's rules engine: telemetry, gateway status and events in; alerts, work orders,
run-hour meters and notifications out.

- :mod:`wardlink.hub.rules.spec`: rule definitions (TOML/JSON), validated once, stored in the ``rules`` table.
- :mod:`wardlink.hub.rules.evaluators`: one pure evaluator per rule kind, ``(state, input) -> (state, actions)``.
- :mod:`wardlink.hub.rules.tracks`: live / late / backfilled readings routed in timestamp order per channel.
- :class:`RulesEngine` (:mod:`wardlink.hub.rules.engine`): loads rules, persists state, applies actions.
- :mod:`wardlink.hub.rules.lifecycle`: shelving, escalation and reconciliation of alerts changed by people.
- :mod:`wardlink.hub.rules.meters`: accumulated run-hours per asset, for meter-based maintenance.
- :mod:`wardlink.hub.rules.editing`: rules changed by people (UI, API): validated like the file, audited.
- :mod:`wardlink.hub.rules.generation`: the counter every change bumps, so every engine reloads at once.
- :mod:`wardlink.hub.rules.preview`: how often a rule would have fired over stored readings.

The rules engine's tables are models of the relational store (:mod:`wardlink.hub.db.models.rules`).
Names are imported on first use, so importing one submodule loads nothing else.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from wardlink.lazy import lazy_exports

_EXPORTS = {
    "RulesEngine": "wardlink.hub.rules.engine",
    "Outcome": "wardlink.hub.rules.engine",
    "RuleSpec": "wardlink.hub.rules.spec",
    "RuleSet": "wardlink.hub.rules.spec",
    "parse_rules": "wardlink.hub.rules.spec",
    "load_rules_file": "wardlink.hub.rules.spec",
    "sync_rules": "wardlink.hub.rules.spec",
    "EVALUATORS": "wardlink.hub.rules.evaluators",
    "RulesError": "wardlink.hub.rules.errors",
    "RuleDefinitionError": "wardlink.hub.rules.errors",
}

__all__ = sorted(_EXPORTS)

if TYPE_CHECKING:
    from wardlink.hub.rules.engine import Outcome, RulesEngine
    from wardlink.hub.rules.errors import RuleDefinitionError, RulesError
    from wardlink.hub.rules.evaluators import EVALUATORS
    from wardlink.hub.rules.spec import RuleSet, RuleSpec, load_rules_file, parse_rules, sync_rules

__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
