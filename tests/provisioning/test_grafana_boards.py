"""The dashboard JSON: generated, consistent, and pointing only at datasources we provision."""

from __future__ import annotations

import json
import re

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
    assert committed["type"] == "query" and "FROM reporting.sites" in committed["query"] and committed["multi"] is False
    with pytest.raises(SettingError, match="timezone: not an IANA time zone name.*'Mars/Olympus'"):
        dashboards("Mars/Olympus")


@pytest.mark.parametrize("name", sorted(BOARDS))
def test_sql_reads_only_the_reporting_views(name):
    """Grafana's role may read schema `reporting` alone (`wardlink grafana grant-reader`)."""
    board = BOARDS[name]
    texts = [text for _, kind, text in queries(board) if kind == "postgres"]
    texts += [v["query"] for v in board["templating"]["list"] if v.get("datasource", {}).get("type") == "postgres"]
    for text in texts:
        relations = re.findall(r"\b(?:FROM|JOIN)\s+([\w.]+)", text, flags=re.IGNORECASE)
        relations = [r for r in relations if not r.startswith(("epoch", "finished_at", "updated_at"))]
        assert relations and all(r.startswith("reporting.") for r in relations), text


def _panel(board: str, title: str) -> dict:
    (panel,) = [p for p in BOARDS[board]["panels"] if p["title"] == title]
    return panel


def test_the_wards_refrigerator_temperatures_are_coloured_by_the_cold_chain_range():
    panel = _panel("wardlink-ward.json", "Latest refrigerator temperature")
    assert panel["fieldConfig"]["defaults"]["thresholds"]["steps"] == [
        {"color": "blue", "value": None}, {"color": "green", "value": 2}, {"color": "red", "value": 8}]
    (target,) = panel["targets"]
    assert '"asset" =~ /^$fridge$/' in target["query"]  # refrigerators only: a 22 °C room is not 'red'
    fridge = next(v for v in BOARDS["wardlink-ward.json"]["templating"]["list"] if v["name"] == "fridge")
    assert "$ward" in fridge["query"] and "refrigerat" in fridge["query"]


def test_the_cold_chain_now_panel_uses_the_boards_low_and_high():
    variables = {v["name"]: v for v in BOARDS["wardlink-cold-chain.json"]["templating"]["list"]}
    assert (variables["low"]["query"], variables["high"]["query"]) == ("2", "8")
    panel = _panel("wardlink-cold-chain.json", "Now")
    assert "thresholds" not in panel["fieldConfig"]["defaults"]
    conditions = {t["refId"]: t["query"].rsplit("WHERE", 1)[1] for t in panel["targets"]}
    assert conditions == {"A": ' "last" >= $low AND "last" <= $high GROUP BY "asset"',
                          "B": ' "last" < $low GROUP BY "asset"', "C": ' "last" > $high GROUP BY "asset"'}
    colours = {o["matcher"]["options"]: o["properties"] for o in panel["fieldConfig"]["overrides"]}
    assert {ref: props[0]["value"]["fixedColor"] for ref, props in colours.items()} == {
        "A": "green", "B": "blue", "C": "red"}
    assert not [word for word in ("2 °C", "8 °C") if word in json.dumps(panel, ensure_ascii=False)]


def test_mttr_counts_to_the_completion_time_as_the_kpis_do():
    (target,) = _panel("wardlink-maintenance.json", "Mean time to repair")["targets"]
    sql = target["rawSql"]
    assert "finished_at - created_at" in sql and "$__timeFilter(finished_at)" in sql and "updated_at" not in sql
    assert "'no_fault_found'" in sql and "'user_error'" in sql
