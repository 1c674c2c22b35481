"""key=value and CSV line profiles: mapping, scaling and what gets rejected."""

import pytest

from wardlink.hardware.errors import ConfigError
from wardlink.hardware.serial.framing import LineRejected
from wardlink.hardware.serial.profiles import build_profile

FIELDS = {"T": {"quantity": "temperature", "unit": "degC"}, "RH": {"quantity": "humidity", "unit": "%RH", "scale": 0.1}}


def test_keyvalue_maps_scales_and_ignores_unmapped_keys():
    profile = build_profile("keyvalue", {"fields": FIELDS})
    assert profile.feed("T=4.5 RH=452 door=0") == ({"temperature": 4.5, "humidity": 45.2}, [])
    assert profile.feed("T: -18.25; RH: 300") == ({"temperature": -18.25, "humidity": 30.0}, [])
    assert profile.quantities == {"temperature": "degC", "humidity": "%RH"}


@pytest.mark.parametrize(
    ("line", "reason"),
    [
        ("hello world", "not a key=value line"),
        ("T=4.5 garbage", "not a key=value line"),
        ("door=1", "no configured field"),
        ("T=warm", "field 'T': not a number"),
        ("T=nan", "field 'T': not a finite number"),
    ],
)
def test_keyvalue_rejects(line, reason):
    with pytest.raises(LineRejected, match=reason):
        build_profile("keyvalue", {"fields": FIELDS}).feed(line)


def test_csv_with_configured_columns():
    profile = build_profile("csv", {"columns": ["time", "T", "RH"], "fields": FIELDS})
    assert profile.feed("09:41:07,4.5,452") == ({"temperature": 4.5, "humidity": 45.2}, [])
    with pytest.raises(LineRejected, match="expected 3 columns, got 2"):
        profile.feed("4.5,452")


def test_csv_learns_its_header_and_accepts_it_again_after_a_device_reset():
    profile = build_profile("csv", {"header": True, "delimiter": ";", "fields": FIELDS})
    with pytest.raises(LineRejected, match="before the header"):
        profile.feed("1;2")
    assert profile.feed("RH;T") == ({}, [])
    assert profile.feed("400;5.0") == ({"temperature": 5.0, "humidity": 40.0}, [])
    assert profile.feed("RH;T") == ({}, [])


@pytest.mark.parametrize(
    ("name", "options", "message"),
    [
        ("xml", {}, "profile: must be one of sterilizer, keyvalue, csv, got 'xml'"),
        ("keyvalue", {}, "profile_options.fields: must map device field names"),
        ("keyvalue", {"fields": {"T": {"unit": "C"}}}, "profile_options.fields.T.quantity: required"),
        ("keyvalue", {"fields": {"T": {"quantity": "t", "scale": "x"}}}, "profile_options.fields.T.scale: must be a finite number"),
        ("keyvalue", {"fields": FIELDS, "sep": ","}, "profile_options.sep: unknown"),
        ("csv", {"columns": ["a"], "fields": FIELDS}, "profile_options.fields.RH: not among columns"),
        ("csv", {"header": False, "fields": FIELDS}, "profile_options.columns: required unless header is true"),
        ("csv", {"header": True, "delimiter": ";;", "fields": FIELDS}, "profile_options.delimiter: must be one character"),
    ],
)
def test_profile_options_are_validated(name, options, message):
    with pytest.raises(ConfigError, match=message):
        build_profile(name, options)
