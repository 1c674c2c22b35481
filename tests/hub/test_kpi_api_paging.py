"""GET /api/v1/kpis gives the assets' uptime a page at a time, in the order the reports page
uses, with its paging facts; the figures above it are the whole selection's; on SQLite and
PostgreSQL."""

from __future__ import annotations

from datetime import date

from pm_support import at
from relational_support import clock, web

from wardlink.hub.db import session_scope
from wardlink.hub.services.actor import Actor
from wardlink.hub.services.people import users
from wardlink.hub.services.reports import kpis

__all__ = ["clock", "web"]

QUERY = "start=2026-01-01&end=2026-01-31"


def test_the_uptime_rows_come_a_page_at_a_time_and_add_up_to_the_whole_list(web):
    web.clock.set(at(2026, 2, 1))
    with session_scope(web.engine, readonly=True) as s:
        whole = kpis.compute(s, start=date(2026, 1, 1), end=date(2026, 1, 31),
                             actor=Actor.for_user(users.find_user(s, "manager")), clock=web.clock)
        expected = [a.as_dict() for a in whole.assets]
    assert len(expected) > 3
    client = web.client("manager")
    walked, number, first = [], 1, None
    while True:
        body = client.get(f"/api/v1/kpis?{QUERY}&per_page=3&page={number}").json
        first = first or body
        paging = body["assets_page"]
        assert (paging["page"], paging["per_page"], paging["total"]) == (number, 3, len(expected))
        assert len(body["assets"]) <= 3
        walked += body["assets"]
        if not paging["has_next"]:
            break
        number += 1
    assert walked == expected and number == paging["pages"] == -(-len(expected) // 3)
    assert first["kpis"] == whole.total.as_dict() | {"pm": first["kpis"]["pm"]}
    default = client.get(f"/api/v1/kpis?{QUERY}").json
    assert default["assets_page"]["per_page"] == 50 and default["assets"] == expected[:50]
    by_tag = client.get(f"/api/v1/kpis?{QUERY}&uptime_sort=asset&per_page=200").json["assets"]
    assert [a["asset"] for a in by_tag] == sorted(a["asset"] for a in expected)


def test_bad_paging_or_order_is_refused_with_the_field_named(web):
    client = web.client("manager")
    for query, field in (("per_page=0", "per_page"), ("per_page=201", "per_page"), ("page=x", "page"),
                         ("uptime_sort=worst", "sort")):
        answer = client.get(f"/api/v1/kpis?{QUERY}&{query}")
        assert answer.status_code == 400, query
        assert answer.json["error"]["message"].startswith(field), answer.json
