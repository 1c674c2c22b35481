"""Spare parts at hospital-group scale for ``bench/admin_pages.py``: suppliers, stock locations
with bins, parts with the models they fit, stock per bin and a consistent stock ledger.

Every part gets one or two bins and a history of receipts, issues (some for work orders) and
transfers whose running balance never goes below zero; the last balance of each bin is its
stock level, and a part whose stock is at or below its reorder level carries ``low_since``, as
the services would have left it. Rows are written in bulk (executemany on SQLite, COPY on
PostgreSQL) through the ``bulk_insert`` the caller passes.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from datetime import datetime, timedelta
from decimal import Decimal

from sqlalchemy import bindparam, update

from wardlink.hub.db.models import (Part, PartModel, StockBin, StockLevel, StockLocation, StockMovement,
                                    Supplier)
from wardlink.hub.db.models.inventory import part_search_text

SUPPLIERS = 200
LOCATIONS = 5
BINS_PER_LOCATION = 200
MAKES = ("Hamilton", "Draeger", "Philips", "GE", "Mindray", "Baxter", "BD", "Nihon Kohden")
CATEGORIES = ("Filters", "Batteries", "Sensors", "Tubing", "Seals", "Fuses", "Cables", "Valves")


def _parts(n: int, now: datetime, rnd: random.Random) -> Iterator[dict]:
    for i in range(n):
        made = now - timedelta(days=800)
        fields = {"sku": f"SP-{i:06d}", "name": f"{rnd.choice(CATEGORIES)[:-1]} {rnd.choice(MAKES)} {i}",
                  "manufacturer": rnd.choice(MAKES), "manufacturer_part_number": f"MPN{i:07d}",
                  "category": rnd.choice(CATEGORIES)}
        yield {"id": i + 1, **fields, "sku_key": f"sp-{i:06d}", "description": "", "unit": "each",
               "search_text": part_search_text(fields, [(fields["manufacturer"], f"M{(i + 1) % 97}")]),
               "unit_cost": Decimal(rnd.randint(100, 50_000)) / 100,
               "reorder_level": Decimal(rnd.randint(0, 8)), "reorder_quantity": Decimal(rnd.randint(5, 40)),
               "preferred_supplier_id": rnd.randint(1, SUPPLIERS), "active": True, "low_since": None,
               "low_alert_id": None, "created_at": made, "updated_at": made}


def _ledger(parts: list[dict], movements: int, bins: int, work_orders: int, now: datetime,
            rnd: random.Random) -> tuple[list[dict], Iterator[dict]]:
    """Return the stock levels (computed while the ledger is generated) and the ledger itself.

    The levels list is complete only once the ledger iterator has been consumed."""
    levels: list[dict] = []
    per_part = max(1, movements // max(1, len(parts)))
    spread = timedelta(days=700) / max(1, movements)

    def rows() -> Iterator[dict]:
        row_id = 0
        stamp = now - timedelta(days=700)
        for part in parts:
            homes = rnd.sample(range(1, bins + 1), 2 if rnd.random() < 0.3 else 1)
            balance = dict.fromkeys(homes, 0)
            for step in range(per_part):
                row_id += 1
                stamp += spread
                home = rnd.choice(homes)
                base = {"id": row_id, "part_id": part["id"], "bin_id": home, "unit_cost": part["unit_cost"],
                        "username": "bench", "reason": "", "reference": "", "created_at": stamp}
                if step == 0 or balance[home] < 3 and rnd.random() < 0.7:
                    amount = rnd.randint(5, 30)
                    balance[home] += amount
                    yield {**base, "kind": "receive", "quantity": amount, "balance": balance[home],
                           "supplier_id": part["preferred_supplier_id"], "reference": f"DN-{row_id}"}
                elif len(homes) == 2 and rnd.random() < 0.1 and balance[home] > 0:
                    other = homes[1] if home == homes[0] else homes[0]
                    amount = rnd.randint(1, balance[home])
                    balance[home] -= amount
                    yield {**base, "kind": "transfer_out", "quantity": -amount, "balance": balance[home]}
                    row_id += 1
                    balance[other] += amount
                    yield {**base, "id": row_id, "bin_id": other, "kind": "transfer_in", "quantity": amount,
                           "balance": balance[other], "related_id": row_id - 1}
                elif balance[home] > 0:
                    amount = rnd.randint(1, min(3, balance[home]))
                    balance[home] -= amount
                    order = rnd.randint(1, work_orders) if work_orders and rnd.random() < 0.6 else None
                    yield {**base, "kind": "issue", "quantity": -amount, "balance": balance[home],
                           "work_order_id": order, "reason": "bench use"}
                else:
                    row_id -= 1
            total = sum(balance.values())
            if part["reorder_level"] > 0 and total <= part["reorder_level"]:
                part["low_since"] = stamp
            levels.extend({"part_id": part["id"], "bin_id": b, "quantity": q} for b, q in balance.items())
    return levels, rows()


def fill_inventory(engine, bulk_insert: Callable, sizes: dict, now: datetime, rnd: random.Random) -> dict:
    """Write ``sizes["parts"]`` parts and about ``sizes["movements"]`` ledger rows; return counts."""
    made = now - timedelta(days=900)
    with engine.connect() as conn:
        site_id = conn.exec_driver_sql("SELECT MIN(id) FROM sites").scalar()
    bulk_insert(engine, Supplier, ({"id": i + 1, "name": f"Supplier {i}", "name_key": f"supplier {i}",
                                    "lead_time_days": rnd.randint(2, 60), "payment_terms": "30 days net",
                                    "created_at": made, "updated_at": made} for i in range(SUPPLIERS)))
    bulk_insert(engine, StockLocation, ({"id": i + 1, "code": f"STORE-{i}", "code_key": f"store-{i}",
                                         "name": f"Store {i}", "site_id": site_id, "created_at": made}
                                        for i in range(LOCATIONS)))
    bins = LOCATIONS * BINS_PER_LOCATION
    bulk_insert(engine, StockBin, ({"id": i + 1, "stock_location_id": i // BINS_PER_LOCATION + 1,
                                    "code": f"B-{i % BINS_PER_LOCATION:03d}",
                                    "code_key": f"b-{i % BINS_PER_LOCATION:03d}", "created_at": made}
                                   for i in range(bins)))
    parts = list(_parts(sizes["parts"], now, rnd))
    bulk_insert(engine, Part, parts)
    levels, ledger = _ledger(parts, sizes["movements"], bins, sizes.get("work_orders", 0), now, rnd)
    written = bulk_insert(engine, StockMovement, ledger)
    bulk_insert(engine, StockLevel, levels)
    low = [{"pid": p["id"], "at": p["low_since"]} for p in parts if p["low_since"] is not None]
    with engine.begin() as conn:
        conn.execute(update(Part).where(Part.id == bindparam("pid")).values(low_since=bindparam("at"))
                     .execution_options(synchronize_session=False), low)
    bulk_insert(engine, PartModel, ({"part_id": p["id"], "make": p["manufacturer"], "model": f"M{p['id'] % 97}",
                                     "make_key": p["manufacturer"].lower(), "model_key": f"m{p['id'] % 97}"}
                                    for p in parts))
    if engine.dialect.name == "postgresql":
        with engine.begin() as conn:  # COPY with explicit ids leaves the sequences behind
            for table in ("suppliers", "stock_locations", "stock_bins", "parts", "stock_movements"):
                conn.exec_driver_sql(f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), "
                                     f"(SELECT COALESCE(MAX(id), 1) FROM {table}))")
    return {"parts": len(parts), "movements": written, "low": len(low)}


def inventory_pages(sizes: dict) -> dict[str, str]:
    """Return the inventory pages to time: name -> path."""
    some, other = sizes["parts"] // 8 + 1, sizes["parts"] // 2 + 1
    return {
        "parts": "/inventory/parts",
        # one match by manufacturer part number: every part is looked at
        "parts_search": f"/inventory/parts?q=mpn{some - 1:07d}",
        "parts_low": "/inventory/parts?low=1",
        "part_detail": f"/inventory/parts/{some}",
        "part_movements": f"/inventory/parts/{some}/movements",
        "part_movements_other": f"/inventory/parts/{other}/movements",
        "reorder_list": "/inventory/reorder",
        "reorder_list_page_3": "/inventory/reorder?page=3",
    }
