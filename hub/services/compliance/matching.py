"""Which assets a recall concerns: manufacturer, model and product code compared (pure).

Names are compared folded: accents and case removed, punctuation read as a space, and the
company-form words (Inc, LLC, Corporation, GmbH...) dropped, so "Baxter Healthcare Corporation"
and "BAXTER HEALTHCARE CORP." are the same manufacturer. A model is a run of words and numbers
looked for in the recall's product description and code information, word for word, so model
8015 is found in "Alaris PC Unit, Model 8015" but not in "Model 80150" or "8015A".

- **exact** (linked at once): the same manufacturer, the model's words found in a row, and the
  same product code (a recall without a product code, as most non-US notices are, is matched on
  manufacturer and model alone);
- **fuzzy** (a person confirms or rejects it): the manufacturer close (a similarity of 0.85 or
  more, or one name the first words of the other: "B. Braun" and "B. Braun Melsungen"), the model close
  (the same letters and digits written apart or together, "SL-2000" and "SL2000", or all its words
  present but apart), or the asset without a product code where the recall has one;
- nothing when the product codes differ, the manufacturer is another, or the model is missing.

A model shorter than three letters and digits is never looked for: "5" would be in every notice.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from difflib import SequenceMatcher
from enum import Enum

#: Words that say what kind of company a firm is, not which one.
COMPANY_FORMS = frozenset({
    "inc", "incorporated", "llc", "ltd", "limited", "corp", "corporation", "co", "company", "gmbh", "ag", "sa",
    "sas", "sarl", "plc", "lp", "llp", "bv", "nv", "spa", "srl", "kg", "kgaa", "pty", "oy", "ab", "as", "the",
})
#: Manufacturer names at least this similar are put to review.
FIRM_SIMILARITY = 0.85
#: Fewest letters and digits a model needs to be looked for.
MIN_MODEL = 3
#: Longest run of words a model written together may be spread over in the text ("sl 2000").
_WINDOW = 4
_WORD = re.compile(r"[a-z0-9]+")


class Closeness(Enum):
    """How well one identity field agrees."""

    EXACT = "exact"
    CLOSE = "close"
    NONE = "none"


def words(text: str) -> list[str]:
    """Return ``text`` folded into lower-case words of letters and digits, accents removed."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    return _WORD.findall(plain.casefold())


def firm_key(name: str) -> tuple[str, ...]:
    """Return a manufacturer's name as the words that identify it (company forms dropped)."""
    return tuple(w for w in words(name.replace("&", " and ")) if w not in COMPANY_FORMS)


def compare_firms(a: tuple[str, ...], b: tuple[str, ...]) -> Closeness:
    """Return how close two manufacturer keys are."""
    if not a or not b:
        return Closeness.NONE
    if a == b:
        return Closeness.EXACT
    short, long_ = sorted((a, b), key=len)
    if long_[:len(short)] == short and len("".join(short)) >= 4:
        return Closeness.CLOSE
    matcher = SequenceMatcher(None, " ".join(a), " ".join(b))
    if matcher.real_quick_ratio() >= FIRM_SIMILARITY and matcher.quick_ratio() >= FIRM_SIMILARITY \
            and matcher.ratio() >= FIRM_SIMILARITY:
        return Closeness.CLOSE
    return Closeness.NONE


@dataclass(frozen=True)
class ModelText:
    """A recall's description and code information, prepared for model look-ups."""

    words: tuple[str, ...]
    present: frozenset[str]
    joined: frozenset[str]

    @classmethod
    def of(cls, text: str) -> ModelText:
        """Prepare ``text``."""
        found = tuple(words(text))
        joined = {"".join(found[i:i + n]) for n in range(1, _WINDOW + 1) for i in range(len(found) - n + 1)}
        return cls(found, frozenset(found), frozenset(joined))


def compare_model(model: tuple[str, ...], text: ModelText) -> Closeness:
    """Return how well an asset's model (its words) is found in a recall's text."""
    compact = "".join(model)
    if len(compact) < MIN_MODEL:
        return Closeness.NONE
    n = len(model)
    if model[0] in text.present and any(text.words[i:i + n] == model for i in range(len(text.words) - n + 1)):
        return Closeness.EXACT
    if compact in text.joined or (n > 1 and all(w in text.present for w in model)):
        return Closeness.CLOSE
    return Closeness.NONE


@dataclass(frozen=True)
class AssetIdentity:
    """What a recall is matched on, for one asset."""

    asset_id: int
    make: str
    model: str
    product_code: str


@dataclass(frozen=True)
class Candidate:
    """An asset a recall concerns (``exact``) or may concern (``fuzzy``), and why."""

    asset_id: int
    kind: str
    basis: str


def judge(firm: Closeness, model: Closeness, recall_code: str, asset_code: str) -> tuple[str, str] | None:
    """Return (kind, basis) for one asset, or None when the recall does not concern it."""
    if firm is Closeness.NONE or model is Closeness.NONE:
        return None
    if recall_code and asset_code and recall_code != asset_code:
        return None
    code = ("product code " + recall_code if recall_code and asset_code
            else "no product code on the asset" if recall_code else "no product code in the recall")
    basis = f"manufacturer {firm.value}, model {model.value}, {code}"
    exact = firm is Closeness.EXACT and model is Closeness.EXACT and (not recall_code or asset_code == recall_code)
    return ("exact" if exact else "fuzzy"), basis


class Matcher:
    """The register's identities grouped by manufacturer, asked once per recall."""

    def __init__(self, assets: Iterable[AssetIdentity]) -> None:
        self._by_firm: dict[tuple[str, ...], list[tuple[AssetIdentity, tuple[str, ...]]]] = defaultdict(list)
        for asset in assets:
            key, model = firm_key(asset.make), tuple(words(asset.model))
            if key and len("".join(model)) >= MIN_MODEL:
                self._by_firm[key].append((asset, model))
        self._firms: dict[tuple[str, ...], list[tuple[tuple[str, ...], Closeness]]] = {}

    def _close_firms(self, name: str) -> list[tuple[tuple[str, ...], Closeness]]:
        key = firm_key(name)
        if key not in self._firms:
            found = [(k, compare_firms(key, k)) for k in self._by_firm]
            self._firms[key] = [(k, c) for k, c in found if c is not Closeness.NONE]
        return self._firms[key]

    def match(self, recalling_firm: str, model_text: str, product_code: str) -> list[Candidate]:
        """Return the assets a recall concerns or may concern, exact ones first, by asset id."""
        text = ModelText.of(model_text)
        out = []
        for key, firm in self._close_firms(recalling_firm):
            for asset, model in self._by_firm[key]:
                verdict = judge(firm, compare_model(model, text), product_code, asset.product_code)
                if verdict is not None:
                    out.append(Candidate(asset.asset_id, *verdict))
        return sorted(out, key=lambda c: (c.kind != "exact", c.asset_id))
