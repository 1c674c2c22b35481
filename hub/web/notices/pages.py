"""The notice bell (refreshed by htmx polling), the inbox, preferences on the account page and,
for administrators, the delivery of notice e-mails. The services decide who sees what."""

from __future__ import annotations

from flask import Blueprint, flash, g, redirect, render_template, request, url_for
from flask_babel import gettext

from wardlink.hub.services.notices import core as notices
from wardlink.hub.services.notices import mail
from wardlink.hub.services.people.permissions import require
from wardlink.hub.web.db import commit, db
from wardlink.hub.web.people.auth import login_required
from wardlink.hub.web.query_args import paging
from wardlink.hub.web.state import state

bp = Blueprint("notices", __name__, template_folder="templates", url_prefix="/notices")

#: How often the bell refreshes its count.
BELL_POLL = "10s"


@bp.app_template_global()
def unread_notices() -> int:
    """Return the signed-in person's unread count for the header (0 without an account)."""
    actor = g.get("actor")
    if actor is None or actor.user_id is None:
        return 0
    return notices.unread_count(db(), actor=actor)


@bp.app_template_global()
def notice_preferences() -> list[tuple[str, str, dict[str, bool]]]:
    """Return (event, text, channels) of the signed-in person for the account page."""
    actor = g.get("actor")
    if actor is None or actor.user_id is None:
        return []
    prefs = notices.preferences(db(), actor.user_id)
    return [(name, event.text, prefs[name]) for name, event in notices.EVENTS.items()]


@bp.get("/bell")
@login_required
def bell():
    """Return the bell with the unread count (polled by every page)."""
    return render_template("notices/bell.html", unread=notices.unread_count(db(), actor=g.actor),
                           poll=BELL_POLL)


@bp.get("")
@login_required
def inbox():
    """List the person's notices, newest first."""
    unread = request.args.get("show") == "unread"
    result = notices.list_notices(db(), actor=g.actor, unread=unread, **paging())
    return render_template("notices/inbox.html", page=result, unread_only=unread,
                           unread=notices.unread_count(db(), actor=g.actor))


@bp.post("/<int:notice_id>/read")
@login_required
def read(notice_id: int):
    """Mark one notice read; go to the thing it is about when asked to."""
    notice = notices.mark_read(db(), notice_id, actor=g.actor, clock=state().clock)
    link = notice.link
    commit()
    if request.form.get("open") and link.startswith("/") and not link.startswith("//"):
        return redirect(link)
    return redirect(url_for("notices.inbox"))


@bp.post("/read-all")
@login_required
def read_all():
    """Mark every notice read."""
    done = notices.mark_all_read(db(), actor=g.actor, clock=state().clock)
    commit()
    flash(gettext("%(count)s notice(s) marked read.", count=done), "info")
    return redirect(url_for("notices.inbox"))


@bp.post("/preferences")
@login_required
def preferences():
    """Store which events come in the app and by e-mail (checkboxes on the account page)."""
    changes = {name: {"in_app": request.form.get(f"{name}.in_app") == "on",
                      "email": request.form.get(f"{name}.email") == "on"} for name in notices.EVENTS}
    notices.set_preferences(db(), changes, actor=g.actor, clock=state().clock)
    commit()
    flash(gettext("Notice preferences saved."), "info")
    return redirect(url_for("auth.account") + "#notice-preferences")


@bp.get("/emails")
@login_required
def emails():
    """Show administrators the notice e-mails: pending, failed and sent, with counts."""
    require(g.actor, "notice.manage")
    shown = request.args.get("state") or None
    rows = mail.list_emails(db(), actor=g.actor, state=shown, **paging())
    return render_template("notices/emails.html", counts=mail.counts(db(), actor=g.actor), page=rows,
                           shown=shown)


@bp.post("/emails/<int:email_id>/retry")
@login_required
def retry_email(email_id: int):
    """Send one failed e-mail again."""
    mail.retry(db(), actor=g.actor, clock=state().clock, email_id=email_id)
    commit()
    flash(gettext("E-mail %(email)s queued to be sent again.", email=email_id), "info")
    return redirect(url_for("notices.emails", state=request.form.get("state") or None))


@bp.post("/emails/retry-failed")
@login_required
def retry_failed():
    """Send every failed e-mail again."""
    done = mail.retry(db(), actor=g.actor, clock=state().clock)
    commit()
    flash(gettext("%(count)s failed e-mail(s) queued to be sent again.", count=done), "info")
    return redirect(url_for("notices.emails", state=request.form.get("state") or None))


__all__ = ["bp"]
