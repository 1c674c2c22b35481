"""The register and the openFDA file the recall tests share.

``openfda-device-recall.json`` holds 60 records in openFDA's device/recall layout: 12 recalls
that concern the register below in different ways, the enforcement report's copy of the first
(the same Z-number), the sixth again, a recall of the seeded B. Braun pumps (which have no
product code), 40 recalls of firms the hospital does not buy from, and five records that cannot
be read (positions 21, 22, 41, 46 and 60).
"""

from __future__ import annotations

from pathlib import Path

from relational_support import actor

from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.people import org

FILE = Path(__file__).parent / "recall_files" / "openfda-device-recall.json"

#: tag, make, model, product code, department; the comment says what the file does with it.
REGISTER = (
    ("RC-01", "Baxter Healthcare", "35700", "FRN", "ICU"),                  # Z-0001 exact
    ("RC-02", "Baxter Healthcare Corp.", "35700", "FRN", "ED"),            # Z-0001 exact
    ("RC-03", "CareFusion", "8015", "FRN", "ICU"),                          # Z-0003 exact
    ("RC-04", "CareFusion", "80150", "FRN", "ICU"),                         # near miss: another model
    ("RC-05", "CareFusion", "8015A", "FRN", "ED"),                          # near miss: another model
    ("RC-06", "Smiths Medical", "CADD-Solis", "MEA", "ICU"),                # Z-0004 fuzzy: firm close
    ("RC-07", "Smiths Medical ASD", "CADD Solis", "MEA", "ED"),             # Z-0004 exact
    ("RC-08", "Philips Medical Systems", "HeartStart MRx", "MKJ", "ED"),    # Z-0005 exact
    ("RC-09", "Philips Medical Systems", "HeartStart XL", "MKJ", "ED"),     # near miss: another model
    ("RC-10", "Philips", "M3535A", "MKJ", "ICU"),                           # Z-0005 fuzzy: firm close
    ("RC-11", "Zoll Medical", "AED Plus", "MKJ", "ED"),                     # Z-0006 exact
    ("RC-12", "Zoll Medical", "AED Pro", "MKJ", "ED"),                      # near miss: another model
    ("RC-13", "Draeger Medical", "Evita V500", "CBK", "ICU"),               # Z-0007 exact
    ("RC-14", "Dräger Medical", "Evita V300", "CBK", "ICU"),                # near miss: another model
    ("RC-15", "GE Healthcare", "CARESCAPE B650", "MHX", "ICU"),             # Z-0008 fuzzy: words apart
    ("RC-16", "GE Healthcare", "B450", "MHX", "ICU"),                       # near miss: another model
    ("RC-17", "Hill-Rom", "Centrella", "FNL", "MAT"),                       # Z-0009 exact
    ("RC-18", "Hillrom", "Centrella", "FNL", "ED"),                         # Z-0009 fuzzy: firm spelt together
    ("RC-19", "Masimo", "Radical-7", "DQA", "ICU"),                         # Z-0010 exact
    ("RC-20", "Masimo", "Radical 7", "", "ED"),                             # Z-0010 fuzzy: no product code
    ("RC-21", "Masimo", "Radical-7", "DXN", "ED"),                          # near miss: another product code
    ("RC-22", "Fresenius Kabi", "Agilia SP", "FRN", "ICU"),                 # near miss: another firm
    ("RC-23", "Nihon Kohden America", "TEC-5631", "MKJ", "ED"),             # Z-0012 fuzzy: written together
)
NEAR_MISSES = {"RC-04", "RC-05", "RC-09", "RC-12", "RC-14", "RC-16", "RC-21", "RC-22"}
#: reference -> {tag: kind}
EXPECTED = {
    "Z-0001-2026": {"RC-01": "exact", "RC-02": "exact"},
    "Z-0003-2026": {"RC-03": "exact"},
    "Z-0004-2026": {"RC-07": "exact", "RC-06": "fuzzy"},
    "Z-0005-2026": {"RC-08": "exact", "RC-10": "fuzzy"},
    "Z-0006-2026": {"RC-11": "exact"},
    "Z-0007-2026": {"RC-13": "exact"},
    "Z-0008-2026": {"RC-15": "fuzzy"},
    "Z-0009-2026": {"RC-17": "exact", "RC-18": "fuzzy"},
    "Z-0010-2026": {"RC-19": "exact", "RC-20": "fuzzy"},
    "Z-0012-2026": {"RC-23": "fuzzy"},
    "Z-0015-2026": {"IP-0101": "fuzzy", "IP-0102": "fuzzy"},
}
EXACT = sum(kind == "exact" for found in EXPECTED.values() for kind in found.values())
FUZZY = sum(kind == "fuzzy" for found in EXPECTED.values() for kind in found.values())
REFUSED_AT = [21, 22, 41, 46, 60]


def add_register(session, clock) -> None:
    """Register the assets of :data:`REGISTER` as the manager."""
    departments = {d.code: d.id for d in org.list_departments(session)}
    who = actor(session, "manager")
    for tag, make, model, code, dept in REGISTER:
        assets.create_asset(session, {"tag": tag, "name": f"{make} {model}", "category": "Recall test", "make": make,
                                      "model": model, "product_code": code, "department_id": departments[dept]},
                            actor=who, clock=clock)


def one_record_file(reference: str) -> bytes:
    """Return an openFDA file of one recall concerning none of the register."""
    import json
    return json.dumps({"meta": {}, "results": [{
        "product_res_number": reference, "recalling_firm": "Matrix Devices Inc.", "product_code": "FRN",
        "product_description": "Matrix pump", "event_date_initiated": "2026-01-02"}]}).encode()


def matrix_match(engine, clock) -> tuple[int, int]:
    """Enter a notice that closely matches the seeded ICU fridge VF-0001 (it has no product code);
    return the recall's id and the match waiting for review (for the RBAC matrix)."""
    from itertools import count

    from wardlink.hub.db import session_scope
    from wardlink.hub.services.actor import Actor
    from wardlink.hub.services.compliance import recall_review, recalls

    with session_scope(engine) as s:
        for n in count(1):
            reference = f"MX-FSN-{n}"
            if not any(r.recall.reference == reference
                       for r in recall_review.list_recalls(s, actor=None, status="all")):
                break
        recall, _ = recalls.create_notice(s, {"reference": reference, "recalling_firm": "Liebherr",
                                              "product_description": "MKv 3910 medication refrigerator",
                                              "product_code": "FRN"}, actor=Actor.system("rbac-matrix"), clock=clock)
        [match] = recall_review.matches_of(s, recall.id, actor=None)
        return recall.id, match.id
