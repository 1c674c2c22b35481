"""Wardlink's Grafana dashboards, built from tables of panels.

The JSON files in ``grafana/dashboards/`` are the output of :func:`dashboards` (``wardlink
grafana export`` writes them; a test fails when they differ), so a query is changed in one
place and every board keeps the same look, datasources and variable conventions.

Telemetry panels query InfluxDB with InfluxQL (the schema of docs/protocol.md, "Telemetry in
the stores"): measurement = metric family, tags gateway/channel/asset/site/ward, fields value,
quality, late. The gateway's own health arrives as telemetry on ``gw.*`` channels (edge
``wardlink.edge.health.HEALTH_CHANNELS``); the hub binds no asset to them, so they are stored under the
measurement ``unbound`` with tags gateway and channel only. Maintenance panels query the hub's
PostgreSQL store through the views of its ``reporting`` schema (migration
``0027_reporting_views``), the only relations Grafana's role may read (``wardlink grafana
grant-reader``): no users, password hashes, sessions, tokens or e-mail addresses.

Times: the committed boards show them in the viewer's browser zone, since the files cannot know
the site; :func:`in_zone` (``wardlink grafana push --timezone`` / ``export --timezone``) sets
the site's zone on every board. The cold-chain board's daily log (``tz``) takes the sites' zone
from the hub's own ``sites`` table, so it is local without any option.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from wardlink.hub.services.reports.kpis import NOT_FAILURES
from wardlink.provisioning.errors import SettingError

INFLUX = {"type": "influxdb", "uid": "wardlink-influxdb"}
POSTGRES = {"type": "postgres", "uid": "wardlink-postgres"}
FOLDER_UID = "wardlink"
FOLDER_TITLE = "Wardlink"
SCHEMA_VERSION = 39
#: The gateway health measurement (see the module docstring).
HEALTH = "unbound"
#: Measurement families drawn as lines on the asset board (door is a state, drawn apart).
ANALOG = "/^(temperature|humidity|pressure|current|voltage|power|rate|count)$/"
_GRID_WIDTH = 24
#: A medical refrigerator's allowed range (°C): the cold-chain board's default limits and the
#: colours of refrigerator temperatures on every board.
FRIDGE_LOW, FRIDGE_HIGH = 2, 8
FRIDGE_COLOURS = [(None, "blue"), (FRIDGE_LOW, "green"), (FRIDGE_HIGH, "red")]
#: The assets that are refrigerators (the hub's register names them by category).
FRIDGES = ("SELECT tag FROM reporting.assets WHERE (category ILIKE '%refrigerat%' OR category ILIKE '%fridge%' "
           "OR category ILIKE '%vaccine%' OR category ILIKE '%cold%') AND lifecycle_stage = 'in_use'")


# ------------------------------------------------------------------ targets

def influx(query: str, *, alias: str | None = None, table: bool = False) -> dict:
    """Return an InfluxQL (raw query) target."""
    target = {"datasource": dict(INFLUX), "query": query, "rawQuery": True,
              "resultFormat": "table" if table else "time_series"}
    if alias:
        target["alias"] = alias
    return target


def sql(query: str, *, table: bool = True) -> dict:
    """Return a PostgreSQL (raw SQL) target."""
    return {"datasource": dict(POSTGRES), "rawSql": query, "editorMode": "code",
            "format": "table" if table else "time_series"}


# ------------------------------------------------------------------ variables

def tag_values(name: str, label: str, key: str, *, where: str = "", measurement: str | None = None,
               multi: bool = True) -> dict:
    """Return a variable listing the values of an InfluxDB tag."""
    source = f' FROM "{measurement}"' if measurement else ""
    query = f'SHOW TAG VALUES{source} WITH KEY = "{key}"' + (f" WHERE {where}" if where else "")
    return {"name": name, "label": label, "type": "query", "datasource": dict(INFLUX), "query": query,
            "definition": query, "refresh": 1, "sort": 1, "multi": multi, "includeAll": multi,
            "current": {}, "options": [], "hide": 0}


def sql_values(name: str, label: str, query: str, *, multi: bool = True) -> dict:
    """Return a variable listing the first column of a SQL query."""
    return {"name": name, "label": label, "type": "query", "datasource": dict(POSTGRES), "query": query,
            "definition": query, "refresh": 1, "sort": 1, "multi": multi, "includeAll": multi,
            "current": {}, "options": [], "hide": 0}


def constant(name: str, label: str, value: str, *, editable: bool = True) -> dict:
    """Return a text box variable (a tunable number such as a limit) with a default."""
    return {"name": name, "label": label, "type": "textbox" if editable else "constant", "query": value,
            "current": {"text": value, "value": value}, "options": [{"selected": True, "text": value,
                                                                      "value": value}],
            "hide": 0 if editable else 2}


# ------------------------------------------------------------------ panels

@dataclass
class Panel:
    """A panel before layout: kind, title, targets and field options."""

    kind: str
    title: str
    targets: list[dict]
    width: int = 12
    height: int = 8
    description: str = ""
    unit: str | None = None
    decimals: int | None = None
    thresholds: list[tuple[float | None, str]] | None = None
    options: dict = field(default_factory=dict)
    custom: dict = field(default_factory=dict)
    min: float | None = None
    max: float | None = None
    overrides: list[dict] = field(default_factory=list)

    def to_json(self, panel_id: int, x: int, y: int) -> dict:
        """Return the Grafana panel JSON at grid position (x, y)."""
        defaults: dict = {"custom": dict(self.custom)}
        if self.unit:
            defaults["unit"] = self.unit
        if self.decimals is not None:
            defaults["decimals"] = self.decimals
        if self.min is not None:
            defaults["min"] = self.min
        if self.max is not None:
            defaults["max"] = self.max
        if self.thresholds:
            defaults["thresholds"] = {"mode": "absolute", "steps": [
                {"color": color, "value": value} for value, color in self.thresholds]}
        targets = []
        for i, target in enumerate(self.targets):
            targets.append({"refId": chr(ord("A") + i), **copy.deepcopy(target)})
        datasource = targets[0]["datasource"] if targets else None
        return {"id": panel_id, "type": self.kind, "title": self.title, "description": self.description,
                "datasource": dict(datasource) if datasource else None,
                "gridPos": {"h": self.height, "w": self.width, "x": x, "y": y},
                "fieldConfig": {"defaults": defaults, "overrides": copy.deepcopy(self.overrides)},
                "options": copy.deepcopy(self.options), "targets": targets}


def stat(title: str, target: dict, **kw) -> Panel:
    """Return a single-value panel."""
    return Panel("stat", title, [target], width=kw.pop("width", 6), height=kw.pop("height", 4),
                 options={"reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False},
                          "colorMode": "background", "graphMode": "none", "textMode": "auto"}, **kw)


def timeseries(title: str, *targets: dict, **kw) -> Panel:
    """Return a time-series panel."""
    return Panel("timeseries", title, list(targets),
                 options={"legend": {"displayMode": "table", "placement": "bottom",
                                     "calcs": ["lastNotNull", "min", "max"]},
                          "tooltip": {"mode": "multi", "sort": "desc"}}, **kw)


def table(title: str, target: dict, **kw) -> Panel:
    """Return a table panel."""
    return Panel("table", title, [target], options={"showHeader": True, "cellHeight": "sm"}, **kw)


def bars(title: str, target: dict, **kw) -> Panel:
    """Return a horizontal bar gauge, one bar per series."""
    return Panel("bargauge", title, [target],
                 options={"orientation": "horizontal", "displayMode": "basic", "showUnfilled": True,
                          "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}, **kw)


def barchart(title: str, target: dict, **kw) -> Panel:
    """Return a bar chart of a table result (first column = categories)."""
    return Panel("barchart", title, [target], options={"orientation": "horizontal", "showValue": "auto",
                                                       "legend": {"showLegend": False}}, **kw)


def piechart(title: str, target: dict, **kw) -> Panel:
    """Return a pie chart of a table result."""
    return Panel("piechart", title, [target], options={
        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": True},
        "legend": {"displayMode": "table", "placement": "right", "values": ["value"]}}, **kw)


def state_timeline(title: str, target: dict, **kw) -> Panel:
    """Return a state timeline (door open/closed, running/idle)."""
    return Panel("state-timeline", title, [target], options={"showValue": "never", "mergeValues": True},
                 **kw)


# ------------------------------------------------------------------ boards

@dataclass
class Board:
    """A dashboard before layout."""

    uid: str
    title: str
    description: str
    panels: list[Panel]
    variables: list[dict] = field(default_factory=list)
    time_from: str = "now-24h"
    refresh: str = "1m"

    def to_json(self) -> dict:
        """Return the dashboard JSON, panels packed left to right, top to bottom."""
        panels, x, y, row_height = [], 0, 0, 0
        for n, panel in enumerate(self.panels, 1):
            if x + panel.width > _GRID_WIDTH:
                x, y, row_height = 0, y + row_height, 0
            panels.append(panel.to_json(n, x, y))
            x += panel.width
            row_height = max(row_height, panel.height)
        return {
            "uid": self.uid, "title": self.title, "description": self.description,
            "tags": ["wardlink"], "timezone": "browser", "editable": True, "graphTooltip": 1,
            "schemaVersion": SCHEMA_VERSION, "version": 1, "refresh": self.refresh,
            "time": {"from": self.time_from, "to": "now"}, "fiscalYearStartMonth": 0,
            "links": [{"title": "Wardlink boards", "type": "dashboards", "tags": ["wardlink"],
                       "asDropdown": True}],
            "annotations": {"list": []},
            "templating": {"list": copy.deepcopy(self.variables)},
            "panels": panels,
        }


def _health(channel: str, select: str = 'max("value")') -> str:
    return (f'SELECT {select} FROM "{HEALTH}" WHERE "channel" = \'{channel}\' AND "gateway" =~ /^$gateway$/ '
            f'AND $timeFilter GROUP BY time($__interval), "gateway" fill(none)')


def fleet_health() -> Board:
    """Return the board of the gateways themselves: online, buffers, drops, last seen."""
    gateway = tag_values("gateway", "Gateway", "gateway", measurement=HEALTH)
    return Board("wardlink-fleet", "Wardlink · Fleet health",
                 "Is every gateway reporting, and is anything piling up in its buffer?", [
        stat("Gateways reporting (last 5 min)", influx(
            f'SELECT count("last") FROM (SELECT last("value") FROM "{HEALTH}" WHERE "channel" = \'gw.uptime\' '
            f'AND time > now() - 5m GROUP BY "gateway")'),
            description="Gateways that sent their health report (every 60 s by default) in the last 5 minutes.",
            thresholds=[(None, "red"), (1, "green")]),
        stat("Gateways online (broker status)", sql(
            "SELECT count(*) FILTER (WHERE state = 'online') AS \"online\" FROM reporting.gateways WHERE enabled"),
            description="Enabled gateways whose retained MQTT status is online (the Last Will turns it "
                        "offline when a gateway vanishes).", thresholds=[(None, "red"), (1, "green")]),
        stat("Gateways offline or unknown", sql(
            "SELECT count(*) FILTER (WHERE state IS DISTINCT FROM 'online') AS \"offline\" "
            "FROM reporting.gateways WHERE enabled"),
            thresholds=[(None, "green"), (1, "red")]),
        stat("Readings dropped (period)", influx(
            f'SELECT sum("spread") FROM (SELECT spread("value") FROM "{HEALTH}" WHERE "channel" = \'gw.dropped\' '
            f'AND "gateway" =~ /^$gateway$/ AND $timeFilter GROUP BY "gateway")'),
            description="Readings the gateways had to discard because their buffer was full.",
            thresholds=[(None, "green"), (1, "red")], decimals=0),
        timeseries("Buffer depth (unsent readings)", influx(_health("gw.buffer_depth"), alias="$tag_gateway"),
                   unit="short", description="Readings waiting in each gateway's buffer; it grows while "
                                             "the gateway cannot reach the broker."),
        timeseries("Oldest unsent reading", influx(_health("gw.oldest_unsent_s"), alias="$tag_gateway"),
                   unit="s", description="How far behind each gateway's delivery is."),
        timeseries("Publish rate", influx(_health("gw.publish_rate", 'mean("value")'), alias="$tag_gateway"),
                   unit="short", description="Readings per second acknowledged by the broker."),
        timeseries("CPU temperature", influx(_health("gw.cpu_temp", 'mean("value")'), alias="$tag_gateway"),
                   unit="celsius", thresholds=[(None, "green"), (70, "orange"), (80, "red")]),
        timeseries("Free disk", influx(_health("gw.disk_free", 'min("value")'), alias="$tag_gateway"),
                   unit="bytes"),
        table("Last health report per gateway", influx(
            f'SELECT last("value") AS "uptime_s" FROM "{HEALTH}" WHERE "channel" = \'gw.uptime\' '
            f'AND "gateway" =~ /^$gateway$/ AND $timeFilter GROUP BY "gateway"', table=True),
            description="Time = when the gateway last reported; uptime since its last start.", unit="s"),
        table("Gateway register", sql(
            "SELECT gateway_id AS \"gateway\", name, coalesce(state, 'unknown') AS \"status\", "
            "to_timestamp(last_seen_ms / 1000.0) AS \"last seen\", buffer_depth AS \"buffer depth\", "
            "version AS \"version\" FROM reporting.gateways "
            "WHERE enabled ORDER BY last_seen_ms NULLS FIRST, gateway_id"), width=24,
            description="As the hub's register has them: status from the retained MQTT status."),
    ], [gateway])


def ward_overview() -> Board:
    """Return the board of one or more wards: temperatures, humidity, doors, alerts."""
    ward_filter = '"ward" =~ /^$ward$/'
    return Board("wardlink-ward", "Wardlink · Ward overview",
                 "Everything measured in a ward at a glance.", [
        stat("Latest refrigerator temperature", influx(
            f'SELECT last("value") FROM "temperature" WHERE {ward_filter} AND "asset" =~ /^$fridge$/ '
            f'AND $timeFilter GROUP BY "asset"', alias="$tag_asset"), unit="celsius", width=12, decimals=1,
            thresholds=FRIDGE_COLOURS,
            description=f"The ward's refrigerators: blue below {FRIDGE_LOW} °C, green up to {FRIDGE_HIGH} °C, "
                        "red above."),
        stat("Open alerts", sql(
            "SELECT count(*) AS \"open alerts\" FROM reporting.alerts a "
            "JOIN reporting.assets s ON s.id = a.asset_id JOIN reporting.departments d ON d.id = s.department_id "
            "WHERE a.state <> 'resolved' AND d.code IN ($ward)"),
            thresholds=[(None, "green"), (1, "red")]),
        stat("Data quality issues", influx(
            f'SELECT count("quality") FROM /^(temperature|humidity|pressure|current|door)$/ WHERE {ward_filter} '
            f'AND "quality" <> \'good\' AND $timeFilter'),
            description="Readings marked uncertain or bad (sensor out of range or read failure).",
            thresholds=[(None, "green"), (1, "orange")]),
        timeseries("Temperature", influx(
            f'SELECT mean("value") FROM "temperature" WHERE {ward_filter} AND $timeFilter '
            f'GROUP BY time($__interval), "asset" fill(none)', alias="$tag_asset"), unit="celsius"),
        timeseries("Humidity", influx(
            f'SELECT mean("value") FROM "humidity" WHERE {ward_filter} AND $timeFilter '
            f'GROUP BY time($__interval), "asset" fill(none)', alias="$tag_asset"), unit="humidity"),
        bars("Door open time", influx(
            f'SELECT mean("value") * 100 FROM "door" WHERE {ward_filter} AND $timeFilter GROUP BY "asset"',
            alias="$tag_asset"), unit="percent", min=0, max=100,
            thresholds=[(None, "green"), (5, "orange"), (15, "red")],
            description="Share of door readings that were 'open' in the period."),
        table("Open alerts in the ward", sql(
            "SELECT a.opened_at AS \"time\", a.severity, a.state, s.tag AS \"asset\", a.title "
            "FROM reporting.alerts a JOIN reporting.assets s ON s.id = a.asset_id "
            "JOIN reporting.departments d ON d.id = s.department_id "
            "WHERE a.state <> 'resolved' AND d.code IN ($ward) ORDER BY a.opened_at DESC LIMIT 100")),
    ], [tag_values("ward", "Ward", "ward"),
        sql_values("fridge", "Refrigerator", f"{FRIDGES} AND department_id IN (SELECT id FROM "
                   "reporting.departments WHERE code IN ($ward)) ORDER BY tag")])


def asset_telemetry() -> Board:
    """Return the board of one asset: every metric it reports."""
    asset = '"asset" =~ /^$asset$/'
    return Board("wardlink-asset", "Wardlink · Asset telemetry",
                 "All readings of one asset, channel by channel.", [
        timeseries("Readings", influx(
            f'SELECT mean("value") FROM {ANALOG} WHERE {asset} AND $timeFilter '
            f'GROUP BY time($__interval), "channel" fill(none)', alias="$m $tag_channel"), width=24, height=10),
        table("Latest value per channel", influx(
            f'SELECT last("value") AS "value", last("quality") AS "quality" FROM /.*/ WHERE {asset} '
            f'AND $timeFilter GROUP BY "channel"', table=True)),
        table("Range per channel", influx(
            f'SELECT min("value") AS "min", mean("value") AS "mean", max("value") AS "max", count("value") '
            f'AS "readings" FROM {ANALOG} WHERE {asset} AND $timeFilter GROUP BY "channel"', table=True)),
        state_timeline("Door", influx(
            f'SELECT last("value") FROM "door" WHERE {asset} AND $timeFilter '
            f'GROUP BY time($__interval), "channel" fill(previous)', alias="$tag_channel"),
            custom={"fillOpacity": 80}),
        stat("Backfilled readings", influx(
            f'SELECT count("value") FROM {ANALOG} WHERE {asset} AND "late" = true AND $timeFilter'),
            description="Readings that arrived late from the gateway's buffer after an outage.",
            thresholds=[(None, "green"), (1, "blue")]),
        stat("Uncertain or bad readings", influx(
            f'SELECT count("quality") FROM /.*/ WHERE {asset} AND "quality" <> \'good\' AND $timeFilter'),
            thresholds=[(None, "green"), (1, "orange")]),
    ], [tag_values("ward", "Ward", "ward"),
        tag_values("asset", "Asset", "asset", where='"ward" =~ /^$ward$/', multi=False)])


#: The cold-chain "Now" panel's queries: each refrigerator's latest reading comes from the one
#: whose condition it meets against the board's $low and $high, in that query's colour.
NOW_STATES = (("A", "green", '"last" >= $low AND "last" <= $high'), ("B", "blue", '"last" < $low'),
              ("C", "red", '"last" > $high'))


def now_panel(fridge: str) -> Panel:
    """Return the cold-chain "Now" panel: each refrigerator's latest reading in the last hour,
    blue below ``$low``, green within, red above ``$high`` (the board's variables)."""
    latest = f'SELECT last("value") FROM "temperature" WHERE {fridge} AND time > now() - 1h GROUP BY "asset"'
    panel = stat("Now", influx(f'SELECT "last" FROM ({latest}) WHERE {NOW_STATES[0][2]} GROUP BY "asset"',
                               alias="$tag_asset"), unit="celsius", decimals=1, width=24,
                 description="Latest reading in the last hour; blue below $low °C, green within the range, "
                             "red above $high °C.")
    panel.targets += [influx(f'SELECT "last" FROM ({latest}) WHERE {where} GROUP BY "asset"', alias="$tag_asset")
                      for _, _, where in NOW_STATES[1:]]
    panel.overrides = [{"matcher": {"id": "byFrameRefID", "options": ref_id},
                        "properties": [{"id": "color", "value": {"mode": "fixed", "fixedColor": colour}}]}
                       for ref_id, colour, _ in NOW_STATES]
    return panel


def cold_chain() -> Board:
    """Return the board of medical refrigerators: current, daily min/max, excursions."""
    fridge = '"asset" =~ /^$fridge$/'
    out_of_range = '("value" < $low OR "value" > $high)'
    return Board("wardlink-cold-chain", "Wardlink · Cold chain",
                 "Vaccine and medication refrigerators against their allowed range ($low to $high °C).", [
        now_panel(fridge),
        timeseries("Temperature", influx(
            f'SELECT mean("value") FROM "temperature" WHERE {fridge} AND $timeFilter '
            f'GROUP BY time($__interval), "asset" fill(none)', alias="$tag_asset"), unit="celsius",
            width=24, thresholds=FRIDGE_COLOURS,
            custom={"thresholdsStyle": {"mode": "line+area"}}),
        table("Daily minimum and maximum", influx(
            f'SELECT min("value") AS "min", max("value") AS "max", mean("value") AS "mean" FROM "temperature" '
            f'WHERE {fridge} AND $timeFilter GROUP BY time(1d), "asset" fill(none) tz(\'$tz\')', table=True),
            unit="celsius", decimals=1, thresholds=FRIDGE_COLOURS,
            description="Per calendar day in the $tz time zone, as a temperature log sheet."),
        bars("Minutes outside the range", influx(
            f'SELECT count("max") FROM (SELECT max("value") FROM "temperature" WHERE {fridge} AND {out_of_range} '
            f'AND $timeFilter GROUP BY time(1m), "asset" fill(none)) GROUP BY "asset"', alias="$tag_asset"),
            unit="m", thresholds=[(None, "green"), (1, "orange"), (30, "red")],
            description="Minutes in which at least one reading was below $low °C or above $high °C."),
        timeseries("Excursion readings", influx(
            f'SELECT "value" FROM "temperature" WHERE {fridge} AND {out_of_range} AND $timeFilter '
            f'GROUP BY "asset"', alias="$tag_asset"), unit="celsius", width=12,
            custom={"drawStyle": "points", "pointSize": 6}),
        bars("Door open time", influx(
            f'SELECT mean("value") * 100 FROM "door" WHERE {fridge} AND $timeFilter GROUP BY "asset"',
            alias="$tag_asset"), unit="percent", min=0, max=100,
            thresholds=[(None, "green"), (5, "orange"), (15, "red")]),
    ], [sql_values("fridge", "Refrigerator", f"{FRIDGES} ORDER BY tag"),
        constant("low", "Lowest allowed (°C)", str(FRIDGE_LOW)),
        constant("high", "Highest allowed (°C)", str(FRIDGE_HIGH)),
        sql_values("tz", "Time zone of the daily log", "SELECT DISTINCT timezone FROM reporting.sites ORDER BY 1",
                   multi=False)], time_from="now-7d")


def utilisation() -> Board:
    """Return the board of equipment use: run-hours per asset and per department."""
    running = ('SELECT max("value") FROM "current" WHERE "ward" =~ /^$ward$/ AND "value" > $run_threshold '
               'AND $timeFilter GROUP BY time(1m), "asset", "ward" fill(none)')
    return Board("wardlink-utilisation", "Wardlink · Equipment utilisation",
                 "How much each device runs: minutes with current above the run threshold.", [
        bars("Run-hours per asset", influx(
            f'SELECT count("max") / 60 FROM ({running}) GROUP BY "asset"', alias="$tag_asset"),
            unit="h", decimals=1, description="Hours in which the supply current exceeded $run_threshold A "
                                              "(counted per minute)."),
        bars("Use by department", influx(
            f'SELECT 100 * count("max") / ($__range_s / 60) FROM ({running}) GROUP BY "ward"',
            alias="$tag_ward"), unit="percent", decimals=1,
            description="Running minutes of all the department's devices as a share of the period "
                        "(over 100 % when several devices run at once)."),
        timeseries("Supply current", influx(
            'SELECT mean("value") FROM "current" WHERE "ward" =~ /^$ward$/ AND $timeFilter '
            'GROUP BY time($__interval), "asset" fill(none)', alias="$tag_asset"), unit="amp", width=24),
    ], [tag_values("ward", "Ward", "ward", measurement="current"),
        constant("run_threshold", "Running above (A)", "0.1")], time_from="now-7d")


_OPEN = "state NOT IN ('completed', 'closed')"
_NOT_FAILURES = ", ".join(f"'{category}'" for category in sorted(NOT_FAILURES))


def maintenance_kpis() -> Board:
    """Return the maintenance board: PM completion, overdue work, MTTR, backlog (PostgreSQL)."""
    return Board("wardlink-maintenance", "Wardlink · Maintenance KPIs",
                 "Planned maintenance compliance and corrective work, from the hub's register.", [
        stat("PM completion", sql(
            "SELECT 100.0 * count(*) FILTER (WHERE state IN ('completed', 'closed')) / NULLIF(count(*), 0) "
            "AS \"PM completion\" FROM reporting.work_orders WHERE kind = 'pm' AND $__timeFilter(due_at)"),
            unit="percent", decimals=0, thresholds=[(None, "red"), (80, "orange"), (95, "green")],
            description="Share of preventive work orders due in the period that are completed."),
        stat("Overdue work orders", sql(
            f"SELECT count(*) AS \"overdue\" FROM reporting.work_orders WHERE due_at < now() AND {_OPEN}"),
            thresholds=[(None, "green"), (1, "red")]),
        stat("Assets overdue for PM", sql(
            "SELECT count(*) AS \"assets\" FROM reporting.assets WHERE maintenance_status = 'overdue' "
            "AND lifecycle_stage = 'in_use'"), thresholds=[(None, "green"), (1, "red")]),
        stat("Mean time to repair", sql(
            "SELECT avg(extract(epoch FROM finished_at - created_at)) / 3600 AS \"MTTR\" "
            "FROM reporting.work_orders WHERE kind = 'corrective' AND state <> 'cancelled' "
            f"AND coalesce(resolution_category, '') NOT IN ({_NOT_FAILURES}) AND $__timeFilter(finished_at)"),
            unit="h", decimals=1, description="Corrective work orders completed in the period, as the "
                                              "maintenance KPIs count them: from request to completion; "
                                              "no fault found and user errors are not repairs."),
        barchart("Backlog by priority", sql(
            f"SELECT priority, count(*) AS \"open work orders\" FROM reporting.work_orders WHERE {_OPEN} "
            "GROUP BY priority ORDER BY array_position(ARRAY['critical', 'high', 'medium', 'low'], "
            "priority::text)"), width=8),
        barchart("Backlog by department", sql(
            "SELECT coalesce(d.name, 'unassigned') AS \"department\", count(*) AS \"open work orders\" "
            "FROM reporting.work_orders w LEFT JOIN reporting.departments d ON d.id = w.department_id "
            f"WHERE w.{_OPEN} GROUP BY 1 ORDER BY 2 DESC"), width=8),
        piechart("Equipment status", sql(
            "SELECT equipment_status AS \"status\", count(*) AS \"assets\" FROM reporting.assets "
            "WHERE lifecycle_stage = 'in_use' GROUP BY 1 ORDER BY 1"), width=8),
        timeseries("Work orders opened per week", sql(
            "SELECT date_trunc('week', created_at) AS \"time\", kind AS \"metric\", count(*) AS \"value\" "
            "FROM reporting.work_orders WHERE $__timeFilter(created_at) GROUP BY 1, 2 ORDER BY 1", table=False),
            width=24, unit="short", custom={"drawStyle": "bars", "fillOpacity": 60}),
        table("Work orders past their due date", sql(
            "SELECT w.code, w.title, s.tag AS \"asset\", w.priority, w.state, w.due_at AS \"due\" "
            "FROM reporting.work_orders w LEFT JOIN reporting.assets s ON s.id = w.asset_id "
            f"WHERE w.due_at < now() AND w.{_OPEN} ORDER BY w.due_at LIMIT 200"), width=24),
    ], time_from="now-90d", refresh="5m")


BOARDS = (fleet_health, ward_overview, asset_telemetry, cold_chain, utilisation, maintenance_kpis)


def check_zone(zone: str) -> str:
    """Return ``zone`` if it is an IANA time zone name (``Europe/Berlin``), else raise :class:`SettingError`."""
    try:
        ZoneInfo(zone)
    except (ZoneInfoNotFoundError, ValueError):
        raise SettingError(f"timezone: not an IANA time zone name (like Europe/Berlin), got {zone!r}") from None
    return zone


def in_zone(board: dict, zone: str) -> dict:
    """Return a copy of dashboard JSON ``board`` that shows times in ``zone`` (the site's IANA
    zone), its ``tz`` variable (a daily log's days) chosen to match."""
    board = copy.deepcopy(board)
    board["timezone"] = check_zone(zone)
    for variable in board.get("templating", {}).get("list", []):
        if variable.get("name") == "tz":
            variable["current"] = {"text": zone, "value": zone}
    return board


def dashboards(zone: str | None = None) -> dict[str, dict]:
    """Return every dashboard as ``{file name: JSON object}``, in the IANA ``zone`` when given
    (else the viewer's browser zone)."""
    result = {}
    for build in BOARDS:
        board = build().to_json()
        result[f"{board['uid']}.json"] = in_zone(board, zone) if zone else board
    return result
