"""Steriliser cycle reports: a printed report becomes exactly one cycle event."""

import pytest
from hypothesis import given, strategies as st

from wardlink.hardware.serial.framing import LineRejected
from wardlink.hardware.serial.sterilizer import CycleSpec, SterilizerReportParser, render_report, typical_samples

# A failed 121 degC textiles cycle, written by hand in the documented layout (docs/hardware.md):
# the chamber dips below the set point in the third exposure minute.
FAILED_REPORT = """\
STEAM STERILIZER
SERIAL 19-2231
DATE 2026-02-03 TIME 14:05:59
CYCLE 004711
PROGRAM 121C TEXTILES
SET 121.0 C  STER 15:00  DRY 20:00
  TIME     PHASE        TEMP C  PRES kPa
00:00:00  START          35.0    101.1
00:01:05  VACUUM 1       33.2      9.8
00:02:30  STEAM 1       102.5    140.2
00:03:40  VACUUM 2       60.1     10.4
00:05:10  HEATING       110.4    160.0
00:06:00  STERILIZE     121.6    207.3
00:07:00  STERILIZE     122.0    209.9
00:08:00  STERILIZE     119.8    198.5
00:08:30  EXHAUST       119.9    199.0
00:09:45  END            80.5    101.3
STER TIME 02:30 MIN 119.8 C MAX 122.0 C
RESULT FAIL TEMP LOW
--------------------------------
"""


def feed(parser, text):
    values, events, rejected = {}, [], []
    for line in text.splitlines():
        try:
            new_values, new_events = parser.feed(line)
        except LineRejected as exc:
            rejected.append((line, str(exc)))
            continue
        values.update(new_values)
        events.extend(new_events)
    return values, events, rejected


def test_a_failed_report_gives_one_event_with_computed_figures():
    values, events, rejected = feed(SterilizerReportParser(), FAILED_REPORT)
    assert rejected == []
    assert len(events) == 1
    event = events[0]
    assert (event["type"], event["severity"]) == ("sterilizer.cycle", "warning")
    data = event["data"]
    assert data["cycle"] == 4711
    assert (data["program"], data["serial"], data["started"]) == ("121C TEXTILES", "19-2231", "2026-02-03T14:05:59")
    assert (data["set_temperature_c"], data["set_hold_s"], data["set_dry_s"]) == (121.0, 900, 1200)
    assert (data["result"], data["reason"]) == ("FAIL", "TEMP LOW")
    assert data["max_temperature_c"] == 122.0
    assert (data["min_pressure_kpa"], data["max_pressure_kpa"]) == (9.8, 209.9)
    # Exposure runs from the first STERILIZE line (06:00) to the EXHAUST line (08:30).
    assert data["hold_time_s"] == 150
    assert (data["hold_min_temperature_c"], data["hold_max_temperature_c"]) == (119.8, 122.0)
    assert data["printed"] == {"hold_time_s": 150, "min_temperature_c": 119.8, "max_temperature_c": 122.0}
    assert data["duration_s"] == 585 and data["samples"] == 10
    assert [p["phase"] for p in data["phases"]] == [
        "START", "VACUUM 1", "STEAM 1", "VACUUM 2", "HEATING", "STERILIZE", "EXHAUST", "END",
    ]
    assert data["phases"][5] == {"phase": "STERILIZE", "start_s": 360, "end_s": 510,
                                 "temperature_c": 121.6, "pressure_kpa": 207.3}
    assert values == {"chamber_temperature": 80.5, "chamber_pressure": 101.3}


def test_garbage_inside_a_report_is_rejected_and_the_cycle_survives():
    lines = FAILED_REPORT.splitlines()
    lines.insert(9, "#@~~ ~~")
    lines.insert(12, "00:02:00  STEAM 1       103.0    141.0")  # time goes backwards
    _, events, rejected = feed(SterilizerReportParser(), "\n".join(lines))
    assert len(events) == 1 and events[0]["data"]["samples"] == 10
    assert [line for line, _ in rejected] == ["#@~~ ~~", "00:02:00  STEAM 1       103.0    141.0"]
    assert "backwards" in rejected[1][1]


def test_a_report_cut_short_is_closed_as_incomplete_when_the_next_one_starts():
    first = render_report(CycleSpec(7, samples=typical_samples()))
    second = render_report(CycleSpec(8, samples=typical_samples()))
    cut = first[:12]  # power cut during the pre-vacuum pulses
    _, events, rejected = feed(SterilizerReportParser(), "\n".join(cut + second))
    assert rejected == []
    assert [(e["data"]["cycle"], e["data"]["result"]) for e in events] == [(7, "INCOMPLETE"), (8, "PASS")]
    assert events[0]["severity"] == "warning" and events[0]["data"]["hold_time_s"] == 0


def test_report_lines_outside_a_cycle_are_rejected():
    parser = SterilizerReportParser()
    with pytest.raises(LineRejected, match="outside a cycle"):
        parser.feed("00:01:00  STERILIZE     134.0    304.0")
    with pytest.raises(LineRejected, match="outside a cycle"):
        parser.feed("RESULT PASS")
    with pytest.raises(LineRejected, match="not part of a cycle report"):
        parser.feed("00:01:00  BOILING       134.0    304.0")


def test_rendered_reports_parse_back_to_their_spec():
    samples = typical_samples(134.0, 240, 600)
    spec = CycleSpec(128, samples=samples)
    _, events, rejected = feed(SterilizerReportParser(), "\n".join(render_report(spec)))
    assert rejected == [] and len(events) == 1
    data = events[0]["data"]
    assert data["result"] == "PASS" and data["hold_time_s"] == 240
    assert data["max_temperature_c"] == max(s.temperature_c for s in samples)
    assert data["min_pressure_kpa"] == min(s.pressure_kpa for s in samples)


@given(st.lists(st.text(max_size=60), max_size=30))
def test_random_lines_are_parsed_or_rejected_never_crash(lines):
    parser = SterilizerReportParser()
    for line in lines:
        try:
            values, events = parser.feed(line)
        except LineRejected:
            continue
        assert isinstance(values, dict) and isinstance(events, list)
