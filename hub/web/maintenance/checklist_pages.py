"""Checklist template builder: list the templates, build one item by item (add, move up or down,
remove) and save it; saving new items makes a new version (the checklists service keeps them).

The draft lives in the form itself: each button posts the whole form back and the page is drawn
again with the change, so the builder needs no script and nothing typed is lost.
"""

from __future__ import annotations

import re

from flask import Blueprint, flash, g, redirect, render_template, request, url_for

from wardlink.hub.i18n import N_
from flask_babel import gettext

from wardlink.hub.db.vocab import CHECKLIST_ITEM_KINDS
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.maintenance import checklists
from wardlink.hub.services.people.permissions import can, require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.i18n import error_message
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.state import state

bp = Blueprint("checklists", __name__, template_folder="templates", url_prefix="/maintenance/checklists")
_ROW = re.compile(r"^items-(\d+)-([a-z_]+)$")
#: Fields of an item row in the form, and the flags among them (checkboxes).
ROW_FIELDS = ("key", "label", "kind", "unit", "low", "high")
ROW_FLAGS = ("required", "safety")
KIND_LABELS = {"pass_fail": N_("Pass / fail"), "value": N_("Measured value"), "text": N_("Text remark"),
               "photo": N_("Photo")}
_OP = re.compile(r"^(up|down|remove)-(\d+)$")


def _blank_row() -> dict:
    return {"key": "", "label": "", "kind": "pass_fail", "unit": "", "low": "", "high": "", "required": True,
            "safety": False}


def _rows_from_form() -> list[dict]:
    rows: dict[int, dict] = {}
    for name, value in request.form.items():
        match = _ROW.match(name)
        if match and match.group(2) in ROW_FIELDS:
            rows.setdefault(int(match.group(1)), {})[match.group(2)] = value.strip()
    out = []
    for index, row in sorted(rows.items()):
        for flag in ROW_FLAGS:
            row[flag] = f"items-{index}-{flag}" in request.form
        out.append({**_blank_row(), **row})
    return out


def _rows_of(items: list[dict]) -> list[dict]:
    return [{**_blank_row(), **{k: ("" if v is None else v) for k, v in item.items()}} for item in items]


def _apply(rows: list[dict], op: str) -> list[dict]:
    """Return the rows after the builder button ``op`` (add, up-N, down-N, remove-N)."""
    if op == "add":
        return [*rows, _blank_row()]
    match = _OP.match(op)
    if not match:
        return rows
    action, index = match.group(1), int(match.group(2))
    if not 0 <= index < len(rows):
        return rows
    if action == "remove":
        return rows[:index] + rows[index + 1:]
    other = index - 1 if action == "up" else index + 1
    if 0 <= other < len(rows):
        rows[index], rows[other] = rows[other], rows[index]
    return rows


def _items_for_service(rows: list[dict]) -> list[dict]:
    items = []
    for row in rows:
        item = {"key": row["key"], "label": row["label"], "kind": row["kind"], "required": row["required"]}
        if row["kind"] == "value":
            item.update(unit=row["unit"], low=row["low"], high=row["high"])
        if row["safety"]:
            item["safety"] = True
        items.append(item)
    return items


def _error_row(message: str) -> int | None:
    match = re.match(r"^items\[(\d+)\]", message)
    return int(match.group(1)) if match else None


def _builder(template, values: dict, rows: list[dict], *, error: str | None = None, status: int = 200):
    session = db()
    return render_template(
        "checklists/builder.html", template=template, values=values, rows=rows, error=error,
        error_row=_error_row(error) if error else None, kinds=CHECKLIST_ITEM_KINDS, kind_labels=KIND_LABELS,
        versions=template.versions if template is not None else [],
        plans=checklists.plans_using(session, template.id, actor=g.actor) if template is not None else [],
        can_manage=can(g.actor, "pm.manage")), status


@bp.get("")
@login_required
def index():
    """List checklist templates, their current version and how many plans use each."""
    session = db()
    return render_template("checklists/list.html", templates=checklists.list_templates(session, actor=g.actor),
                           usage=checklists.usage_counts(session), can_manage=can(g.actor, "pm.manage"))


def _save(template_id: int | None):
    rows = _rows_from_form()
    values = {"name": request.form.get("name", ""), "description": request.form.get("description", "")}
    op = request.form.get("op", "save")
    if op != "save":
        return _builder(checklists.get_template(db(), template_id, actor=g.actor) if template_id else None,
                        values, _apply(rows, op))
    session = db()
    try:
        if template_id is None:
            template = checklists.create_template(session, name=values["name"], description=values["description"],
                                                  items=_items_for_service(rows), actor=g.actor, clock=state().clock)
        else:
            template = checklists.update_template(session, template_id, name=values["name"],
                                                  description=values["description"],
                                                  items=_items_for_service(rows), actor=g.actor, clock=state().clock)
    except InvalidInput as exc:
        session.rollback()
        template = checklists.get_template(session, template_id, actor=g.actor) if template_id else None
        return _builder(template, values, rows, error=error_message(exc), status=400)
    commit()
    flash(gettext("Checklist '%(name)s' saved as version %(version)s.", name=template.name,
                  version=template.current_version), "success")
    return redirect(url_for("checklists.detail", template_id=template.id), 303)


@bp.route("/new", methods=["GET", "POST"])
@login_required
def create():
    """Build a new checklist template."""
    require(g.actor, "pm.manage")
    if request.method == "GET":
        return _builder(None, {"name": "", "description": ""}, [_blank_row()])
    return _save(None)


@bp.route("/<int:template_id>", methods=["GET", "POST"])
@login_required
def detail(template_id: int):
    """Show a template's current items, versions and plans; managers change it here."""
    template = checklists.get_template(db(), template_id, actor=g.actor)
    if request.method == "GET":
        items = checklists.current_version(db(), template).items
        return _builder(template, {"name": template.name, "description": template.description}, _rows_of(items))
    require(g.actor, "pm.manage")
    return _save(template_id)
