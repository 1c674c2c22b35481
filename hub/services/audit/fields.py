"""What the fields of audit rows are called and what kind of value each holds: the one table the
change history, the audit page and the audit export read field names and units from.

Each entry names a field as the services write it into an audit row's before/after JSON
(:func:`wardlink.hub.services.audit.trail.record`) and says how its value is shown
(:mod:`wardlink.hub.services.audit.readable`): a label, a kind (how the value is rendered)
and, where the field has one, its unit. Values of enumerated fields are shown with the labels
of :mod:`wardlink.hub.db.vocab`, which stays the home of those.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

#: How a value is rendered.
KINDS = ("text", "choice", "datetime", "date", "number", "money", "bytes", "user", "username", "department",
         "location", "work_order", "alert", "secret", "safety")


@dataclass(frozen=True)
class Field:
    """A field of an audit row: what people call it, the kind of its value and its unit."""

    label: str
    kind: str = "text"
    unit: str = ""

    def __post_init__(self) -> None:
        assert self.kind in KINDS, self.kind


def _f(label: str, kind: str = "text", unit: str = "") -> Field:
    return Field(label, kind, unit)


#: field name -> how it is shown. Fields not listed are labelled from their name.
FIELDS: Mapping[str, Field] = {
    # assets
    "tag": _f("Tag"), "name": _f("Name"), "category": _f("Category"), "make": _f("Make"), "model": _f("Model"),
    "serial": _f("Serial number"), "product_code": _f("FDA product code"),
    "department_id": _f("Department", "department"),
    "location_id": _f("Location", "location"), "owner_type": _f("Ownership", "choice"),
    "purchase_date": _f("Purchase date", "date"), "purchase_cost": _f("Purchase cost", "money"),
    "warranty_end": _f("Warranty ends", "date"), "install_date": _f("Installed", "date"),
    "useful_life_years": _f("Useful life", "number", "years"), "salvage_value": _f("Salvage value", "money"),
    "replacement_cost": _f("Replacement cost", "money"),
    "lifecycle_stage": _f("Lifecycle stage", "choice"), "equipment_status": _f("Equipment status", "choice"),
    "maintenance_status": _f("Maintenance status", "choice"), "life_support": _f("Life support"),
    "equipment_function": _f("Equipment function (score)", "number"),
    "physical_risk": _f("Physical risk (score)", "number"),
    "maintenance_requirement": _f("Maintenance requirement (score)", "number"),
    "incident_history": _f("Incident history (score)", "number"), "em_score": _f("EM score", "number"),
    "notes": _f("Notes"), "tagged_out": _f("Tagged out"), "tagout_at": _f("Tagged out at", "datetime"),
    "tagout_by": _f("Tagged out by", "username"), "tagout_reason": _f("Tag-out reason"),
    "tagout_work_order_id": _f("Tag-out work order", "work_order"),
    "already_tagged_out": _f("Already tagged out"),
    # work orders
    "code": _f("Reference"), "kind": _f("Kind", "choice"), "state": _f("State", "choice"),
    "priority": _f("Priority", "choice"), "title": _f("Title"), "description": _f("Description"),
    "source": _f("Source", "choice"), "asset": _f("Asset"), "alert_id": _f("Alert", "alert"),
    "parent_id": _f("Follows from", "work_order"), "work_order_id": _f("Work order", "work_order"),
    "work_order": _f("Work order", "work_order"), "requested_by_id": _f("Requested by", "user"),
    "requester_name": _f("Reporter's name"), "requester_contact": _f("Reporter's phone"),
    "requester_email": _f("Reporter's e-mail"), "assigned_to_id": _f("Assigned to", "user"),
    "assignee_id": _f("Assignee", "user"), "assigned_to": _f("Assigned to", "username"),
    "due_at": _f("Due", "datetime"),
    "response_due_at": _f("Response due", "datetime"), "resolution_due_at": _f("Resolution due", "datetime"),
    "resolution_category": _f("Resolution", "choice"), "resolution_note": _f("Resolution note"),
    "downtime_start": _f("Out of use from", "datetime"), "downtime_end": _f("Back in use", "datetime"),
    "safety_check": _f("Safety check", "safety"), "reason": _f("Reason"), "note": _f("Note"),
    "comment": _f("Comment"), "body": _f("Note"), "minutes": _f("Time spent", "number", "min"),
    "performed_at": _f("Performed", "datetime"), "user": _f("Person", "username"), "part_number": _f("Part number"),
    "quantity": _f("Quantity", "number"), "unit_cost": _f("Unit cost", "money"),
    "signer": _f("Signed by", "username"), "signed_by": _f("Signed by", "username"),
    "signature_id": _f("Signature", "number"), "tagout_cleared": _f("Tag-out cleared"),
    "held_seconds": _f("Time on hold", "number", "s"), "signer_name": _f("Signer's name"),
    "meaning": _f("Meaning of the signature"),
    "signed_at": _f("Signed", "datetime"), "record_hash": _f("Record digest"),
    "escalation_level": _f("Escalation level", "number"), "level": _f("Escalation level", "number"),
    # attachments
    "attachment_id": _f("Attachment", "number"), "filename": _f("File"), "content_type": _f("File type"),
    "size": _f("Size", "bytes"), "sha256": _f("SHA-256"), "checklist_item": _f("Checklist item"),
    # maintenance plans and meters
    "trigger": _f("Trigger", "choice"), "interval_count": _f("Interval", "number"),
    "interval_unit": _f("Interval unit", "choice"), "meter": _f("Meter"),
    "meter_interval": _f("Meter interval", "number"), "meter_lead": _f("Meter lead", "number"),
    "anchor_date": _f("First due", "date"), "anchor_meter": _f("First due at meter", "number"),
    "lead_days": _f("Opened ahead", "number", "days"), "checklist_template_id": _f("Checklist", "number"),
    "instructions": _f("Instructions"), "active": _f("Active"), "assignee_team": _f("Team"),
    "assignee_vendor": _f("Vendor"), "planned_parts": _f("Planned parts"),
    "planned_minutes": _f("Planned time", "number", "min"), "due_date": _f("Due", "date"),
    "due_meter": _f("Due at meter", "number"), "completed_on": _f("Completed on", "date"),
    "completion_meter": _f("Meter when completed", "number"), "seq": _f("Service", "number"),
    "value": _f("Value", "number"), "read_at": _f("Read", "datetime"),
    # alerts and rules
    "rule": _f("Rule"), "severity": _f("Severity", "choice"), "gateway": _f("Gateway"),
    "channel": _f("Channel"), "shelved_until": _f("Shelved until", "datetime"), "historical": _f("Historical"),
    "automatic": _f("Automatic"), "enabled": _f("Enabled"), "metric": _f("Metric"),
    "valid_from": _f("Bound from", "datetime"), "valid_to": _f("Bound until", "datetime"),
    # people
    "username": _f("Username"), "display_name": _f("Name shown"), "email": _f("E-mail"),
    "role": _f("Role", "choice"), "is_active": _f("Active"), "failed_logins": _f("Failed sign-ins", "number"),
    "locked_until": _f("Locked until", "datetime"), "source_ip": _f("From address"),
    "prefix": _f("Token prefix"), "expires_at": _f("Expires", "datetime"), "timezone": _f("Time zone"),
    "site": _f("Site"), "label": _f("Label"),
    # exports
    "format": _f("Format"), "rows": _f("Rows", "number"), "filters": _f("Filters"),
    "date_from": _f("From (local day)", "date"), "date_to": _f("To (local day)", "date"),
    "entity": _f("Entity"), "entity_id": _f("Entity id"), "action": _f("Action"), "actor": _f("Who"),
    # secrets: the fact of a change is shown, never the value
    "password": _f("Password", "secret"), "password_hash": _f("Password", "secret"),
    "token": _f("Token", "secret"), "token_hash": _f("Token", "secret"), "secret": _f("Secret", "secret"),
    "key": _f("Key", "secret"), "password_sha256": _f("Password", "secret"),
}

#: Words in a field name that make it a secret even when it is not listed.
SECRET_WORDS = ("password", "secret", "token_hash", "api_key", "private_key")

#: Values of ``safety_check`` -> the label key of :mod:`wardlink.hub.db.vocab`.
SAFETY_PREFIX = "safety_"


def field(name: str) -> Field:
    """Return how field ``name`` is shown (listed, or labelled from its name)."""
    found = FIELDS.get(name)
    if found is not None:
        return found
    if any(word in name.lower() for word in SECRET_WORDS):
        return Field(name.replace("_", " ").capitalize(), "secret")
    base = name[:-3] if name.endswith("_id") else name
    kind = "datetime" if name.endswith("_at") else "text"
    return Field(base.replace("_", " ").capitalize(), kind)


#: entity of an audit row -> what people call it.
ENTITIES: Mapping[str, str] = {
    "asset": "Asset", "work_order": "Work order", "alert": "Alert", "gateway": "Gateway", "channel": "Channel",
    "pm_plan": "Maintenance plan", "user": "User", "api_token": "API token", "location": "Location",
    "site": "Site", "department": "Department", "rule": "Rule", "checklist_template": "Checklist",
    "category": "Equipment category", "export": "Export", "part": "Spare part", "supplier": "Supplier",
    "stock_location": "Stock location", "stock_bin": "Bin", "part_kit": "Kit of parts",
    "consumable": "Department consumable", "requisition": "Requisition",
    "purchase_order": "Purchase order", "cylinder": "Gas cylinder", "gas_storage": "Gas storage place",
}


def entity_label(entity: str) -> str:
    """Return what people call an audit row's entity type."""
    return ENTITIES.get(entity, entity.replace("_", " ").capitalize())


#: first part of an action -> what it is about.
_ACTION_NOUNS: Mapping[str, str] = {
    "workorder": "Work order", "asset": "Asset", "user": "User", "alert": "Alert", "rule": "Rule",
    "pm": "Maintenance plan", "gateway": "Gateway", "channel": "Channel", "binding": "Channel binding",
    "category": "Equipment category", "checklist": "Checklist", "export": "Export", "token": "API token",
    "site": "Site", "department": "Department", "location": "Location", "meter": "Meter reading",
    "signature": "Signature", "notice": "Notices", "consumable": "Department consumable",
    "purchase_order": "Purchase order",
    "requisition": "Requisition", "cylinder": "Gas cylinder", "gas_storage": "Gas storage place",
}


def action_label(action: str) -> str:
    """Return an action as people read it: ``workorder.assign`` -> ``Work order: assign``."""
    noun, _, verb = action.partition(".")
    if not verb:
        return action.replace("_", " ").capitalize()
    return f"{_ACTION_NOUNS.get(noun, noun.replace('_', ' ').capitalize())}: {verb.replace('_', ' ')}"
