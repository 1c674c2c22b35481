"""What the scheduler writes for nobody in particular follows the hub's ``default_locale`` when
no site and no person chose a language: the PM work orders it opens, the warnings before a
contract ends, the alert of an overdue service and the monthly report PDF. A site's language
still beats it. On SQLite and PostgreSQL."""

from __future__ import annotations

import shutil
import subprocess
from datetime import time

import pytest
from relational_support import actor, clock, engine
from sqlalchemy import select, update

from wardlink.hub import i18n
from wardlink.hub.db import session_scope
from wardlink.hub.db.models import Alert, MonthlyReport, Notice, Site, WorkOrder
from wardlink.hub.scheduler import JOBS, Scheduler
from wardlink.hub.services import messages
from wardlink.hub.services.alerts import records as alert_records
from wardlink.hub.services.contracts import register as contracts
from wardlink.hub.services.maintenance import pm

__all__ = ["clock", "engine"]
DAY = 86400


def _seed(engine, clock) -> None:
    """A monthly plan on the ventilator due in three days, and its service contract ending in 20 days."""
    with session_scope(engine) as s:
        manager = actor(s, "manager")
        pm.create_plan(s, {"name": "Ventilator check", "asset_tag": "VENT-0001", "trigger": "calendar",
                           "interval_count": 1, "interval_unit": "month", "anchor_date": "2025-12-04",
                           "lead_days": 7}, actor=manager, clock=clock)
        contracts.create_contract(s, {"reference": "SC-7", "title": "Ventilator cover", "vendor_name": "Hamilton",
                                      "covers_parts": True, "starts_on": "2025-01-01", "ends_on": "2026-01-21",
                                      "asset_tags": ["VENT-0001"]}, actor=manager, clock=clock)


def _run(engine, clock, default_locale: str, *names: str) -> None:
    scheduler = Scheduler(engine, clock=clock, holder="north", jobs=tuple(j for j in JOBS if j.name in names),
                          default_locale=default_locale)
    report = scheduler.run_once()
    assert report.failed == {} and set(report.ran) == set(names)
    scheduler.close()


def test_the_scheduler_writes_pm_orders_and_contract_warnings_in_the_hubs_default_language(engine, clock):
    _seed(engine, clock)
    _run(engine, clock, "fr", "pm_generate", "contract_expiry")
    assert i18n.default_locale() == "en"  # the jobs' language ends with them
    with session_scope(engine, readonly=True) as s:
        [order] = s.scalars(select(WorkOrder).where(WorkOrder.kind == "pm")).all()
        assert order.title == "MP : Ventilator check - VENT-0001 (prévue le 4 janv. 2026)"
        assert order.description.startswith("Prévue le 4 janv. 2026 ; dans les délais du ")
        subjects = set(s.scalars(select(Notice.subject).where(Notice.event == "contract_expiring")))
        assert subjects == {"Le contrat de maintenance SC-7 prend fin dans 20 jours (21 janv. 2026)"}
        body = s.scalars(select(Notice.body).where(Notice.event == "contract_expiring")).first()
        assert "Couvre : pièces" in body and "dans 20 jours." in body


def test_a_sites_language_beats_the_default_and_an_overdue_service_alerts_in_each_readers(engine, clock):
    """The order's title is written in the site's language; the overdue alert keeps its English
    (for the API) and its messages, which each reader reads in their language."""
    _seed(engine, clock)
    with session_scope(engine) as s:
        s.execute(update(Site).values(language="en"))
    _run(engine, clock, "fr", "pm_generate")
    clock.advance(40 * DAY)  # long past the service's window
    _run(engine, clock, "fr", "pm_escalation")
    with session_scope(engine) as s:
        [order] = s.scalars(select(WorkOrder).where(WorkOrder.kind == "pm")).all()
        assert order.title == "PM: Ventilator check - VENT-0001 (due 2026-01-04)"
        [alert] = s.scalars(select(Alert).where(Alert.rule == "pm_overdue")).all()
        assert alert.title == "Planned maintenance overdue: VENT-0001 - Ventilator check"
        assert alert.detail.endswith(f"is not done.\nWork order {order.id}.\nHigh-risk equipment."), alert.detail
        assert messages.render(alert_records.title_of(alert), "fr") == \
            "Maintenance planifiée en retard : VENT-0001 - Ventilator check"
        french = [messages.render(line, "fr") for line in alert_records.detail_of(alert)]
        assert french == ["L'intervention 1 du plan « Ventilator check » était due le 2026-01-04 et n'est pas "
                          "faite.", f"Ordre de travail {order.id}.", "Équipement à haut risque."], french
        assert messages.render(alert_records.title_of(alert), "en") == alert.title


def test_the_monthly_report_pdf_has_french_headings_under_a_french_default(engine, clock, tmp_path):
    """On the 1st the scheduler makes last month's KPI reports: with no site language and a French
    default, the stored PDF's title, period line and column headings are French."""
    if shutil.which("pdftotext") is None:
        pytest.fail("needs poppler-utils (pdftotext)")
    scheduler = Scheduler(engine, clock=clock, holder="north", jobs=tuple(j for j in JOBS if j.name == "monthly_report"),
                          digest_at=time(0, 0), default_locale="fr")
    assert scheduler.run_once().failed == {}
    scheduler.close()
    with session_scope(engine, readonly=True) as s:
        report = s.scalars(select(MonthlyReport).where(MonthlyReport.scope == "all")).one()
        (tmp_path / "report.pdf").write_bytes(report.content)
    text = " ".join(subprocess.run(["pdftotext", "-layout", str(tmp_path / "report.pdf"), "-"], capture_output=True,
                                   text=True, check=True).stdout.split())
    assert "rapport mensuel d'indicateurs décembre 2025" in text, text[:500]
    assert "Période du 1 déc. 2025 au 31 déc. 2025" in text, text[:500]
    assert "Service" in text and "tous les services" in text and "maintenance KPIs" not in text
