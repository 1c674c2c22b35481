"""An alert of the rules engine in Chromium, in each reader's language, on a desktop and a
390x844 phone: the engine raises it from two readings of the seeded fridge; the technician,
who reads French, sees its title, detail and automatic resolution in French with French
numbers on the alerts page and on the dashboard; the manager sees the same alert in English.
No English is left on the French alerts page and nothing is wider than the phone."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "hub"))

from french_support import untranslated
from rules_support import make_engine, point
from test_i18n_browser import TEXTS_JS
from test_ui_browser import DESKTOP, PHONE, Session

from wardlink.hub.db import session_scope
from wardlink.hub.db.models import User

pytestmark = pytest.mark.timeout(240)

RULE = {"name": "fridge-warm", "kind": "threshold", "severity": "critical", "above": 8.0, "for_s": 300,
        "match": {"metric": "temperature"}}
FRENCH = "température 9,4 °C au-dessus de 8 °C depuis 5 min"
ENGLISH = "temperature 9.4 °C above 8 °C for 5 min"


@pytest.fixture(scope="module")
def raised(served):
    """The technician reads French; the rules engine raises the fridge's alert, which a third
    reading clears (a resolved alert), and then raises it again (an open one)."""
    from sqlalchemy import update

    with session_scope(served.engine) as s:
        s.execute(update(User).where(User.username == "tech").values(locale="fr"))
    rules = make_engine(served.engine, served.clock, [RULE])
    for value in (9.4, 9.4, 5.0, 9.4, 9.4):  # five minutes apart
        rules.on_points([point("fridge1.temp", round(served.clock.now() * 1000), value)])
        served.clock.advance(300)
    return rules


def _texts(page) -> list[str]:
    return page.evaluate(TEXTS_JS)


@pytest.mark.parametrize("device", ["desktop", "phone"])
def test_the_alert_reads_in_french_for_the_french_technician_and_in_english_for_the_manager(
        served, chromium, shots, raised, device):
    context = PHONE if device == "phone" else DESKTOP
    tech = Session(chromium, served, **context).sign_in("tech")
    page = tech.open("/alerts?state=all")
    main = page.locator("main")
    main.get_by_text(FRENCH).first.wait_for()
    text = main.inner_text()
    assert ENGLISH not in text and "Condition présente depuis le" in text and "Règle fridge-warm" in text
    assert "Levée automatiquement le" in text and "revenue à 5 °C" in text
    assert untranslated([t for t in _texts(page) if "°C" in t or "fridge-warm" in t]) == []
    page.screenshot(path=shots / f"alert-fr-{device}.png", full_page=True)
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    dashboard = tech.open("/")
    dashboard.locator("main").get_by_text(FRENCH).first.wait_for()
    tech.close()

    manager = Session(chromium, served, **context).sign_in("manager")
    page = manager.open("/alerts?state=all")
    main = page.locator("main")
    main.get_by_text(ENGLISH).first.wait_for()
    text = main.inner_text()
    assert FRENCH not in text and "Condition since" in text and "Cleared automatically at" in text
    page.screenshot(path=shots / f"alert-en-{device}.png", full_page=True)
    if device == "phone":
        assert page.evaluate("document.documentElement.scrollWidth") <= PHONE["viewport"]["width"]
    manager.close()
