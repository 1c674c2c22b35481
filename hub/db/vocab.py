"""Allowed values of the relational store's enumerated columns, with their display labels.

The database enforces each tuple with a CHECK constraint; services validate input against
the same tuples so errors name the field and the allowed values before anything is written.
"""

from __future__ import annotations

ROLES = ("admin", "manager", "technician", "staff", "procurement", "vendor", "viewer")
OWNER_TYPES = ("hospital", "rental", "loaner", "vendor")
LIFECYCLE_STAGES = ("planned", "procured", "commissioning", "in_use", "decommissioned", "disposed")
EQUIPMENT_STATUSES = ("in_service", "out_of_service", "faulty", "tagged_out", "retired")
#: Results of the safety check that closes work on tagged-out equipment.
SAFETY_CHECKS = ("pass", "fail")
MAINTENANCE_STATUSES = ("compliant", "due", "overdue")
GATEWAY_STATUSES = ("online", "offline", "unknown")
ALERT_SEVERITIES = ("info", "warning", "critical")
ALERT_STATES = ("open", "acknowledged", "resolved")
WORK_ORDER_KINDS = ("pm", "corrective", "inspection", "recall")
WORK_ORDER_STATES = ("pending", "assigned", "in_progress", "on_hold", "completed", "closed",
                     "cancelled")
WORK_ORDER_PRIORITIES = ("low", "medium", "high", "critical")
WORK_ORDER_SOURCES = ("manual", "request", "qr", "alert", "pm", "checklist")
WORK_ORDER_RESOLUTIONS = (
    "repaired", "part_replaced", "adjusted", "software_updated", "no_fault_found", "user_error",
    "damage", "vendor_repair", "beyond_repair", "as_planned", "accepted", "rejected", "other",
)
PM_TRIGGERS = ("calendar", "meter", "whichever_first")
PM_INTERVAL_UNITS = ("day", "week", "month", "year")
PM_OCCURRENCE_STATES = ("open", "completed", "skipped", "cancelled")
CHECKLIST_ITEM_KINDS = ("pass_fail", "value", "text", "photo")
#: Units spare parts are counted in.
PART_UNITS = ("each", "pair", "set", "box", "pack", "roll", "m", "l", "ml", "kg", "g")
#: Kinds of rows of the stock ledger (``stock_movements``).
STOCK_MOVEMENT_KINDS = ("receive", "issue", "return", "transfer_out", "transfer_in", "adjust", "count")
#: Adjustments and counts above the approval threshold: waiting, approved (applied) or rejected.
ADJUSTMENT_STATES = ("pending", "approved", "rejected")
#: Parts picked for a work order: held for it, taken out of stock, or put back.
PICK_STATES = ("picked", "issued", "released")
#: Lines of a department consumable's log: stock in (receipt) or taken by the ward (collection).
CONSUMABLE_ENTRY_KINDS = ("receipt", "collection")
#: Purchase orders: drafted, sent to the supplier, received in parts or whole, closed; or cancelled.
PURCHASE_ORDER_STATES = ("draft", "sent", "partially_received", "received", "closed", "cancelled")
#: Why a work order was delayed: it went on hold, or a reason given after it breached its SLA.
DELAY_KINDS = ("hold", "sla_breach")
#: An asset's usage status: free, in use, or waiting for cleaning or inspection before the next use.
USAGE_STATUSES = ("available", "in_use", "needs_cleaning", "needs_inspection")
#: How a usage session was known: a person scanned the asset, or telemetry measured it.
USAGE_SOURCES = ("scanned", "measured")
#: How a usage measure reads its channel: in use while above a threshold, or while the value grows.
USAGE_MEASURE_MODES = ("above", "advancing")
#: Equipment the hospital does not own: rented (paid) or loaned.
RENTAL_KINDS = ("rental", "loaner")
#: A rental runs, is being returned (no new use), or went back to its vendor.
RENTAL_STATES = ("active", "returning", "returned")
#: What a utility meter measures.
UTILITY_KINDS = ("electricity", "water", "diesel", "oxygen")
#: Units utility meters count in (codes of wardlink.hub.db.units).
UTILITY_UNITS = ("kWh", "m3", "L")
#: How a utility meter is read: by hand, or by a gateway from its pulse output.
UTILITY_SOURCES = ("manual", "pulse")
#: Medical gases a cylinder holds (all non-flammable: NFPA 99's storage limits apply to each).
CYLINDER_GASES = ("oxygen", "medical_air", "nitrous_oxide", "carbon_dioxide", "nitrogen", "heliox")
#: Where a cylinder is in its round: full and waiting, connected, empty, on its way, or set aside.
CYLINDER_STATUSES = ("filled", "in_use", "empty", "in_transit", "quarantined")
#: Rows of a cylinder's movement log; each sets its status (wardlink.hub.services.oxygen.movements).
CYLINDER_MOVEMENT_KINDS = ("filled_in", "empty_out", "transfer", "in_use", "quarantine")
#: Kinds of place cylinders are stored in, each with its NFPA 99 limit (wardlink.hub.services.oxygen.limits).
GAS_STORAGE_KINDS = ("smoke_compartment", "storage_room")

LABELS = {
    "admin": "Administrator", "manager": "Manager", "technician": "Technician", "staff": "Staff",
    "procurement": "Procurement", "vendor": "Vendor", "viewer": "Viewer",
    "hospital": "Hospital-owned", "rental": "Rental", "loaner": "Loaner",
    "planned": "Planned", "procured": "Procured", "commissioning": "Commissioning",
    "in_use": "In use", "decommissioned": "Decommissioned", "disposed": "Disposed",
    "in_service": "In service", "out_of_service": "Out of service", "faulty": "Faulty",
    "tagged_out": "Tagged out: do not use",
    "safety_pass": "Passed", "safety_fail": "Failed",
    "retired": "Retired",
    "compliant": "Compliant", "due": "Due", "overdue": "Overdue",
    "online": "Online", "offline": "Offline", "unknown": "Unknown", "stalled": "Stalled",
    "info": "Info", "warning": "Warning", "critical": "Critical",
    "open": "Open", "acknowledged": "Acknowledged", "resolved": "Resolved",
    "pm": "Preventive maintenance", "corrective": "Corrective", "inspection": "Inspection",
    "recall": "Recall",
    "pending": "Pending", "assigned": "Assigned", "in_progress": "In progress",
    "on_hold": "On hold", "hold": "On hold", "sla_breach": "SLA breach", "completed": "Completed", "closed": "Closed",
    "cancelled": "Cancelled",
    "manual": "Entered manually", "request": "Request", "qr": "QR page request",
    "alert": "Alert", "checklist": "Failed checklist item",
    "repaired": "Repaired", "part_replaced": "Part replaced", "adjusted": "Adjusted / calibrated",
    "software_updated": "Software updated", "no_fault_found": "No fault found",
    "user_error": "Use error", "damage": "Damage / misuse", "vendor_repair": "Repaired by vendor",
    "beyond_repair": "Beyond economical repair", "as_planned": "Done as planned",
    "accepted": "Accepted", "rejected": "Rejected", "other": "Other",
    "low": "Low", "medium": "Medium", "high": "High",
    "calendar": "Calendar", "meter": "Meter", "whichever_first": "Whichever comes first",
    "day": "Day", "week": "Week", "month": "Month", "year": "Year",
    "on_track": "On track", "at_risk": "At risk", "breached": "Breached", "met": "Met", "late": "Late",
    "equipment_function": "Equipment function", "physical_risk": "Physical risk",
    "maintenance_requirement": "Maintenance requirement", "incident_history": "Incident history",
    "skipped": "Skipped", "pass_fail": "Pass / fail", "value": "Measured value", "text": "Text",
    "each": "each", "pair": "pair", "set": "set", "box": "box", "pack": "pack", "roll": "roll",
    "m": "m", "l": "L", "ml": "mL", "kg": "kg", "g": "g",
    "receive": "Received", "issue": "Issued", "return": "Returned", "transfer_out": "Transferred out",
    "transfer_in": "Transferred in", "adjust": "Adjusted", "count": "Stock count",
    "approved": "Approved", "picked": "Picked", "issued": "Issued", "released": "Put back",
    "receipt": "Receipt", "collection": "Collection",
    "submitted": "Submitted", "received": "Received", "in_review": "In review", "in_execution": "In execution",
    "delivered": "Delivered",
    "draft": "Draft", "sent": "Sent", "partially_received": "Partly received",
    "submit": "Submitted", "review": "Review started", "approve": "Approved", "reject": "Rejected",
    "execute": "Execution started", "deliver": "Delivered", "close": "Closed", "escalate": "Escalated (overdue)",
    "work_order": "Work order made", "requester": "Requester",
    "assigned_staff": "Assigned department's staff", "assigned_manager": "Assigned department's manager",
    "system": "System",
    "available": "Available", "needs_cleaning": "Needs cleaning", "needs_inspection": "Needs inspection",
    "scanned": "Scanned", "measured": "Measured", "active": "Active", "returning": "Being returned",
    "returned": "Returned",
    "electricity": "Electricity", "water": "Water", "diesel": "Diesel", "oxygen": "Oxygen",
    "pulse": "Pulse output (gateway)", "kWh": "kWh", "m3": "m³", "L": "L",
    "medical_air": "Medical air", "nitrous_oxide": "Nitrous oxide",
    "carbon_dioxide": "Carbon dioxide", "nitrogen": "Nitrogen", "heliox": "Heliox",
    "filled": "Filled", "empty": "Empty", "in_transit": "In transit", "quarantined": "Quarantined",
    "filled_in": "Filled in", "empty_out": "Empty out", "transfer": "Transfer", "quarantine": "Quarantined",
    "smoke_compartment": "Smoke compartment", "storage_room": "Storage room",
}


def label(value: str | None) -> str:
    """Return the display label of an enumerated value (the value itself when unlisted)."""
    if value is None:
        return ""
    return LABELS.get(value, value.replace("_", " ").capitalize())
