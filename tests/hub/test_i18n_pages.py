"""Every page of the hub in French, as the administrator of a French site: no text a reader
sees (text, tips, labels for screen readers, the window title) is still an English message of
the catalogues. Each page has content (an order, a plan with a checklist, a rule, an alert, a
monthly report, a contract, a store with a part), and the walk covers every page route the
permission table lists, so a new page is walked the day it is added. The browser walk
(tests/browser/test_i18n_browser.py) reads the pages as Chromium renders them."""

from __future__ import annotations

from relational_support import clock, web
from sqlalchemy import select, update
from test_ui_pages import PAGE_PERMISSIONS, _page_rules, _seed, _url

from french_support import texts_of, untranslated
from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site, User
from wardlink.hub.services.alerts import records as alerts

__all__ = ["clock", "web"]

#: Pages that are no HTML (files, fragments of a page walked elsewhere).
NOT_PAGES = {"imports.template", "part_imports.template", "labels.qr", "storage.label_qr", "reports.monthly_pdf",
             "rules.export"}


def test_every_page_in_french_has_no_english_left(web):
    order_id, plan_id = _seed(web)
    with session_scope(web.engine) as s:
        s.execute(update(Site).values(language="fr"))
        alerts.raise_alert(s, rule="fridge-warm", severity="critical", title="Réfrigérateur au-dessus de 8 °C",
                           asset_tag="VF-0001", value=9.1, actor=None, clock=web.clock)
        names = set(s.scalars(select(User.display_name)))
    admin = web.client("admin")
    found = {}
    for rule in _page_rules(web.app):
        if rule.endpoint not in PAGE_PERMISSIONS or rule.endpoint in NOT_PAGES:
            continue
        path = _url(rule, order_id, plan_id)
        response = admin.get(path)
        assert response.status_code == 200, path
        if not response.content_type.startswith("text/html"):
            continue  # a file (PDF, CSV, spreadsheet, QR code)
        assert '<html lang="fr"' in response.text or "<html" not in response.text, path  # or a fragment
        if left := untranslated(texts_of(response.text), names=names):
            found[path] = left
    assert found == {}, "\n".join(f"{path}: {left}" for path, left in found.items())
