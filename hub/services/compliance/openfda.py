"""Reading an openFDA device recall or enforcement file (pure: bytes in, records out).

openFDA serves two device datasets a hub can download and import offline (the zip archive
openFDA serves, or the JSON file in it), both a JSON object ``{"meta": {...}, "results": [...]}``:

- ``device/recall`` (one record per recalled product): ``product_res_number`` (the Z-number),
  ``res_event_number``, ``cfres_id``, ``event_date_initiated`` (``YYYY-MM-DD``),
  ``recall_status``, ``recalling_firm``, ``product_code``, ``product_description``,
  ``code_info``, ``k_numbers`` (a list), ``reason_for_recall``, ``action``;
- ``device/enforcement`` (the weekly enforcement report): ``recall_number`` (the same
  Z-number), ``event_id``, ``recall_initiation_date`` (``YYYYMMDD``), ``status``,
  ``classification`` (``Class I``...), ``recalling_firm``, ``product_description``,
  ``code_info``, ``reason_for_recall``; the product code, when present, in ``openfda``.

Both name a product by its Z-number, so a product imported from either file is the same recall.
A record that cannot be read is refused with its position and the reason; the rest are read.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from dataclasses import dataclass
from datetime import date
from typing import Any

from wardlink.hub.errors import InvalidInput, Message
from wardlink.hub.i18n import N_

#: Largest file the hub reads, unpacked (openFDA's whole device recall dataset is well below it).
MAX_BYTES = 256 * 1024 * 1024
_PRODUCT_CODE = re.compile(r"^[A-Z]{3}$")
#: Longest text kept per field, as the table holds it.
_LIMITS = {"recalling_firm": 200, "reference": 64, "event_number": 32, "classification": 32,
           "recall_status": 64, "k_numbers": 500}


@dataclass(frozen=True)
class RecallRecord:
    """One recalled product as read from a file or typed into the notice form."""

    regulator: str
    reference: str
    source: str
    recalling_firm: str
    product_description: str
    product_code: str = ""
    event_number: str = ""
    code_info: str = ""
    k_numbers: str = ""
    classification: str = ""
    recall_status: str = ""
    reason: str = ""
    action: str = ""
    initiated_on: date | None = None

    @property
    def model_text(self) -> str:
        """Return the text a model number is looked for in (description and code information)."""
        return f"{self.product_description}\n{self.code_info}"


@dataclass(frozen=True)
class RefusedRecord:
    """A record of the file that was not imported, and why."""

    position: int
    reference: str
    reason: Message


@dataclass(frozen=True)
class RecallFile:
    """What a file held: the records read, in file order, and the ones refused."""

    records: list[tuple[int, RecallRecord]]
    refused: list[RefusedRecord]

    @property
    def total(self) -> int:
        """Return how many records the file held."""
        return len(self.records) + len(self.refused)


class BadRecord(InvalidInput):
    """One record of a file cannot be imported."""


def read_file(content: bytes) -> RecallFile:
    """Read an openFDA device recall or enforcement file; raise :class:`InvalidInput` when the
    file itself is not one, and list each unreadable record with its reason."""
    if content[:4] == b"PK\x03\x04":
        content = _unzip(content)
    if len(content) > MAX_BYTES:
        raise InvalidInput(N_("file: is larger than %(mb)s MB"), mb=MAX_BYTES // (1024 * 1024))
    try:
        document = json.loads(content.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as exc:
        raise InvalidInput(N_("file: is not JSON (%(detail)s)"), detail=str(exc)[:200]) from None
    results = document.get("results") if isinstance(document, dict) else None
    if not isinstance(results, list):
        raise InvalidInput(N_("file: is not an openFDA file (no \"results\" list)"))
    records, refused = [], []
    for position, raw in enumerate(results, start=1):
        try:
            records.append((position, parse_record(raw)))
        except InvalidInput as exc:
            refused.append(RefusedRecord(position, _reference_of(raw), exc.message))
    return RecallFile(records, refused)


def _unzip(content: bytes) -> bytes:
    """Return the JSON file inside a zip archive, as openFDA's downloads come."""
    try:
        with zipfile.ZipFile(io.BytesIO(content)) as archive:
            members = [m for m in archive.infolist() if m.filename.lower().endswith(".json")]
            if len(members) != 1:
                raise InvalidInput(N_("file: the zip archive must hold one .json file, it holds %(count)s"),
                                   count=len(members))
            if members[0].file_size > MAX_BYTES:
                raise InvalidInput(N_("file: is larger than %(mb)s MB"), mb=MAX_BYTES // (1024 * 1024))
            return archive.read(members[0])
    except (zipfile.BadZipFile, OSError) as exc:
        raise InvalidInput(N_("file: is not a readable zip archive (%(detail)s)"), detail=str(exc)[:200]) from None


def _reference_of(raw: Any) -> str:
    if not isinstance(raw, dict):
        return ""
    for key in ("product_res_number", "recall_number", "cfres_id"):
        if isinstance(raw.get(key), (str, int)) and str(raw[key]).strip():
            return str(raw[key]).strip()[:64]
    return ""


def _text(raw: dict, key: str, *, required: bool = False) -> str:
    value = raw.get(key)
    if value is None or value == "":
        if required:
            raise BadRecord(N_("%(field)s: is missing"), field=key)
        return ""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        value = str(value)
    if not isinstance(value, str):
        raise BadRecord(N_("%(field)s: must be text, got %(type)s"), field=key, type=type(value).__name__)
    value = " ".join(value.split()) if key in _LIMITS else value.strip()
    if required and not value:
        raise BadRecord(N_("%(field)s: is missing"), field=key)
    return value


def _first(raw: dict, *keys: str) -> tuple[str, str]:
    for key in keys:
        value = _text(raw, key)
        if value:
            return key, value
    return keys[0], ""


def _date(raw: dict, *keys: str) -> date | None:
    key, value = _first(raw, *keys)
    if not value:
        return None
    digits = value.replace("-", "")
    try:
        if len(digits) != 8 or not digits.isdigit():
            raise ValueError(value)
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        raise BadRecord(N_("%(field)s: must be a date (YYYY-MM-DD or YYYYMMDD), got %(value)r"), field=key,
                        value=value[:40]) from None


def _product_code(raw: dict) -> str:
    value: Any = raw.get("product_code")
    if value in (None, "") and isinstance(raw.get("openfda"), dict):
        value = raw["openfda"].get("product_code")
    if isinstance(value, list):
        value = value[0] if value else ""
    if value in (None, ""):
        return ""
    code = str(value).strip().upper()
    if not _PRODUCT_CODE.match(code):
        raise BadRecord(N_("%(field)s: must be three letters, got %(value)r"), field="product_code",
                        value=str(value)[:40])
    return code


def _k_numbers(raw: dict) -> str:
    value = raw.get("k_numbers")
    if value in (None, ""):
        return ""
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(i, str) for i in items):
        raise BadRecord(N_("%(field)s: must be a list of 510(k) numbers"), field="k_numbers")
    return ", ".join(i.strip() for i in items if i.strip())


def parse_record(raw: Any) -> RecallRecord:
    """Return the recall one openFDA result describes; raise :class:`BadRecord` naming the field."""
    if not isinstance(raw, dict):
        raise BadRecord(N_("record: must be a JSON object, got %(type)s"), type=type(raw).__name__)
    enforcement = "recall_number" in raw and "product_res_number" not in raw
    key, reference = _first(raw, "product_res_number", "recall_number")
    if not reference and _text(raw, "cfres_id"):
        reference = f"cfres-{_text(raw, 'cfres_id')}"
    if not reference:
        raise BadRecord(N_("%(field)s: is missing (no product_res_number, recall_number or cfres_id)"),
                        field="product_res_number")
    fields = {
        "reference": reference, "event_number": _first(raw, "res_event_number", "event_id")[1],
        "recalling_firm": _text(raw, "recalling_firm", required=True),
        "product_description": _text(raw, "product_description", required=True),
        "classification": _text(raw, "classification"),
        "recall_status": _first(raw, "recall_status", "status")[1],
        "k_numbers": _k_numbers(raw),
    }
    for name, limit in _LIMITS.items():
        if len(fields[name]) > limit:
            raise BadRecord(N_("%(field)s: must be at most %(max_len)s characters, got %(count)s"),
                            field=key if name == "reference" else name, max_len=limit, count=len(fields[name]))
    return RecallRecord(
        regulator="FDA", source="openfda_enforcement" if enforcement else "openfda_recall",
        product_code=_product_code(raw), code_info=_text(raw, "code_info"), reason=_text(raw, "reason_for_recall"),
        action=_text(raw, "action"), initiated_on=_date(raw, "event_date_initiated", "recall_initiation_date"),
        **fields)
