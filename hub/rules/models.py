"""The rules engine's tables, now models of the relational store: :mod:`hub.db.models.rules`."""

from hub.db.models.rules import (NOTIFY_EVENTS, OUTBOX_STATES, RULE_KINDS, AlertLifecycle, AssetMeter,  # noqa: F401
                                 NotificationOutbox, Rule, RuleGateway, RuleState)
