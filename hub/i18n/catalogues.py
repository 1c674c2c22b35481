"""Which code feeds which catalogue, and keeping the catalogues in step with the code.

A catalogue is one per domain area: the strings of ``hub/web/<area>/`` (routes and templates)
and of ``hub/services/<area>/`` go to ``hub/i18n/<area>/``; the mailer (``hub/notify/``) writes
notices, so it feeds ``notices``; the dashboard is part of ``reports``; everything else (the
shared page frame, the vocabulary of statuses and roles, units) feeds ``shared``. A new area
gets its catalogue by being a new folder: no table to edit.

Run ``python -m wardlink.hub.i18n.catalogues`` after changing strings: each area's ``.po``
file for every language gains the new messages (empty, to translate), keeps its
translations and loses the messages no code says any more; it prints what is left to
translate. A test fails while any message has no translation.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

from babel.messages.catalog import Catalog
from babel.messages.extract import extract
from babel.messages.pofile import read_po, write_po

from wardlink.hub.i18n import CATALOGUE_DIR, DOMAIN, LANGUAGES, SOURCE_LOCALE

HUB_DIR = CATALOGUE_DIR.parent
#: Folders whose files feed the catalogue of another name.
ALIASES = {"dashboard": "reports", "notify": "notices", "templates": "shared", "static": "shared"}
#: Functions whose first string argument(s) are messages (see :func:`wardlink.hub.i18n.N_`).
KEYWORDS = {"_": None, "gettext": None, "lazy_gettext": None, "N_": None, "ngettext": (1, 2),
            "lazy_ngettext": (1, 2), "pgettext": ((1, "c"), 2), "translate": (2,),
            "Plural": (1, 2)}  # wardlink.hub.errors.Plural: a message's singular and plural


def area_of(path: Path) -> str:
    """Return the catalogue a source file of the hub feeds."""
    parts = path.relative_to(HUB_DIR).parts
    if len(parts) >= 3 and parts[0] in ("web", "services") and (HUB_DIR / parts[0] / parts[1]).is_dir():
        return ALIASES.get(parts[1], parts[1])
    if parts[0] == "notify":
        return "notices"
    return "shared"


def source_files() -> Iterator[Path]:
    """Yield every Python module and template of the hub that may hold messages."""
    for path in sorted(HUB_DIR.rglob("*")):
        if path.suffix in (".py", ".html") and "migrations" not in path.parts and path.parent != CATALOGUE_DIR:
            yield path


def _extract_file(path: Path) -> Iterator[tuple[int, str | tuple[str, ...], str | None]]:
    method = "python" if path.suffix == ".py" else "jinja2.ext:babel_extract"
    with path.open("rb") as fh:
        for lineno, message, _comments, context in extract(method, fh, keywords=KEYWORDS,
                                                            options={"trimmed": "true"}):
            yield lineno, message, context


def _table_texts(path: Path, names: tuple[str, ...], label_arg: int | None = None) -> list[str]:
    """Return the display texts of the tables ``names`` in a module, read from its source (the
    catalogues sit below ``db`` and never import it): dict values, tuple items, and argument
    ``label_arg`` of each call (a :class:`~wardlink.hub.db.units.Unit`'s label)."""
    texts: list[str] = []

    def strings(node: ast.AST) -> None:
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            texts.append(node.value)
        elif isinstance(node, ast.Dict):
            for value in node.values:
                strings(value)
        elif isinstance(node, (ast.Tuple, ast.List)):
            for item in node.elts:
                strings(item)
        elif isinstance(node, (ast.Call, ast.DictComp, ast.GeneratorExp)):
            for call in (n for n in ast.walk(node) if isinstance(n, ast.Call)):
                if label_arg is not None and len(call.args) > label_arg:
                    strings(call.args[label_arg])

    for node in ast.parse(path.read_text(encoding="utf-8")).body:
        target = node.targets[0] if isinstance(node, ast.Assign) else getattr(node, "target", None)
        if isinstance(target, ast.Name) and target.id in names and node.value is not None:
            strings(node.value)
    return texts


#: Tables of display texts that filters translate where shown: file, table names, label argument.
TABLES = (
    ("db/vocab.py", ("LABELS",), None),
    ("db/units.py", ("UNITS",), 2),
    ("db/units.py", ("STATE_WORDS", "DEFAULT_STATE_WORDS"), None),
    ("db/risk.py", ("EQUIPMENT_FUNCTION", "PHYSICAL_RISK", "MAINTENANCE_REQUIREMENT", "INCIDENT_HISTORY"), None),
    ("services/audit/fields.py", ("FIELDS",), 0),
    ("services/audit/fields.py", ("ENTITIES", "_ACTION_NOUNS"), None),
    ("services/reports/export.py", ("LABELS",), None),
    ("services/notices/core.py", ("EVENTS",), 1),
)


def _table_messages() -> dict[str, list[str]]:
    """Return the display texts of the vocabulary tables, by the area they belong to."""
    texts: dict[str, list[str]] = {}
    for name, tables, label_arg in TABLES:
        texts.setdefault(area_of(HUB_DIR / name), []).extend(_table_texts(HUB_DIR / name, tables, label_arg))
    return texts


def extract_all() -> dict[str, Catalog]:
    """Return the messages the code says, one template catalogue per area."""
    areas: dict[str, Catalog] = {}
    for path in source_files():
        area = area_of(path)
        for lineno, message, context in _extract_file(path):
            if not message:
                continue
            catalog = areas.setdefault(area, Catalog(domain=DOMAIN))
            catalog.add(message, locations=[(str(path.relative_to(HUB_DIR)), lineno)], context=context)
    for area, texts in _table_messages().items():
        catalog = areas.setdefault(area, Catalog(domain=DOMAIN))
        for text in texts:
            if text and text not in catalog:
                catalog.add(text, locations=[("db", 0)])
    return areas


def catalogue_path(area: str, locale: str) -> Path:
    """Return the ``.po`` file of ``area`` in ``locale``."""
    return CATALOGUE_DIR / area / locale / "LC_MESSAGES" / f"{DOMAIN}.po"


def read(area: str, locale: str) -> Catalog:
    """Return the catalogue of ``area`` in ``locale`` (empty when it has none yet)."""
    path = catalogue_path(area, locale)
    if not path.exists():
        return Catalog(locale=locale, domain=DOMAIN, project="Wardlink", version="", fuzzy=False,
                       header_comment=f"# {LANGUAGES[locale]}: the messages of the {area} area.\n"
                                      "# Update with: python -m wardlink.hub.i18n.catalogues",
                       copyright_holder="The Wardlink authors", msgid_bugs_address="",
                       last_translator="The Wardlink authors", language_team=LANGUAGES[locale])
    with path.open("rb") as fh:
        return read_po(fh, locale=locale)


def untranslated(area: str, locale: str, template: Catalog) -> list[str]:
    """Return the messages of ``template`` that ``area``'s ``locale`` catalogue lacks, has empty
    or marks fuzzy."""
    have = read(area, locale)
    out = []
    for message in template:
        if not message.id:
            continue
        found = have.get(message.id, context=message.context)
        strings = found.string if found is not None else None
        texts = strings if isinstance(strings, (tuple, list)) else (strings,)
        if found is None or found.fuzzy or not all(texts):
            out.append(message.id if isinstance(message.id, str) else message.id[0])
    return out


def update() -> dict[tuple[str, str], int]:
    """Bring every area's catalogue of every language in step with the code; return, per
    (area, locale), how many messages are left to translate."""
    left = {}
    for area, template in sorted(extract_all().items()):
        for locale in LANGUAGES:
            if locale == SOURCE_LOCALE:
                continue
            catalog = read(area, locale)
            catalog.update(template, no_fuzzy_matching=True, update_creation_date=False)
            catalog.obsolete.clear()
            path = catalogue_path(area, locale)
            path.parent.mkdir(parents=True, exist_ok=True)
            with path.open("wb") as fh:
                write_po(fh, catalog, width=100, omit_header=False, sort_output=True, include_lineno=False)
            left[(area, locale)] = len(untranslated(area, locale, template))
    return left


def main() -> int:
    """Update the catalogues and say what is left to translate."""
    for (area, locale), count in update().items():
        print(f"{area:14} {locale}: {count} to translate")
    return 0


if __name__ == "__main__":
    sys.exit(main())
