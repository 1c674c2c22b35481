"""The KPI report's PDF, read back with pdftotext -bbox: its headings sit in their own columns and
above the table's rows, never over them; and the column labels of the pages.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from datetime import date

import pytest
from pm_support import at
from relational_support import engine, session
from test_kpi import build_repairs, build_services

from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.reports import export, kpis
from wardlink.hub.services.reports.pdf import PDF_COLUMNS, report_pdf
from wardlink.clock import ManualClock

WORD = re.compile(r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)</word>')


def _words(pdf: bytes, tmp_path) -> list[tuple[float, float, float, float, str]]:
    if shutil.which("pdftotext") is None:
        pytest.fail("needs poppler-utils (pdftotext)")
    source = tmp_path / "kpis.pdf"
    source.write_bytes(pdf)
    subprocess.run(["pdftotext", "-f", "1", "-l", "1", "-bbox", str(source), str(tmp_path / "kpis.html")],
                   check=True)
    return [(float(a), float(b), float(c), float(d), w)
            for a, b, c, d, w in WORD.findall((tmp_path / "kpis.html").read_text())]


def test_the_pdf_headings_stay_in_their_columns_and_above_the_rows(session, tmp_path):
    build_repairs(session)
    build_services(session)
    report = kpis.compute(session, start=date(2026, 1, 1), end=date(2026, 1, 10), actor=None,
                          clock=ManualClock(at(2026, 1, 20)))
    words = _words(report_pdf(report, site_name="Royal General Hospital"), tmp_path)
    heading = next(w for w in words if w[4] == "Department")
    first_row = next(w for w in words if w[4] == "all" and w[1] > heading[3])  # the selection's row
    above = [w for w in words if w[3] <= first_row[1]]
    rows = [w for w in words if w[1] >= first_row[1]]
    assert above and rows and len(above) + len(rows) == len(words)  # every word is in one of them
    # The header (title, period, column headings) ends before the first row starts.
    assert max(w[3] for w in above) < min(w[1] for w in rows)
    # Each heading wraps inside its column: no two words of one heading line overlap.
    period = next(w for w in words if w[4] == "Period")
    headings = [w for w in above if w[1] > period[3]]
    lines: dict[float, list] = {}
    for w in headings:
        lines.setdefault(round(w[1], 1), []).append(w)
    assert len(lines) >= 2  # the long headings wrapped onto a second line
    for line in lines.values():
        line.sort()
        for left, right in zip(line, line[1:]):
            assert left[2] <= right[0], f"{left[4]!r} runs into {right[4]!r}"
    text = " ".join(w[4] for w in sorted(headings, key=lambda w: (w[0], w[1])))
    for _, label in PDF_COLUMNS:
        assert all(part in text for part in re.split(r"[\s-]+", label)), (label, text)


def test_every_column_has_one_label_and_the_choice_is_checked():
    assert set(export.LABELS) == set(export.HEADER)
    assert export.choose_columns([]) == export.DEFAULT_COLUMNS
    # In table order, whatever order they were asked in.
    assert export.choose_columns(["uptime_pct", "failures"]) == ("failures", "uptime_pct")
    with pytest.raises(InvalidInput, match="col: no column 'nonsense'"):
        export.choose_columns(["failures", "nonsense"])
    with pytest.raises(InvalidInput, match="at most 14 columns"):
        export.choose_columns(list(export.HEADER[1:16]))


def test_the_pdf_in_french_has_french_headings_dates_and_still_fits(session, tmp_path):
    """The same report for a French site: title, period line and column headings in French,
    dates written the French way, the headings still inside their columns."""
    build_repairs(session)
    build_services(session)
    report = kpis.compute(session, start=date(2026, 1, 1), end=date(2026, 1, 10), actor=None,
                          clock=ManualClock(at(2026, 1, 20)))
    words = _words(report_pdf(report, site_name="Hôpital du Fleuve", locale="fr"), tmp_path)
    text = " ".join(w[4] for w in words)
    assert "Hôpital du Fleuve: indicateurs de maintenance" in text
    assert "Période du 1 janv. 2026 au 10 janv. 2026" in text
    assert re.search(r"chiffres au \d+ janv\. 2026 \d\d:\d\d", text), text[:400]
    assert "Service" in text and "Department" not in text and "Period" not in text
    heading = next(w for w in words if w[4] == "Service")
    first_row = next(w for w in words if w[1] > heading[3])
    headings = [w for w in words if heading[1] - 1 <= w[1] and w[3] < first_row[1]]
    lines: dict[float, list] = {}
    for w in headings:
        lines.setdefault(round(w[1], 1), []).append(w)
    for line in lines.values():
        line.sort()
        for left, right in zip(line, line[1:]):
            assert left[2] <= right[0], f"{left[4]!r} runs into {right[4]!r}"
