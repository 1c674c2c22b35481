"""The `wardlink broker ...` and `wardlink grafana ...` commands, run as an operator would."""

from __future__ import annotations

import argparse
import json
import stat
import tomllib
from pathlib import Path

import pytest
from provisioning_support import dynsec_plugin

from wardlink.provisioning.cli import register_cli

ROOT = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.timeout(60)


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="wardlink")
    register_cli(p.add_subparsers(dest="command", required=True))
    return p


def wardlink(*argv: str) -> int:
    args = parser().parse_args([str(a) for a in argv])
    return args.func(args)


def leaves(p: argparse.ArgumentParser, prefix=()):
    for action in p._actions:
        if isinstance(action, argparse._SubParsersAction):
            helps = {c.dest: c.help for c in action._choices_actions}
            for name, sub in action.choices.items():
                has_children = any(isinstance(a, argparse._SubParsersAction) for a in sub._actions)
                if not has_children:
                    yield prefix + (name,), sub, helps.get(name)
                yield from leaves(sub, prefix + (name,))


COMMANDS = list(leaves(parser()))


@pytest.mark.parametrize("words, sub, help_text", COMMANDS, ids=[" ".join(w) for w, _, _ in COMMANDS])
def test_every_command_has_help_and_is_documented(words, sub, help_text):
    assert help_text and sub.description
    for action in sub._actions:
        if action.dest != "help":
            assert action.help, f"{' '.join(words)} {action.option_strings or action.dest} has no help"
    docs = (ROOT / "README.md").read_text() + "".join(p.read_text() for p in (ROOT / "docs").glob("*.md"))
    assert f"wardlink {' '.join(words)}" in docs


def test_certs_then_config_from_the_command_line(tmp_path, capsys):
    assert wardlink("broker", "certs", "--out", tmp_path / "certs", "--dns", "broker.example", "--ip",
                    "10.0.0.5", "--client", "gw-1") == 0
    assert "created" in capsys.readouterr().out
    assert wardlink("broker", "certs", "--out", tmp_path / "certs", "--dns", "broker.example") == 0
    assert "nothing to do" in capsys.readouterr().out
    out = tmp_path / "mosquitto.conf"
    assert wardlink("broker", "config", "--auth", "files", "--gateways", "20", "--out", out) == 0
    text = out.read_text()
    assert "= 1,900,800 -> 2,000,000" in text and "max_queued_messages 2000000" in text
    assert "persistence_location /var/lib/mosquitto/" in text
    snippet = tmp_path / "conf.d" / "wardlink.conf"  # where the deployment guide puts it
    snippet.parent.mkdir()
    assert wardlink("broker", "config", "--auth", "files", "--out", snippet) == 0
    assert "\npersistence_location" not in snippet.read_text() and "persistence true" in snippet.read_text()


def test_init_gives_the_secrets_to_the_user_the_hub_units_run_as(tmp_path, capsys):
    """Run as root, `broker init` wrote root-owned 0600 secrets the web unit (user wardlink)
    could not read; --owner hands them over and keeps them 0600."""
    import os
    import pwd

    user = "nobody" if os.geteuid() == 0 else pwd.getpwuid(os.geteuid()).pw_name
    expected = pwd.getpwnam(user)
    state, secrets = tmp_path / "dynamic-security.json", tmp_path / "secrets"
    assert wardlink("broker", "init", "--dynsec-file", state, "--secrets-dir", secrets, "--owner", user) == 0
    for name in ("mqtt-admin.secret", "mqtt-hub.secret"):
        st = (secrets / name).stat()
        assert (st.st_uid, st.st_gid, stat.S_IMODE(st.st_mode)) == (expected.pw_uid, expected.pw_gid, 0o600)
    assert f"owner {user}" in capsys.readouterr().out
    assert wardlink("broker", "init", "--dynsec-file", tmp_path / "other.json", "--secrets-dir", tmp_path / "s2",
                    "--owner", "no-such-user-here") == 2
    assert "owner: no such user or group 'no-such-user-here'" in capsys.readouterr().err
    assert not (tmp_path / "s2").exists() and not (tmp_path / "other.json").exists()


def test_init_and_gateway_commands_with_the_dynamic_security_plugin(tmp_path, mosquitto_factory, peers, capsys):
    state, secrets = tmp_path / "dynamic-security.json", tmp_path / "secrets"
    assert wardlink("broker", "init", "--dynsec-file", state, "--secrets-dir", secrets) == 0
    assert stat.S_IMODE(state.stat().st_mode) == 0o600
    assert stat.S_IMODE((secrets / "mqtt-admin.secret").stat().st_mode) == 0o600
    assert wardlink("broker", "init", "--dynsec-file", state, "--secrets-dir", secrets) == 2
    assert "exists; use --force" in capsys.readouterr().err

    server = mosquitto_factory(extra_config=[f"plugin {dynsec_plugin()}", f"plugin_opt_config_file {state}",
                                             "allow_anonymous false"])
    admin = ["--broker-url", f"mqtt://{server.host}:{server.port}",
             "--admin-password-file", secrets / "mqtt-admin.secret"]
    credentials = tmp_path / "gw-cli.credentials"
    assert wardlink("broker", "gateway", "add", "gw-cli", "--credentials-out", credentials, *admin) == 0
    assert stat.S_IMODE(credentials.stat().st_mode) == 0o600
    login = tomllib.loads(credentials.read_text())
    gw = peers(server.host, server.port, login["username"], login["password"], client_id="wardlink-gw-gw-cli").login()

    capsys.readouterr()
    assert wardlink("broker", "gateway", "list", "--json", *admin) == 0
    listed = {r["username"]: r for r in json.loads(capsys.readouterr().out)}
    assert listed["gw-cli"] == {"username": "gw-cli", "kind": "gateway", "enabled": True,
                                "client_id": "wardlink-gw-gw-cli"}
    assert listed["wardlink-hub"]["kind"] == "hub"

    assert wardlink("broker", "gateway", "disable", "gw-cli", *admin) == 0
    gw.wait_disconnected()
    assert wardlink("broker", "gateway", "enable", "gw-cli", *admin) == 0
    assert wardlink("broker", "gateway", "remove", "gw-cli", *admin) == 0
    assert wardlink("broker", "gateway", "remove", "gw-cli", *admin) == 2
    assert "gw-cli: no such broker login" in capsys.readouterr().err

    hub_secret = tmp_path / "hub.secret"
    assert wardlink("broker", "passwd", "wardlink-hub", "--secret-out", hub_secret, *admin) == 0
    peers(server.host, server.port, "wardlink-hub", hub_secret.read_text().strip()).login()


def test_gateway_commands_with_password_and_acl_files(file_broker, tmp_path, peers, capsys):
    store = file_broker.store
    files = ["--auth", "files", "--password-file", store.password_file, "--acl-file", store.acl_file,
             "--reload-pid-file", tmp_path / "mosquitto.pid"]
    assert wardlink("broker", "gateway", "add", "gw-file", *files) == 0
    printed = capsys.readouterr().out
    login = tomllib.loads(printed.split("\n", 1)[1])  # the credentials file, shown once
    gw = peers(file_broker.server.host, file_broker.server.port, login["username"], login["password"]).login()
    assert wardlink("broker", "gateway", "disable", "gw-file", *files) == 0
    gw.wait_disconnected()
    assert "# disabled gw-file:" in store.password_file.read_text()


def test_init_with_files_writes_the_hub_login(tmp_path, capsys):
    files = ["--auth", "files", "--password-file", tmp_path / "passwd", "--acl-file", tmp_path / "acl"]
    assert wardlink("broker", "init", *files, "--secrets-dir", tmp_path / "s") == 0
    assert (tmp_path / "passwd").read_text().startswith("wardlink-hub:$7$101$")
    assert "user wardlink-hub" in (tmp_path / "acl").read_text()
    assert "reload the broker" not in capsys.readouterr().err


@pytest.mark.parametrize("argv, message", [
    (["broker", "gateway", "add", "gw/bad", "--auth", "files"], "gateway id: must match"),
    (["broker", "gateway", "list", "--admin-password-file", "/nonexistent/secret"],
     "admin password file: cannot read /nonexistent/secret"),
    (["broker", "gateway", "list", "--broker-url", "mqtts://h:8883", "--admin-password-file", __file__],
     "ca file: required for mqtts://"),
    (["broker", "config", "--auth", "dynsec", "--plugin", "/x.so", "--gateways", "0"], "gateways: must be >= 1"),
])
def test_mistakes_are_one_line_errors_with_status_2(argv, message, capsys):
    assert wardlink(*argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("wardlink: ") and message in err


def test_export_writes_the_boards(tmp_path):
    assert wardlink("grafana", "export", "--out", tmp_path) == 0
    names = sorted(p.name for p in tmp_path.iterdir())
    assert names == sorted(p.name for p in (ROOT / "grafana" / "dashboards").glob("*.json"))
    assert wardlink("grafana", "export", "--out", tmp_path / "local", "--timezone", "Europe/Berlin") == 0
    zones = {json.loads(p.read_text())["timezone"] for p in (tmp_path / "local").glob("*.json")}
    assert zones == {"Europe/Berlin"}
