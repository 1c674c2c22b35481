"""The work-order board's columns, read together, hold what a list page of each state holds:
the newest orders of the state, filtered, and the state's count; on SQLite and PostgreSQL."""

from __future__ import annotations

from relational_support import actor, clock, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.maintenance import workorder_board, workorders
from wardlink.hub.services.people import users

__all__ = ["clock", "web"]


def test_each_column_is_the_newest_orders_of_its_state_with_the_states_count(web):
    with session_scope(web.engine) as s:
        manager = actor(s, "manager")
        tech = users.find_user(s, "tech").id
        for n in range(7):
            web.clock.advance(60)
            data = {"kind": "corrective", "title": f"Board {n}", "asset_tag": "VF-0001" if n % 2 else "IP-0101"}
            if n < 4:
                data["assignee_id"] = tech
            workorders.create_work_order(s, data, actor=manager, clock=web.clock)
    for filters in ({}, {"asset_tag": "VF-0001"}, {"assigned_to": str(tech)}, {"q": "Board 1"}):
        with session_scope(web.engine, readonly=True) as s:
            manager = actor(s, "manager")
            columns = workorder_board.board(s, actor=manager, states=workorders.BACKLOG_STATES, limit=3, **filters)
            assert [state for state, _ in columns] == list(workorders.BACKLOG_STATES)
            for state, page in columns:
                listed = workorders.list_work_orders(s, actor=manager, state=state, sort="newest", per_page=3,
                                                     **filters)
                assert [o.id for o in page.items] == [o.id for o in listed.items], (state, filters)
                assert (page.total, page.total_exact) == (listed.total, listed.total_exact), (state, filters)
        assert any(page.total > len(page.items) for _, page in columns) or filters, filters
    client = web.client("manager")
    board = client.get("/work-orders?view=board&asset=VF-0001").text
    assert "Board 5" in board and "Board 4" not in board
