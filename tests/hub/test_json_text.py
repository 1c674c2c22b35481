"""A JSON body holding text no store can keep (an unpaired surrogate) is unreadable JSON, a
400 from the route, instead of a 500 from the database or the audit chain."""

from __future__ import annotations

from flask import request
from relational_support import clock, web

__all__ = ["clock", "web"]


def test_an_unpaired_surrogate_makes_the_body_unreadable_and_paired_text_passes(web):
    lone = b'{"rules": [{"name": "fridge", "description": "\\ud956 door"}]}'
    paired = b'{"rules": [{"name": "fridge", "description": "\\ud83d\\ude00 door"}]}'
    with web.app.test_request_context("/api/v1/rules/import", method="POST", data=lone,
                                      content_type="application/json"):
        assert request.get_json(silent=True) is None
    with web.app.test_request_context("/api/v1/rules/import", method="POST", data=paired,
                                      content_type="application/json"):
        assert request.get_json(silent=True)["rules"][0]["description"] == "\U0001F600 door"
