"""The dashboard's trends and the reports page's charts and KPI table in a real Chromium, on a
desktop screen and a 390x844 phone.

The hub holds the hand-counted rows of tests/hub/test_trends.py (a hospital in New York, work
orders and alerts of department TRD), the PM services of tests/hub/test_kpi.py (department SVC)
and its repairs (department REP); its clock stands at Wednesday 2026-01-14 12:00 UTC. What the
charts must show is read from the JSON API the same person may call.
"""

from __future__ import annotations

import pytest
from test_kpi import build_repairs, build_services
from test_trends import BACKLOG, NOW, WEEKS, _build
from test_ui_browser import DESKTOP, PHONE, Hub, Session, _require_tools

from wardlink.hub.db import session_scope
from wardlink.hub.services.reports import export

pytestmark = pytest.mark.timeout(180)

SCREENS = {"desktop": DESKTOP, "phone": PHONE, "wide": {"viewport": {"width": 1280, "height": 900}}}
PERIOD = "start=2026-01-01&end=2026-01-10"


@pytest.fixture(scope="module")
def shots(artifacts_dir):
    folder = artifacts_dir / "screenshots"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@pytest.fixture(scope="module")
def served(tmp_path_factory):
    """The seeded hospital with the trend, PM and repair rows, its clock at ``NOW``."""
    _require_tools()
    server = Hub(tmp_path_factory.mktemp("charts-browser"))
    with session_scope(server.engine) as s:
        _build(s)
        build_services(s)
        build_repairs(s)
    server.clock.set(NOW.timestamp())
    yield server
    server.close()


def _no_overflow(page) -> None:
    width = page.evaluate("() => [document.documentElement.scrollWidth, document.documentElement.clientWidth]")
    assert width[0] <= width[1], f"the page scrolls sideways: {width}"


def _plot_data(page, figure) -> list:
    return page.evaluate("el => el._plot.data.slice(1)", figure.element_handle())


@pytest.mark.parametrize("screen", ["desktop", "phone"])
def test_the_dashboard_draws_the_four_trends_from_the_api(served, chromium, screen, shots):
    me = Session(chromium, served, **SCREENS[screen]).sign_in("admin")
    page = me.page
    box = page.locator("section.trends[data-loaded=true]")
    box.wait_for()
    body = page.request.get(served.base + "/api/v1/dashboard/trends").json()
    series = body["series"]
    assert body["zone"] == "America/New_York" and set(series) == {"backlog", "pm_compliance", "alerts", "gateways"}
    assert [p["label"] for p in series["backlog"]["points"]] == WEEKS
    assert [p["value"] for p in series["backlog"]["points"]] != BACKLOG  # SVC's PM orders count too
    labels = {"backlog": "Open at the week's end", "alerts": "Alerts opened", "pm_compliance": "PM on time"}
    for key, label in labels.items():
        figure = box.locator(f'figure[data-trend="{key}"]')
        figure.locator(".uplot canvas").first.wait_for()
        points = series[key]["points"]
        assert figure.get_attribute("data-drawn") == str(len(points))
        assert figure.get_attribute("data-series") == label
        assert _plot_data(page, figure) == [[p["value"] for p in points]]
        legend = figure.locator(".u-legend").inner_text()
        assert label in legend and "From (GMT-5)" in legend  # en-GB names New York's zone so
    assert any(p["value"] is not None for p in series["pm_compliance"]["points"])
    gateways = box.locator('figure[data-trend="gateways"]')
    gateways.locator(".uplot canvas").first.wait_for()
    g = series["gateways"]
    assert gateways.locator("[data-trend-total]").inner_text() == f"{g['online']} of {g['total']} online now"
    assert _plot_data(page, gateways) == [[g["by_state"][k] for k in ("online", "stalled", "offline", "unknown")]]
    assert "Weeks and months in America/New_York" in box.locator("[data-trends-status]").inner_text()
    # Readable where it is read: side by side on a desktop, stacked on a phone, never wider.
    boxes = [box.locator(f'figure[data-trend="{k}"]').bounding_box() for k in
             ("backlog", "pm_compliance", "alerts", "gateways")]
    width = SCREENS[screen]["viewport"]["width"]
    assert all(b["x"] >= 0 and b["x"] + b["width"] <= width for b in boxes)
    if screen == "phone":
        assert all(a["y"] + a["height"] <= b["y"] for a, b in zip(boxes, boxes[1:])), boxes
    else:
        assert boxes[0]["y"] == boxes[1]["y"]
    _no_overflow(page)
    box.screenshot(path=str(shots / f"dashboard-trends-{screen}.png"))
    me.close()


def test_a_department_without_trends_is_told_so(served, chromium):
    me = Session(chromium, served, **PHONE).sign_in("nurse")  # staff of ICU: no KPIs, no gateways
    box = me.page.locator("section.trends[data-loaded=true]")
    box.wait_for()
    assert box.locator('figure[data-trend="pm_compliance"]').is_hidden()
    assert box.locator('figure[data-trend="gateways"]').is_hidden()
    backlog = box.locator('figure[data-trend="backlog"]')
    assert backlog.get_attribute("data-drawn") == "empty"
    assert backlog.locator("[data-trend-empty]").inner_text() == "No open work orders in the last 12 weeks."
    assert box.locator('figure[data-trend="alerts"] [data-trend-empty]').inner_text() == \
        "No alerts opened in the last 12 weeks."
    assert backlog.locator("canvas").count() == 0
    me.close()


@pytest.mark.parametrize("screen", ["wide", "phone"])
def test_the_reports_page_charts_the_departments_and_its_table_fits(served, chromium, screen, shots):
    me = Session(chromium, served, **SCREENS[screen]).sign_in("admin")
    page = me.open(f"/reports?{PERIOD}")
    body = page.request.get(f"{served.base}/api/v1/kpis?{PERIOD}").json()
    departments = body["departments"]
    codes = [d["department"]["code"] if d["department"] else "(none)" for d in departments]
    expected = {"mttr": [[d["kpis"]["mttr_hours"] for d in departments]],
                "mtbf": [[d["kpis"]["mtbf_hours"] for d in departments]],
                "uptime": [[d["kpis"]["uptime_pct"] for d in departments],
                           [d["kpis"]["availability_pct"] for d in departments]]}
    assert "REP" in codes and any(v is not None for v in expected["mttr"][0])
    for key, values in expected.items():
        figure = page.locator(f'figure[data-chart-key="{key}"]')
        figure.locator(".uplot canvas").first.wait_for()
        assert figure.get_attribute("data-drawn") == str(len(codes))
        assert _plot_data(page, figure) == values
    assert page.locator('figure[data-chart-key="uptime"]').get_attribute("data-series") == "Uptime|Availability"
    # The table: the usual columns under their labels, one page of ten rows, no sideways scrolling.
    table = page.locator("#kpi-table")
    headings = table.locator("thead th").all_inner_texts()
    assert headings == ["Department", *(export.LABELS[c] for c in export.DEFAULT_COLUMNS)]
    assert not any("_" in h for h in headings)
    assert table.locator("tbody tr").count() == 10
    fits = page.evaluate("el => [el.scrollWidth, el.clientWidth]", page.locator(".table-fit").element_handle())
    assert fits[0] <= fits[1], fits
    _no_overflow(page)
    page.screenshot(path=str(shots / f"reports-{screen}.png"), full_page=True)
    # The most columns one may choose, those with the longest labels, fit as well.
    widest = sorted(export.HEADER[1:], key=lambda c: -len(export.LABELS[c]))[:export.MAX_COLUMNS]
    page = me.open(f"/reports?{PERIOD}&" + "&".join(f"col={c}" for c in widest))
    assert page.locator("#kpi-table thead th").count() == export.MAX_COLUMNS + 1
    fits = page.evaluate("el => [el.scrollWidth, el.clientWidth]", page.locator(".table-fit").element_handle())
    assert fits[0] <= fits[1], fits
    _no_overflow(page)
    me.close()


def test_columns_are_chosen_and_kept_while_paging(served, chromium):
    me = Session(chromium, served, **SCREENS["wide"]).sign_in("admin")
    page = me.open(f"/reports?{PERIOD}")
    page.locator(".column-chooser summary").click()
    page.get_by_label("Repairs", exact=True).check()
    page.get_by_label("Downtime (h)", exact=True).uncheck()
    page.get_by_role("button", name="Show these columns").click()
    page.wait_for_url("**col=repairs**")
    chosen = [c for c in export.HEADER[1:] if c == "repairs" or (c in export.DEFAULT_COLUMNS and c != "downtime_hours")]
    headings = page.locator("#kpi-table thead th").all_inner_texts()
    assert headings == ["Department", *(export.LABELS[c] for c in chosen)]
    first_page = page.locator("#kpi-table tbody th").all_inner_texts()
    assert first_page[0] == "All departments" and len(first_page) == 10
    page.get_by_role("link", name="Next").click()
    page.wait_for_url("**table_page=2**")
    assert page.locator("#kpi-table thead th").all_inner_texts() == headings
    rest = page.locator("#kpi-table tbody th").all_inner_texts()
    assert rest and not set(rest) & set(first_page)
    assert "Page 2 of 2 (12 in all)" in page.locator(".pagination").inner_text()
    _no_overflow(page)
    me.close()
