"""Exceptions raised by the rules engine."""

from wardlink.hub.errors import ConfigError, HubError, StoreError


class RulesError(HubError):
    """Root of rules-engine errors."""


class RuleDefinitionError(RulesError, ConfigError):
    """A rule definition is invalid; the message names the rule and the key."""


class RuleStoreError(RulesError, StoreError):
    """The relational store refused or failed a rules-engine transaction."""
