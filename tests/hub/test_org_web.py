"""The organisation page, the first-run setup and the organisation API, through the real app.

The setup runs on a new, empty hub: the first administrator who signs in is led to it, and
once a site exists it is never shown again.
"""

from __future__ import annotations

import pytest
from relational_support import clock, csrf_from, hub_config, login, web
from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import Department, Location, Site
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import org_lookup, users


@pytest.fixture
def fresh(tmp_path, clock, empty_relational_url):
    """A hub with a migrated, empty database and only its first administrator; yields
    (app, engine, the administrator's password)."""
    from wardlink.hub.telemetry.sqlite import SQLiteStore
    from wardlink.hub.web import create_app

    upgrade(empty_relational_url)
    engine = open_engine(empty_relational_url)
    with session_scope(engine) as s:
        _, secret = users.create_first_admin(s, clock=clock)
    store = SQLiteStore(tmp_path / "telemetry.db")
    app = create_app(hub_config(tmp_path, database_url=empty_relational_url), telemetry=store, clock=clock)
    try:
        yield app, engine, secret
    finally:
        app.extensions["wardlink"].close()
        store.close()
        engine.dispose()


def test_the_first_admin_is_led_to_the_setup_once_and_it_never_shows_again(fresh):
    app, engine, secret = fresh
    client = app.test_client()
    signed_in = login(client, "admin", secret)
    assert signed_in.status_code == 302 and signed_in.headers["Location"].endswith("/setup")
    form = client.get("/setup")
    assert form.status_code == 200
    zone = org_lookup.server_zone()
    assert f'<option value="{zone}" selected>' in form.text
    token = csrf_from(form.text)
    refused = client.post("/setup", data={"csrf_token": token, "site_name": "Hillside Hospital",
                                          "timezone": "Nowhere/Atlantis", "department_name": "Intensive care"})
    assert refused.status_code == 400 and "not a known time zone" in refused.text
    assert 'value="Hillside Hospital"' in refused.text  # what was typed stays
    done = client.post("/setup", data={"csrf_token": token, "site_name": "Hillside Hospital",
                                       "timezone": "America/Chicago", "department_name": "Intensive care",
                                       "department_code": "ICU"})
    assert done.status_code == 303 and done.headers["Location"].endswith("/admin/organisation")
    with session_scope(engine, readonly=True) as s:
        [site] = s.scalars(select(Site))
        [dept] = s.scalars(select(Department))
        assert (site.name, site.timezone, dept.code, dept.site_id) == ("Hillside Hospital", "America/Chicago",
                                                                         "ICU", site.id)
    assert client.get("/setup").headers["Location"].endswith("/admin/organisation")
    again = app.test_client()
    assert login(again, "admin", secret).headers["Location"].endswith("/")


def _post(client, path: str, **data):
    token = csrf_from(client.get("/admin/organisation").text)
    return client.post(path, data={"csrf_token": token, **data})


def test_an_administrator_adds_a_department_and_a_location_on_the_organisation_page(web):
    client = web.client("admin")
    with session_scope(web.engine, readonly=True) as s:
        rgh = org_lookup.find_site(s, "RGH").id
    added = _post(client, "/admin/organisation/department/add", site_id=rgh, name="Day surgery", code="DSU")
    assert added.status_code == 303
    page = client.get("/admin/organisation").text
    assert "Department added." in page and 'data-department="DSU"' in page
    twice = _post(client, "/admin/organisation/department/add", site_id=rgh, name="day SURGERY", code="DS2")
    assert twice.status_code == 400 and "already has a department named &#39;Day surgery&#39;" in twice.text
    with session_scope(web.engine, readonly=True) as s:
        dsu = s.scalar(select(Department).where(Department.code == "DSU")).id
        icu = s.scalar(select(Department).where(Department.code == "ICU")).id
    loc = _post(client, "/admin/organisation/location/add", site_id=rgh, department_id=dsu, building="Day unit",
                floor="Ground", room="Recovery 1")
    assert loc.status_code == 303
    assert 'data-location="Day unit / Ground / Recovery 1"' in client.get("/admin/organisation").text
    in_use = _post(client, f"/admin/organisation/department/{icu}/delete")
    assert in_use.status_code == 400 and "is still used by" in in_use.text
    with session_scope(web.engine, readonly=True) as s:
        assert s.get(Department, icu) is not None
        assert s.scalar(select(Location).where(Location.room == "Recovery 1")).department_id == dsu


def test_the_api_adds_changes_and_refuses_as_the_services_say(web):
    client = web.client("admin")
    headers = {"X-CSRF-Token": csrf_from(client.get("/account").text)}
    site = client.post("/api/v1/sites", json={"name": "Lakeside Clinic", "timezone": "Europe/Oslo"},
                       headers=headers)
    assert site.status_code == 201 and site.json["code"] == "LC" and site.json["timezone"] == "Europe/Oslo"
    dept = client.post("/api/v1/departments", json={"site_id": site.json["id"], "name": "Outpatients"},
                       headers=headers)
    assert dept.status_code == 201 and dept.json["code"] == "OUTPATIENTS"
    dup = client.post("/api/v1/departments", json={"site_id": site.json["id"], "name": "OUTPATIENTS"},
                      headers=headers)
    assert dup.status_code == 400 and dup.json["error"]["code"] == "invalid_input"
    bad = client.post("/api/v1/sites", json={"name": "X", "code": "has space"}, headers=headers)
    assert bad.status_code == 400 and "code" in bad.json["error"]["message"]
    renamed = client.patch(f"/api/v1/departments/{dept.json['id']}", json={"code": "OPD"}, headers=headers)
    assert renamed.status_code == 200 and renamed.json["code"] == "OPD"
    assert client.delete(f"/api/v1/sites/{site.json['id']}", headers=headers).status_code == 400
    assert client.delete(f"/api/v1/departments/{dept.json['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/sites/{site.json['id']}", headers=headers).status_code == 204
    assert client.delete(f"/api/v1/sites/{site.json['id']}", headers=headers).status_code == 404


def test_a_manager_limited_to_a_department_sees_and_changes_only_it_through_the_api(web):
    with session_scope(web.engine) as s:
        icu = s.scalar(select(Department).where(Department.code == "ICU"))
        pharm = s.scalar(select(Department).where(Department.code == "PHARM")).id
        icu_id = icu.id
        user, _ = users.create_user_with_generated_password(s, username="icu-lead", role="manager",
                                                            display_name="ICU lead", department_id=icu.id,
                                                            actor=None, clock=web.clock)
        _, token = users.create_api_token(s, name="t", actor=Actor.for_user(user), clock=web.clock)
    client, headers = web.app.test_client(), {"Authorization": f"Bearer {token}"}
    listed = client.get("/api/v1/departments", headers=headers).json["items"]
    assert [d["code"] for d in listed] == ["ICU"]
    assert {x["department_id"] for x in client.get("/api/v1/locations", headers=headers).json["items"]} == {icu_id}
    assert client.patch(f"/api/v1/departments/{icu_id}", json={"name": "Adult ICU"}, headers=headers).status_code == 200
    refused = client.patch(f"/api/v1/departments/{pharm}", json={"name": "Dispensary"}, headers=headers)
    assert refused.status_code == 403
    assert client.post("/api/v1/sites", json={"name": "Mine"}, headers=headers).status_code == 403
