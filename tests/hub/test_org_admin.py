"""Sites, departments and locations: adding, renaming and deleting them, on SQLite and PostgreSQL.

Names are unique per parent without case, something in use is never deleted (the error says
what uses it), every change leaves an audit row, and a manager limited to a department sees and
changes only that department and its locations.
"""

from __future__ import annotations

import json
from types import SimpleNamespace

import pytest
from relational_support import actor, clock, engine, session
from sqlalchemy import select

from wardlink.hub.db import open_engine, session_scope, upgrade
from wardlink.hub.db.models import AuditLog, Department, Location, Site
from wardlink.hub.errors import InvalidInput, NotFound, PermissionDenied
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import org_admin, org_lookup, users


def _audit(session, action: str) -> list[SimpleNamespace]:
    """Return the audit rows of ``action``, oldest first, with their before/after read."""
    rows = session.scalars(select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.seq))
    return [SimpleNamespace(actor=r.actor, before=json.loads(r.before_json or "null"),
                            after=json.loads(r.after_json or "null")) for r in rows]


def _dept(session, code: str) -> Department:
    return session.scalar(select(Department).where(Department.code == code))


@pytest.fixture
def icu_manager(session, clock):
    """A manager limited to the ICU."""
    user, _ = users.create_user_with_generated_password(
        session, username="icu-lead", role="manager", display_name="ICU lead",
        department_id=_dept(session, "ICU").id, actor=None, clock=clock)
    return Actor.for_user(user)


def test_an_administrator_adds_a_site_whose_code_comes_from_its_name_and_names_are_unique_without_case(
        session, clock):
    admin = actor(session, "admin")
    site = org_admin.create_site(session, {"name": "St Mary's Hospital", "timezone": "Europe/Dublin"},
                                 actor=admin, clock=clock)
    assert (site.code, site.name, site.timezone) == ("SMH", "St Mary's Hospital", "Europe/Dublin")
    [row] = _audit(session, "site.create")[-1:]
    assert row.after["name"] == "St Mary's Hospital" and row.actor == "admin"
    with pytest.raises(InvalidInput, match="a site named 'St Mary's Hospital' already exists"):
        org_admin.create_site(session, {"name": "ST MARY'S hospital", "code": "OTHER"}, actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match="code: site code 'RGH' is already used"):
        org_admin.create_site(session, {"name": "Another", "code": "rgh"}, actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match="timezone: 'Mars/Olympus' is not a known time zone"):
        org_admin.create_site(session, {"name": "Far away", "timezone": "Mars/Olympus"}, actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match="code: use letters, digits"):
        org_admin.create_site(session, {"name": "Spaced", "code": "A B"}, actor=admin, clock=clock)


def test_a_site_without_a_time_zone_takes_the_servers():
    assert org_lookup.server_zone() in org_lookup.zone_names()


def test_departments_are_unique_per_site_without_case_and_renames_are_audited(session, clock):
    admin = actor(session, "admin")
    rgh = org_lookup.find_site(session, "rgh")
    other = org_admin.create_site(session, {"name": "Community Hospital", "timezone": "UTC"}, actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match="already has department code 'ICU'"):
        org_admin.create_department(session, rgh.id, {"name": "Critical care", "code": "icu"}, actor=admin,
                                    clock=clock)
    icu_name = _dept(session, "ICU").name
    with pytest.raises(InvalidInput, match="already has a department named"):
        org_admin.create_department(session, rgh.id, {"name": icu_name.upper(), "code": "CC"}, actor=admin,
                                    clock=clock)
    # The same code on another site is fine, and then needs SITE/CODE to be named.
    theirs = org_admin.create_department(session, other.id, {"name": "Intensive care", "code": "ICU"},
                                         actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match="exists on several sites"):
        org_lookup.find_department(session, "ICU")
    assert org_lookup.find_department(session, f"{other.code}/icu").id == theirs.id
    renamed = org_admin.update_department(session, theirs.id, {"name": "Critical care unit", "code": "CCU"},
                                          actor=admin, clock=clock)
    assert (renamed.code, renamed.name) == ("CCU", "Critical care unit")
    row = _audit(session, "department.update")[-1]
    assert row.before == {"code": "ICU", "name": "Intensive care"}
    assert row.after == {"code": "CCU", "name": "Critical care unit"}
    with pytest.raises(NotFound, match="site 'nowhere' does not exist"):
        org_lookup.find_site(session, "nowhere")


def test_locations_are_unique_per_site_without_case_and_their_department_must_be_of_the_site(session, clock):
    admin = actor(session, "admin")
    rgh = org_lookup.find_site(session, "RGH")
    icu = _dept(session, "ICU")
    loc = org_admin.create_location(session, rgh.id, {"building": "Main Block", "floor": "Level 2",
                                                      "room": "ICU Bay 7", "department_id": icu.id},
                                    actor=admin, clock=clock)
    assert loc.label == "Main Block / Level 2 / ICU Bay 7" and _audit(session, "location.create")[-1].after["id"] == loc.id
    with pytest.raises(InvalidInput, match="already has the location 'Main Block / Level 2 / ICU Bay 7'"):
        org_admin.create_location(session, rgh.id, {"building": "main block", "floor": "LEVEL 2", "room": "icu bay 7"},
                                  actor=admin, clock=clock)
    other = org_admin.create_site(session, {"name": "Clinic", "timezone": "UTC"}, actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match=f"department_id: Clinic has no department {icu.id}"):
        org_admin.create_location(session, other.id, {"building": "A", "department_id": icu.id}, actor=admin,
                                  clock=clock)
    moved = org_admin.update_location(session, loc.id, {"room": "ICU Bay 8"}, actor=admin, clock=clock)
    assert moved.label == "Main Block / Level 2 / ICU Bay 8" and moved.department_id == icu.id
    org_admin.delete_location(session, loc.id, actor=admin, clock=clock)
    assert session.get(Location, loc.id) is None
    assert _audit(session, "location.delete")[-1].before["room"] == "ICU Bay 8"


def test_something_in_use_is_not_deleted_and_the_error_says_what_uses_it(session, clock):
    admin = actor(session, "admin")
    icu = _dept(session, "ICU")
    with pytest.raises(InvalidInput, match=r"department '.+' is still used by .*assets.*move them"):
        org_admin.delete_department(session, icu.id, actor=admin, clock=clock)
    with pytest.raises(InvalidInput, match=r"site 'Riverside General Hospital' still has \d+ departments"):
        org_admin.delete_site(session, org_lookup.find_site(session, "RGH").id, actor=admin, clock=clock)
    spare = org_admin.create_department(session, icu.site_id, {"name": "Day surgery"}, actor=admin, clock=clock)
    assert spare.code == "DS"
    # A code made from a name never collides: the next free one is taken.
    assert org_admin.create_department(session, icu.site_id, {"name": "Dental service"}, actor=admin,
                                       clock=clock).code == "DS-2"
    org_admin.delete_department(session, spare.id, actor=admin, clock=clock)
    assert session.get(Department, spare.id) is None
    assert _audit(session, "department.delete")[-1].before["name"] == "Day surgery"
    assert _dept(session, "ICU") is not None


def test_a_manager_limited_to_a_department_sees_and_changes_only_that_one(session, clock, icu_manager):
    icu, pharm = _dept(session, "ICU"), _dept(session, "PHARM")
    assert [d.code for d in org_lookup.visible_departments(session, actor=icu_manager)] == ["ICU"]
    assert {loc.department_id for loc in org_lookup.visible_locations(session, actor=icu_manager)} == {icu.id}
    assert [s.code for s in org_lookup.visible_sites(session, actor=icu_manager)] == ["RGH"]
    org_admin.update_department(session, icu.id, {"name": "Adult intensive care"}, actor=icu_manager, clock=clock)
    with pytest.raises(PermissionDenied, match="belongs to another department"):
        org_admin.update_department(session, pharm.id, {"name": "Dispensary"}, actor=icu_manager, clock=clock)
    with pytest.raises(PermissionDenied, match="only an administrator may add departments"):
        org_admin.create_department(session, icu.site_id, {"name": "New ward"}, actor=icu_manager, clock=clock)
    with pytest.raises(PermissionDenied, match="only an administrator may add sites"):
        org_admin.create_site(session, {"name": "Elsewhere"}, actor=icu_manager, clock=clock)
    mine = org_admin.create_location(session, icu.site_id, {"building": "Main Block", "room": "ICU store",
                                                            "department_id": icu.id}, actor=icu_manager, clock=clock)
    assert mine.department_id == icu.id
    with pytest.raises(PermissionDenied):
        org_admin.create_location(session, icu.site_id, {"building": "Main Block", "room": "Not mine",
                                                         "department_id": pharm.id}, actor=icu_manager, clock=clock)
    with pytest.raises(PermissionDenied):  # a location of no department is the administrator's
        org_admin.create_location(session, icu.site_id, {"building": "Main Block", "room": "Corridor"},
                                  actor=icu_manager, clock=clock)
    with pytest.raises(PermissionDenied, match="may not change sites, departments and locations"):
        org_admin.update_department(session, icu.id, {"name": "x"}, actor=actor(session, "nurse"), clock=clock)


def test_the_first_run_setup_creates_the_first_site_and_department_once(empty_relational_url):
    upgrade(empty_relational_url)
    eng = open_engine(empty_relational_url)
    try:
        with session_scope(eng) as s:
            assert org_admin.needs_setup(s)
            with pytest.raises(InvalidInput, match="timezone: is required"):
                org_admin.first_run(s, {"site_name": "Hillside", "timezone": "", "department_name": "ICU"},
                                    actor=None)
        with session_scope(eng) as s:
            site, dept = org_admin.first_run(s, {"site_name": "Hillside Hospital", "timezone": "America/Chicago",
                                                 "department_name": "Intensive care", "department_code": "ICU"},
                                             actor=None)
            assert (site.code, site.timezone, dept.code, dept.site_id) == ("HH", "America/Chicago", "ICU", site.id)
        with session_scope(eng) as s:
            assert not org_admin.needs_setup(s)
            with pytest.raises(InvalidInput, match="the hub has a site already"):
                org_admin.first_run(s, {"site_name": "Second", "timezone": "UTC", "department_name": "X"},
                                    actor=None)
            assert [x.name for x in s.scalars(select(Site))] == ["Hillside Hospital"]
    finally:
        eng.dispose()
