"""Request JSON the stores can hold: text with an unpaired surrogate is not JSON we accept.

``"\\ud956"`` is valid JSON but not text: neither SQLite nor PostgreSQL can store it and the
audit chain cannot hash it, so a body holding one is treated as unreadable JSON (a 400 from
every route) instead of failing deep inside a write with a 500.
"""

from __future__ import annotations

from typing import Any

from flask.json.provider import DefaultJSONProvider


def _check_text(value: Any) -> None:
    if isinstance(value, str):
        value.encode("utf-8")  # UnicodeEncodeError (a ValueError) on an unpaired surrogate
    elif isinstance(value, dict):
        for key, item in value.items():
            _check_text(key)
            _check_text(item)
    elif isinstance(value, list):
        for item in value:
            _check_text(item)


class StoredTextJSONProvider(DefaultJSONProvider):
    """Flask's JSON, refusing (ValueError, as for malformed JSON) text no store can hold."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        value = super().loads(s, **kwargs)
        _check_text(value)
        return value
