"""Languages: which one a page is in, choosing it (a site's, a person's own), and dates and
numbers written the way the language writes them.

A person's own choice beats their site's, their site's beats the hub's ``default_locale``, and
the browser's Accept-Language never overrides any of them.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from relational_support import clock, csrf_from, engine, web
from sqlalchemy import select, update

from wardlink.hub import i18n
from wardlink.hub.db import session_scope
import json

from wardlink.hub.db.models import AuditLog, Site, User
from wardlink.hub.services.actor import Actor

_LANG = re.compile(r'<html lang="(\w+)">')


def _lang(page) -> str:
    match = _LANG.search(page.text)
    assert match, page.text[:300]
    return match.group(1)


def _set(web, *, site: str | None = None, user: tuple[str, str | None] | None = None) -> None:
    with session_scope(web.engine) as s:
        if site is not None:
            s.execute(update(Site).values(language=site or None))
        if user is not None:
            s.execute(update(User).where(User.username == user[0]).values(locale=user[1]))


def test_a_site_in_french_shows_its_people_french_pages_and_the_sign_in_page_too(web):
    nurse = web.client("nurse")
    assert _lang(nurse.get("/account")) == "en"
    _set(web, site="fr")
    page = nurse.get("/account", headers={"Accept-Language": "en-GB,en;q=0.9"})
    assert _lang(page) == "fr" and "Langue" in page.text and ">Language<" not in page.text
    anonymous = web.client().get("/login", headers={"Accept-Language": "en"})
    assert _lang(anonymous) == "fr"  # every site speaks French: so does the sign-in page


def test_a_persons_own_choice_beats_the_site_and_blank_falls_back_to_it(web):
    _set(web, site="fr")
    nurse = web.client("nurse")
    page = nurse.get("/account")
    saved = nurse.post("/account/language", data={"csrf_token": csrf_from(page.text), "locale": "en"})
    assert saved.status_code == 303
    page = nurse.get("/account", headers={"Accept-Language": "fr"})
    assert _lang(page) == "en" and "Your language has been saved." in page.text
    assert re.search(r'<option value="en" lang="en" selected>', page.text)
    back = nurse.post("/account/language", data={"csrf_token": csrf_from(page.text), "locale": ""})
    assert back.status_code == 303
    page = nurse.get("/account")
    assert _lang(page) == "fr" and "Votre langue a été enregistrée." in page.text
    with session_scope(web.engine, readonly=True) as s:
        events = s.scalars(select(AuditLog).where(AuditLog.action == "user.language").order_by(AuditLog.seq)).all()
        assert [(json.loads(e.before_json), json.loads(e.after_json)) for e in events] == [({"locale": None}, {"locale": "en"}),
                                                          ({"locale": "en"}, {"locale": None})]


def test_an_unknown_language_is_refused_with_a_message_and_nothing_changes(web):
    nurse = web.client("nurse")
    page = nurse.get("/account")
    refused = nurse.post("/account/language", data={"csrf_token": csrf_from(page.text), "locale": "xx"})
    assert refused.status_code == 400 and "locale: must be one of en, fr" in refused.text
    with session_scope(web.engine, readonly=True) as s:
        assert s.scalar(select(User.locale).where(User.username == "nurse")) is None


def test_the_hubs_default_locale_applies_where_nobody_chose(web):
    web.app.extensions["wardlink"].config = web.app.extensions["wardlink"].config.with_overrides(
        default_locale="fr")
    assert _lang(web.client("nurse").get("/account")) == "fr"
    _set(web, site="en")
    assert _lang(web.client("nurse").get("/account")) == "en"


def test_an_administrator_sets_a_sites_language_on_the_organisation_page_and_in_the_api(web):
    admin = web.client("admin")
    page = admin.get("/admin/organisation")
    with session_scope(web.engine, readonly=True) as s:
        site = s.scalars(select(Site).order_by(Site.id)).first()
        site_id, name, code, zone = site.id, site.name, site.code, site.timezone
    assert f'id="site-lang-{site_id}"' in page.text
    saved = admin.post(f"/admin/organisation/site/{site_id}/update",
                       data={"csrf_token": csrf_from(page.text), "name": name, "code": code, "timezone": zone,
                             "language": "fr"})
    assert saved.status_code == 303
    page = admin.get("/admin/organisation")
    assert _lang(page) == "fr" and "Site enregistré." in page.text
    token = csrf_from(page.text)
    refused = admin.patch(f"/api/v1/sites/{site_id}", json={"language": "de"}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 400, refused.text
    answer = admin.patch(f"/api/v1/sites/{site_id}", json={"language": None}, headers={"X-CSRF-Token": token})
    assert answer.status_code == 200 and answer.json["language"] is None
    assert _lang(admin.get("/admin/organisation")) == "en"


def test_dates_and_numbers_are_written_as_the_language_writes_them():
    moment = datetime(2026, 12, 6, 13, 30, 5, tzinfo=UTC)
    paris = ZoneInfo("Europe/Paris")
    assert i18n.format_datetime(moment, paris, "en") == "2026-12-06 14:30:05 CET"
    assert i18n.format_datetime(moment, paris, "fr") == "6 déc. 2026 14:30:05 CET"
    assert i18n.format_date(date(2026, 12, 6), "fr") == "6 déc. 2026"
    assert i18n.format_date(date(2026, 12, 6), "en") == "2026-12-06"
    assert [i18n.format_decimal(t, "fr") for t in ("4.5", "-0.25", "12", "—", "Open")] == \
        ["4,5", "-0,25", "12", "—", "Open"]
    assert i18n.format_decimal("4.5", "en") == "4.5"


def test_pages_in_french_show_french_dates_and_decimal_commas(web):
    from wardlink.hub.web.filters import format_dt, format_value

    _set(web, site="fr")
    with web.app.test_request_context("/"):
        from flask import g

        from wardlink.hub.web.db import db

        user = db().scalar(select(User).where(User.username == "nurse"))
        g.actor = Actor.for_user(user)
        text = format_dt(datetime(2026, 12, 6, 13, 30, tzinfo=UTC))
        assert re.fullmatch(r"6 déc\. 2026 \d\d:30:00 \S+", text), text
        assert format_value(4.25) == "4,25"


@pytest.mark.parametrize("locale", [code for code in i18n.LANGUAGES if code != i18n.SOURCE_LOCALE])
def test_every_message_in_the_code_has_a_translation_and_no_catalogue_keeps_stale_ones(locale):
    from wardlink.hub.i18n import catalogues

    areas = catalogues.extract_all()
    missing = {area: catalogues.untranslated(area, locale, template) for area, template in areas.items()}
    assert {area: ids for area, ids in missing.items() if ids} == {}
    for area, template in areas.items():
        wanted = {m.id for m in template if m.id}
        kept = {m.id for m in catalogues.read(area, locale) if m.id}
        assert kept == wanted, f"{area}: run python -m wardlink.hub.i18n.catalogues ({sorted(kept ^ wanted)[:5]})"
    files = {p.parent.parent.parent.name for p in i18n.catalogue_files(locale)}
    assert files == set(areas), "a catalogue no code feeds, or an area without one"


def test_e_mails_to_a_french_site_are_french_and_a_persons_own_choice_wins(web, smtp_server):
    """A manager assigns two orders on a French site: the technician of the site reads French,
    the one who chose English reads English; the mailer's own lines follow each e-mail's language."""
    from wardlink.hub.notify.notices import NoticeMailer
    from wardlink.hub.notify.smtp import EmailNotifier
    from wardlink.hub.services.maintenance import workorders
    from wardlink.hub.services.people import users

    _set(web, site="fr", user=("pharmtech", "en"))
    with session_scope(web.engine) as s:
        s.execute(update(User).where(User.username.in_(("tech", "pharmtech")))
                  .values(email=User.username + "@hospital.example"))
        manager = Actor.for_user(users.find_user(s, "manager"))
        for who, tag in (("tech", "IPD-0001"), ("pharmtech", "VF-0002")):
            order = workorders.create_work_order(
                s, {"kind": "corrective", "title": f"Pompe {who}", "asset_tag": tag, "priority": "high"},
                actor=manager, clock=web.clock)
            workorders.transition(s, order.id, "assigned", {"assignee_id": users.find_user(s, who).id},
                                  actor=manager, clock=web.clock)
    server = EmailNotifier("mail", host=smtp_server.host, port=smtp_server.port,
                           sender="wardlink@hospital.example", to=[], timeout_s=5)
    mailer = NoticeMailer(web.engine, server, public_url="https://hub.example", site_name="Riverside",
                          clock=web.clock)
    mailer.run_pending()
    french = next(m for m in smtp_server.messages if m["To"] == "tech@hospital.example")
    english = next(m for m in smtp_server.messages if m["To"] == "pharmtech@hospital.example")
    assert re.fullmatch(r"\[Riverside\] Attribué à vous : WO-\d+ Pompe tech", french["Subject"]), french["Subject"]
    body = french.get_content()
    assert "Cet ordre de travail vous a été attribué." in body and "Priorité : Haute" in body
    assert re.search(r"Résolution attendue : \d+ janv\. 2026 \d\d:\d\d \w+", body), body
    assert "Ouvrir : https://hub.example/work-orders/" in body and "page de votre compte" in body
    assert english["Subject"].startswith("[Riverside] Assigned to you: WO-")
    assert "Priority: High" in english.get_content() and "Open: https://hub.example/" in english.get_content()


def test_a_person_reads_and_chooses_their_language_in_the_api(web):
    _set(web, site="fr")
    nurse = web.client("nurse")
    token = csrf_from(nurse.get("/account").text)
    assert nurse.get("/api/v1/account/language").json == {"locale": None, "effective": "fr"}
    refused = nurse.put("/api/v1/account/language", json={"locale": "de"}, headers={"X-CSRF-Token": token})
    assert refused.status_code == 400, refused.text
    chosen = nurse.put("/api/v1/account/language", json={"locale": "en"}, headers={"X-CSRF-Token": token})
    assert chosen.status_code == 200 and chosen.json == {"locale": "en", "effective": "en"}
    assert _lang(nurse.get("/account")) == "en"
    back = nurse.put("/api/v1/account/language", json={"locale": None}, headers={"X-CSRF-Token": token})
    assert back.json == {"locale": None, "effective": "fr"}


def test_no_template_translates_at_its_top_level_where_an_import_would_freeze_the_language(web):
    """A template imported for its macros runs its top level once per process: a ``_()`` there
    keeps the language of whichever page imported it first (the dashboard's live table once
    said "Live" to a French reader). Translations belong inside the macros and blocks."""
    from jinja2 import nodes

    env = web.app.jinja_env
    trees = {name: env.parse(env.loader.get_source(env, name)[0])
             for name in env.list_templates(extensions=["html"])}
    imported = {node.template.value for tree in trees.values()
                for node in tree.find_all((nodes.Import, nodes.FromImport)) if isinstance(node.template, nodes.Const)}
    assert "macros.html" in imported
    frozen = []
    for name in sorted(imported):
        for node in trees[name].body:
            if isinstance(node, (nodes.Assign, nodes.AssignBlock)):
                calls = [c for c in node.find_all(nodes.Call) if isinstance(c.node, nodes.Name)
                         and c.node.name in ("_", "gettext", "ngettext", "pgettext")]
                if calls:
                    frozen.append(f"{name}:{node.lineno}")
    assert frozen == []


def test_an_alert_e_mail_reaches_each_recipient_in_their_language_and_webhooks_keep_codes(engine, clock,
                                                                                         smtp_server):
    """The rules engine opens an alert at a site with no language; its e-mail target lists a
    technician who chose French and an address no account has: the technician reads French
    (subject, facts, dates, the decimal comma), the stranger the hub's default, English."""
    from rules_support import make_engine, point

    from wardlink.hub.notify.config import build_notifiers
    from wardlink.hub.notify.dispatcher import Dispatcher

    with session_scope(engine) as s:
        s.execute(update(Site).values(timezone="Europe/Paris"))
        s.execute(update(User).where(User.username == "tech").values(email="Tech@hospital.example", locale="fr"))
    notifiers = {"ops": {"type": "email", "host": smtp_server.host, "port": smtp_server.port, "security": "none",
                         "sender": "wardlink@hospital.example", "to": ["tech@hospital.example", "desk@hospital.example"]}}
    dispatcher = Dispatcher(engine, build_notifiers(notifiers, clock=clock), clock=clock, default_locale="en")
    rule = {"name": "cold-chain-high", "kind": "threshold", "severity": "critical", "above": 8.0,
            "match": {"metric": "temperature"}, "notify": ["ops"]}
    rules = make_engine(engine, clock, [rule], notifiers=notifiers, dispatcher=dispatcher)
    rules.on_points([point("fridge1.temp", round(clock.now() * 1000), 9.4)])
    assert dispatcher.run_pending().sent == 1
    by_address = {m["To"]: m for m in smtp_server.messages}
    assert sorted(by_address) == ["desk@hospital.example", "tech@hospital.example"]
    french, english = by_address["tech@hospital.example"], by_address["desk@hospital.example"]
    assert french["Subject"].startswith("[Wardlink] CRITIQUE : ") and french["Content-Language"] == "fr"
    body = french.get_content()
    facts = {k.strip(): v.strip() for k, _, v in (line.partition(" : ") for line in body.splitlines()) if v}
    assert (facts["Événement"], facts["Gravité"], facts["État"]) == ("ouverture", "Critique", "Ouvert"), body
    assert re.fullmatch(r"1 janv\. 2026 \d\d:\d\d:\d\d CET", facts["Ouvert"]) and facts["Valeur"] == "9,4 °C", body
    assert english["Subject"].startswith("[Wardlink] CRITICAL: ")
    assert re.search(r"Severity:\s+Critical", english.get_content()) and "Value:" in english.get_content()
    payload = _outbox(engine)[0].payload  # what a webhook is posted: codes, whatever the language
    assert (payload["event"], payload["severity"], payload["state"]) == ("opened", "critical", "open")
    dispatcher.close()
    rules.close()


def _outbox(engine):
    from wardlink.hub.db.models.rules import NotificationOutbox

    with session_scope(engine, readonly=True) as s:
        return list(s.scalars(select(NotificationOutbox).order_by(NotificationOutbox.id)))


def test_a_qr_report_on_a_french_site_opens_an_order_titled_in_french(web):
    """The order a QR report opens is read on the equipment's site: its title is in the site's
    language, whoever (nobody signed in) reported it."""
    from wardlink.hub.db.models import WorkOrder

    _set(web, site="fr")
    client = web.app.test_client()
    page = client.get("/a/VF-0001")
    sent = client.post("/a/VF-0001", data={"description": "Alarme toute la nuit", "name": "Camille",
                                           "csrf_token": csrf_from(page.text)})
    assert sent.status_code in (200, 303), sent.text[:300]
    with session_scope(web.engine, readonly=True) as s:
        titles = list(s.scalars(select(WorkOrder.title).where(WorkOrder.source == "qr")))
    assert titles == ["Signalé sur VF-0001 : Alarme toute la nuit"]
