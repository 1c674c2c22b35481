"""Lists at scale: pages counted only up to a limit, honest about it, and asset search through
one folded column kept in step with every write (and filled for existing rows by migration)."""

from __future__ import annotations

from relational_support import actor, clock, engine, session
from sqlalchemy import create_engine, event, select, text

from wardlink.hub.db import upgrade
from wardlink.hub.db.models import Asset
from wardlink.hub.db.models.assets import search_text_of
from wardlink.hub.services.assets import register as assets
from wardlink.hub.services.pagination import paginate

BY_TAG = select(Asset).order_by(Asset.tag)  # the seeded site holds 14 assets


def _counts(engine):
    """Collect the COUNT statements ``engine`` runs."""
    seen: list[str] = []
    event.listen(engine, "before_cursor_execute",
                 lambda _c, _cur, statement, *_: seen.append(statement) if "count(" in statement else None)
    return seen


def test_a_total_past_the_count_limit_is_a_lower_bound_with_a_next_page(session):
    page = paginate(session, BY_TAG, 1, 3, count_limit=5)
    assert (len(page.items), page.total, page.total_exact, page.pages, page.has_next) == (3, 5, False, None, True)
    exact = paginate(session, BY_TAG, 1, 3, count_limit=20)
    assert (exact.total, exact.total_exact, exact.pages, exact.has_next) == (14, True, 5, True)
    # Page 4 reaches past the limit: counting goes to the end of the page, so 12 rows are
    # known and more than 12 match (14 do).
    deep = paginate(session, BY_TAG, 4, 3, count_limit=5)
    assert (deep.total, deep.total_exact, deep.has_next) == (12, False, True)
    assert [a.tag for a in deep.items] == [a.tag for a in session.scalars(BY_TAG)][9:12]


def test_the_last_page_is_known_without_counting(session, engine):
    counts = _counts(engine)
    last = paginate(session, BY_TAG, 5, 3, count_limit=5)
    assert (len(last.items), last.total, last.total_exact, last.pages, last.has_next) == (2, 14, True, 5, False)
    single = paginate(session, BY_TAG.where(Asset.tag == "VENT-0001"), 1, 50)
    assert (single.total, single.pages, single.has_next) == (1, 1, False)
    assert counts == []
    beyond = paginate(session, BY_TAG, 9, 3, count_limit=5)  # past the end: counted, to say so
    assert (beyond.items, beyond.total, beyond.total_exact, beyond.has_next) == ([], 14, True, False)
    assert len(counts) == 1


def test_search_follows_edits_folds_case_and_never_spans_two_fields(session, clock):
    manager, viewer = actor(session, "manager"), actor(session, "viewer")
    assets.create_asset(session, {"tag": "MON-0900", "name": "Straße monitor", "category": "Monitor",
                                  "serial": "SN-77"}, actor=manager, clock=clock)

    def found(q):
        return [a.tag for a in assets.list_assets(session, actor=viewer, q=q).items]

    assert found("STRASSE") == found("straße") == ["MON-0900"]
    assert found("mon-0900 straße") == []  # tag and name are separate fields
    assert found("monitor\x1fmonitor") == []  # name then category, not even with the separator
    assets.update_asset(session, "MON-0900", {"name": "Telemetry hub 4"}, actor=manager, clock=clock)
    assert found("straße") == [] and found("TELEMETRY HUB") == ["MON-0900"]
    stored = session.scalar(select(Asset.search_text).where(Asset.tag == "MON-0900"))
    assert stored == "mon-0900\x1ftelemetry hub 4\x1fmonitor\x1f\x1f\x1fsn-77"


def test_migration_fills_the_search_column_of_existing_assets(tmp_path):
    url = f"sqlite:///{tmp_path / 'old.db'}"
    upgrade(url, "0006_enrollment")
    eng = create_engine(url)
    rows = [{"tag": f"OLD-{i}", "name": f"Infusion Pump {i}", "category": "Pump", "make": "Ä-Med",
             "model": "", "serial": f"S{i}"} for i in range(7)]
    with eng.begin() as conn:
        columns = "tag, name, category, make, model, serial, owner_type, lifecycle_stage, " \
                  "equipment_status, maintenance_status, life_support, notes, created_at, updated_at"
        conn.execute(text(f"INSERT INTO assets ({columns}) VALUES (:tag, :name, :category, :make, :model, "
                          ":serial, 'hospital', 'in_use', 'in_service', 'compliant', 0, '', "
                          "'2026-01-01 00:00:00', '2026-01-01 00:00:00')"), rows)
    upgrade(url)
    with eng.connect() as conn:
        stored = dict(conn.execute(text("SELECT tag, search_text FROM assets")).all())
    eng.dispose()
    assert stored == {r["tag"]: search_text_of(r) for r in rows}
    assert stored["OLD-3"] == "old-3\x1finfusion pump 3\x1fpump\x1fä-med\x1f\x1fs3"
