"""QR codes and label sheets: one asset's QR code, and PDF sheets for a chosen set of assets."""

from __future__ import annotations

from flask import Blueprint, Response, g, redirect, render_template, request, url_for

from wardlink.hub.db import session_scope
from wardlink.hub.errors import InvalidInput, Message, Plural
from wardlink.hub.i18n import N_
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.people import org
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.validate import optional_id
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.db import db
from wardlink.hub.web.jobs import JobResult, Progress
from wardlink.hub.web.assets.labels import Label, asset_public_url, label_sheet_pdf, qr_svg
from wardlink.hub.web.query_args import page_number
from wardlink.hub.web.state import state
from wardlink.hub.web.ui import ui_state

bp = Blueprint("labels", __name__, template_folder="templates")

#: Most labels one sheet job prints.
MAX_LABELS = 5000
PER_PAGE = 100
_BATCH = 200


@bp.get("/assets/<tag>/qr.svg")
@login_required
def qr(tag: str):
    """Return the asset's QR code (its public URL) as SVG."""
    asset = assets.get_asset(db(), tag, actor=g.actor)
    body = qr_svg(asset_public_url(state().config, asset.tag))
    return Response(body, mimetype="image/svg+xml",
                    headers={"Content-Disposition": f'inline; filename="{asset.tag}-qr.svg"'})


def _filters(source) -> dict:
    return {"q": source.get("q") or None,
            "department_id": optional_id("department", source.get("department")),
            "category": source.get("category") or None}


@bp.get("/labels")
@login_required
def index():
    """Choose assets for a label sheet: by search and filters, or one by one."""
    number = page_number()
    page = assets.list_assets(db(), actor=g.actor, **_filters(request.args), page=number,
                              per_page=PER_PAGE)
    return render_template("labels/index.html", page=page, departments=org.list_departments(db()),
                           categories=assets.categories(db()), max_labels=MAX_LABELS)


def _sheet_job(engine, actor: Actor, config, tags: list[str] | None, filters: dict):
    def run(progress: Progress) -> JobResult:
        progress.note(Message(N_("Collecting assets")))
        chosen: list[Label] = []
        with session_scope(engine) as session:
            if tags is not None:
                for tag in tags:
                    asset = assets.get_asset(session, tag, actor=actor)
                    chosen.append(Label(asset.tag, asset.name, asset_public_url(config, asset.tag)))
            else:
                number = 1
                while True:
                    page = assets.list_assets(session, actor=actor, **filters, page=number, per_page=_BATCH)
                    chosen += [Label(a.tag, a.name, asset_public_url(config, a.tag)) for a in page.items]
                    if not page.has_next or len(chosen) >= MAX_LABELS:
                        break
                    number += 1
        if not chosen:
            raise InvalidInput(N_("no assets match; nothing to print"))
        if len(chosen) > MAX_LABELS:
            raise InvalidInput(N_("%(count)s+ assets match; print at most %(max_labels)s labels at a time"),
                               count=len(chosen), max_labels=MAX_LABELS)
        progress.total(len(chosen))
        progress.note(Message(N_("Drawing labels")))
        pdf = label_sheet_pdf(chosen, site_name=config.site_name, progress=progress.advance)
        sheets = -(-len(chosen) // 21)
        return JobResult(summary=Message(N_("%(labels)s on %(sheets)s."),
                                         labels=Plural("%(num)s label", "%(num)s labels", len(chosen), num=len(chosen)),
                                         sheets=Plural("%(num)s sheet", "%(num)s sheets", sheets, num=sheets)),
                         filename="asset-labels.pdf", mimetype="application/pdf", content=pdf)
    return run


@bp.post("/labels")
@login_required
def create():
    """Start a label sheet job for the ticked assets, or for every asset matching the filters."""
    form = request.form
    filters = _filters(form)
    if form.get("scope") == "matching":
        tags = None
        assets.list_assets(db(), actor=g.actor, **filters, page=1, per_page=1)  # permission + filter check
    else:
        tags = list(dict.fromkeys(t.strip() for t in form.getlist("tag") if t.strip()))
        if not tags:
            raise InvalidInput(N_("tag: tick at least one asset, or choose 'every asset matching'"))
        if len(tags) > MAX_LABELS:
            raise InvalidInput(N_("tag: at most %(max_labels)s labels at a time, got %(count)s"),
                               max_labels=MAX_LABELS, count=len(tags))
        for tag in tags:
            assets.get_asset(db(), tag, actor=g.actor)
    job = ui_state().jobs.submit(kind="labels", title=Message(N_("Label sheet")), owner_id=g.actor.user_id,
                                 fn=_sheet_job(state().engine, g.actor, state().config, tags, filters))
    return redirect(url_for("jobs.detail", job_id=job.id), 303)
