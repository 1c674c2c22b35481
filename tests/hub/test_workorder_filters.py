"""Work-order lists filtered by local dates and by assignee, in the list page, the board and the
JSON API: ranges read in the site's time zone (Europe/London in the demo hospital), a day
whose clocks change, clear errors that keep what was typed, and filters that survive paging."""

from __future__ import annotations

import re
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from relational_support import actor, clock, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.maintenance import workorders
from wardlink.hub.services.people import users
from wardlink.hub.services.actor import Actor


def _at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=UTC).timestamp()


#: Opening times (UTC) around the start of British Summer Time on Sunday 29 March 2026, when
#: the local day runs from 00:00 GMT (00:00Z) to 00:00 BST (23:00Z) and is 23 hours long.
OPENED = {
    "before": "2026-03-28T23:30:00",  # 23:30 GMT on the 28th
    "first": "2026-03-29T00:30:00",   # 00:30 GMT on the 29th
    "last": "2026-03-29T22:30:00",    # 23:30 BST on the 29th
    "after": "2026-03-29T23:30:00",   # 00:30 BST on the 30th
}


def _open_orders(web, **assign) -> dict[str, tuple[int, str]]:
    """Open one order at each time of :data:`OPENED`; return name -> (id, code)."""
    made = {}
    for name, when in OPENED.items():
        web.clock.set(_at(when))
        with session_scope(web.engine) as s:
            manager = actor(s, "manager")
            data = {"kind": "corrective", "title": f"Filter {name}", "asset_tag": "VF-0001"}
            if name in assign:
                data["assignee_id"] = users.find_user(s, assign[name]).id
            order = workorders.create_work_order(s, data, actor=manager, clock=web.clock)
            made[name] = (order.id, order.code)
    return made


def _token(web, username: str) -> dict:
    with session_scope(web.engine) as s:
        _, token = users.create_api_token(s, name="filters", actor=Actor.for_user(users.find_user(s, username)),
                                          clock=web.clock)
    return {"Authorization": f"Bearer {token}"}


def test_a_local_day_with_a_clock_change_and_ranges_over_the_api(web):
    made = _open_orders(web)
    client, manager = web.app.test_client(), _token(web, "manager")

    def ids(query: str) -> list[int]:
        response = client.get(f"/api/v1/work-orders?sort=oldest&{query}", headers=manager)
        assert response.status_code == 200, response.text
        return [o["id"] for o in response.json["items"]]

    # The 29th is 23 hours long: 00:00Z up to (not including) 23:00Z.
    assert ids("date_from=2026-03-29&date_to=2026-03-29") == [made["first"][0], made["last"][0]]
    assert ids("dates=opened&date_from=2026-03-30") == [made["after"][0]]
    assert ids("date_to=2026-03-28") == [made["before"][0]]
    assert ids("date_from=2026-03-28&date_to=2026-03-30") == [m[0] for m in made.values()]
    # Resolution due dates, as local days in London.
    london = ZoneInfo("Europe/London")
    due = {}
    for order_id, _ in made.values():
        body = client.get(f"/api/v1/work-orders/{order_id}", headers=manager).json
        due[order_id] = datetime.fromisoformat(body["sla"]["resolution_due_at"]).astimezone(london).date()
    day = due[made["first"][0]]
    assert ids(f"dates=due&date_from={day}&date_to={day}") == [i for i, d in due.items() if d == day]
    assert ids("dates=closed&date_from=2026-03-01") == []

    backwards = client.get("/api/v1/work-orders?date_from=2026-03-29&date_to=2026-03-28", headers=manager)
    assert backwards.status_code == 400
    assert backwards.json["error"]["message"] == (
        "date_to: must not be before date_from (2026-03-29), got 2026-03-28")
    for bad in ("date_from=29/03/2026", "date_to=2026-02-30", "dates=fixed"):
        response = client.get(f"/api/v1/work-orders?{bad}", headers=manager)
        assert response.status_code == 400, bad
        assert bad.split("=")[0] in response.json["error"]["message"]


def test_assignee_filter_and_the_people_to_choose_from(web):
    made = _open_orders(web, first="tech", last="vendor")
    client = web.app.test_client()
    manager, tech = _token(web, "manager"), _token(web, "tech")
    tech_id = next(u["id"] for u in client.get("/api/v1/work-orders/assignee-choices", headers=manager)
                   .json["items"] if u["username"] == "tech")

    def ids(query: str, who=manager) -> set[int]:
        response = client.get(f"/api/v1/work-orders?{query}", headers=who)
        assert response.status_code == 200, response.text
        return {o["id"] for o in response.json["items"]}

    assert ids(f"assigned_to={tech_id}") == {made["first"][0]} == ids("assigned_to=me", tech)
    assert ids("assigned_to=none") == {made["before"][0], made["after"][0]}
    assert ids(f"assigned_to={tech_id}&date_from=2026-03-30") == set()
    refused = client.get("/api/v1/work-orders?assigned_to=someone", headers=manager)
    assert refused.status_code == 400
    assert refused.json["error"]["message"] == "assigned_to: must be a user id, 'me' or 'none', got 'someone'"

    choices = {u["username"] for u in client.get("/api/v1/work-orders/assignee-choices", headers=manager)
               .json["items"]}
    assert {"tech", "vendor", "pharmtech"} <= choices
    # Staff see only the orders they requested: nobody they could filter by is listed.
    assert web.client("nurse").get("/api/v1/work-orders/assignee-choices").json["items"] == []
    assert client.get("/api/v1/work-orders/assignee-choices", headers=tech).status_code == 200


def test_the_list_page_and_board_filter_by_dates_and_keep_filters_across_pages(web):
    made = _open_orders(web, first="tech")
    for n in range(26):  # a second page of orders on the 29th
        web.clock.set(_at("2026-03-29T12:00:00") + n)
        with session_scope(web.engine) as s:
            workorders.create_work_order(s, {"kind": "corrective", "title": f"Bulk {n}"},
                                         actor=actor(s, "manager"), clock=web.clock)
    client = web.client("manager")
    page = client.get("/work-orders?state=all&dates=opened&date_from=2026-03-29&date_to=2026-03-29")
    assert page.status_code == 200
    html = page.text
    assert made["before"][1] not in html and made["after"][1] not in html
    assert "Page 1 of 2 (28 in all)" in html
    nxt = re.search(r'href="([^"]+)" rel="next"', html).group(1).replace("&amp;", "&")
    assert "date_from=2026-03-29" in nxt and "date_to=2026-03-29" in nxt and "dates=opened" in nxt
    second = client.get(nxt).text
    assert made["before"][1] not in second and made["after"][1] not in second
    assert second.count('data-wo="') == 3
    assert 'value="2026-03-29"' in second

    board = client.get(f"/work-orders?view=board&date_from=2026-03-29&date_to=2026-03-29&assigned_to={_tech_id(web)}").text
    assert made["first"][1] in board and made["last"][1] not in board

    bad = client.get("/work-orders?date_from=2026-03-29&date_to=2026-03-01&q=pump")
    assert bad.status_code == 400
    assert "date_to: must not be before date_from (2026-03-29), got 2026-03-01" in bad.text
    assert 'value="2026-03-01"' in bad.text and 'value="pump"' in bad.text


def _tech_id(web) -> int:
    with session_scope(web.engine, readonly=True) as s:
        return users.find_user(s, "tech").id
