"""Register points: decoding with word orders and scaling, config validation, request planning."""

import math

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.errors import ConfigError
from wardlink.hardware.serial.registers import Point, encode, parse_points, plan_blocks


def test_float32_in_both_word_orders():
    # IEEE 754: 1.5 is 0x3FC00000; -5.5 is 0xC0B00000.
    assert Point("x", 0, type="float32").decode([0x3FC0, 0x0000]) == 1.5
    assert Point("x", 0, type="float32", word_order="little").decode([0x0000, 0x3FC0]) == 1.5
    assert Point("x", 0, type="float32").decode([0xC0B0, 0x0000]) == -5.5


def test_signed_and_unsigned_16_and_32_bit_values():
    assert Point("x", 0, type="int16").decode([0xFFFE]) == -2
    assert Point("x", 0, type="uint16").decode([0xFFFE]) == 65534
    assert Point("x", 0, type="int32").decode([0xFFFF, 0xFFFE]) == -2
    assert Point("x", 0, type="uint32").decode([0x0001, 0x0000]) == 65536
    assert Point("x", 0, type="uint32", word_order="little").decode([0x0000, 0x0001]) == 65536


def test_scale_and_offset_are_applied_after_decoding():
    # A transmitter sending tenths of a degree with a -40 degC offset.
    point = Point("t", 0, type="int16", scale=0.1, offset=-40.0)
    assert point.decode([0x0271]) == pytest.approx(62.5 - 40.0)


@given(
    st.sampled_from(["int16", "uint16", "int32", "uint32"]),
    st.sampled_from(["big", "little"]),
    st.data(),
)
def test_integer_encode_decode_round_trip(type_, order, data):
    bits = 32 if "32" in type_ else 16
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if type_.startswith("int") else (0, (1 << bits) - 1)
    value = data.draw(st.integers(low, high))
    assert Point("x", 0, type=type_, word_order=order).decode(encode(value, type_, order)) == value


@given(st.floats(width=32, allow_nan=False), st.sampled_from(["big", "little"]))
def test_float_encode_decode_round_trip(value, order):
    decoded = Point("x", 0, type="float32", word_order=order).decode(encode(value, "float32", order))
    assert decoded == value or (math.isinf(value) and decoded == value)


def test_points_config_is_validated_and_defaults_filled():
    (point,) = parse_points([{"quantity": "flow", "address": 7}])
    assert point == Point("flow", 7, "holding", "uint16", "big", 1.0, 0.0, "")


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        ([], "points: must be a non-empty list"),
        ([{"address": 1}], r"points\[0\].quantity: required"),
        ([{"quantity": "a", "address": 1, "type": "float64"}], r"points\[0\].type: must be one of int16, uint16, int32, uint32, float32, got 'float64'"),
        ([{"quantity": "a", "address": 1, "kind": "coil"}], r"points\[0\].kind: must be one of holding, input"),
        ([{"quantity": "a", "address": 0xFFFF, "type": "uint32"}], r"points\[0\].address: must be an integer 0..65534"),
        ([{"quantity": "a", "address": 1, "scale": 0}], r"points\[0\].scale: must not be 0"),
        ([{"quantity": "a", "address": 1, "colour": "red"}], r"points\[0\].colour: unknown"),
        ([{"quantity": "a", "address": 1}, {"quantity": "a", "address": 2}], r"points\[1\].quantity: 'a' is used twice"),
    ],
)
def test_bad_points_name_the_key(spec, message):
    with pytest.raises(ConfigError, match=message):
        parse_points(spec)


def test_contiguous_points_share_one_request_per_kind():
    points = parse_points([
        {"quantity": "a", "address": 0, "type": "float32"},
        {"quantity": "b", "address": 2},
        {"quantity": "c", "address": 10},
        {"quantity": "d", "address": 0, "kind": "input"},
    ])
    blocks = plan_blocks(points)
    assert [(b.kind, b.address, b.count, [p.quantity for p in b.points]) for b in blocks] == [
        ("holding", 0, 3, ["a", "b"]),
        ("holding", 10, 1, ["c"]),
        ("input", 0, 1, ["d"]),
    ]


def test_a_block_never_exceeds_125_registers():
    points = parse_points([{"quantity": f"q{i}", "address": i * 2, "type": "uint32"} for i in range(100)])
    blocks = plan_blocks(points)
    assert all(b.count <= 125 for b in blocks)
    assert sum(len(b.points) for b in blocks) == 100
