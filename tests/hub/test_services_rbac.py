"""Role-based access: one permission table decides, and department scope limits what staff see."""

from __future__ import annotations

import pytest
from relational_support import GATEWAY, actor, clock, engine, session

from wardlink.hub.db.vocab import ROLES
from wardlink.hub.errors import NotFound, PermissionDenied
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.audit import trail as audit
from wardlink.hub.services.gateways import registry as gateways
from wardlink.hub.services.people import users
from wardlink.hub.services.people.permissions import ACTIONS, PERMISSIONS, can, department_scope

# (description, call, roles allowed). Every role not listed must get PermissionDenied.
CASES = [
    ("list assets", lambda s, a, c: assets.list_assets(s, actor=a),
     {"admin", "manager", "tech", "nurse", "buyer", "viewer"}),
    ("register an asset", lambda s, a, c: assets.create_asset(
        s, {"tag": "NEW-1", "name": "Suction pump", "category": "Suction"}, actor=a, clock=c),
     {"admin", "manager", "buyer"}),
    ("update an asset", lambda s, a, c: assets.update_asset(
        s, "VF-0001", {"equipment_status": "faulty"}, actor=a, clock=c),
     {"admin", "manager", "tech"}),
    ("bind a channel", lambda s, a, c: gateways.bind_channel(
        s, gateway_id=GATEWAY, channel_id="spare.1", asset_tag="VF-0001", actor=a, clock=c),
     {"admin", "manager", "tech"}),
    ("register a gateway", lambda s, a, c: gateways.register_gateway(
        s, gateway_id="gw-new", actor=a, clock=c), {"admin", "tech"}),
    ("list gateways", lambda s, a, c: gateways.list_gateways(s, actor=a),
     {"admin", "manager", "tech", "viewer"}),
    ("raise an alert", lambda s, a, c: alerts.raise_alert(
        s, rule="manual", severity="info", title="x", actor=a, clock=c), {"admin"}),
    ("list alerts", lambda s, a, c: alerts.list_alerts(s, actor=a),
     {"admin", "manager", "tech", "nurse", "viewer"}),
    ("read the audit trail", lambda s, a, c: audit.list_entries(s, actor=a), {"admin", "manager"}),
    ("verify the audit trail", lambda s, a, c: audit.verify(s, actor=a), {"admin", "manager"}),
    ("create a user", lambda s, a, c: users.create_user(
        s, username="newbie", role="viewer", password="p" * 14, actor=a, clock=c), {"admin"}),
]
USERS = ("admin", "manager", "tech", "nurse", "buyer", "vendor", "viewer")


@pytest.mark.parametrize("username", USERS)
@pytest.mark.parametrize("what, call, allowed", CASES, ids=[c[0] for c in CASES])
def test_each_role_may_do_exactly_what_the_table_allows(session, clock, username, what, call, allowed):
    who = actor(session, username)
    if username in allowed:
        call(session, who, clock)
    else:
        with pytest.raises(PermissionDenied, match=f"role '{who.role}' may not"):
            call(session, who, clock)


def test_every_role_has_an_entry_and_only_known_actions():
    assert set(ROLES) <= set(PERMISSIONS)
    assert all(allowed <= ACTIONS for allowed in PERMISSIONS.values())
    with pytest.raises(ValueError, match="unknown action"):
        can(users.Actor.system("x"), "asset.explode")


def test_department_scoped_staff_see_only_their_departments_equipment(session, clock):
    nurse = actor(session, "nurse")
    assert department_scope(nurse) is not None
    seen = assets.list_assets(session, actor=nurse, per_page=200).items
    assert seen and {a.department.code for a in seen} == {"ICU"}
    everything = assets.list_assets(session, actor=actor(session, "viewer"), per_page=200)
    assert everything.total > len(seen)
    assert assets.get_asset(session, "VF-0001", actor=nurse).tag == "VF-0001"
    with pytest.raises(PermissionDenied, match="another department"):
        assets.get_asset(session, "VF-0002", actor=nurse)
    assert assets.status_counts(session, actor=nurse)["total"] == len(seen)


def test_scoped_users_do_not_see_other_departments_gateways_or_alerts(session, clock):
    pharmacist = actor(session, "pharm")
    alerts.raise_alert(session, rule="r", severity="warning", title="ICU fridge warm",
                       asset_tag="VF-0001", actor=None, clock=clock)
    own = alerts.raise_alert(session, rule="r", severity="warning", title="Pharmacy fridge warm",
                             asset_tag="VF-0002", actor=None, clock=clock)
    visible = alerts.list_alerts(session, actor=pharmacist).items
    assert [a.id for a in visible] == [own.id]
    assert alerts.open_counts(session, actor=pharmacist)["warning"] == 1
    with pytest.raises(PermissionDenied, match="may not view gateways"):
        gateways.list_gateways(session, actor=pharmacist)
    pharmacy_tech = actor(session, "pharmtech")
    assert gateways.list_gateways(session, actor=pharmacy_tech) == []
    with pytest.raises(NotFound):
        gateways.get_gateway(session, GATEWAY, actor=pharmacy_tech)
    assert gateways.get_gateway(session, GATEWAY, actor=actor(session, "tech")).gateway_id == GATEWAY
