"""The dashboard JSON: generated, consistent, and pointing only at datasources we provision."""

from __future__ import annotations

import json

import pytest
import yaml
from grafana_support import ALIAS_ONLY, BUILTINS, GRAFANA_DIR, boards, datasource_uids, queries, referenced

from wardlink.provisioning.errors import SettingError
from wardlink.provisioning.grafana.boards import FOLDER_UID, dashboards

BOARDS = boards()


def test_the_committed_files_are_exactly_what_the_generator_builds():
    """`wardlink grafana export` writes these; edit provisioning/grafana/boards.py, then export."""
    built = dashboards()
    assert sorted(BOARDS) == sorted(built)
    for name, board in built.items():
        assert json.loads(json.dumps(board)) == BOARDS[name], f"{name} differs: run `wardlink grafana export`"


def test_the_required_boards_exist():
    titles = {b["title"] for b in BOARDS.values()}
    for word in ("Fleet health", "Ward overview", "Asset telemetry", "Cold chain", "Equipment utilisation",
                 "Maintenance KPIs"):
        assert any(word in t for t in titles), word
    uids = [b["uid"] for b in BOARDS.values()]
    assert len(uids) == len(set(uids))


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_panel_ids_are_unique_and_the_grid_has_no_overlaps(name):
    panels = BOARDS[name]["panels"]
    ids = [p["id"] for p in panels]
    assert len(ids) == len(set(ids))
    cells = set()
    for p in panels:
        g = p["gridPos"]
        assert 0 <= g["x"] and g["x"] + g["w"] <= 24, p["title"]
        area = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not area & cells, f"{p['title']} overlaps another panel"
        cells |= area


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_datasource_uid_is_provisioned(name):
    provisioned = datasource_uids("provisioning/datasources")
    board = BOARDS[name]
    refs = [p["datasource"] for p in board["panels"]] + [t["datasource"] for p in board["panels"] for t in p["targets"]]
    refs += [v["datasource"] for v in board["templating"]["list"] if "datasource" in v]
    for ref in refs:
        assert ref["uid"] in provisioned, ref
        assert provisioned[ref["uid"]] == ref["type"], ref


def test_the_token_variant_replaces_the_influxdb_datasource_under_the_same_uid():
    assert datasource_uids("variants") == {"wardlink-influxdb": "influxdb"}
    assert set(datasource_uids("provisioning/datasources")) == {"wardlink-influxdb", "wardlink-postgres"}


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_every_variable_a_query_uses_is_defined(name):
    board = BOARDS[name]
    defined = {v["name"] for v in board["templating"]["list"]}
    for title, kind, text in queries(board):
        assert text, f"{title}: empty query"
        unknown = referenced(text) - defined - BUILTINS[kind]
        assert not unknown, f"{title}: undefined {sorted(unknown)}"
    for variable in board["templating"]["list"]:
        if variable["type"] == "query":
            assert referenced(variable["query"]) <= defined - {variable["name"]}, variable["name"]
    for panel in board["panels"]:
        words = referenced(panel["description"] + panel["title"])
        assert words <= defined, f"{panel['title']}: description names {sorted(words - defined)}"
        for target in panel["targets"]:
            assert referenced(target.get("alias", "")) - ALIAS_ONLY <= {"tag_asset", "tag_gateway", "tag_channel",
                                                                        "tag_ward"}


def test_the_dashboard_provider_loads_into_the_wardlink_folder():
    provider = yaml.safe_load((GRAFANA_DIR / "provisioning" / "dashboards" / "wardlink.yaml").read_text())
    (entry,) = provider["providers"]
    assert entry["folderUid"] == FOLDER_UID and entry["type"] == "file"


def test_the_boards_show_the_site_zone_when_the_provisioning_knows_it():
    assert {b["timezone"] for b in BOARDS.values()} == {"browser"}  # the files cannot know the site
    local = dashboards("Europe/Berlin")
    assert {b["timezone"] for b in local.values()} == {"Europe/Berlin"}
    tz = next(v for v in local["wardlink-cold-chain.json"]["templating"]["list"] if v["name"] == "tz")
    assert tz["current"] == {"text": "Europe/Berlin", "value": "Europe/Berlin"}
    # Without a zone, the daily log takes the sites' zone from the hub's register.
    committed = next(v for v in BOARDS["wardlink-cold-chain.json"]["templating"]["list"] if v["name"] == "tz")
    assert committed["type"] == "query" and "FROM sites" in committed["query"] and committed["multi"] is False
    with pytest.raises(SettingError, match="timezone: not an IANA time zone name.*'Mars/Olympus'"):
        dashboards("Mars/Olympus")
