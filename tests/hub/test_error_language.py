"""Service errors in the reader's language: a form error, a refused step or a refusal page is
French for a French reader and English for an English one; ``str(error)``, the JSON API and
the CLI keep the English text."""

from __future__ import annotations

import pytest
from inventory_support import make_store
from relational_support import actor, clock, csrf_from, web
from sqlalchemy import update

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import User
from wardlink.hub.errors import InvalidInput, Message, PermissionDenied, Term
from wardlink.hub.i18n import N_
from wardlink.hub.services.inventory import ledger
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users


def _french(web, *usernames: str) -> None:
    with session_scope(web.engine) as s:
        s.execute(update(User).where(User.username.in_(usernames)).values(locale="fr"))


def test_an_error_keeps_its_english_text_its_template_and_its_values():
    inner = InvalidInput(N_("%(field)s: is required"), field="name")
    error = InvalidInput(N_("contacts[%(n)s].%(error)s"), n=2, error=inner)
    assert str(error) == "contacts[2].name: is required"
    assert error.message.template == "contacts[%(n)s].%(error)s" and error.message.values["error"] is inner
    assert str(InvalidInput("100% sure")) == "100% sure"  # no values: the text is not a format
    assert str(PermissionDenied(N_("%(what)s is elsewhere"), what=Message(N_("asset '%(tag)s'"), tag="A-1"))) \
        == "asset 'A-1' is elsewhere"
    assert str(InvalidInput(N_("pick is %(state)s"), state=Term("in_progress"))) == "pick is in_progress"


@pytest.mark.parametrize("reader, expected, absent", [
    ("fr", "purchase_cost : doit être un montant comme 1250.00, reçu &#39;lots&#39;", "must be an amount"),
    ("en", "purchase_cost: must be an amount like 1250.00, got &#39;lots&#39;", "doit être"),
])
def test_a_bad_asset_form_is_refused_in_the_readers_language(web, reader, expected, absent):
    if reader == "fr":
        _french(web, "manager")
    client = web.client("manager")
    token = csrf_from(client.get("/assets/new").text)
    response = client.post("/assets/new", data={"csrf_token": token, "tag": "DEF-0002", "name": "Defibrillator",
                                                "category": "Defibrillator", "purchase_cost": "lots"})
    assert response.status_code == 400
    assert expected in response.text and absent not in response.text
    taken = client.post("/assets/new", data={"csrf_token": token, "tag": "VF-0001", "name": "Fridge",
                                             "category": "Fridge"})
    assert taken.status_code == 400
    assert ("tag : « VF-0001 » est déjà utilisé par un autre équipement" if reader == "fr"
            else "tag: &#39;VF-0001&#39; is already used by another asset") in taken.text


def test_a_refusal_page_names_the_role_and_the_action_in_french_and_the_api_stays_english(web):
    _french(web, "viewer")
    client = web.client("viewer")
    page = client.get("/assets/VF-0001/edit")
    assert page.status_code == 403
    assert "le rôle « lecteur » ne permet pas de modifier les équipements" in page.text
    assert "may not change assets" not in page.text
    api = client.get("/assets/VF-0001/edit", headers={"Accept": "application/json"})
    assert api.status_code == 403
    assert api.json["error"]["message"] == "role 'viewer' may not change assets (user 'viewer')"
    assert web.client("viewer").get("/assets/NO-SUCH").status_code == 404
    missing = client.get("/assets/NO-SUCH")
    assert missing.status_code == 404 and "l’équipement « NO-SUCH » n’existe pas" in missing.text


def test_an_english_reader_gets_the_english_refusal(web):
    page = web.client("viewer").get("/assets/VF-0001/edit")
    assert page.status_code == 403 and "role &#39;viewer&#39; may not change assets" in page.text


def _order(web) -> tuple[int, str]:
    with session_scope(web.engine) as s:
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Pump alarm", "asset_tag": "IP-0101"},
                                             actor=actor(s, "manager"), clock=web.clock)
        return order.id, order.code


@pytest.mark.parametrize("reader", ["fr", "en"])
def test_a_refused_work_order_step_names_the_states_in_the_readers_language(web, reader):
    order_id, code = _order(web)
    if reader == "fr":
        _french(web, "manager")
    client = web.client("manager")
    token = csrf_from(client.get(f"/work-orders/{order_id}").text)
    refused = client.post(f"/work-orders/{order_id}/transition", data={"csrf_token": token, "to": "closed"})
    assert refused.status_code == 400
    if reader == "fr":
        assert (f"l’ordre de travail {code} ne peut pas passer de En attente de traitement à Fermé ; "
                "depuis l’état En attente de traitement, il peut passer à Attribué, Annulé") in refused.text
    else:
        assert (f"work order {code} cannot go from Pending to Closed; from Pending it can go to Assigned, "
                "Cancelled") in refused.text


@pytest.mark.parametrize("reader", ["fr", "en"])
def test_a_bad_maintenance_plan_is_refused_next_to_its_field_in_the_readers_language(web, reader):
    if reader == "fr":
        _french(web, "manager")
    client = web.client("manager")
    token = csrf_from(client.get("/maintenance/new").text)
    form = {"name": "Infusion pump quarterly PM", "target": "asset", "asset_tag": "IP-0101", "trigger": "calendar",
            "interval_count": "", "interval_unit": "month", "anchor_date": "2026-01-05", "lead_days": "7",
            "csrf_token": token}
    refused = client.post("/maintenance/new", data=form)
    assert refused.status_code == 400
    expected = ("interval_count : obligatoire pour les plans « calendrier »" if reader == "fr"
                else "interval_count: required for calendar plans")
    assert f'id="interval_count-error">{expected}' in refused.text


@pytest.mark.parametrize("reader", ["fr", "en"])
def test_picking_more_units_than_the_bin_holds_is_refused_in_the_readers_language(web, reader):
    with session_scope(web.engine) as s:
        store = make_store(s, web.clock, reorder_level="3")
        ledger.receive(s, store.part_id, bin_id=store.bin_a, quantity=4, actor=None, clock=web.clock)
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Vent filter alarm",
                                                 "asset_tag": "VF-0001", "assignee_id": users.find_user(s, "tech").id},
                                             actor=actor(s, "manager"), clock=web.clock)
        order_id = order.id
    if reader == "fr":
        _french(web, "tech")
    tech = web.client("tech")
    page = tech.get(f"/inventory/parts/{store.part_id}")
    refused = tech.post(f"/inventory/parts/{store.part_id}/pick", data={
        "csrf_token": csrf_from(page.text), "order_id": order_id, "bin_id": store.bin_a, "quantity": "9"})
    assert refused.status_code == 400
    if reader == "fr":
        assert "quantity : stock insuffisant de" in refused.text and "libres, 9 " in refused.text
        assert "not enough stock" not in refused.text
    else:
        assert "quantity: not enough stock of" in refused.text and "free, 9 " in refused.text


def test_the_parts_forecasts_refusals_read_in_french(web):
    """The parts forecast's refusals are templates too: a French site's page gets them in French."""
    from wardlink.hub.db.models import Site
    from wardlink.hub.services.maintenance import parts_forecast
    from wardlink.hub.web.i18n import error_message

    with session_scope(web.engine) as s:
        s.execute(update(Site).values(language="fr"))
    errors = []
    for call in (lambda: parts_forecast.parse_days("many"), lambda: parts_forecast.parse_days("900")):
        with pytest.raises(InvalidInput) as caught:
            call()
        errors.append(caught.value)
    assert [str(e) for e in errors] == ["days: must be a whole number of days, got 'many'",
                                        "days: must be 1..365, got 900"]
    with web.app.test_request_context("/"):
        shown = [error_message(e) for e in errors]
    assert shown[0] == "days : doit être un nombre entier de jours, reçu 'many'"
    assert shown[1] == "days : doit être entre 1 et 365, reçu 900"
