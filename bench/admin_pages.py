"""Admin page server time at hospital-group scale, on SQLite and on PostgreSQL.

Fills a migrated database with 50,000 assets, 200,000 work orders, 1,000,000 audit rows and
5,000 alerts and 5,000 PM plans with a year of their services behind them, and 100,000 spare
parts with 2,000,000 stock movements behind them (``bench/inventory_data.py``) (bulk: executemany
on SQLite, COPY on PostgreSQL, which the bench starts itself
through ``tests/servers.py``), then requests each main page many times as an administrator
through the WSGI app in-process (round robin over the pages), and reports the p50/p95 server
time per page. The baseline, measured in the same run, is the health endpoint (one
``SELECT 1``): the cost of a request through the app's middleware with no page work. The target is p95 < 200 ms
for every page.

The last line printed is one JSON object. Usage:

    python bench/admin_pages.py [--assets 50000] [--work-orders 200000] [--audit 1000000]
                                [--pm-plans 5000] [--parts 100000] [--movements 2000000]
                                [--requests 25] [--backend sqlite|postgresql|both]
                                [--collector fitted|default] [--pages REGEX]

The app's garbage collector is fitted as the hub's web server process fits it
(:func:`wardlink.hub.web.fit_collector`); ``--collector default`` keeps Python's settings.

The PM calendar is timed as a month and a week page (every service projected from each plan's
schedule, plus those generated), as the year page (counts per day) and as the JSON API's next
year: its first page, its 20th page and its counts per day (the API pages its services; a year
of 5,000 plans is some 52,000). The calendar keeps what it gathered until something it reads
changes, so the month and the year are also timed with nothing kept (``*_fresh``), as the first
reader after a change sees them.

Every asset has a status history, as the hub keeps one from registration: an open row in its
status since then, and for those not in service now a stretch in service before it.
"""

from __future__ import annotations

import argparse
import re
from contextlib import nullcontext
import json
import random
import statistics
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "tests" / "hub"))

from sqlalchemy import func, select  # noqa: E402

from wardlink.hub.config import load_config  # noqa: E402
from wardlink.hub.db import open_engine, session_scope, upgrade  # noqa: E402
from wardlink.hub.db.models import (Alert, Asset, AssetStatusChange, AuditLog, Department, PmOccurrence,  # noqa: E402
                                    PmPlan, WorkOrder)
from wardlink.hub.db.models.assets import search_text_of  # noqa: E402
from wardlink.hub.db.vocab import WORK_ORDER_PRIORITIES  # noqa: E402
from wardlink.hub.seed import seed_demo_site  # noqa: E402
from wardlink.hub.services.maintenance.compliance import window_days  # noqa: E402
from wardlink.hub.services.maintenance.pm_schedule import shift  # noqa: E402
from wardlink.hub.services.people import users  # noqa: E402
from wardlink.hub.telemetry.sqlite import SQLiteStore  # noqa: E402
from wardlink.clock import ManualClock  # noqa: E402
from inventory_data import fill_inventory, inventory_pages  # noqa: E402

NOW = datetime(2026, 1, 1, tzinfo=UTC)
TARGET_P95_MS = 200.0
CHUNK = 20_000
CATEGORIES = ("infusion_pump", "ventilator", "monitor", "defibrillator", "fridge", "suction", "ecg",
              "syringe_pump", "oximeter", "steriliser")
#: (state, share of work orders)
WO_STATES = (("closed", 0.82), ("cancelled", 0.03), ("completed", 0.03), ("pending", 0.03),
             ("assigned", 0.03), ("in_progress", 0.04), ("on_hold", 0.02))


def _filled(table, row: dict) -> dict:
    """Return ``row`` with every missing column set to its scalar default (COPY applies none)."""
    out = {}
    for column in table.columns:
        if column.name in row:
            out[column.name] = row[column.name]
        elif column.default is not None and column.default.is_scalar:
            out[column.name] = column.default.arg
        else:
            out[column.name] = None
    return out


def bulk_insert(engine, model, rows) -> int:
    """Insert ``rows`` (dicts) into ``model``'s table as fast as the database allows."""
    table = model.__table__
    count = 0
    batch: list[dict] = []

    def flush():
        nonlocal count
        if not batch:
            return
        full = [_filled(table, r) for r in batch]
        if engine.dialect.name == "postgresql":
            # Leave generated keys to their sequence unless the rows carry them.
            names = [c.name for c in table.columns
                     if not (c.primary_key and c.name not in batch[0])]
            with engine.begin() as conn:
                raw = conn.connection.driver_connection
                with raw.cursor() as cur, cur.copy(
                        f"COPY {table.name} ({', '.join(names)}) FROM STDIN") as copy:
                    for r in full:
                        copy.write_row([r[n] for n in names])
        else:
            with engine.begin() as conn:
                conn.execute(table.insert(), full)
        count += len(batch)
        batch.clear()

    for row in rows:
        batch.append(row)
        if len(batch) >= CHUNK:
            flush()
    flush()
    return count


def _assets(n: int, departments: list[int], rnd: random.Random):
    for i in range(n):
        made = NOW - timedelta(days=rnd.randint(30, 3000))
        row = {"tag": f"BA-{i:06d}", "name": f"{rnd.choice(CATEGORIES).replace('_', ' ').title()} {i}",
               "category": rnd.choice(CATEGORIES), "make": rnd.choice(("Acme", "Medi", "Vita", "Nord")),
               "model": f"M{rnd.randint(1, 40)}", "serial": f"SN{i:08d}", "department_id": rnd.choice(departments),
               "owner_type": "hospital", "lifecycle_stage": "in_use",
               "equipment_status": rnd.choices(("in_service", "faulty", "out_of_service"), (95, 3, 2))[0],
               "maintenance_status": rnd.choices(("compliant", "due", "overdue"), (85, 10, 5))[0],
               "life_support": rnd.random() < 0.1, "notes": "", "created_at": made, "updated_at": made}
        yield {**row, "search_text": search_text_of(row)}  # what the model keeps on every write


def _work_orders(n: int, asset_ids: list[tuple[int, int]], rnd: random.Random):
    states = [s for s, _ in WO_STATES]
    weights = [w for _, w in WO_STATES]
    for i in range(n):
        asset_id, dept = rnd.choice(asset_ids)
        created = NOW - timedelta(minutes=rnd.randint(10, 3 * 365 * 24 * 60))
        state = rnd.choices(states, weights)[0]
        done = created + timedelta(hours=rnd.randint(1, 200)) if state in ("completed", "closed") else None
        kind = rnd.choices(("corrective", "pm", "inspection"), (5, 4, 1))[0]
        yield {"id": i + 1, "code": f"WO-{i + 1:06d}", "kind": kind,
               "state": state, "priority": rnd.choice(WORK_ORDER_PRIORITIES), "asset_id": asset_id,
               "department_id": dept, "title": f"Bench order {i}", "description": "", "source": "manual",
               "created_at": created, "updated_at": done or created,
               "response_due_at": created + timedelta(hours=4), "resolution_due_at": created + timedelta(days=2),
               "completed_at": done, "closed_at": done if state == "closed" else None,
               "escalation_level": 0}


def _audit(n: int, first_seq: int, asset_count: int, rnd: random.Random):
    for i in range(n):
        entity = rnd.choices(("asset", "work_order", "alert", "user"), (4, 5, 1, 0.2))[0]
        entity_id = (f"BA-{rnd.randrange(asset_count):06d}" if entity == "asset" else str(rnd.randint(1, 200_000)))
        yield {"seq": first_seq + i, "at": NOW - timedelta(seconds=n - i), "actor": "bench",
               "action": f"{entity}.update",
               "entity": entity, "entity_id": entity_id, "before_json": None, "after_json": '{"note": "bench"}',
               "source_ip": None, "prev_hash": "0" * 64, "row_hash": "0" * 64}


def _status_history(assets: list[tuple[int, str, datetime]], rnd: random.Random):
    """The status history the hub keeps from registration: in service since then, or, for an
    asset not in service now, in service until a day in the last 60 and its status since."""
    for asset_id, status, made in assets:
        if status == "in_service":
            yield {"asset_id": asset_id, "status": status, "started_at": made, "ended_at": None,
                   "reason": "registered", "changed_by": "bench"}
            continue
        changed = max(made, NOW - timedelta(minutes=rnd.randint(60, 60 * 24 * 60)))
        yield {"asset_id": asset_id, "status": "in_service", "started_at": made, "ended_at": changed,
               "reason": "registered", "changed_by": "bench"}
        yield {"asset_id": asset_id, "status": status, "started_at": changed, "ended_at": None,
               "reason": "bench", "changed_by": "bench"}


def _alerts(n: int, asset_ids: list[tuple[int, int]], rnd: random.Random):
    for i in range(n):
        opened = NOW - timedelta(minutes=rnd.randint(1, 400_000))
        state = rnd.choices(("resolved", "acknowledged", "open"), (95, 3, 2))[0]
        yield {"rule": "bench", "asset_id": rnd.choice(asset_ids)[0],
               "severity": rnd.choice(("info", "warning", "critical")),
               "state": state, "title": f"Bench alert {i}", "detail": "", "opened_at": opened, "ack_note": "",
               "resolution_note": "", "resolved_at": opened + timedelta(hours=1) if state == "resolved" else None}


#: PM intervals of the bench's plans, (count, unit, share).
PM_INTERVALS = ((1, "month", 3), (3, "month", 3), (6, "month", 2), (1, "year", 1), (1, "week", 1))
PM_START = NOW.date() - timedelta(days=365)


def _pm_plans(n: int, asset_ids: list[tuple[int, int]], rnd: random.Random):
    shares = [w for *_, w in PM_INTERVALS]
    for i in range(n):
        count, unit, _ = rnd.choices(PM_INTERVALS, shares)[0]
        made = datetime.combine(PM_START, datetime.min.time(), tzinfo=UTC)
        yield {"id": i + 1, "name": f"Bench plan {i}", "asset_id": asset_ids[i % len(asset_ids)][0],
               "trigger": "calendar", "interval_count": count, "interval_unit": unit, "meter_lead": 0.0,
               "anchor_date": PM_START + timedelta(days=rnd.randint(0, 27)),
               "lead_days": 3 if unit == "week" else 14,
               "priority": "medium", "instructions": "", "active": True, "created_at": made, "updated_at": made}


def _pm_occurrences(plans: list[dict], rnd: random.Random):
    """A year of generated services behind each plan: done, a few missed, the latest ones open."""
    for plan in plans:
        window = window_days(plan["interval_count"], plan["interval_unit"])
        seq = 0
        while (due := shift(plan["anchor_date"], plan["interval_count"], plan["interval_unit"], seq + 1)) \
                <= NOW.date() + timedelta(days=plan["lead_days"]):
            past = due + timedelta(days=window) < NOW.date()
            state = rnd.choices(("completed", "skipped"), (95, 5))[0] if past else "open"
            done = due + timedelta(days=rnd.randint(-window, window)) if state == "completed" else None
            yield {"plan_id": plan["id"], "asset_id": plan["asset_id"], "seq": seq, "due_date": due,
                   "window_days": window, "high_risk": False, "state": state,
                   "generated_at": datetime.combine(due - timedelta(days=plan["lead_days"]), datetime.min.time(),
                                                    tzinfo=UTC),
                   "completed_on": done,
                   "completed_at": datetime.combine(done, datetime.min.time(), tzinfo=UTC) if done else None}
            seq += 1


def fill(url: str, sizes: dict, seed: int = 7) -> dict:
    """Migrate and fill the database at ``url``; return the row counts and how long it took."""
    rnd = random.Random(seed)
    started = time.perf_counter()
    upgrade(url)
    engine = open_engine(url)
    clock = ManualClock(NOW.timestamp())
    with session_scope(engine) as s:
        seed_demo_site(s, gateway_id="gw-bench", channels=[], clock=clock)
        _, secret = users.create_first_admin(s, clock=clock)
        departments = [d for d in s.scalars(select(Department.id))]
        first_seq = (s.scalar(select(func.max(AuditLog.seq))) or 0) + 1
    bulk_insert(engine, Asset, _assets(sizes["assets"], departments, rnd))
    with engine.connect() as conn:
        asset_ids = [(a, d) for a, d in conn.execute(select(Asset.id, Asset.department_id))]
        statuses = list(conn.execute(select(Asset.id, Asset.equipment_status, Asset.created_at)))
    bulk_insert(engine, AssetStatusChange, _status_history(statuses, random.Random(seed + 1)))
    bulk_insert(engine, WorkOrder, _work_orders(sizes["work_orders"], asset_ids, rnd))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # COPY with explicit ids leaves the sequence behind
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('work_orders', 'id'), "
                                 "(SELECT MAX(id) FROM work_orders))")
    bulk_insert(engine, AuditLog, _audit(sizes["audit"], first_seq, sizes["assets"], rnd))
    bulk_insert(engine, Alert, _alerts(sizes["alerts"], asset_ids, rnd))
    plans = list(_pm_plans(sizes["pm_plans"], asset_ids, rnd))
    bulk_insert(engine, PmPlan, plans)
    bulk_insert(engine, PmOccurrence, _pm_occurrences(plans, rnd))
    stock = fill_inventory(engine, bulk_insert, sizes, NOW, rnd)
    with engine.begin() as conn:
        if engine.dialect.name == "postgresql":
            conn.exec_driver_sql("SELECT setval(pg_get_serial_sequence('pm_plans', 'id'), "
                                 "(SELECT COALESCE(MAX(id), 1) FROM pm_plans))")
        conn.exec_driver_sql("ANALYZE")
    engine.dispose()
    return {"password": secret, "fill_s": round(time.perf_counter() - started, 1), "inventory": stock}


YEAR_API = (f"/api/v1/pm-calendar?start={NOW.date().isoformat()}"
            f"&end={(NOW.date() + timedelta(days=364)).isoformat()}")


def _later_page(client, path: str, pages: int) -> str:
    """Return the link of page ``pages`` of the calendar API from ``path`` (following ``next``;
    the last page when there are fewer)."""
    for _ in range(pages - 1):
        answer = client.get(path)
        assert answer.status_code == 200, answer.text[:300]
        if not answer.json["next"]:
            break
        path = answer.json["next"]
    return path


def pages(sizes: dict) -> dict[str, str]:
    """Return the pages to time: name -> path."""
    mid = sizes["work_orders"] // 2
    return {
        "dashboard": "/",
        "assets": "/assets",
        "assets_search": "/assets?q=pump&equipment_status=in_service",
        "assets_search_serial": "/assets?q=sn00012345",  # one match: the whole register is read
        "asset_detail": "/assets/BA-000123",
        "work_orders": "/work-orders",
        "work_orders_all": "/work-orders?state=all&sort=due",
        "work_order_board": "/work-orders?view=board",
        # The list filtered by local dates (the site's zone) and assignee, as people narrow it down.
        "work_orders_opened_month": "/work-orders?state=all&date_from=2025-12-01&date_to=2025-12-31",
        "work_orders_closed_month": "/work-orders?state=done&dates=closed&date_from=2025-11-01&date_to=2025-11-30",
        "work_orders_due_unassigned": "/work-orders?dates=due&date_from=2025-12-20&date_to=2026-01-10"
                                      "&assigned_to=none&sort=due",
        "work_orders_opened_page_5": "/work-orders?state=all&date_from=2025-06-01&date_to=2025-08-31&page=5",
        "work_order_board_dates": "/work-orders?view=board&date_from=2025-12-01&date_to=2025-12-31",
        "work_order_detail": f"/work-orders/{mid}",
        "alerts": "/alerts",
        "audit": "/audit",
        "audit_entity": "/audit?entity=asset&entity_id=BA-000123",
        "maintenance": "/maintenance",
        "maintenance_calendar": "/maintenance/calendar",
        "pm_calendar_month": f"/maintenance/calendar?view=month&date={NOW.date().isoformat()}",
        "pm_calendar_week": f"/maintenance/calendar?view=week&date={NOW.date().isoformat()}",
        "pm_calendar_week_filtered": f"/maintenance/calendar?view=week&date={NOW.date().isoformat()}"
                                     "&category=ventilator",
        # The year view (counts per day). The calendar keeps a gathered range until a plan, a
        # service or an asset it reads changes; "_fresh" pages are timed with nothing kept, as
        # the first reader after such a change sees them.
        "pm_calendar_year": f"/maintenance/calendar?view=year&date={NOW.date().isoformat()}",
        "pm_calendar_month_fresh": f"/maintenance/calendar?view=month&date={NOW.date().isoformat()}",
        "pm_calendar_year_fresh": f"/maintenance/calendar?view=year&date={NOW.date().isoformat()}",
        # A year through the API as a client reads it: its first page (the default 500 services,
        # with the year's total), a page further on (its cursor), and the year counted per day.
        "pm_calendar_year_api": YEAR_API,
        "pm_calendar_year_api_page_20": YEAR_API,  # replaced by the 20th page's link once filled
        "pm_calendar_year_summary": YEAR_API + "&summary=day",
        "gateways": "/gateways",
        "labels": "/labels",
        # The dashboard's trends (fetched by the page once it has rendered) and the reports page.
        "dashboard_trends_api": "/api/v1/dashboard/trends",
        "reports": "/reports",
        **inventory_pages(sizes),
    }


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(q * (len(ordered) - 1))))]


def measure(url: str, secret: str, sizes: dict, requests: int, workdir: Path, collector: str = "fitted",
            only: str | None = None) -> dict:
    """Time every page ``requests`` times; return p50/p95 per page in milliseconds."""
    from relational_support import csrf_from

    from wardlink.hub.services.maintenance.pm_calendar_kept import RANGES
    from wardlink.hub.web import create_app, fit_collector

    config = load_config(environ={}, overrides={"data_dir": str(workdir), "database_url": url,
                                                "secure_cookies": False, "two_factor_roles": ""})
    store = SQLiteStore(workdir / "telemetry.db")
    app = create_app(config, telemetry=store, clock=ManualClock(NOW.timestamp() + 60))
    if collector == "fitted":
        fit_collector()  # as the hub's web server process does once it has built the app
    try:
        client = app.test_client()
        token = csrf_from(client.get("/login").text)
        response = client.post("/login", data={"username": "admin", "password": secret, "csrf_token": token})
        assert response.status_code == 302, response.text

        def timed(path: str, fresh: bool = False) -> float:
            with RANGES.set_aside() if fresh else nullcontext():
                begin = time.perf_counter()
                answer = client.get(path)
                spent = (time.perf_counter() - begin) * 1000
            assert answer.status_code == 200, f"{path}: {answer.status_code} {answer.text[:300]}"
            return spent

        paths = {"baseline_health": "/api/v1/health",
                 **{name: path for name, path in pages(sizes).items() if only is None or re.search(only, name)}}
        if "pm_calendar_year_api_page_20" in paths:
            paths["pm_calendar_year_api_page_20"] = _later_page(client, paths["pm_calendar_year_api_page_20"], 20)
        for path in paths.values():
            for _ in range(2):
                timed(path)  # warm caches and the connection pool (and keep the calendar's ranges)
        # Round robin over the pages, so a burst of load from elsewhere on the machine lands on
        # all of them alike instead of on whichever page happened to be timed at that moment.
        times: dict[str, list[float]] = {name: [] for name in paths}
        for _ in range(requests):
            for name, path in paths.items():
                times[name].append(timed(path, fresh=name.endswith("_fresh")))
        out = {}
        for name, spent in times.items():
            out[name] = {"p50_ms": round(statistics.median(spent), 1), "p95_ms": round(_p(spent, 0.95), 1)}
            print(f"  {name:22s} p50 {out[name]['p50_ms']:8.1f} ms   p95 {out[name]['p95_ms']:8.1f} ms", flush=True)
        return out
    finally:
        app.extensions["wardlink"].close()
        store.close()


def run_backend(backend: str, sizes: dict, requests: int, collector: str = "fitted", only: str | None = None) -> dict:
    """Fill a fresh database of ``backend`` and time the pages on it."""
    with tempfile.TemporaryDirectory(prefix=f"wardlink-bench-{backend}-") as tmp:
        workdir = Path(tmp)
        server = None
        if backend == "postgresql":
            from servers import PostgresServer

            server = PostgresServer(workdir / "pg", settings={"shared_buffers": "256MB", "work_mem": "16MB"})
            server.start()
            server.create_database("bench")
            url = server.sqlalchemy_url("bench")
        else:
            url = f"sqlite:///{workdir / 'bench.db'}"
        try:
            print(f"{backend}: filling {sizes}", flush=True)
            filled = fill(url, sizes)
            print(f"{backend}: filled in {filled['fill_s']} s ({filled['inventory']}); timing pages", flush=True)
            timings = measure(url, filled["password"], sizes, requests, workdir, collector, only)
        finally:
            if server is not None:
                server.stop()
    worst = max(v["p95_ms"] for k, v in timings.items() if k != "baseline_health")
    return {"fill_s": filled["fill_s"], "inventory": filled["inventory"], "pages": timings, "worst_page_p95_ms": worst,
            "baseline_p95_ms": timings["baseline_health"]["p95_ms"], "meets_target": worst < TARGET_P95_MS}


def main(argv: list[str] | None = None) -> int:
    """Run the benchmark and print one JSON object as the last line."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--assets", type=int, default=50_000)
    parser.add_argument("--work-orders", type=int, default=200_000)
    parser.add_argument("--audit", type=int, default=1_000_000)
    parser.add_argument("--alerts", type=int, default=5_000)
    parser.add_argument("--pm-plans", type=int, default=5_000)
    parser.add_argument("--parts", type=int, default=100_000)
    parser.add_argument("--movements", type=int, default=2_000_000)
    parser.add_argument("--requests", type=int, default=25)
    parser.add_argument("--backend", choices=("sqlite", "postgresql", "both"), default="both")
    parser.add_argument("--collector", choices=("fitted", "default"), default="fitted",
                        help="the garbage collector as the web server fits it (the default), or Python's own")
    parser.add_argument("--pages", metavar="REGEX", default=None,
                        help="time only the pages whose names match (e.g. 'calendar|board'); health always")
    args = parser.parse_args(argv)
    sizes = {"assets": args.assets, "work_orders": args.work_orders, "audit": args.audit, "alerts": args.alerts,
             "pm_plans": args.pm_plans, "parts": args.parts, "movements": args.movements}
    backends = ("sqlite", "postgresql") if args.backend == "both" else (args.backend,)
    result = {"benchmark": "admin_pages", "sizes": sizes, "requests_per_page": args.requests,
              "target_p95_ms": TARGET_P95_MS, "collector": args.collector, "pages": args.pages}
    for backend in backends:
        result[backend] = run_backend(backend, sizes, args.requests, args.collector, args.pages)
    result["meets_target"] = all(result[b]["meets_target"] for b in backends)
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
