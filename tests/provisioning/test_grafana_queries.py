"""Every query of every board returns data from a real influxd and a real PostgreSQL.

Two days of telemetry are written with the hub's own line-protocol encoder (the schema of
docs/protocol.md: measurement = metric family; tags gateway, channel, asset, site, ward;
fields value, quality, late), and a maintenance register is stored through the hub's models
on the schema its migrations create. Each panel query and each variable query is then
interpolated as Grafana would and run against the two servers.
"""

from __future__ import annotations

import argparse
import math
import re
from datetime import UTC, datetime, timedelta

import pytest
from grafana_support import boards, interpolate, queries, referenced

from wardlink.hub.telemetry.lineprotocol import LineEncoder
from wardlink.hub.telemetry.model import Point

pytestmark = pytest.mark.timeout(120)

BOARDS = boards()
NOW = datetime.now(UTC).replace(microsecond=0)
START = NOW - timedelta(hours=48)
#: Values for single-value variables (checked to be among what the variable's query offers).
CHOSEN = {"asset": "VF-0001", "tz": "Europe/London"}

#: The minute after which VF-0001 is too warm and VF-0002 too cold (10 minutes before NOW).
LAST_10 = 48 * 60 - 10
#: (measurement, gateway, channel, asset, ward, value at minute m)
SERIES = [
    ("temperature", "gw-icu-01", "fridge1.temp", "VF-0001", "ICU",
     # a 20-minute excursion, and too warm for the last 10 minutes
     lambda m: 9.2 if 600 <= m < 620 or m > LAST_10 else 5.0 + 1.2 * math.sin(m / 90)),
    ("temperature", "gw-pharm-01", "fridge.temp", "VF-0002", "PHARM",
     lambda m: 1.5 if 1500 <= m < 1505 or m > LAST_10 else 4.5 + 0.8 * math.sin(m / 60)),
    ("temperature", "gw-icu-01", "fridge2.temp", "VF-0003", "ICU", lambda m: 4.0),
    ("temperature", "gw-icu-01", "room.temp", "ENV-ICU-1", "ICU", lambda m: 22 + math.sin(m / 300)),
    ("humidity", "gw-icu-01", "room.humidity", "ENV-ICU-1", "ICU", lambda m: 45 + 5 * math.sin(m / 200)),
    ("door", "gw-icu-01", "fridge1.door", "VF-0001", "ICU", lambda m: 1.0 if m % 97 < 3 else 0.0),
    ("door", "gw-pharm-01", "fridge.door", "VF-0002", "PHARM", lambda m: 1.0 if m % 240 == 0 else 0.0),
    ("current", "gw-icu-01", "dock1.current", "IPD-0001", "ICU", lambda m: 0.42 if (m // 60) % 2 else 0.01),
    ("current", "gw-icu-01", "vent.current", "VENT-0001", "ICU", lambda m: 1.2),
    ("current", "gw-pharm-01", "fridge.current", "VF-0002", "PHARM", lambda m: 0.8 if m % 20 < 7 else 0.0),
]
HEALTH = {"gw.buffer_depth": lambda m: float(m % 50), "gw.oldest_unsent_s": lambda m: float(m % 7),
          "gw.dropped": lambda m: float(m // 500), "gw.publish_rate": lambda m: 4.0,
          "gw.cpu_temp": lambda m: 51.5, "gw.disk_free": lambda m: 8e9 - m * 1000, "gw.uptime": lambda m: 60.0 * m}


@pytest.fixture(scope="module", autouse=True)
def _now():
    """Pin NOW when this module's tests start, not at collection: boards ask for 'the last 5 min'."""
    global NOW, START
    NOW = datetime.now(UTC).replace(microsecond=0)
    START = NOW - timedelta(hours=48)


def telemetry_points() -> list[Point]:
    """Return 48 h of one-minute readings, some uncertain, bad or late, and the gateways' health."""
    points = []
    minutes = int((NOW - START).total_seconds() // 60)
    start_ms = int(START.timestamp() * 1000)
    for measurement, gateway, channel, asset, ward, value in SERIES:
        tags = {"gateway": gateway, "channel": channel, "asset": asset, "ward": ward, "site": "RGH"}
        for m in range(minutes + 1):
            quality, late, v = "good", minutes - 150 <= m < minutes - 120, value(m)  # a backfilled outage
            if m % 401 == 0:
                quality = "uncertain"
            if m % 777 == 5:
                quality, v = "bad", None
            points.append(Point.of(measurement, tags, start_ms + m * 60_000, v, quality, late))
    for gateway in ("gw-icu-01", "gw-pharm-01"):
        for channel, value in HEALTH.items():
            tags = {"gateway": gateway, "channel": channel}
            points += [Point.of("unbound", tags, start_ms + m * 60_000, value(m), "good", False)
                       for m in range(minutes + 1)]
    return points


@pytest.fixture(scope="module")
def telemetry(influxd_server, tmp_path_factory):
    """A database on the session influxd holding the points above."""
    influxd_server.start()
    name = influxd_server.create_database("t_grafana_boards")
    lines = LineEncoder().lines(telemetry_points())
    for i in range(0, len(lines), 5000):
        influxd_server.write(lines[i:i + 5000], name, precision="ms")
    yield influxd_server, name
    influxd_server.start()
    influxd_server.drop_database(name)


def register(url: str) -> None:
    """Create the hub schema and a small maintenance register that gives every KPI a value."""
    from wardlink.hub.db import open_engine, session_scope, upgrade
    from wardlink.hub.db.models import Alert, Asset, Department, Gateway, GatewayLink, Site, WorkOrder
    from wardlink.hub.db.types import to_ms

    upgrade(url)
    engine = open_engine(url)
    day = timedelta(days=1)
    with session_scope(engine) as s:
        site = Site(code="RGH", name="Royal General", timezone="Europe/London", created_at=NOW)
        icu = Department(site=site, code="ICU", name="Intensive Care", created_at=NOW)
        pharm = Department(site=site, code="PHARM", name="Pharmacy", created_at=NOW)
        s.add_all([site, icu, pharm])
        s.flush()

        def asset(tag, category, dept, **kw):
            return Asset(tag=tag, name=tag, category=category, department_id=dept.id, created_at=NOW,
                         updated_at=NOW, **kw)

        assets = {a.tag: a for a in [
            asset("VF-0001", "Medical refrigerator", icu),
            asset("VF-0002", "Medical refrigerator", pharm, maintenance_status="overdue"),
            asset("VF-0003", "Medical refrigerator", icu),
            asset("IPD-0001", "Infusion pump docking station", icu, equipment_status="faulty"),
            asset("VENT-0001", "Ventilator", icu, life_support=True),
        ]}
        s.add_all(assets.values())
        s.flush()
        s.add_all([
            Gateway(gateway_id="gw-icu-01", name="ICU", department_id=icu.id, created_at=NOW, updated_at=NOW),
            GatewayLink(gateway="gw-icu-01", state="online", last_seen_ms=to_ms(NOW), buffer_depth=3,
                        version="0.1.0"),
            Gateway(gateway_id="gw-pharm-01", name="Pharmacy", department_id=pharm.id, created_at=NOW,
                    updated_at=NOW),
            GatewayLink(gateway="gw-pharm-01", state="offline", last_seen_ms=to_ms(NOW - day)),
            Alert(rule="fridge above 8", asset_id=assets["VF-0001"].id, severity="critical", state="open",
                  title="VF-0001 above 8 °C", opened_at=NOW - timedelta(hours=38)),
        ])

        def order(code, kind, state, asset_tag, dept, created, due=None, updated=None, priority="medium", **kw):
            return WorkOrder(code=code, kind=kind, state=state, priority=priority, title=f"{kind} {asset_tag}",
                             asset_id=assets[asset_tag].id, department_id=dept.id, created_at=created,
                             updated_at=updated or created, due_at=due, **kw)

        s.add_all([
            order("WO-1", "pm", "completed", "VF-0001", icu, NOW - 20 * day, due=NOW - 10 * day,
                  updated=NOW - 11 * day),
            order("WO-2", "pm", "closed", "VENT-0001", icu, NOW - 30 * day, due=NOW - 5 * day, updated=NOW - 6 * day),
            order("WO-3", "pm", "pending", "VF-0002", pharm, NOW - 40 * day, due=NOW - 3 * day, priority="high"),
            # Repaired in a day (edited since): MTTR counts to the completion, not the last update.
            order("WO-4", "corrective", "completed", "IPD-0001", icu, NOW - 4 * day, updated=NOW - 1 * day,
                  completed_at=NOW - 3 * day),
            # No fault found: not a repair, as the maintenance KPIs count it.
            order("WO-6", "corrective", "completed", "VF-0001", icu, NOW - 9 * day, completed_at=NOW - 2 * day,
                  resolution_category="no_fault_found"),
            # Closed without a completion time: repaired by the time it was closed (3 days).
            order("WO-7", "corrective", "closed", "VENT-0001", icu, NOW - 8 * day, closed_at=NOW - 5 * day),
            order("WO-5", "corrective", "in_progress", "IPD-0001", icu, NOW - 1 * day, due=NOW + 2 * day,
                  priority="critical"),
        ])


@pytest.fixture(scope="module")
def maintenance(postgres_server):
    """A PostgreSQL database with the hub schema and the register above."""
    postgres_server.start()
    name = postgres_server.create_database("t_grafana_register")
    register(postgres_server.sqlalchemy_url(name))
    yield postgres_server, name
    postgres_server.start()
    postgres_server.drop_database(name)


def run_influx(telemetry, text: str) -> list[list]:
    server, db = telemetry
    rows = []
    for result in server.query(text, db=db)["results"]:
        for series in result.get("series", []):
            rows += [values[1:] for values in series["values"]]
    return rows


def run_sql(maintenance, text: str) -> list[tuple]:
    server, db = maintenance
    with server.connect(db) as conn:
        return conn.execute(text).fetchall()


def variable_values(board, telemetry, maintenance) -> dict[str, list[str]]:
    """Resolve the board's variables in order, as Grafana does on load (All = every value)."""
    values: dict[str, list[str]] = {}
    for variable in board["templating"]["list"]:
        name = variable["name"]
        if variable["type"] != "query":
            values[name] = [variable["query"]]
            continue
        kind = variable["datasource"]["type"]
        text = interpolate(variable["query"], kind, values, start=START, end=NOW)
        if kind == "influxdb":
            found = [row[-1] for row in run_influx(telemetry, text)]
        else:
            found = [row[0] for row in run_sql(maintenance, text)]
        assert found, f"variable {name} offers nothing: {text}"
        if not variable["multi"]:
            assert CHOSEN[name] in found, f"{name}: {CHOSEN[name]} not among {found}"
            found = [CHOSEN[name]]
        values[name] = found
    return values


def board_start(board) -> datetime:
    """Return the start of the board's default time range (``now-48h``, ``now-7d``...)."""
    match = re.fullmatch(r"now-(\d+)([hd])", board["time"]["from"])
    assert match and board["time"]["to"] == "now", board["time"]
    return NOW - timedelta(**{"hours" if match.group(2) == "h" else "days": int(match.group(1))})


def has_data(rows) -> bool:
    return any(any(v is not None for v in row) for row in rows)


def panel_cases():
    for name, board in BOARDS.items():
        for title, kind, text in queries(board):
            yield pytest.param(name, title, kind, text, id=f"{board['uid']}: {title}")


@pytest.mark.parametrize("name, title, kind, text", list(panel_cases()))
def test_the_panel_query_returns_data(name, title, kind, text, telemetry, maintenance):
    values = variable_values(BOARDS[name], telemetry, maintenance)
    query = interpolate(text, kind, values, start=board_start(BOARDS[name]), end=NOW)
    assert not referenced(query) - {"m"}, f"left unexpanded: {query}"
    rows = run_influx(telemetry, query) if kind == "influxdb" else run_sql(maintenance, query)
    assert has_data(rows), f"{title}: no data from\n{query}"


def test_the_cold_chain_board_measures_the_excursion_it_was_given(telemetry, maintenance):
    """Not just 'some data': the 20 minutes at 9.2 °C and the 5 at 1.5 °C come out as minutes outside."""
    board = BOARDS["wardlink-cold-chain.json"]
    values = variable_values(board, telemetry, maintenance)
    (text,) = [t for title, _, t in queries(board) if title == "Minutes outside the range"]
    server, db = telemetry
    result = server.query(interpolate(text, "influxdb", values, start=START, end=NOW), db=db)
    minutes = {s["tags"]["asset"]: s["values"][0][1] for s in result["results"][0]["series"]}
    # One bad reading (no value) may fall inside a window; each excursion minute has a value.
    assert minutes == {"VF-0001": 30, "VF-0002": 15}


def test_the_cold_chain_now_panel_colours_each_fridge_by_the_boards_limits(telemetry, maintenance):
    board = BOARDS["wardlink-cold-chain.json"]
    (panel,) = [p for p in board["panels"] if p["title"] == "Now"]
    colours = {o["matcher"]["options"]: o["properties"][0]["value"]["fixedColor"]
               for o in panel["fieldConfig"]["overrides"]}
    server, db = telemetry

    def fridges(values):
        found = {}
        for target in panel["targets"]:
            result = server.query(interpolate(target["query"], "influxdb", values, start=START, end=NOW), db=db)
            for series in result["results"][0].get("series", []):
                found[series["tags"]["asset"]] = colours[target["refId"]]
        return found

    values = variable_values(board, telemetry, maintenance)
    assert (values["low"], values["high"]) == (["2"], ["8"])
    assert fridges(values) == {"VF-0001": "red", "VF-0002": "blue", "VF-0003": "green"}
    # Other limits typed into the board's boxes colour the same readings differently.
    assert fridges({**values, "low": ["0.5"], "high": ["10"]}) == dict.fromkeys(["VF-0001", "VF-0002", "VF-0003"],
                                                                                 "green")
    assert fridges({**values, "low": ["4.5"], "high": ["9"]}) == {"VF-0001": "red", "VF-0002": "blue",
                                                                   "VF-0003": "blue"}


def test_the_utilisation_board_counts_run_hours(telemetry, maintenance):
    board = BOARDS["wardlink-utilisation.json"]
    values = variable_values(board, telemetry, maintenance)
    (text,) = [t for title, _, t in queries(board) if title == "Run-hours per asset"]
    server, db = telemetry
    result = server.query(interpolate(text, "influxdb", values, start=START, end=NOW), db=db)
    hours = {s["tags"]["asset"]: s["values"][0][1] for s in result["results"][0]["series"]}
    # The ventilator runs throughout (48 h), the dock every other hour (~24 h).
    assert hours["VENT-0001"] == pytest.approx(48, abs=0.2)
    assert hours["IPD-0001"] == pytest.approx(24, abs=1.1)


def test_the_maintenance_kpis_match_the_register(maintenance):
    board = BOARDS["wardlink-maintenance.json"]
    start = board_start(board)
    by_title = {title: text for title, _, text in queries(board)}

    def scalar(title):
        (row,) = run_sql(maintenance, interpolate(by_title[title], "postgres", {}, start=start, end=NOW))
        return row[0]

    assert float(scalar("PM completion")) == pytest.approx(100 * 2 / 3)
    assert scalar("Overdue work orders") == 1
    assert scalar("Assets overdue for PM") == 1
    # WO-4: 24 h to its completion; WO-7: 72 h to its closing; WO-6 (no fault found) is not a repair.
    assert float(scalar("Mean time to repair")) == pytest.approx(48.0)


# ------------------------------------------------------------------ Grafana's own PostgreSQL role

READER = "grafana_reader_t"


class AsRole:
    """The PostgreSQL server, logged in as another role."""

    def __init__(self, server, role: str):
        self.server, self.role = server, role

    def connect(self, db: str):
        import psycopg

        return psycopg.connect(f"postgresql://{self.role}@{self.server.host}:{self.server.port}/{db}",
                               autocommit=True, connect_timeout=5)


@pytest.fixture(scope="module")
def reader(maintenance):
    """A login role allowed what `wardlink grafana grant-reader` allows, on the register above."""
    from wardlink.provisioning.grafana.reader import grant_reader

    server, db = maintenance
    with server.connect(db) as conn:
        conn.execute(f"CREATE ROLE {READER} LOGIN")
        conn.execute(f"GRANT SELECT ON ALL TABLES IN SCHEMA public TO {READER}")  # as the old instructions had it
    views = grant_reader(server.sqlalchemy_url(db), READER)
    assert "reporting.work_orders" in views and not [v for v in views if "user" in v or "session" in v]
    yield AsRole(server, READER), db
    with server.connect(db) as conn:
        conn.execute(f"DROP OWNED BY {READER}")
    with server.connect() as conn:
        conn.execute(f"DROP ROLE {READER}")


def test_the_reader_role_runs_every_board_query_and_reads_no_table(reader, telemetry):
    import psycopg

    ran = 0
    for board in BOARDS.values():
        values = variable_values(board, telemetry, reader)  # the SQL variables, as the reader
        for title, kind, text in queries(board):
            if kind == "postgres":
                assert has_data(run_sql(reader, interpolate(text, kind, values, start=board_start(board),
                                                            end=NOW))), title
                ran += 1
    assert ran >= 10
    for table in ("users", "web_sessions", "api_tokens", "enrollment_tokens", "work_orders", "audit_log"):
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            run_sql(reader, f"SELECT * FROM public.{table} LIMIT 1")
    columns = {row[0] for row in run_sql(reader, "SELECT column_name FROM information_schema.columns "
                                                 "WHERE table_schema = 'reporting'")}
    assert "finished_at" in columns
    assert not {c for c in columns if re.search("password|email|token|secret|contact|hash", c)}


def test_views_added_later_are_readable_by_the_reader_without_granting_again(reader, maintenance):
    server, db = maintenance
    with server.connect(db) as conn:
        conn.execute("CREATE VIEW reporting.t_added_later AS SELECT count(*) AS n FROM public.assets")
    try:
        assert run_sql(reader, "SELECT n FROM reporting.t_added_later") == [(5,)]
    finally:
        with server.connect(db) as conn:
            conn.execute("DROP VIEW reporting.t_added_later")


def test_grant_reader_from_the_command_line_names_what_is_wrong(maintenance, monkeypatch, capsys):
    from wardlink.provisioning.cli import register_cli

    server, db = maintenance
    monkeypatch.setenv("WARDLINK_DATABASE_URL", server.sqlalchemy_url(db))
    parser = argparse.ArgumentParser(prog="wardlink")
    register_cli(parser.add_subparsers(dest="command", required=True))

    def wardlink(*argv):
        args = parser.parse_args(list(argv))
        return args.func(args)

    assert wardlink("grafana", "grant-reader", "no_such_role") == 2
    assert "role 'no_such_role' does not exist; create it first" in capsys.readouterr().err
    assert wardlink("grafana", "grant-reader", "postgres") == 2
    assert "superuser" in capsys.readouterr().err
    assert wardlink("grafana", "grant-reader", "bad name;") == 2
    assert "role: a PostgreSQL role name" in capsys.readouterr().err
    with server.connect(db) as conn:
        conn.execute("CREATE ROLE grafana_cli_t LOGIN")
    try:
        assert wardlink("grafana", "grant-reader", "grafana_cli_t") == 0
        out = capsys.readouterr().out
        assert "grafana_cli_t may read 6 views" in out and "reporting.gateways" in out
        assert run_sql((AsRole(server, "grafana_cli_t"), db), "SELECT count(*) FROM reporting.assets") == [(5,)]
    finally:
        with server.connect(db) as conn:
            conn.execute("DROP OWNED BY grafana_cli_t")
            conn.execute("DROP ROLE grafana_cli_t")


def test_an_administrator_may_grant_and_views_the_hubs_login_adds_later_stay_readable(postgres_server):
    """The hub's tables belong to its own login; a PostgreSQL administrator runs grant-reader."""
    import psycopg

    from wardlink.hub.db import upgrade
    from wardlink.provisioning.errors import SettingError
    from wardlink.provisioning.grafana.reader import grant_reader

    server = postgres_server
    server.start()
    with server.connect() as conn:
        conn.execute("CREATE ROLE hub_owner_t LOGIN")
        conn.execute("CREATE ROLE grafana_other_t LOGIN")
    db = server.create_database("t_grafana_owner")
    owner, other = AsRole(server, "hub_owner_t"), AsRole(server, "grafana_other_t")
    try:
        with server.connect() as conn:
            conn.execute(f'ALTER DATABASE "{db}" OWNER TO hub_owner_t')
        upgrade(f"postgresql+psycopg://hub_owner_t@{server.host}:{server.port}/{db}")
        with pytest.raises(SettingError, match="owns the hub's tables"):
            grant_reader(server.sqlalchemy_url(db), "hub_owner_t")
        assert "reporting.assets" in grant_reader(server.sqlalchemy_url(db), "grafana_other_t")
        with owner.connect(db) as conn:
            conn.execute("CREATE VIEW reporting.t_added_later AS SELECT count(*) AS n FROM public.assets")
        assert run_sql((other, db), "SELECT n FROM reporting.t_added_later") == [(0,)]
        with pytest.raises(psycopg.errors.InsufficientPrivilege):
            run_sql((other, db), "SELECT * FROM public.users")
    finally:
        server.drop_database(db)
        with server.connect() as conn:
            conn.execute("DROP ROLE grafana_other_t")
            conn.execute("DROP ROLE hub_owner_t")
