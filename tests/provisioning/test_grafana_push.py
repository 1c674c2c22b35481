"""`wardlink grafana push` against an HTTP server that answers like Grafana's HTTP API.

Grafana cannot be installed on a CI machine, so a server (tests/fake_grafana.py) plays its part
at the wire: it keeps datasources, folders and dashboards, answers 404/401/409 as Grafana does,
and records every request so the tests can check paths, methods, JSON bodies, the Authorization
header and that a second push writes nothing it need not.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest
from fake_grafana import TOKEN, serve

from wardlink.provisioning.errors import GrafanaError, SettingError
from wardlink.provisioning.grafana.push import default_grafana_dir, push

SETTINGS = {"WARDLINK_INFLUX_URL": "http://influx.internal:8086", "WARDLINK_INFLUX_DATABASE": "wardlink",
            "WARDLINK_INFLUX_USER": "", "WARDLINK_INFLUX_PASSWORD": "",
            "WARDLINK_PG_HOST": "db.internal:5432", "WARDLINK_PG_DATABASE": "wardlink",
            "WARDLINK_PG_USER": "grafana_reader", "WARDLINK_PG_PASSWORD": "pg-secret", "WARDLINK_PG_SSLMODE": "require"}


@pytest.fixture
def grafana():
    """A fake Grafana on a free port: (base URL, state)."""
    with serve() as served:
        yield served


def writes(state):
    return [(m, p) for m, p, _, _ in state["requests"] if m != "GET"]


def test_the_first_push_creates_datasources_folder_and_every_dashboard(grafana):
    url, state = grafana
    report = push(url, TOKEN, settings=SETTINGS)
    assert writes(state) == [("POST", "/api/datasources")] * 2 + [("POST", "/api/folders")] + \
        [("POST", "/api/dashboards/db")] * 6
    assert all(auth == f"Bearer {TOKEN}" for *_, auth in state["requests"])
    influx, postgres = (body for m, p, body, _ in state["requests"] if (m, p) == ("POST", "/api/datasources"))
    assert influx["uid"] == "wardlink-influxdb" and influx["url"] == "http://influx.internal:8086"
    assert influx["jsonData"]["dbName"] == "wardlink" and influx["access"] == "proxy"
    assert postgres["uid"] == "wardlink-postgres" and postgres["url"] == "db.internal:5432"
    assert postgres["secureJsonData"] == {"password": "pg-secret"}
    assert postgres["jsonData"]["sslmode"] == "require"
    folder = next(b for m, p, b, _ in state["requests"] if p == "/api/folders")
    assert folder == {"title": "Wardlink", "uid": "wardlink"}
    saved = [b for m, p, b, _ in state["requests"] if p == "/api/dashboards/db"]
    assert {b["dashboard"]["uid"] for b in saved} == set(state["dashboards"]) and len(saved) == 6
    assert all(b["folderUid"] == "wardlink" and b["overwrite"] is True and b["dashboard"]["id"] is None
               for b in saved)
    assert len(report.created) == 9 and not report.updated


def test_a_second_push_rewrites_no_dashboard_and_no_folder(grafana):
    url, state = grafana
    push(url, TOKEN, settings=SETTINGS)
    state["requests"].clear()
    report = push(url, TOKEN, settings=SETTINGS)
    # Datasources are written again (their secrets cannot be read back to compare); nothing else.
    assert writes(state) == [("PUT", "/api/datasources/1"), ("PUT", "/api/datasources/2")]
    assert len(report.unchanged) == 7 and report.created == []
    assert all(v["dashboard"]["version"] == 1 for v in state["dashboards"].values())
    assert len(state["datasources"]) == 2


def test_a_dashboard_edited_in_grafana_is_put_back(grafana):
    url, state = grafana
    push(url, TOKEN, settings=SETTINGS)
    state["dashboards"]["wardlink-cold-chain"]["dashboard"]["title"] = "edited by hand"
    state["requests"].clear()
    report = push(url, TOKEN, settings=SETTINGS, datasources=False)
    assert writes(state) == [("POST", "/api/dashboards/db")]
    assert report.updated == ["dashboard wardlink-cold-chain"]
    assert state["dashboards"]["wardlink-cold-chain"]["dashboard"]["title"] == "Wardlink · Cold chain"


def test_the_influxdb_2_variant_sends_the_token_header(grafana):
    url, state = grafana
    push(url, TOKEN, influx_version="2", settings={**SETTINGS, "WARDLINK_INFLUX_TOKEN": "influx-tok"})
    influx = next(d for d in state["datasources"].values() if d["uid"] == "wardlink-influxdb")
    assert influx["jsonData"]["httpHeaderName1"] == "Authorization"
    assert influx["secureJsonData"] == {"httpHeaderValue1": "Token influx-tok"}


def test_a_wrong_token_is_a_clear_error_and_nothing_is_written(grafana):
    url, state = grafana
    with pytest.raises(GrafanaError, match="Unauthorized"):
        push(url, "wrong", settings=SETTINGS)
    assert state["datasources"] == {} and state["dashboards"] == {}


def test_a_missing_setting_names_the_variable(grafana):
    url, _ = grafana
    with pytest.raises(SettingError, match=r"datasources\[0\]\.url: empty.*\$\{WARDLINK_INFLUX_URL\}"):
        push(url, TOKEN, settings={**SETTINGS, "WARDLINK_INFLUX_URL": ""})


def test_the_command_line_reads_secrets_from_files(grafana, tmp_path, capsys):
    import argparse

    from wardlink.provisioning.cli import register_cli

    url, state = grafana
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "pg").write_text("from-a-file\n")
    parser = argparse.ArgumentParser(prog="wardlink")
    register_cli(parser.add_subparsers(dest="command"))
    args = parser.parse_args([
        "grafana", "push", "--url", url, "--token-file", str(tmp_path / "token"),
        "--influx-url", "http://i:8086", "--influx-database", "wl", "--postgres-host", "p:5432",
        "--postgres-database", "wl", "--postgres-user", "reader", "--postgres-sslmode", "disable",
        "--postgres-password-file", str(tmp_path / "pg")])
    assert args.func(args) == 0
    postgres = next(d for d in state["datasources"].values() if d["uid"] == "wardlink-postgres")
    assert postgres["secureJsonData"] == {"password": "from-a-file"} and postgres["user"] == "reader"
    assert "created   dashboard wardlink-fleet" in capsys.readouterr().out

    args = parser.parse_args(["grafana", "push", "--url", url, "--token", "wrong", "--skip-datasources"])
    assert args.func(args) == 2
    assert "Unauthorized" in capsys.readouterr().err


def test_the_site_zone_goes_on_every_board_and_a_bad_one_writes_nothing(grafana):
    url, state = grafana
    with pytest.raises(SettingError, match="timezone: not an IANA time zone name"):
        push(url, TOKEN, settings=SETTINGS, timezone="Europe/Nowhere")
    assert state["datasources"] == {} and state["dashboards"] == {}
    push(url, TOKEN, settings=SETTINGS, timezone="America/New_York")
    assert {v["dashboard"]["timezone"] for v in state["dashboards"].values()} == {"America/New_York"}
    state["requests"].clear()
    push(url, TOKEN, settings=SETTINGS, datasources=False)  # without the option: the files' browser zone
    assert {v["dashboard"]["timezone"] for v in state["dashboards"].values()} == {"browser"}


def test_a_renamed_folder_gets_its_title_back(grafana):
    url, state = grafana
    push(url, TOKEN, settings=SETTINGS)
    state["folders"]["wardlink"]["title"] = "renamed by hand"
    state["requests"].clear()
    report = push(url, TOKEN, settings=SETTINGS, datasources=False)
    assert writes(state) == [("PUT", "/api/folders/wardlink")]
    assert state["folders"]["wardlink"] == {"uid": "wardlink", "title": "Wardlink", "version": 2}
    assert report.updated == ["folder wardlink"] and report.created == []


def test_an_unreachable_grafana_is_a_clear_error():
    with socket.socket() as sock:  # a port that was free a moment ago: nothing listens on it
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(GrafanaError, match=f"cannot reach Grafana to read datasource wardlink-influxdb: .*{port}"):
        push(f"http://127.0.0.1:{port}", TOKEN, settings=SETTINGS)


def test_the_files_pushed_by_default_are_the_packaged_ones():
    """In a checkout the package data is the repository's grafana/ folder (the editable install);
    tests/test_packaging.py runs the installed wheel's command against the same fake server."""
    assert default_grafana_dir().resolve() == (Path(__file__).resolve().parents[2] / "grafana")
    assert len(list((default_grafana_dir() / "dashboards").glob("*.json"))) == 6
