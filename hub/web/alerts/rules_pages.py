"""The alert rules page: what the rules engine watches for, read from the relational store.

Rules are defined in the rules file and synchronised into the database by the engine
(``hub/rules/spec.py``); this page shows them with the number of alerts each has raised.
"""

from __future__ import annotations

from flask import Blueprint, g, render_template

from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import db

bp = Blueprint("rules", __name__, template_folder="templates", url_prefix="/rules")


@bp.get("")
@login_required
def index():
    """List the rules with their kind, severity, match, parameters and alert counts."""
    rules, counts = alerts.rule_overview(db(), actor=g.actor)
    return render_template("rules/list.html", rules=rules, open_counts=counts)
