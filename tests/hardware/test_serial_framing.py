"""Cutting serial bytes into lines: terminators, limits, encodings, markers, rejects."""

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.errors import ConfigError
from wardlink.hardware.serial.framing import Framing, LineFramer, Rejects


def framer(**kwargs):
    return LineFramer(Framing(**kwargs), Rejects(keep=5))


def test_lines_split_across_chunks_are_joined():
    f = framer()
    assert f.feed(b"T=21.5 R") == []
    assert f.feed(b"H=40\r\nT=21.6") == ["T=21.5 RH=40"]
    assert f.feed(b" RH=41\r\n") == ["T=21.6 RH=41"]


def test_cr_terminated_devices():
    assert framer(terminator=b"\r").feed(b"a\rb\r") == ["a", "b"]


def test_an_overlong_line_is_rejected_and_its_tail_dropped():
    f = framer(max_line=16)
    assert f.feed(b"x" * 40 + b"\nok\n") == ["ok"]
    assert f.rejects.count == 1
    assert f.rejects.snapshot()[0]["reason"] == "line too long"


def test_undecodable_and_control_bytes_are_rejected_not_raised():
    f = framer()
    assert f.feed(b"caf\xe9\nnul\x00here\nfine\n") == ["fine"]
    assert [r["reason"] for r in f.rejects.snapshot()] == ["undecodable bytes", "control characters"]


def test_printer_formatting_codes_are_dropped_silently():
    # ESC @ (initialise), SO (double width) and a form feed around a report line.
    f = framer()
    assert f.feed(b"\x1b@\x0eCYCLE 000128\x0c\r\n") == ["CYCLE 000128"]
    assert f.rejects.count == 0


def test_stx_etx_records():
    f = framer(start_marker=b"\x02", end_marker=b"\x03")
    lines = f.feed(b"noise\x02T=1\n\x03junk\x02T=2\n\x03")
    assert lines == ["T=1", "T=2"]
    assert [r["line"] for r in f.rejects.snapshot()] == ["noise", "junk"]
    assert {r["reason"] for r in f.rejects.snapshot()} == {"bytes outside a record"}


def test_a_record_cut_by_a_new_start_marker_is_rejected():
    f = framer(start_marker=b"\x02", end_marker=b"\x03")
    assert f.feed(b"\x02T=1\x02T=2\n\x03") == ["T=2"]
    assert f.rejects.snapshot() == [{"reason": "record not closed", "line": "T=1"}]


def test_rejects_remember_only_the_newest():
    rejects = Rejects(keep=2)
    for n in range(5):
        rejects.add("bad", f"line {n}")
    assert rejects.count == 5
    assert [r["line"] for r in rejects.snapshot()] == ["line 3", "line 4"]


def test_framing_config_is_validated():
    assert Framing.from_config({"terminator": "crlf", "start_marker": "0x02"}) == Framing(b"\r\n", "ascii", 256, b"\x02", None)
    with pytest.raises(ConfigError, match="framing.terminator: must be one of lf, crlf, cr, got 'nl'"):
        Framing.from_config({"terminator": "nl"})
    with pytest.raises(ConfigError, match="framing.encoding: not a known text encoding"):
        Framing.from_config({"encoding": "klingon"})
    with pytest.raises(ConfigError, match="framing.max_line: must be an integer 8..65536"):
        Framing.from_config({"max_line": 4})
    with pytest.raises(ConfigError, match="framing.end_marker: must be one byte"):
        Framing.from_config({"end_marker": "ETX"})
    with pytest.raises(ConfigError, match="framing.parity: unknown"):
        Framing.from_config({"parity": "E"})


@given(st.lists(st.binary(max_size=80), max_size=20))
def test_random_bytes_never_raise_and_lines_are_clean(chunks):
    f = framer(max_line=32)
    for chunk in chunks:
        for line in f.feed(chunk):
            assert "\n" not in line and len(line) <= 34
            assert all(ch >= " " or ch == "\t" for ch in line)
