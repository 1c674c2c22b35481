"""Every JSON example in docs/protocol.md validates against the schema and the decoder."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from wardlink import protocol as p
from wardlink.schema import validator

DOC = Path(__file__).resolve().parents[1] / "docs" / "protocol.md"
EXAMPLE = re.compile(r"```json\n(.*?)```\n<!-- example: ([a-z-]+)(?: ([a-z-]+))? -->", re.S)
NOW = 1_795_345_200_000  # an hour after the examples


def examples():
    found = EXAMPLE.findall(DOC.read_text())
    assert len(found) >= 7, "docs/protocol.md lost its examples"
    return found


@pytest.mark.parametrize("body, kind, command", examples())
def test_doc_example_is_valid(body, kind, command):
    obj = json.loads(body)
    errors = list(validator(kind).iter_errors(obj))
    assert not errors, [e.message for e in errors]
    topic = p.topic("gw-icu-01", kind, command or None)
    decoded = p.decode(topic, body.encode(), now_ms=NOW)
    assert p.parse_topic(topic).kind.value == kind
    assert decoded.to_dict()["v"] == 1


def test_every_topic_kind_has_an_example():
    kinds = {kind for _, kind, _ in examples()}
    assert kinds == {k.value for k in p.Kind}
