"""Fennigkoh-Smith equipment management (EM) risk scoring.

EM = equipment function + physical risk + maintenance requirement + incident history.
Devices scoring at or above :data:`PM_THRESHOLD` belong in the planned-maintenance programme
(Fennigkoh and Smith, "Clinical equipment management", JCAHO PTSM series, 1989).
"""

from __future__ import annotations

EQUIPMENT_FUNCTION = {
    10: "Life support",
    9: "Surgical and intensive care",
    8: "Physical therapy and treatment",
    7: "Surgical and intensive care monitoring",
    6: "Additional physiological monitoring and diagnostic",
    5: "Analytical laboratory",
    4: "Laboratory accessories",
    3: "Computer and related",
    2: "Patient-related and other",
}
PHYSICAL_RISK = {
    5: "Patient or operator death",
    4: "Patient or operator injury",
    3: "Inappropriate therapy or misdiagnosis",
    2: "Equipment damage",
    1: "No significant identified risk",
}
MAINTENANCE_REQUIREMENT = {
    5: "Extensive",
    4: "Above average",
    3: "Average",
    2: "Below average",
    1: "Minimal",
}
INCIDENT_HISTORY = {
    2: "Significant history",
    1: "Moderate history",
    0: "Typical",
    -1: "Minimal history",
    -2: "No significant history",
}

#: The four scored fields of an asset and the table of allowed values for each.
RISK_FIELDS = {
    "equipment_function": EQUIPMENT_FUNCTION,
    "physical_risk": PHYSICAL_RISK,
    "maintenance_requirement": MAINTENANCE_REQUIREMENT,
    "incident_history": INCIDENT_HISTORY,
}

PM_THRESHOLD = 12


def em_score(equipment_function: int | None, physical_risk: int | None,
             maintenance_requirement: int | None, incident_history: int | None) -> int | None:
    """Return the EM score, or None until all four factors have been assessed."""
    parts = (equipment_function, physical_risk, maintenance_requirement, incident_history)
    if any(p is None for p in parts):
        return None
    return sum(parts)


def needs_planned_maintenance(score: int | None) -> bool:
    """Return True when an EM score puts the device in the planned-maintenance programme."""
    return score is not None and score >= PM_THRESHOLD
