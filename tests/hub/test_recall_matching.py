"""Recall matching without a database: manufacturer names folded, models looked for word for
word, product codes compared; each case names what makes it exact, fuzzy or no match."""

from __future__ import annotations

import pytest

from wardlink.hub.services.compliance.matching import (AssetIdentity, Closeness, Matcher, compare_firms,
                                                       firm_key)

TEXT = "Alaris PC Unit, Model 8015, and SL2000 pumps; CARESCAPE Monitor B650"


@pytest.mark.parametrize(("make", "model", "code", "expected"), [
    ("CareFusion", "8015", "FRN", "exact"),               # every field equal
    ("CAREFUSION, INC.", "8015", "FRN", "exact"),         # company form and case ignored
    ("CareFusion", "8015", "", "fuzzy"),                  # the asset has no product code
    ("CareFusion", "SL-2000", "FRN", "fuzzy"),            # written apart in the register, together in the text
    ("CareFusion", "CARESCAPE B650", "FRN", "fuzzy"),     # words present but apart
    ("Care Fusion", "8015", "FRN", "fuzzy"),              # manufacturer spelt apart
    ("CareFusion", "8015", "MEA", None),                  # another product code
    ("CareFusion", "80150", "FRN", None),                 # another model
    ("CareFusion", "8015A", "FRN", None),                 # another model
    ("CareFusion", "80", "FRN", None),                    # too short to look for
    ("Fresenius", "8015", "FRN", None),                   # another manufacturer
])
def test_one_asset_against_one_recall(make, model, code, expected):
    matcher = Matcher([AssetIdentity(1, make, model, code)])
    found = matcher.match("CareFusion Inc.", TEXT, "FRN")
    assert [c.kind for c in found] == ([expected] if expected else [])


def test_a_recall_without_a_product_code_is_exact_on_manufacturer_and_model():
    [found] = Matcher([AssetIdentity(7, "Masimo", "Radical-7", "DQA")]).match("MASIMO CORP", "Radical 7 oximeter", "")
    assert (found.kind, found.basis) == ("exact", "manufacturer exact, model exact, no product code in the recall")


def test_manufacturer_names():
    assert firm_key("Dräger Medical GmbH") == ("drager", "medical")
    assert firm_key("Hill-Rom, Inc.") == ("hill", "rom")
    assert compare_firms(firm_key("B. Braun"), firm_key("B. Braun Melsungen AG")) is Closeness.CLOSE
    assert compare_firms(firm_key("GE"), firm_key("GE Healthcare")) is Closeness.NONE
    assert compare_firms(firm_key("Medline"), firm_key("Medtronic")) is Closeness.NONE
