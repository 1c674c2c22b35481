"""The alert limits that apply to a channel, for drawing them on its chart.

Read from the rules the engine runs (the ``rules`` table, kept equal to the rules file by
``sync_rules``), never from the file: an enabled *threshold* rule whose selector matches the
channel's facts (the binding's metric, the asset, its category, ward and site, the gateway
and the channel) gives a band ``below``..``above`` (either may be open). When several rules
match, the most severe one is drawn, then the narrowest band.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select
from sqlalchemy.orm import Session

from wardlink.hub.db.models import Asset, ChannelBinding
from wardlink.hub.db.models.rules import Rule
from wardlink.hub.db.vocab import ALERT_SEVERITIES


@dataclass(frozen=True)
class Limits:
    """An alert band: values below ``below`` or above ``above`` raise ``rule``'s alert."""

    rule: str
    severity: str
    below: float | None
    above: float | None

    def to_json(self) -> dict:
        """Return the form the chart script reads."""
        return {"rule": self.rule, "severity": self.severity, "below": self.below, "above": self.above}


def channel_facts(asset: Asset, binding: ChannelBinding) -> dict[str, str | None]:
    """Return the facts a rule selector is matched against, for a channel bound to ``asset``."""
    department = asset.department
    site = department.site if department is not None else None
    return {"metric": binding.metric, "asset": asset.tag, "category": asset.category,
            "ward": department.code if department is not None else None,
            "site": site.code if site is not None else None,
            "gateway": binding.channel.gateway.gateway_id, "channel": binding.channel.channel_id}


def _matches(match: dict, facts: dict[str, str | None]) -> bool:
    for key, allowed in (match or {}).items():
        values = allowed if isinstance(allowed, list | tuple | set | frozenset) else [allowed]
        if facts.get(key) not in {str(v) for v in values}:
            return False
    return True


def _number(value) -> float | None:
    return float(value) if isinstance(value, int | float) and not isinstance(value, bool) else None


def threshold_rules(session: Session) -> list[Rule]:
    """Return the enabled threshold rules (one query; callers match them to each channel)."""
    return list(session.scalars(select(Rule).where(Rule.kind == "threshold", Rule.enabled.is_(True))
                                .order_by(Rule.name)))


def channel_limits(rules: list[Rule], facts: dict[str, str | None]) -> Limits | None:
    """Return the band of the most severe matching threshold rule, or None."""
    found = []
    for rule in rules:
        params = rule.params or {}
        below, above = _number(params.get("below")), _number(params.get("above"))
        if (below is None and above is None) or not _matches(rule.match, facts):
            continue
        width = (above if above is not None else float("inf")) - (below if below is not None else float("-inf"))
        rank = ALERT_SEVERITIES.index(rule.severity) if rule.severity in ALERT_SEVERITIES else -1
        found.append((-rank, width, rule.name, Limits(rule.name, rule.severity, below, above)))
    return min(found, key=lambda f: f[:3])[3] if found else None
