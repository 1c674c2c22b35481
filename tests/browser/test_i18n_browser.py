"""The hub in French, in Chromium, on a desktop and a 390x844 phone.

The administrator switches to French on the account page and sets the hospital's site to
French on the organisation page (both through the forms). Every main page is then walked:
dashboard, assets and an asset, work orders and one order, maintenance plans and the calendar,
alerts, gateways, reports, audit, organisation, the account page, and, after signing out, the
sign-in page. A second walk covers the newer pages with content seeded on each: inventory
(parts, a part, its movements, the reorder list, adjustments to approve, suppliers, stock
locations, kits, import, a bin label), service contracts, notices, rules, users and roles,
jobs, maintenance checklists, a plan and a PM work order with its checklist. On each, no text on the page (text nodes, placeholders, titles, labels for screen
readers, the window title) may still be an English message of the catalogues that French
translates differently; dates read the French way ("1 janv. 2026") and a fridge's reading has
a decimal comma, also after the live table has refreshed it. Screenshots go with the output.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from french_support import untranslated
from relational_support import password
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.alerts import records as alerts
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users

pytestmark = pytest.mark.timeout(240)

#: Every text node, placeholder, title and aria-label of the page, and the window title.
TEXTS_JS = """() => {
  const out = [];
  const walker = document.createTreeWalker(document.body, NodeFilter.SHOW_TEXT);
  while (walker.nextNode()) {
    const node = walker.currentNode, parent = node.parentElement;
    if (!parent || parent.closest("script, style, template, code, pre, textarea")) { continue; }
    out.push(node.textContent);
  }
  document.querySelectorAll("[placeholder], [title], [aria-label]").forEach((el) => {
    ["placeholder", "title", "aria-label"].forEach((name) => { if (el.hasAttribute(name)) out.push(el.getAttribute(name)); });
  });
  document.title.split(" · ").forEach((part) => out.push(part));
  return out.map((t) => t.replace(/\\s+/g, " ").trim()).filter((t) => t);
}"""


def _untranslated(page, served) -> list[str]:
    """Return the texts of the page that are English messages (people's names are data, even
    the seeded "Vendor")."""
    from sqlalchemy import select

    from wardlink.hub.db.models import User

    with session_scope(served.engine, readonly=True) as s:
        names = set(s.scalars(select(User.display_name)))
    return untranslated(page.evaluate(TEXTS_JS), names=names)


def _seed_newer_pages(served) -> dict[str, str]:
    """Content for the newer pages: a store with a low part, a kit and an adjustment waiting for
    a manager, a contract, a rule, a checklist on a plan and its PM work order; return the pages."""
    from datetime import date, timedelta

    from inventory_support import make_store
    from sqlalchemy import update

    from wardlink.hub.db.models import Site

    from wardlink.hub.rules import editing
    from wardlink.hub.services.contracts import register as contracts
    from wardlink.hub.services.inventory import adjustments, kits, ledger
    from wardlink.hub.services.maintenance import checklists, pm, pm_generator

    system = Actor.system("i18n-walk")
    with session_scope(served.engine) as s:
        s.execute(update(Site).values(language="fr"))  # the PM order is written in its site's language
        store = make_store(s, served.clock, reorder_level="3")
        ledger.receive(s, store.part_id, bin_id=store.bin_a, quantity=2, actor=system, clock=served.clock)
        adjustments.adjust(s, store.part_id, bin_id=store.bin_a, quantity=40, reason="Recount after stocktake",
                           actor=Actor.for_user(users.find_user(s, "buyer")), clock=served.clock)
        kits.create_kit(s, {"name": "Ventilator service kit", "items": [{"part_id": store.part_id, "quantity": 2}]},
                        actor=system, clock=served.clock)
        contract = contracts.create_contract(s, {"reference": "SC-FR-1", "title": "Couverture réfrigérateurs",
                                                 "vendor_name": "Liebherr", "covers_parts": True,
                                                 "covers_labour": True, "response_hours": 8,
                                                 "starts_on": "2025-01-01", "ends_on": "2026-02-15",
                                                 "asset_tags": ["VF-0001"]}, actor=system, clock=served.clock)
        editing.create_rule(s, {"name": "fridge-warm", "kind": "threshold", "above": 8.0}, actor=system,
                            clock=served.clock)
        template = checklists.create_template(s, name="Contrôle sécurité électrique", actor=system,
                                              clock=served.clock, items=[
            {"key": "leakage", "label": "Courant de fuite", "kind": "value", "unit": "µA", "high": 500},
            {"key": "alarm", "label": "Alarme de porte", "kind": "pass_fail"}])
        anchor = (date(2026, 1, 1) - timedelta(days=365)).isoformat()
        plan = pm.create_plan(s, {"name": "Sécurité annuelle", "asset_tag": "VF-0001", "trigger": "calendar",
                                  "interval_count": 12, "interval_unit": "month", "anchor_date": anchor,
                                  "checklist_template_id": template.id}, actor=system, clock=served.clock)
        [pm_order] = pm_generator.generate_due(s, clock=served.clock).work_order_ids
        part, bin_a, supplier = store.part_id, store.bin_a, store.supplier_id
        contract_id, template_id, plan_id = contract.id, template.id, plan.id
    return {"parts": "/inventory/parts", "part": f"/inventory/parts/{part}",
            "movements": f"/inventory/parts/{part}/movements", "reorder": "/inventory/reorder",
            "adjustments": "/inventory/adjustments", "suppliers": "/inventory/suppliers",
            "supplier": f"/inventory/suppliers/{supplier}", "locations": "/inventory/locations",
            "kits": "/inventory/kits", "import": "/inventory/import", "label": f"/inventory/labels/{part}/{bin_a}",
            "contracts": "/contracts", "contract": f"/contracts/{contract_id}", "contract-new": "/contracts/new",
            "notices": "/notices", "notice-emails": "/notices/emails", "rules": "/rules",
            "rule": "/rules/fridge-warm/edit", "users": "/admin/users", "roles": "/admin/roles", "jobs": "/jobs",
            "checklists": "/maintenance/checklists", "checklist": f"/maintenance/checklists/{template_id}",
            "plan": f"/maintenance/{plan_id}", "pm-order": f"/work-orders/{pm_order}"}


def _walk(me: Session, served, shots, device: str, pages: dict[str, str]) -> dict[str, list[str]]:
    """Open each page; return the English left on each."""
    found = {}
    for name, path in pages.items():
        page = me.open(path)
        page.wait_for_load_state("load")
        if page.locator("[data-trends-url]").count():  # the dashboard's charts, drawn by the script
            page.wait_for_selector("[data-trends-url][data-loaded=true]")
        assert page.locator("html").get_attribute("lang") == "fr", path
        page.screenshot(path=shots / f"fr-{device}-{name}.png", full_page=True)
        if left := _untranslated(page, served):
            found[path] = left
        if device == "phone":
            assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"], path
    return found


def _seed(served) -> int:
    """An open corrective order on the fridge, an alert about it, and a reading of 4.5 °C.
    The administrator is called by a name, not "Administrator" (a message of the catalogues)."""
    from sqlalchemy import update

    from wardlink.hub.db.models import User

    with session_scope(served.engine) as s:
        s.execute(update(User).where(User.username == "admin").values(display_name="Camille Martin"))
        admin = Actor.for_user(users.find_user(s, "admin"))
        order = workorders.create_work_order(s, {"kind": "corrective", "title": "Porte du réfrigérateur",
                                                 "asset_tag": "VF-0001", "priority": "high"},
                                             actor=admin, clock=served.clock)
        alerts.raise_alert(s, rule="fridge-high", severity="critical", title="Réfrigérateur au-dessus de 8 °C",
                           asset_tag="VF-0001", value=9.1, actor=None, clock=served.clock)
        order_id = order.id
    served.reading("fridge1.temp", "temperature", "VF-0001", 4.5)
    return order_id


def _signed_in(chromium, served, device: str = "desktop") -> Session:
    """Sign the administrator in through the form, in whichever language it is."""
    me = Session(chromium, served, **(PHONE if device == "phone" else DESKTOP))
    page = me.open("/login")
    page.locator("#username").fill("admin")
    page.locator("#password").fill(password("admin"))
    page.locator("form button[type=submit]").click()
    page.wait_for_url(re.compile(r".*/$"))
    return me


def _french_in_db(served) -> None:
    """Make the administrator French without the forms (for tests that may run alone)."""
    from sqlalchemy import update

    from wardlink.hub.db.models import User

    with session_scope(served.engine) as s:
        s.execute(update(User).where(User.username == "admin").values(locale="fr"))


def _go_french(me: Session) -> None:
    page = me.open("/account")
    page.locator("#locale").select_option("fr")
    with page.expect_navigation():
        page.get_by_role("button", name="Save language").click()
    assert page.locator("html").get_attribute("lang") == "fr"
    assert "Votre langue a été enregistrée." in page.locator("main").inner_text()
    page = me.open("/admin/organisation")
    page.locator("details summary").first.click()
    page.locator("select[id^=site-lang-]").first.select_option("fr")
    with page.expect_navigation():
        page.get_by_role("button", name="Enregistrer le site").click()
    assert "Site enregistré." in page.locator("main").inner_text()


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_every_main_page_in_french_has_no_english_left(served, chromium, shots, device):
    order_id = _seed(served) if device == "desktop" else None
    me = _signed_in(chromium, served, device)
    if device == "desktop":
        _go_french(me)
    else:
        _french_in_db(served)
    pages = {"dashboard": "/", "assets": "/assets", "asset": "/assets/VF-0001", "work-orders": "/work-orders",
             "work-order": f"/work-orders/{order_id}" if order_id else "/work-orders?view=board",
             "plans": "/maintenance", "calendar": "/maintenance/calendar", "alerts": "/alerts",
             "gateways": "/gateways", "reports": "/reports", "audit": "/audit",
             "organisation": "/admin/organisation", "account": "/account"}
    found = _walk(me, served, shots, device, pages)
    page = me.open("/")
    if not page.get_by_role("button", name="Se déconnecter").is_visible():
        page.get_by_role("button", name="Menu").click()
    page.get_by_role("button", name="Se déconnecter").click()
    page.wait_for_url(re.compile(r".*/login"))
    page.screenshot(path=shots / f"fr-{device}-sign-in.png", full_page=True)
    assert page.get_by_label("Identifiant").is_visible() and page.get_by_label("Mot de passe").is_visible()
    if left := _untranslated(page, served):
        found["/login"] = left
    assert found == {}
    me.close()


@pytest.fixture(scope="module")
def newer_pages(served) -> dict[str, str]:
    """The newer pages, with their content seeded once for the module's hub."""
    return _seed_newer_pages(served)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_newer_pages_in_french_have_no_english_left(served, chromium, shots, newer_pages, device):
    """Inventory, contracts, notices, rules, people, jobs and checklists, each with content."""
    _french_in_db(served)
    me = _signed_in(chromium, served, device)
    found = _walk(me, served, shots, device, newer_pages)
    assert found == {}, found
    assert not me.problems, me.problems
    me.close()


def test_dates_and_readings_in_french_read_the_french_way(served, chromium, shots):
    _french_in_db(served)
    me = _signed_in(chromium, served)
    page = me.open("/assets/VF-0001")
    main = page.locator("main").inner_text()
    assert re.search(r"\b1 janv\. 2026 \d\d:\d\d:\d\d \w+", main), main[:2000]
    live = page.locator("tr[data-live-key$='/fridge1.temp'] [data-field=value]")
    assert live.inner_text() == "4,5"  # as the server wrote it
    served.clock.advance(5)
    served.reading("fridge1.temp", "temperature", "VF-0001", 6.2)
    page.wait_for_function("() => document.querySelector(\"tr[data-live-key$='/fridge1.temp'] "
                           "[data-field=value]\").textContent === '6,2'")
    page.screenshot(path=shots / "fr-asset-live.png", full_page=True)
    me.close()
