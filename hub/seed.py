"""A small, realistic demo hospital: departments, rooms, a dozen devices, one gateway.

:func:`seed_demo_site` is idempotent: it only adds what is missing, so running it again (or
after someone edited the data) changes nothing that exists. The devices are fictional
instances of common equipment types; makes and models are plausible catalogue items and the
serial numbers are made up.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from sqlalchemy.orm import Session

from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.assets import register as asset_service
from wardlink.hub.services.gateways import registry as gateway_service
from wardlink.hub.services.people import org
from wardlink.hub.services.actor import Actor
from wardlink.clock import Clock

SITE = {"code": "RGH", "name": "Riverside General Hospital", "timezone": "Europe/London"}

DEPARTMENTS = {
    "ICU": "Intensive Care Unit",
    "ED": "Emergency Department",
    "THEATRE": "Operating Theatres",
    "MAT": "Maternity and Neonatal",
    "PHARM": "Pharmacy",
    "CSSD": "Sterile Services",
    "BME": "Biomedical Engineering",
    "ESTATES": "Estates and Facilities",
}

#: key -> (building, floor, room, department code)
LOCATIONS = {
    "icu-bay1": ("Main Block", "Level 2", "ICU Bay 1", "ICU"),
    "icu-bay2": ("Main Block", "Level 2", "ICU Bay 2", "ICU"),
    "icu-utility": ("Main Block", "Level 2", "ICU Clean Utility", "ICU"),
    "ed-resus": ("Main Block", "Ground", "ED Resus 1", "ED"),
    "theatre2": ("Surgical Wing", "Level 1", "Theatre 2", "THEATRE"),
    "neonatal": ("Women's Wing", "Level 3", "Neonatal Unit", "MAT"),
    "pharm-cold": ("Main Block", "Lower Ground", "Pharmacy Cold Room", "PHARM"),
    "cssd": ("Surgical Wing", "Lower Ground", "CSSD Processing", "CSSD"),
    "plant": ("Energy Centre", "Ground", "Medical Gas Plant Room", "ESTATES"),
    "bme-workshop": ("Energy Centre", "Level 1", "BME Workshop", "BME"),
}

# tag, name, category, make, model, serial, department, location, extras
# Risk factors are Fennigkoh-Smith (function, physical risk, maintenance, incident history).
ASSETS: tuple[tuple[str, str, str, str, str, str, str, str, dict[str, Any]], ...] = (
    ("VF-0001", "ICU medication refrigerator", "Medical refrigerator", "Liebherr", "MKv 3910",
     "LH-39-771204", "ICU", "icu-utility",
     {"purchase_date": "2021-03-15", "purchase_cost": "2350.00", "warranty_end": "2026-03-14",
      "install_date": "2021-04-01", "risk": (2, 3, 2, 0)}),
    ("VF-0002", "Pharmacy vaccine refrigerator", "Medical refrigerator", "Helmer Scientific",
     "iPR120", "HS-120-58113", "PHARM", "pharm-cold",
     {"purchase_date": "2020-09-01", "purchase_cost": "6120.00", "warranty_end": "2025-08-31",
      "install_date": "2020-09-20", "risk": (2, 3, 2, 1), "maintenance_status": "due"}),
    ("IPD-0001", "ICU bay 1 infusion pump dock", "Infusion pump docking station", "B. Braun",
     "SpaceStation", "BB-SS-220917", "ICU", "icu-bay1",
     {"purchase_date": "2022-06-10", "purchase_cost": "1890.00", "warranty_end": "2027-06-09",
      "install_date": "2022-07-01", "risk": (2, 2, 2, 0)}),
    ("IP-0101", "Volumetric infusion pump", "Infusion pump", "B. Braun", "Infusomat Space",
     "BB-IS-884310", "ICU", "icu-bay1",
     {"purchase_date": "2022-06-10", "purchase_cost": "3150.00", "warranty_end": "2027-06-09",
      "install_date": "2022-07-01", "risk": (9, 4, 4, 1)}),
    ("IP-0102", "Volumetric infusion pump", "Infusion pump", "B. Braun", "Infusomat Space",
     "BB-IS-884311", "ICU", "icu-bay1",
     {"purchase_date": "2022-06-10", "purchase_cost": "3150.00", "warranty_end": "2027-06-09",
      "install_date": "2022-07-01", "risk": (9, 4, 4, 2), "equipment_status": "faulty",
      "notes": "Occlusion alarm fails self-test; withdrawn from use pending repair."}),
    ("ENV-ICU-1", "ICU bay 1 room environment", "Environmental monitoring point", "Bosch Sensortec",
     "BME280 room probe", "ENV-0001", "ICU", "icu-bay1",
     {"install_date": "2024-01-15", "risk": (2, 1, 1, -2)}),
    ("VENT-0001", "ICU ventilator", "Ventilator", "Hamilton Medical", "HAMILTON-C6",
     "HM-C6-009412", "ICU", "icu-bay2",
     {"purchase_date": "2020-04-02", "purchase_cost": "38500.00", "warranty_end": "2025-04-01",
      "install_date": "2020-04-20", "life_support": True, "risk": (10, 5, 5, 1)}),
    ("PM-0001", "Bedside patient monitor", "Patient monitor", "Philips", "IntelliVue MX750",
     "PH-MX7-DE41123", "ICU", "icu-bay2",
     {"purchase_date": "2021-11-05", "purchase_cost": "14200.00", "warranty_end": "2026-11-04",
      "install_date": "2021-11-30", "risk": (7, 3, 3, 0), "maintenance_status": "overdue"}),
    ("DEF-0001", "Resuscitation defibrillator", "Defibrillator", "ZOLL", "R Series ALS",
     "ZL-RS-AF0193", "ED", "ed-resus",
     {"purchase_date": "2019-08-19", "purchase_cost": "11800.00", "warranty_end": "2024-08-18",
      "install_date": "2019-09-02", "life_support": True, "risk": (10, 5, 4, 0)}),
    ("ANA-0001", "Anaesthesia workstation", "Anaesthesia machine", "GE HealthCare", "Aisys CS2",
     "GE-AS2-SMK1205", "THEATRE", "theatre2",
     {"purchase_date": "2023-02-14", "purchase_cost": "61000.00", "warranty_end": "2028-02-13",
      "install_date": "2023-03-06", "life_support": True, "risk": (10, 5, 5, 0)}),
    ("INC-0001", "Neonatal incubator", "Infant incubator", "Draeger", "Isolette 8000 plus",
     "DR-I8K-ARLC0087", "MAT", "neonatal",
     {"purchase_date": "2018-05-30", "purchase_cost": "17400.00", "warranty_end": "2023-05-29",
      "install_date": "2018-06-18", "life_support": True, "risk": (9, 4, 4, 0),
      "owner_type": "loaner", "notes": "Loaned by the regional neonatal network."}),
    ("STER-0001", "Steam steriliser", "Steam steriliser", "Getinge", "HS6610",
     "GT-HS-6610-3321", "CSSD", "cssd",
     {"purchase_date": "2017-10-09", "purchase_cost": "96000.00", "warranty_end": "2022-10-08",
      "install_date": "2017-12-01", "risk": (6, 3, 5, 1), "maintenance_status": "due"}),
    ("O2-MAN-01", "Oxygen cylinder manifold", "Medical gas manifold", "BeaconMedaes",
     "Lifeline LMC", "BM-LL-77102", "ESTATES", "plant",
     {"purchase_date": "2016-01-20", "purchase_cost": "24000.00", "install_date": "2016-03-01",
      "life_support": True, "risk": (10, 5, 4, 0)}),
    ("ECG-0001", "12-lead electrocardiograph", "ECG machine", "GE HealthCare", "MAC 2000",
     "GE-M2K-SCF0714", "ED", "ed-resus",
     {"purchase_date": "2015-07-01", "purchase_cost": "6900.00", "warranty_end": "2018-06-30",
      "install_date": "2015-07-15", "risk": (6, 3, 2, 1), "equipment_status": "out_of_service",
      "lifecycle_stage": "decommissioned", "notes": "Replaced by a newer unit; awaiting disposal."}),
)

GATEWAY = {"name": "ICU gateway 1", "department": "ICU", "location": "icu-utility"}

SEED_ACTOR = Actor.system("seed")


def seed_demo_site(session: Session, *, gateway_id: str, channels: Sequence[Mapping[str, Any]],
                   clock: Clock) -> None:
    """Create the demo hospital and bind ``gateway_id``'s channels to its assets; idempotent.

    Each channel is a mapping with ``channel_id``, ``metric``, ``unit``, ``driver``,
    ``asset_tag`` and optionally ``interval`` (seconds). The caller commits.
    """
    _check_channels(channels)
    site = org.ensure_site(session, **SITE, actor=SEED_ACTOR, clock=clock)
    departments = {code: org.ensure_department(session, site, code=code, name=name,
                                               actor=SEED_ACTOR, clock=clock)
                   for code, name in DEPARTMENTS.items()}
    locations = {key: org.ensure_location(session, site, building=b, floor=f, room=r,
                                          department=departments[d], actor=SEED_ACTOR, clock=clock)
                 for key, (b, f, r, d) in LOCATIONS.items()}
    for tag, name, category, make, model, serial, dept, loc, extras in ASSETS:
        if asset_service.find_asset(session, tag) is not None:
            continue
        extras = dict(extras)
        function, risk, maintenance, history = extras.pop("risk")
        asset_service.create_asset(session, {
            "tag": tag, "name": name, "category": category, "make": make, "model": model,
            "serial": serial, "department_id": departments[dept].id,
            "location_id": locations[loc].id, "equipment_function": function,
            "physical_risk": risk, "maintenance_requirement": maintenance,
            "incident_history": history, **extras,
        }, actor=SEED_ACTOR, clock=clock)
    gateway_service.register_gateway(
        session, gateway_id=gateway_id, name=GATEWAY["name"],
        department_id=departments[GATEWAY["department"]].id,
        location_id=locations[GATEWAY["location"]].id, actor=SEED_ACTOR, clock=clock)
    for spec in channels:
        channel = gateway_service.upsert_channel(
            session, gateway_id=gateway_id, channel_id=spec["channel_id"], metric=spec["metric"],
            unit=spec.get("unit", ""), driver=spec.get("driver", ""),
            interval_s=spec.get("interval", spec.get("interval_s")), actor=SEED_ACTOR, clock=clock)
        if not channel.bindings and spec.get("asset_tag"):
            gateway_service.bind_channel(
                session, gateway_id=gateway_id, channel_id=spec["channel_id"],
                asset_tag=spec["asset_tag"], metric=spec["metric"], actor=SEED_ACTOR, clock=clock)


def _check_channels(channels: Sequence[Mapping[str, Any]]) -> None:
    known = {a[0] for a in ASSETS}
    for index, spec in enumerate(channels):
        for key in ("channel_id", "metric"):
            if not spec.get(key):
                raise InvalidInput(f"channels[{index}].{key}: is required")
        tag = spec.get("asset_tag")
        if tag and tag not in known:
            raise InvalidInput(f"channels[{index}].asset_tag: must be a demo asset "
                               f"({', '.join(sorted(known))}), got {tag!r}")
