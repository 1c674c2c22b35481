"""Alerts in the reader's language, end to end: the real rules engine raises an alert from
readings of the seeded fridge; a French technician reads its title, detail and automatic
resolution in French on the alerts page and in the e-mail (a real SMTP server, aiosmtpd),
numbers written the French way (``9,4 °C``) and times in the site's zone; an English manager
reads the same alert in English. The JSON API and the webhooks keep the English text, and an
alert stored before alerts kept their messages shows its English text as it is."""

from __future__ import annotations

import json

import pytest
from relational_support import clock, csrf_from, web
from rules_support import HookServer, alerts, make_engine, point
from sqlalchemy import update

from french_support import texts_of, untranslated
from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Site, User
from wardlink.hub.errors import Duration, Message, Moment, Plural, Quantity, Term
from wardlink.hub.notify.config import build_notifiers
from wardlink.hub.notify.dispatcher import Dispatcher
from wardlink.hub.services import messages
from wardlink.hub.services.alerts import records as alert_service
from wardlink.hub.services.people import users

__all__ = ["clock", "web"]

FRENCH_RAISED = "température 9,4 °C au-dessus de 8 °C depuis 5 min"
ENGLISH_RAISED = "temperature 9.4 °C above 8 °C for 5 min"
RULE = {"name": "fridge-warm", "kind": "threshold", "severity": "critical", "above": 8.0, "for_s": 300,
        "match": {"metric": "temperature"}, "notify": ["ward-mail", "hook"]}


@pytest.fixture
def hook():
    server = HookServer()
    yield server
    server.close()


def _setup(web, smtp_server, hook) -> tuple[Dispatcher, dict]:
    """Paris time at the site; the technician reads French, the manager English; both get the
    ward's alert e-mails."""
    with session_scope(web.engine) as s:
        s.execute(update(Site).values(timezone="Europe/Paris"))
        s.execute(update(User).where(User.username == "tech").values(locale="fr"))
        for name in ("tech", "manager"):
            users.find_user(s, name).email = f"{name}@hospital.example"
    notifiers = {"ward-mail": {"type": "email", "host": smtp_server.host, "port": smtp_server.port,
                               "security": "none", "sender": "wardlink@hospital.example",
                               "to": ["tech@hospital.example", "manager@hospital.example"]},
                 "hook": {"type": "webhook", "url": hook.url}}
    return Dispatcher(web.engine, build_notifiers(notifiers, clock=web.clock), clock=web.clock), notifiers


def _mails(smtp_server) -> dict[str, tuple[str, str]]:
    """Return the new mails by recipient: (subject, body)."""
    found = {m["To"]: (" ".join(str(m["Subject"]).split()), m.get_content()) for m in smtp_server.messages}
    smtp_server.messages.clear()
    return found


def test_an_alert_of_the_rules_engine_reads_in_french_for_a_french_reader_and_english_for_an_english_one(
        web, smtp_server, hook):
    dispatcher, notifiers = _setup(web, smtp_server, hook)
    rules = make_engine(web.engine, web.clock, [RULE], notifiers=notifiers, dispatcher=dispatcher)
    start = round(web.clock.now() * 1000)
    rules.on_points([point("fridge1.temp", start, 9.4)])
    rules.on_points([point("fridge1.temp", start + 300_000, 9.4)])
    [(alert, _lc)] = alerts(web.engine, "fridge-warm")
    assert alert.title.startswith("VF-0001 ") and alert.title.endswith(f": {ENGLISH_RAISED}")
    assert alert.title_message["values"]["message"]["message"]["values"]["value"] == {"quantity": "9.4",
                                                                                     "unit": "°C"}

    french_page = web.client("tech").get("/alerts").text
    assert FRENCH_RAISED in french_page and ENGLISH_RAISED not in french_page
    assert "Condition présente depuis le" in french_page and "CET" in french_page  # Paris time, French words
    assert untranslated([t for t in texts_of(french_page) if "°C" in t or "Règle" in t]) == []
    english_page = web.client("manager").get("/alerts").text
    assert ENGLISH_RAISED in english_page and FRENCH_RAISED not in english_page
    assert "Condition since" in english_page

    dispatcher.run_pending()
    mails = _mails(smtp_server)
    subject, body = mails["tech@hospital.example"]
    assert FRENCH_RAISED in subject and FRENCH_RAISED in body and "Condition présente depuis le" in body
    assert ENGLISH_RAISED not in body
    subject, body = mails["manager@hospital.example"]
    assert ENGLISH_RAISED in subject and ENGLISH_RAISED in body and "Condition since" in body
    [posted] = [json.loads(b) for b in hook.bodies]
    assert posted["title"].endswith(ENGLISH_RAISED) and "title_message" not in posted  # machines read English

    api = web.client("tech").get("/api/v1/alerts").json
    assert [a["title"] for a in api["items"] if a["rule"] == "fridge-warm"] == [alert.title]  # the API stays English

    web.clock.advance(600)
    rules.on_points([point("fridge1.temp", start + 900_000, 5.0)])
    french_page = web.client("tech").get("/alerts?state=resolved").text
    assert "Levée automatiquement le" in french_page and "revenue à 5 °C" in french_page
    assert "Cleared automatically" not in french_page
    assert "Cleared automatically at" in web.client("manager").get("/alerts?state=resolved").text
    dispatcher.run_pending()
    mails = _mails(smtp_server)
    assert "Levée automatiquement le" in mails["tech@hospital.example"][1]
    assert "Cleared automatically at" in mails["manager@hospital.example"][1]
    dispatcher.close()


def test_an_alert_stored_without_its_message_shows_its_english_text(web):
    with session_scope(web.engine) as s:
        s.execute(update(User).where(User.username == "tech").values(locale="fr"))
        alert_service.raise_alert(s, rule="legacy", severity="warning", title="Fridge warm (stored English)",
                                  detail="Old detail line", asset_tag="VF-0001", actor=None, clock=web.clock)
    page = web.client("tech").get("/alerts").text
    assert "Fridge warm (stored English)" in page and "Old detail line" in page


def test_a_message_keeps_its_values_as_json_and_writes_them_the_readers_way():
    said = Message("%(metric)s %(value)s above %(limit)s for %(held)s", metric=Term("temperature"),
                   value=Quantity("9.4", "°C"), limit=Quantity("8", "°C"), held=Duration(7_500_000))
    assert str(said) == "temperature 9.4 °C above 8 °C for 2 h 5 min"
    again = Message.from_json(json.loads(json.dumps(said.to_json())))
    assert str(again) == str(said)
    assert messages.render(again, "fr") == "température 9,4 °C au-dessus de 8 °C depuis 2 h 5 min"
    assert messages.render(Message("%(seconds)s s", seconds=5), "fr") == "5 s"
    assert str(Duration(3 * 86_400_000 + 4 * 3_600_000)) == "3 d 4 h"
    assert messages.render(Message("%(d)s", d=Duration(3 * 86_400_000)), "fr") == "3 j"
    late = Plural("backlog delivered (%(count)s reading left, oldest %(lag)s old)",
                  "backlog delivered (%(count)s readings left, oldest %(lag)s old)", 1234,
                  count=Quantity("1,234"), lag=Duration(120_000))
    assert str(late) == "backlog delivered (1,234 readings left, oldest 2 min old)"
    assert messages.render(Message.from_json(late.to_json()), "fr") == \
        "arriéré livré (1\u202f234 relevés restants, le plus ancien date de 2 min)"
    one = Plural(late.template, late.plural, 1, count=Quantity("1"), lag=Duration(1000))
    assert str(one) == "backlog delivered (1 reading left, oldest 1 s old)"
    from zoneinfo import ZoneInfo

    moment = Message("Confirmed by live data at %(at)s: %(message)s", at=Moment("2026-12-06T10:00:00+00:00"),
                     message=Message("data received again"))
    assert messages.render(moment, "fr", ZoneInfo("Europe/Paris")) == \
        "Confirmée par les données en direct le 6 déc. 2026 11:00:00 CET : données de nouveau reçues"
    assert messages.render(Message.from_json({"template": 3}) or "plain", "fr") == "plain"


@pytest.mark.parametrize("reader, expected", [
    ("fr", "rules[fridge-warm].below : doit être inférieur à above (8), reçu 9,5"),
    ("en", "rules[fridge-warm].below: must be less than above (8), got 9.5"),
])
def test_the_rule_form_refuses_a_bad_rule_in_the_readers_language_and_the_api_in_english(web, reader, expected):
    with session_scope(web.engine) as s:
        s.execute(update(User).where(User.username == "manager").values(locale=reader))
    client = web.client("manager")
    form = client.get("/rules/new?kind=threshold")
    assert ("Alerte quand un relevé reste au-dessus de above" in form.text) == (reader == "fr")
    data = {"csrf_token": csrf_from(form.text), "kind": "threshold", "name": "fridge-warm", "severity": "critical",
            "enabled": "on", "match.metric": "temperature", "param.above": "8", "param.below": "9.5"}
    refused = client.post("/rules/new", data=data)
    assert refused.status_code == 400
    assert f'<p class="field-error" id="below-error">{expected}</p>' in refused.text
    unknown = client.post("/rules/new", data={**data, "param.below": "2", "param.for_s": "-1"})
    assert ("rules[fridge-warm].for_s : doit être &gt;= 0, reçu -1" if reader == "fr"
            else "rules[fridge-warm].for_s: must be &gt;= 0, got -1") in unknown.text
    api = client.post("/api/v1/rules", json={"name": "fridge-warm", "kind": "threshold", "above": 8, "below": 9.5},
                      headers={"X-CSRF-Token": csrf_from(form.text)})
    assert api.status_code == 400
    assert api.json["error"]["message"] == "rules[fridge-warm].below: must be less than above (8), got 9.5"
    assert api.json["error"]["field"] == "below"
