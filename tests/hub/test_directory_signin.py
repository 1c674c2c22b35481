"""Signing in with directory accounts against a real OpenLDAP slapd started by the test.

The directory holds a service account, three people and three groups: Dana is a biomedical
administrator in the ICU, Tom a technician in Biomedical Engineering, Eve works in the canteen
(a group that gives no role). The hub binds as the service account, finds the person, binds
as them, maps their groups to a role and their departmentNumber to a department.
"""

from __future__ import annotations

import json

import pytest
from relational_support import WebEnv, clock, csrf_from, hub_config, login

from sqlalchemy import select

from wardlink.hub.config import load_config
from wardlink.hub.db import open_engine, session_scope
from wardlink.hub.db.models import AuditLog, Department
from wardlink.hub.errors import ConfigError
from wardlink.hub.services.people import signin, users
from wardlink.hub.services.people.directory import Directory, DirectorySettings, parse_group_roles
from wardlink.hub.web import create_app

BASE = "dc=hospital,dc=example"
ADMINS = f"cn=biomed-admins,ou=groups,{BASE}"
TECHS = f"cn=biomed-techs,ou=groups,{BASE}"
CANTEEN = f"cn=canteen,ou=groups,{BASE}"
PASSWORDS = {"dana": "dana-directory-pass", "tom": "tom-directory-pass", "eve": "eve-directory-pass"}


def _person(uid: str, name: str, department: str) -> str:
    return (f"dn: uid={uid},ou=people,{BASE}\nobjectClass: inetOrgPerson\nuid: {uid}\ncn: {name}\n"
            f"sn: {name.split()[-1]}\nmail: {uid}@hospital.example\ndepartmentNumber: {department}\n"
            f"userPassword: {PASSWORDS[uid]}\n\n")


def _group(dn: str, *members: str) -> str:
    cn = dn.split(",")[0].removeprefix("cn=")
    return f"dn: {dn}\nobjectClass: groupOfNames\ncn: {cn}\n" + "".join(
        f"member: uid={m},ou=people,{BASE}\n" for m in members) + "\n"


@pytest.fixture(scope="module")
def directory_server(slapd):
    """The slapd with the hospital's people and groups loaded."""
    slapd.add(
        f"dn: {BASE}\nobjectClass: dcObject\nobjectClass: organization\no: Hospital\ndc: hospital\n\n"
        + "".join(f"dn: ou={ou},{BASE}\nobjectClass: organizationalUnit\nou: {ou}\n\n"
                  for ou in ("people", "groups", "services"))
        + f"dn: cn=wardlink,ou=services,{BASE}\nobjectClass: person\ncn: wardlink\nsn: service\n"
          "userPassword: service-account-pass\n\n"
        + _person("dana", "Dana Scully", "ICU") + _person("tom", "Tom Baker", "bme")
        + _person("eve", "Eve Moneypenny", "Canteen")
        + _group(ADMINS, "dana") + _group(TECHS, "tom") + _group(CANTEEN, "eve"))
    return slapd


def _settings(tmp_path, server) -> dict:
    secret = tmp_path / "ldap.secret"
    secret.write_text("service-account-pass\n")
    secret.chmod(0o600)
    return {"ldap_url": server.url, "ldap_bind_dn": f"cn=wardlink,ou=services,{BASE}",
            "ldap_bind_password_file": str(secret), "ldap_user_base": f"ou=people,{BASE}",
            "ldap_group_base": f"ou=groups,{BASE}",
            "ldap_group_roles": f"admin: {ADMINS}; technician: {TECHS.upper()}"}


@pytest.fixture
def web(tmp_path, clock, relational_url, directory_server):
    """The admin UI signing people in against the directory."""
    from wardlink.hub.telemetry.sqlite import SQLiteStore

    config = hub_config(tmp_path, database_url=relational_url, **_settings(tmp_path, directory_server))
    store = SQLiteStore(tmp_path / "telemetry.db")
    app = create_app(config, telemetry=store, clock=clock)
    eng = open_engine(relational_url)
    try:
        yield WebEnv(app, eng, store, clock, config)
    finally:
        app.extensions["wardlink"].close()
        store.close()
        eng.dispose()


def _audit(web, action: str) -> list[dict]:
    with session_scope(web.engine, readonly=True) as s:
        return [json.loads(r.after_json or "null") for r in s.scalars(
            select(AuditLog).where(AuditLog.action == action).order_by(AuditLog.id))]


def test_a_directory_administrator_signs_in_with_role_and_department_from_the_directory(web):
    client = web.app.test_client()
    response = login(client, "Dana", PASSWORDS["dana"])
    assert response.status_code == 302 and response.headers["Location"] == "/"
    assert client.get("/admin/users").status_code == 200  # an administrator's page
    with session_scope(web.engine, readonly=True) as s:
        dana = users.find_user(s, "dana")
        icu = s.scalar(select(Department).where(Department.code == "ICU"))
        assert (dana.role, dana.department_id, dana.source) == ("admin", icu.id, "directory")
        assert (dana.display_name, dana.email) == ("Dana Scully", "dana@hospital.example")
    [logged] = _audit(web, "user.directory_login")
    assert logged["dn"] == f"uid=dana,ou=people,{BASE}" and logged["groups"] == [ADMINS.lower()]
    assert logged["role"] == "admin"


def test_a_technician_group_gives_the_technician_role_and_a_move_changes_it(web, directory_server):
    tech = web.app.test_client()
    assert login(tech, "tom", PASSWORDS["tom"]).status_code == 302
    assert tech.get("/admin/users").status_code == 403
    with session_scope(web.engine, readonly=True) as s:
        tom = users.find_user(s, "tom")
        assert tom.role == "technician" and tom.department.code == "BME"  # matched without case
    directory_server.modify(f"dn: {ADMINS}\nchangetype: modify\nadd: member\nmember: uid=tom,ou=people,{BASE}\n")
    try:
        again = web.app.test_client()
        assert login(again, "tom", PASSWORDS["tom"]).status_code == 302
        assert again.get("/admin/users").status_code == 200  # the first group that matches wins
        assert tech.get("/").status_code == 302  # the technician's session ended with the role change
    finally:
        directory_server.modify(f"dn: {ADMINS}\nchangetype: modify\ndelete: member\n"
                                f"member: uid=tom,ou=people,{BASE}\n")


def test_wrong_passwords_unknown_people_and_people_without_a_role_are_refused_and_counted(web):
    client = web.app.test_client()
    assert login(client, "eve", PASSWORDS["eve"]).status_code == 401  # canteen gives no role
    assert login(client, "nobody", "whatever-it-is").status_code == 401
    assert login(client, "dana*", PASSWORDS["dana"]).status_code == 401  # no filter injection
    assert login(client, "dana", "").status_code == 401  # never an anonymous bind
    for _ in range(signin.FAILURES_PER_ACCOUNT - 1):
        assert login(client, "dana", "not-her-password").status_code == 401
    assert login(client, "dana", PASSWORDS["dana"]).status_code == 429
    reasons = [a["reason"] for a in _audit(web, "user.login_failed")]
    assert reasons.count("refused by the directory") >= signin.FAILURES_PER_ACCOUNT
    assert "in no directory group with a role" in reasons
    with session_scope(web.engine, readonly=True) as s:
        assert users.find_user(s, "eve") is None and users.find_user(s, "nobody") is None


def test_local_users_keep_their_passwords_and_directory_users_change_theirs_in_the_directory(web):
    assert web.client("viewer").get("/").status_code == 200  # a local account, checked locally
    client = web.app.test_client()
    login(client, "tom", PASSWORDS["tom"])
    page = client.get("/account")
    response = client.post("/account/password", data={
        "current_password": PASSWORDS["tom"], "new_password": "a-brand-new-password",
        "confirm_password": "a-brand-new-password", "csrf_token": csrf_from(page.text)})
    assert response.status_code == 400 and "kept by the hospital directory" in response.text


def test_directory_administrators_are_asked_for_a_second_factor(tmp_path, clock, relational_url,
                                                                directory_server):
    config = hub_config(tmp_path, database_url=relational_url, two_factor_roles="admin",
                        **_settings(tmp_path, directory_server))
    app = create_app(config, clock=clock)
    try:
        client = app.test_client()
        assert login(client, "dana", PASSWORDS["dana"]).headers["Location"] == "/login/enrol"
        assert client.get("/").status_code == 302
    finally:
        app.extensions["wardlink"].close()


def test_an_unreachable_directory_says_so_and_counts_nothing(tmp_path, clock, relational_url):
    from servers import free_port

    settings = _settings(tmp_path, type("Gone", (), {"url": f"ldap://127.0.0.1:{free_port()}"})())
    app = create_app(hub_config(tmp_path, database_url=relational_url, ldap_timeout_s=2, **settings), clock=clock)
    try:
        response = login(app.test_client(), "dana", PASSWORDS["dana"])
        assert response.status_code == 503 and "cannot be reached" in response.text
        with session_scope(app.extensions["wardlink"].engine, readonly=True) as s:
            assert signin.blocked_until(s, "dana", "127.0.0.1", clock=clock) is None
    finally:
        app.extensions["wardlink"].close()


def test_the_directory_settings_are_checked_at_start_up(tmp_path):
    with pytest.raises(ConfigError, match="ldap_user_base: required when ldap_url is set"):
        load_config(environ={}, overrides={"ldap_url": "ldap://dc.example", "ldap_group_roles": f"admin: {ADMINS}"})
    with pytest.raises(ConfigError, match="ldap_url: must start with ldap:// or ldaps://"):
        load_config(environ={}, overrides={"ldap_url": "http://dc.example"})
    with pytest.raises(ConfigError, match="ldap_group_roles: each entry must be 'role: group DN'"):
        parse_group_roles(f"boss: {ADMINS}")
    assert parse_group_roles(f"admin: {ADMINS.upper()} ;technician:{TECHS}") == (
        (ADMINS.lower(), "admin"), (TECHS.lower(), "technician"))
    secret = tmp_path / "s"
    secret.write_text("x")
    config = load_config(environ={}, overrides={
        "ldap_url": "ldaps://dc.example:636", "ldap_user_base": "ou=people,dc=example",
        "ldap_bind_dn": "cn=svc,dc=example", "ldap_bind_password_file": str(secret),
        "ldap_group_roles": ["admin: cn=a,dc=example", "viewer: cn=b,dc=example"]})
    settings = DirectorySettings.from_config(config)
    assert settings.group_roles == (("cn=a,dc=example", "admin"), ("cn=b,dc=example", "viewer"))
    assert isinstance(Directory(settings), Directory)
