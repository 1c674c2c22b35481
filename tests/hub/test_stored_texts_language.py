"""The last English on French pages: texts kept for later by the hub's own services (low stock,
oxygen manifolds), a telemetry store's error on the gateway page, counts that choose their
words, and a rules file's read errors. Each is stored or raised as an English template and its
values; a French reader reads it in French, an English reader in English, and the English text
the JSON API keeps is unchanged."""

from __future__ import annotations

from datetime import date
from types import SimpleNamespace

import pytest
from flask import render_template
from flask_babel import force_locale
from inventory_support import make_store
from relational_support import GATEWAY, clock, web
from rules_support import point
from sqlalchemy import select, update

from french_support import texts_of
from wardlink.clock import ManualClock
from wardlink.hardware.supply import Manifold as ManifoldModel
from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Alert, Notice, Site, User
from wardlink.hub.errors import HubError
from wardlink.hub.rules import load_rules_file
from wardlink.hub.services import messages
from wardlink.hub.services.alerts import records as alert_records
from wardlink.hub.services.inventory import ledger
from wardlink.hub.services.manifolds import register, tracking
from wardlink.hub.services.people import users

__all__ = ["clock", "web"]


def _french_site(web) -> None:
    with session_scope(web.engine) as s:
        s.execute(update(Site).values(language="fr"))


def _page_text(client, path: str) -> str:
    page = client.get(path)
    assert page.status_code == 200, path
    return " ".join(texts_of(page.text))


def test_a_low_stock_alert_its_notices_and_its_restocking_are_in_each_readers_language(web):
    with session_scope(web.engine) as s:
        s.execute(update(User).where(User.username == "buyer").values(locale="fr"))
        s.execute(update(User).where(User.username == "manager").values(locale="en"))
        store = make_store(s, web.clock, reorder_level="3")
        ledger.receive(s, store.part_id, bin_id=store.bin_a, quantity=5, actor=None, clock=web.clock)
        ledger.issue(s, store.part_id, bin_id=store.bin_a, quantity=3, reason="ward use", actor=None,
                     clock=web.clock)
        alert = s.scalars(select(Alert).where(Alert.rule == "low_stock")).one()
        # The English the API and webhooks keep is as it was.
        assert alert.title == "Low stock: FLT-100 Air filter, ventilator intake: 2 each left"
        assert "Reorder quantity: 10 each" in alert.detail
        subjects = {n.user_id: n.subject for n in s.scalars(select(Notice).where(Notice.event == "low_stock"))}
        buyer, manager = users.find_user(s, "buyer").id, users.find_user(s, "manager").id
        assert subjects[manager] == alert.title
        assert subjects[buyer].startswith("Stock bas : FLT-100 Air filter, ventilator intake : il reste 2 ")
        body = s.scalars(select(Notice.body).where(Notice.user_id == buyer, Notice.event == "low_stock")).one()
        assert "Quantité à commander : 10 " in body and "Fournisseur préféré : Medparts Ltd" in body
    _french_site(web)
    admin = web.client("admin")
    text = _page_text(admin, "/alerts")
    assert "Stock bas : FLT-100" in text and "Low stock" not in text
    with session_scope(web.engine) as s:
        ledger.receive(s, store.part_id, bin_id=store.bin_b, quantity=10, actor=None, clock=web.clock)
        alert = s.scalars(select(Alert).where(Alert.rule == "low_stock")).one()
        assert alert.state == "resolved" and alert.resolution_note.startswith("Restocked: 12 ")
    text = _page_text(admin, "/alerts?state=resolved")
    assert "Réapprovisionné : 12 " in text and "Restocked" not in text, text


def _pressures(model: ManifoldModel, start_ms: int, minutes: int) -> list:
    points = []
    for minute in range(minutes):
        pressures = model.pressures(minute * 60)
        points += [point(f"o2.bank_{bank}", start_ms + minute * 60_000, round(pressures[bank], 2))
                   for bank in "ab"]
    return points


def test_a_manifolds_alerts_and_their_resolution_are_in_the_readers_language(web):
    """Bank A starts at 60 bar and empties after about 10 h: the changeover opens 'reserve in
    use'; with a 40 h reserve the other bank is below it at once, which opens 'reserve below';
    new cylinders on bank A resolve both."""
    now_s = web.clock.now()
    start_ms = round((now_s - 2 * 86400) * 1000)
    model = ManifoldModel(bank="a", cylinders=5, water_l=50, fill_bar=200, changeover_bar=10, flow_lpm=20.0,
                          start_bar=60)
    web.store.write(_pressures(model, start_ms, 2 * 1440))
    with session_scope(web.engine) as s:
        register.create_manifold(s, {"asset_tag": "VF-0001", "gateway_id": GATEWAY, "bank_a_channel": "o2.bank_a",
                                     "bank_b_channel": "o2.bank_b", "bank_capacity_l": 10_000, "full_bar": 200,
                                     "changeover_bar": 10, "reserve_hours": 40}, actor=None, clock=web.clock)
        tracking.refresh(s, web.store, clock=ManualClock(now_s))
        opened = {a.rule: a for a in s.scalars(select(Alert).where(Alert.rule.like("manifold.%")))}
        assert set(opened) == {tracking.RESERVE_RULE, tracking.LOW_RULE}
        reserve = opened[tracking.RESERVE_RULE]
        assert reserve.title == "VF-0001: reserve in use, bank A empty"
        assert reserve.detail.startswith("The manifold changed over from bank A to bank B after ")
        french = [messages.render(line, "fr") for line in alert_records.detail_of(reserve)]
        assert french[0].startswith("La centrale a basculé de la rampe A à la rampe B après ") and " L ;" in french[0]
        low = opened[tracking.LOW_RULE]
        assert low.title == "VF-0001: reserve below 40 hours"
        assert messages.render(alert_records.title_of(low), "fr") == "VF-0001 : réserve inférieure à 40 heures"
        assert "," in messages.render(alert_records.detail_of(low)[0], "fr").split("environ ")[1].split(" h")[0]
    _french_site(web)
    text = _page_text(web.client("admin"), "/alerts?state=all")  # both resolved: the cylinders were replaced
    assert "VF-0001 : réserve en service, rampe A vide" in text and "reserve in use" not in text
    assert "La centrale a basculé de la rampe A à la rampe B après 2500 L ;" in text
    assert "L’oxygène restant dure environ 38,8 h" in text and "bouteilles neuves posées" in text


def test_the_gateway_page_says_a_telemetry_stores_error_in_french(web):
    _french_site(web)
    admin = web.client("admin")
    web.store.close()
    text = _page_text(admin, f"/gateways/{GATEWAY}")
    assert "La base de télémesure SQLite est fermée" in text and "store is closed" not in text, text
    assert "La base de télémesure SQLite est fermée" in _page_text(admin, "/assets/VF-0001")


def _render(web, locale: str, template: str, **context) -> str:
    with web.app.test_request_context("/"), force_locale(locale):
        return " ".join(" ".join(texts_of(render_template(template, **context))).split())


@pytest.mark.parametrize(("counts", "english", "french"), [
    ((1, 1, 1, 1), "Would have fired 1 time in the last 1 day (1 reading of 1 channel replayed; nothing was "
                   "saved or sent)",
     "Se serait déclenchée 1 fois sur 1 jour (rejoué : 1 mesure de 1 voie ; rien n’a été enregistré ni envoyé)"),
    ((0, 7, 2, 3), "Would have fired 0 times in the last 7 days (2 readings of 3 channels replayed; nothing was "
                   "saved or sent)",
     "Se serait déclenchée 0 fois sur les 7 derniers jours (rejoué : 2 mesures de 3 voies ; rien n’a été "
     "enregistré ni envoyé)"),
])
def test_a_rule_previews_counts_choose_their_words_in_each_language(web, counts, english, french):
    fired, days, points, series = counts
    preview = SimpleNamespace(fired=fired, days=days, points=points, series=series, episodes=[])
    assert _render(web, "en", "rules/_preview.html", preview=preview).startswith("Preview " + english)
    assert _render(web, "fr", "rules/_preview.html", preview=preview).startswith("Aperçu " + french)


def _repairs(web, tag: str, count: int) -> None:
    """``count`` completed repairs of ``tag`` with 1,500.00 of vendor charges between them, and a
    replacement cost of 2,000.00: the asset is flagged for replacement."""
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.assets import register
    from wardlink.hub.services.maintenance import workorder_costs, workorders

    with session_scope(web.engine) as s:
        manager = Actor.for_user(users.find_user(s, "manager"))
        tech = Actor.for_user(users.find_user(s, "tech"))
        register.update_asset(s, tag, {"replacement_cost": "2000"}, actor=manager, clock=web.clock)
        for n in range(count):
            order = workorders.create_work_order(s, {"kind": "corrective", "title": f"Repair {n}", "asset_tag": tag},
                                                 actor=manager, clock=web.clock)
            workorders.transition(s, order.id, "assigned", {"assignee_id": tech.user_id}, actor=manager,
                                  clock=web.clock)
            workorders.transition(s, order.id, "in_progress", {}, actor=tech, clock=web.clock)
            workorder_costs.add_charge(s, order.id, description="Board replaced", amount=f"{1500 / count:.2f}",
                                       vendor="Service Co", actor=tech, clock=web.clock)
            workorders.transition(s, order.id, "completed", {"resolution_category": "vendor_repair"}, actor=tech,
                                  clock=web.clock)


def _flag(client, tag: str) -> str:
    page = client.get(f"/assets/{tag}")
    assert page.status_code == 200
    start = page.text.index('id="replace-flag"')
    return " ".join(texts_of(page.text[page.text.rindex("<p", 0, start):page.text.index("</p>", start) + 4]))


def test_an_assets_replacement_flag_is_one_sentence_with_its_count_in_each_language(web):
    _repairs(web, "VENT-0001", 1)
    _repairs(web, "ANA-0001", 3)
    manager = web.client("manager")
    english = _flag(manager, "VENT-0001")
    assert "(1 corrective order), 75.0 % of the replacement cost 2000.00: more than the 50 %" in english, english
    assert "(3 corrective orders), 75.0 % of the replacement cost 2000.00" in _flag(manager, "ANA-0001")
    _french_site(web)
    french = _flag(manager, "ANA-0001")
    assert "(3 ordres correctifs), soit 75.0 % du coût de remplacement 2000.00 : plus que les 50 %" in french, french
    assert "corrective" not in french and "ordre correctif)" in _flag(manager, "VENT-0001")


def test_counts_on_the_audit_calendar_and_checklist_pages_are_french(web):
    from test_ui_pages import _seed

    _seed(web)
    _french_site(web)
    admin = web.client("admin")
    audit = _page_text(admin, "/audit")
    assert " lignes." in audit and " rows." not in audit and " row." not in audit
    calendar = _page_text(admin, "/maintenance/calendar?view=year")
    assert " interventions)" in calendar or " intervention)" in calendar, calendar
    assert " services)" not in calendar
    with session_scope(web.engine) as s:
        from wardlink.hub.services.maintenance import checklists

        checklists.create_template(s, name="Spare checks", actor=None, clock=web.clock,
                                   items=[{"label": "Seal", "kind": "pass_fail"}])
    page = _page_text(admin, "/maintenance/checklists")
    assert "0 plan" in page and "0 plans" not in page and "1 plan" in page  # French: 0 is singular


def test_a_rules_files_read_errors_are_messages_a_page_writes_in_french(tmp_path):
    with pytest.raises(HubError) as missing:
        load_rules_file(tmp_path / "absent.toml")
    assert str(missing.value).startswith(f"cannot read rules file {tmp_path / 'absent.toml'}: ")
    assert messages.render(missing.value.message, "fr").startswith("impossible de lire le fichier de règles ")
    (tmp_path / "broken.toml").write_text("[[rules]\n")
    with pytest.raises(HubError) as broken:
        load_rules_file(tmp_path / "broken.toml")
    assert messages.render(broken.value.message, "fr").startswith(f"fichier de règles {tmp_path / 'broken.toml'} : ")
