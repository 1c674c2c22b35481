"""The main navigation: one table of sections, shown only when registered and permitted."""

from __future__ import annotations

from dataclasses import dataclass

from flask import Flask, current_app, g

from wardlink.hub.i18n import N_
from wardlink.hub.services.people.permissions import can


@dataclass(frozen=True)
class Section:
    """One entry of the main navigation."""

    blueprint: str
    endpoint: str
    text: str  # in English; pages show it translated
    permission: str | None


SECTIONS = (
    Section("dashboard", "dashboard.index", N_("Dashboard"), None),
    Section("assets", "assets.index", N_("Assets"), "asset.view"),
    Section("workorders", "workorders.index", N_("Work orders"), "workorder.view"),
    Section("pm", "pm.index", N_("Maintenance plans"), "pm.view"),
    Section("inventory", "inventory.parts", N_("Inventory"), "part.view"),
    Section("consumables", "consumables.index", N_("Consumables"), "consumable.view"),
    Section("utilities", "utilities.index", N_("Utilities"), "utility.view"),
    Section("oxygen", "oxygen.index", N_("Oxygen"), "oxygen.view"),
    Section("manifolds", "manifolds.index", N_("Oxygen manifolds"), "manifold.view"),
    Section("alerts", "alerts.index", N_("Alerts"), "alert.view"),
    Section("gateways", "gateways.index", N_("Gateways"), "gateway.view"),
    Section("ingest", "ingest.index", N_("Ingest"), "gateway.view"),
    Section("usage", "usage.index", N_("Usage"), "usage.view"),
    Section("contracts", "contracts.index", N_("Contracts"), "contract.view"),
    Section("requisitions", "requisitions.index", N_("Requisitions"), "requisition.view"),
    Section("recalls", "recalls.index", N_("Recalls"), "recall.view"),
    Section("reports", "reports.index", N_("Reports"), "kpi.view"),
    Section("rules", "rules.index", N_("Rules"), "alert.view"),
    Section("admin", "admin.users_index", N_("People"), "user.view"),
    Section("audit", "audit.index", N_("Audit"), "audit.view"),
)


def _allowed(section: Section) -> bool:
    if section.endpoint not in current_app.view_functions:
        return False
    if section.permission is None:
        return True
    try:
        return can(g.actor, section.permission)
    except ValueError:  # a permission another area has not declared yet
        return False


def nav_sections() -> list[Section]:
    """Return the sections the signed-in user may open."""
    if g.get("actor") is None:
        return []
    return [s for s in SECTIONS if _allowed(s)]


def has_endpoint(endpoint: str) -> bool:
    """Return True when the app serves ``endpoint`` (pages link only to areas that exist)."""
    return endpoint in current_app.view_functions


def init_app(app: Flask) -> None:
    """Make :func:`nav_sections` and :func:`has_endpoint` available to templates."""
    app.jinja_env.globals.update(nav_sections=nav_sections, has_endpoint=has_endpoint)
