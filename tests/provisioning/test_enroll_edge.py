"""`wardlink-edge enroll` on the gateway: what it refuses before spending a token, what it
checks before writing, and how it writes (atomically, mode 0600, to the right owner)."""

from __future__ import annotations

import io
import os
import pwd
import sys
import tomllib

import pytest
from enroll_support import INITIAL_CONFIG, mode
from hypothesis import given, settings
from hypothesis import strategies as st

from wardlink.edge.cli import main as edge_main
from wardlink.edge.enroll import EnrollmentError, enroll, parse_answer, to_toml
from wardlink.hub.db import session_scope
from wardlink.hub.services.gateways import enrollment
from wardlink.hub.services.gateways import registry as gateways


def _token(hub, broker, gateway_id: str, initial=None) -> str:
    with session_scope(hub.engine) as s:
        if gateways.find_gateway(s, gateway_id) is None:
            return enrollment.add_gateway(s, broker.accounts(), gateway_id=gateway_id, initial_config=initial,
                                          actor=None, clock=hub.clock).token
        return enrollment.issue_token(s, gateway_id=gateway_id, initial_config=initial, actor=None,
                                      clock=hub.clock).token


def test_existing_credentials_are_kept_and_the_token_is_not_spent(hub, broker, tmp_path):
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "gateway.secret").write_text("username = \"old\"\npassword = \"old\"\n")
    token = _token(hub, broker, "gw-keep-01", INITIAL_CONFIG)
    with pytest.raises(EnrollmentError, match="already exist.*Use --force.*the token has not been used"):
        enroll(hub.url, token, config_dir=etc, ca_file=hub.ca_file)
    assert (etc / "gateway.secret").read_text().startswith('username = "old"')

    done = enroll(hub.url, token, config_dir=etc, ca_file=hub.ca_file, force=True, data_dir=tmp_path / "data")
    assert done.gateway_id == "gw-keep-01"
    assert sorted(p.name for p in etc.iterdir()) == ["ca.crt", "gateway.secret", "gateway.toml"]  # no temp files
    assert all(mode(p) == 0o600 for p in etc.iterdir())
    assert tomllib.loads((etc / "gateway.secret").read_text())["username"] == "gw-keep-01"


def test_a_config_this_gateway_cannot_run_is_refused_and_nothing_is_written(hub, broker, tmp_path):
    bad = {"channels": [{"id": "t1", "driver": "thermo-9000", "interval": 1}]}
    token = _token(hub, broker, "gw-bad-01", bad)
    with pytest.raises(EnrollmentError) as caught:
        enroll(hub.url, token, config_dir=tmp_path / "etc", ca_file=hub.ca_file)
    assert "not valid on this gateway" in str(caught.value)
    assert "channels[0].driver: unknown driver 'thermo-9000'" in str(caught.value)
    assert not (tmp_path / "etc").exists()


def test_the_token_can_come_from_standard_input(hub, broker, tmp_path, monkeypatch, capsys):
    token = _token(hub, broker, "gw-stdin-01")
    monkeypatch.setattr(sys, "stdin", io.StringIO(token + "\n"))
    code = edge_main(["enroll", hub.url, "-", "--config-dir", str(tmp_path / "etc"), "--ca-file", str(hub.ca_file),
                      "--data-dir", str(tmp_path / "data")])
    assert code == 0
    out = capsys.readouterr().out
    assert f"wrote {tmp_path / 'etc' / 'gateway.toml'} (mode 0600)" in out
    config = tomllib.loads((tmp_path / "etc" / "gateway.toml").read_text())
    assert config["data_dir"] == str(tmp_path / "data") and "channels" not in config


def test_owner_gives_the_files_to_the_service_user(hub, broker, tmp_path):
    nobody = pwd.getpwnam("nobody")
    token = _token(hub, broker, "gw-owner-01")
    if os.geteuid() != 0:
        with pytest.raises(EnrollmentError, match="needs root"):
            enroll(hub.url, token, config_dir=tmp_path / "etc", ca_file=hub.ca_file, owner="nobody")
        return
    enroll(hub.url, token, config_dir=tmp_path / "etc", ca_file=hub.ca_file, owner="nobody")
    for path in (tmp_path / "etc").iterdir():
        assert (path.stat().st_uid, path.stat().st_gid, mode(path)) == (nobody.pw_uid, nobody.pw_gid, 0o600)


def test_a_wrong_hub_address_is_explained(hub, tmp_path):
    with pytest.raises(EnrollmentError, match=r"the hub refused the enrollment.*\(is this the hub's address\?\)"):
        enroll(hub.url + "/wardlink", "wle_" + "D" * 43, config_dir=tmp_path / "etc", ca_file=hub.ca_file)
    with pytest.raises(EnrollmentError, match="cannot reach the hub"):
        enroll("https://127.0.0.1:1", "wle_" + "D" * 43, config_dir=tmp_path / "etc", timeout=5)
    with pytest.raises(EnrollmentError, match="token: must be the enrollment token"):
        enroll(hub.url, "hunter2", config_dir=tmp_path / "etc")
    assert not (tmp_path / "etc").exists()


GOOD = {"enrollment": 1, "gateway_id": "gw-1", "credentials": {"username": "gw-1", "password": "p" * 43},
        "broker": {"url": "mqtts://b:8883", "ca_certificate": None}, "config": {}}


@pytest.mark.parametrize("change, message", [
    ({"enrollment": 2}, "enrollment version 2"),
    ({"gateway_id": "../etc"}, "invalid gateway_id"),
    ({"gateway_id": "gw-1\n"}, "invalid gateway_id"),
    ({"credentials": {"username": "gw-1"}}, "lacks a valid credentials.password"),
    ({"credentials": {"username": "gw-1", "password": "a\nb"}}, "line breaks"),
    ({"broker": {"url": "mqtts://b", "ca_certificate": "not a certificate"}}, "not PEM"),
    ({"config": {"gateway_id": "gw-2"}}, "key(s) a gateway sets itself: gateway_id"),
])
def test_an_answer_the_gateway_cannot_trust_is_refused(change, message):
    with pytest.raises(EnrollmentError) as caught:
        parse_answer({**GOOD, **change})
    assert message in str(caught.value)


_text = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)
_scalar = st.one_of(st.booleans(), st.integers(-2**63, 2**63 - 1),
                    st.floats(allow_nan=False, allow_infinity=False), _text)
_inline = st.recursive(_scalar, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                        st.dictionaries(_text, inner, max_size=3)), max_leaves=8)
_table = st.dictionaries(_text, _inline, max_size=4)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(_text, st.one_of(_scalar, _table, st.lists(_table, min_size=1, max_size=3)), max_size=5))
def test_to_toml_writes_what_tomllib_reads_back(data):
    assert tomllib.loads(to_toml(data)) == data
