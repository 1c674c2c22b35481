"""Steam steriliser (autoclave) cycle reports, as printed on the printer port.

Benchtop and hospital steam sterilisers print one report per cycle on a small
serial printer: a header (cycle number, program, set points), one line per phase change
and periodic lines during the phases with elapsed time, chamber temperature and
pressure, then a summary and the result. Layouts differ between makers; this is the
layout Wardlink reads (and its emulator prints), documented in ``docs/hardware.md``::

    STEAM STERILIZER
    SERIAL 23-0417
    DATE 2026-01-01 TIME 09:41:07
    CYCLE 000128
    PROGRAM 134C WRAPPED
    SET 134.0 C  STER 04:00  DRY 10:00
      TIME     PHASE        TEMP C  PRES kPa
    00:00:00  START          42.3    101.4
    00:01:10  VACUUM 1       40.1     12.0
    ...
    00:09:05  STERILIZE     134.6    306.1
    ...
    00:13:05  EXHAUST       134.9    308.0
    00:14:30  DRY            99.5     15.2
    00:24:30  END            82.0    101.3
    STER TIME 04:00 MIN 134.4 C MAX 135.2 C
    RESULT PASS
    --------------------------------

Pressure is absolute (kPa). ``RESULT FAIL <reason>`` ends a failed cycle. A new
``CYCLE`` line before ``RESULT`` (power cut, paper jam, reset) closes the open cycle as
``INCOMPLETE``. The parser computes hold time and extremes from the phase lines itself
and reports the printed summary beside them, so a disagreement is visible.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from wardlink.hardware.serial.framing import LineRejected

PHASES = ("START", "VACUUM", "STEAM", "HEATING", "STERILIZE", "EXHAUST", "DRY", "AIR", "END")
EVENT_TYPE = "sterilizer.cycle"
QUANTITIES = {"chamber_temperature": "degC", "chamber_pressure": "kPa"}

_NUM = r"(-?\d+(?:\.\d+)?)"
_SAMPLE = re.compile(
    rf"^(\d{{2}}):([0-5]\d):([0-5]\d)\s+({'|'.join(PHASES)})(?:\s+(\d{{1,2}}))?\s+{_NUM}\s+{_NUM}$"
)


@dataclass
class Sample:
    """One phase line: elapsed seconds, phase, chamber temperature and pressure."""

    elapsed_s: int
    phase: str
    temperature_c: float
    pressure_kpa: float


@dataclass
class Cycle:
    """A cycle being read; becomes the event's data when its result arrives."""

    number: int
    header: dict = field(default_factory=dict)
    samples: list[Sample] = field(default_factory=list)
    printed: dict = field(default_factory=dict)

    def summary(self, result: str, reason: str | None) -> dict:
        """Return the event data for this cycle with ``result``."""
        data = {"cycle": self.number, **self.header, "result": result, "reason": reason}
        data["phases"] = _phases(self.samples)
        data["samples"] = len(self.samples)
        if self.samples:
            temps = [s.temperature_c for s in self.samples]
            press = [s.pressure_kpa for s in self.samples]
            data.update(
                max_temperature_c=max(temps),
                min_pressure_kpa=min(press),
                max_pressure_kpa=max(press),
                duration_s=self.samples[-1].elapsed_s - self.samples[0].elapsed_s,
            )
        data.update(_hold(self.samples))
        if self.printed:
            data["printed"] = dict(self.printed)
        return data


def _phases(samples: list[Sample]) -> list[dict]:
    phases: list[dict] = []
    for s in samples:
        if not phases or phases[-1]["phase"] != s.phase:
            if phases:
                phases[-1]["end_s"] = s.elapsed_s
            phases.append({"phase": s.phase, "start_s": s.elapsed_s, "end_s": s.elapsed_s,
                           "temperature_c": s.temperature_c, "pressure_kpa": s.pressure_kpa})
        else:
            phases[-1]["end_s"] = s.elapsed_s
    return phases


def _hold(samples: list[Sample]) -> dict:
    """Return the exposure: from the first STERILIZE line to the line that ends the phase."""
    hold = [i for i, s in enumerate(samples) if s.phase == "STERILIZE"]
    if not hold:
        return {"hold_time_s": 0}
    first, last = hold[0], hold[-1]
    end = samples[last + 1] if last + 1 < len(samples) else samples[last]
    temps = [samples[i].temperature_c for i in range(first, last + 1)]
    return {
        "hold_time_s": end.elapsed_s - samples[first].elapsed_s,
        "hold_min_temperature_c": min(temps),
        "hold_max_temperature_c": max(temps),
    }


class SterilizerReportParser:
    """Line profile that turns printed cycle reports into ``sterilizer.cycle`` events."""

    name = "sterilizer"
    quantities = dict(QUANTITIES)

    def __init__(self) -> None:
        self.cycle: Cycle | None = None
        self._pending_header: dict = {}
        self._rules: list[tuple[re.Pattern, Callable[[re.Match], list[dict]]]] = [
            (_SAMPLE, self._sample),
            (re.compile(r"^CYCLE\s+(\d{1,8})$"), self._start),
            (re.compile(r"^PROGRAM\s+(\S.{0,39})$"), self._program),
            (re.compile(rf"^SET\s+{_NUM}\s*C\s+STER\s+(\d+):([0-5]\d)\s+DRY\s+(\d+):([0-5]\d)$"), self._set),
            (re.compile(rf"^STER TIME\s+(\d+):([0-5]\d)\s+MIN\s+{_NUM}\s*C\s+MAX\s+{_NUM}\s*C$"), self._printed),
            (re.compile(r"^RESULT\s+(PASS|FAIL)(?:\s+(\S.*))?$"), self._result),
            (re.compile(r"^DATE\s+(\d{4}-\d{2}-\d{2})\s+TIME\s+(\d{2}:\d{2}:\d{2})$"), self._date),
            (re.compile(r"^SERIAL\s+(\S{1,32})$"), self._serial),
            (re.compile(r"^STEAM STERILI[SZ]ER\b.*$"), self._banner),
            (re.compile(r"^\s*TIME\s+PHASE\s+TEMP\b.*$"), lambda m: []),
            (re.compile(r"^[-=*_ ]*$"), lambda m: []),
        ]
        self._values: dict[str, float] = {}

    def feed(self, line: str) -> tuple[dict[str, float], list[dict]]:
        """Parse one line; return (new quantity values, finished events) or raise LineRejected."""
        text = line.strip()
        for pattern, handler in self._rules:
            match = pattern.match(text)
            if match:
                self._values = {}
                events = handler(match)
                return self._values, events
        raise LineRejected(f"not part of a cycle report: {text[:60]!r}")

    def _open(self) -> Cycle:
        if self.cycle is None:
            raise LineRejected("report line outside a cycle")
        return self.cycle

    def _banner(self, m: re.Match) -> list[dict]:
        self._pending_header = {}
        return self._close_incomplete()

    def _serial(self, m: re.Match) -> list[dict]:
        self._pending_header["serial"] = m[1]
        return []

    def _date(self, m: re.Match) -> list[dict]:
        self._pending_header["started"] = f"{m[1]}T{m[2]}"
        return []

    def _start(self, m: re.Match) -> list[dict]:
        events = self._close_incomplete()
        self.cycle = Cycle(int(m[1]), header=self._pending_header)
        self._pending_header = {}
        return events

    def _program(self, m: re.Match) -> list[dict]:
        self._open().header["program"] = m[1].strip()
        return []

    def _set(self, m: re.Match) -> list[dict]:
        self._open().header.update(
            set_temperature_c=float(m[1]),
            set_hold_s=int(m[2]) * 60 + int(m[3]),
            set_dry_s=int(m[4]) * 60 + int(m[5]),
        )
        return []

    def _sample(self, m: re.Match) -> list[dict]:
        cycle = self._open()
        elapsed = int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])
        if cycle.samples and elapsed < cycle.samples[-1].elapsed_s:
            raise LineRejected(f"elapsed time goes backwards: {m[0]!r}")
        phase = m[4] if m[5] is None else f"{m[4]} {int(m[5])}"
        sample = Sample(elapsed, phase, float(m[6]), float(m[7]))
        cycle.samples.append(sample)
        self._values = {"chamber_temperature": sample.temperature_c, "chamber_pressure": sample.pressure_kpa}
        return []

    def _printed(self, m: re.Match) -> list[dict]:
        self._open().printed.update(
            hold_time_s=int(m[1]) * 60 + int(m[2]),
            min_temperature_c=float(m[3]),
            max_temperature_c=float(m[4]),
        )
        return []

    def _result(self, m: re.Match) -> list[dict]:
        cycle = self._open()
        self.cycle = None
        return [_event(cycle.summary(m[1], m[2]))]

    def _close_incomplete(self) -> list[dict]:
        if self.cycle is None:
            return []
        cycle, self.cycle = self.cycle, None
        return [_event(cycle.summary("INCOMPLETE", "report ended before a result was printed"))]


def _event(data: dict) -> dict:
    severity = "info" if data["result"] == "PASS" else "warning"
    return {"type": EVENT_TYPE, "severity": severity, "data": data}


# --------------------------------------------------------------------------- printing


@dataclass
class CycleSpec:
    """What an emulated steriliser runs: program, set points, the phase lines, the result."""

    number: int
    program: str = "134C WRAPPED"
    set_temperature_c: float = 134.0
    hold_s: int = 240
    dry_s: int = 600
    samples: list[Sample] = field(default_factory=list)
    result: str = "PASS"
    reason: str | None = None
    serial: str = "23-0417"
    started: str = "2026-01-01T09:41:07"


def typical_samples(set_temperature_c: float = 134.0, hold_s: int = 240, dry_s: int = 600,
                    pulses: int = 3, hold_offset_c: float = 0.6) -> list[Sample]:
    """Return a plausible fractionated pre-vacuum cycle (pulses, heat-up, hold, exhaust, dry)."""
    # Saturated steam: 121 C is about 205 kPa absolute, 134 C about 304 kPa.
    hold_kpa = 101.3 + (set_temperature_c - 100.0) * 5.95
    samples = [Sample(0, "START", 42.3, 101.4)]
    t = 0
    for n in range(1, pulses + 1):
        t += 70
        samples.append(Sample(t, f"VACUUM {n}", 40.0 + 8 * n, 12.0 + n))
        t += 80
        samples.append(Sample(t, f"STEAM {n}", 100.0 + 4 * n, 125.0 + 20 * n))
    t += 95
    samples.append(Sample(t, "HEATING", set_temperature_c - 12.0, hold_kpa - 60.0))
    for k in range(0, hold_s, 60):
        wobble = (0.0, 0.4, -0.2, 0.3)[(k // 60) % 4]
        temp = round(set_temperature_c + hold_offset_c + wobble, 1)
        samples.append(Sample(t + 60 + k, "STERILIZE", temp, round(hold_kpa + 4.0 * wobble, 1)))
    t += 60 + hold_s
    samples.append(Sample(t, "EXHAUST", round(set_temperature_c + 0.9, 1), round(hold_kpa + 3.0, 1)))
    t += 85
    samples.append(Sample(t, "DRY", 99.5, 15.2))
    t += dry_s
    samples.append(Sample(t, "END", 82.0, 101.3))
    return samples


def _clock(seconds: int) -> str:
    return f"{seconds // 3600:02d}:{seconds % 3600 // 60:02d}:{seconds % 60:02d}"


def render_report(spec: CycleSpec) -> list[str]:
    """Return the printed lines of one cycle report, in the layout the parser reads."""
    date, time_ = spec.started.split("T")
    lines = [
        "STEAM STERILIZER",
        f"SERIAL {spec.serial}",
        f"DATE {date} TIME {time_}",
        f"CYCLE {spec.number:06d}",
        f"PROGRAM {spec.program}",
        f"SET {spec.set_temperature_c:.1f} C  STER {spec.hold_s // 60:02d}:{spec.hold_s % 60:02d}"
        f"  DRY {spec.dry_s // 60:02d}:{spec.dry_s % 60:02d}",
        "  TIME     PHASE        TEMP C  PRES kPa",
    ]
    for s in spec.samples:
        lines.append(f"{_clock(s.elapsed_s)}  {s.phase:<12} {s.temperature_c:6.1f}  {s.pressure_kpa:7.1f}")
    hold = _hold(spec.samples)
    if "hold_min_temperature_c" in hold:
        lines.append(
            f"STER TIME {hold['hold_time_s'] // 60:02d}:{hold['hold_time_s'] % 60:02d}"
            f" MIN {hold['hold_min_temperature_c']:.1f} C MAX {hold['hold_max_temperature_c']:.1f} C"
        )
    lines.append(f"RESULT {spec.result}" + (f" {spec.reason}" if spec.reason else ""))
    lines.append("-" * 32)
    return lines


def render_many(specs: Iterable[CycleSpec]) -> list[str]:
    """Return the lines of several reports printed one after another."""
    return [line for spec in specs for line in render_report(spec)]
