"""An emulated steam steriliser printing cycle reports on its printer port (a pty).

Lines come out when the injected clock reaches them: the header when a cycle starts,
each phase line at its elapsed time, the summary and result at the end, as a real
printer does. With a ``ManualClock`` a test advances the clock and the whole report
flows; with the system clock the demo prints at the machine's pace.
"""

from __future__ import annotations

import threading
from collections import deque

from wardlink.hardware.emulation import ChipEmulator
from wardlink.hardware.serial.ptys import PtyEmulator
from wardlink.hardware.serial.sterilizer import CycleSpec, render_report, typical_samples

#: A line of noise as a printer cable picks up when a motor starts next to it.
NOISE = b"\xfe\x80#@\x00\x81~~\r\n"
HEADER_LINES = 7  # banner .. column titles, printed when the cycle starts


class SterilizerEmulator(PtyEmulator, ChipEmulator):
    """Steriliser whose printer port is the slave side of this emulator's pty.

    ``period_s`` starts a typical cycle every period on its own (the demo); tests
    call :meth:`run_cycle` with an explicit :class:`CycleSpec`. Faults: ``garbage``
    (a noise line before the next line), ``power_cut`` (the rest of the current
    report is never printed).
    """

    FAULTS = frozenset({"garbage", "power_cut"})

    def __init__(self, clock, *, period_s: float | None = None, first_cycle: int = 1,
                 terminator: bytes = b"\r\n") -> None:
        PtyEmulator.__init__(self)
        ChipEmulator.__init__(self, clock)
        self.period_s = period_s
        self.terminator = terminator
        self.next_number = first_cycle
        self.cycles_started = 0
        self.lines_printed = 0
        self._queue: deque[tuple[float, bytes]] = deque()
        self._next_auto = None if period_s is None else clock.monotonic()
        self._busy_until = float("-inf")
        self._qlock = threading.RLock()

    def run_cycle(self, spec: CycleSpec | None = None) -> CycleSpec:
        """Start a cycle now (or when the running one ends); return its spec."""
        with self._qlock:
            if spec is None:
                spec = self._auto_spec()
            self.next_number = max(self.next_number, spec.number + 1)
            self._schedule(spec, max(self.clock.monotonic(), self._busy_until))
        return spec

    @property
    def idle(self) -> bool:
        """True when every line due so far has been printed and written to the tty."""
        with self._qlock:
            waiting = bool(self._queue) and self._queue[0][0] <= self.clock.monotonic()
        return not waiting and self.pending == 0

    def print_raw(self, data: bytes) -> None:
        """Send bytes to the printer port at once (tests use this for hand-made input)."""
        self.send(data)

    def _auto_spec(self) -> CycleSpec:
        n = self.next_number
        self.next_number += 1
        program, temp, hold = (("134C WRAPPED", 134.0, 240), ("121C TEXTILES", 121.0, 900))[n % 2]
        # Every tenth automatic cycle fails on temperature, so dashboards show a failure too.
        failing = n % 10 == 0
        samples = typical_samples(temp, hold, hold_offset_c=-1.6 if failing else 0.6)
        return CycleSpec(n, program, temp, hold, 600, samples,
                         "FAIL" if failing else "PASS", "TEMP LOW" if failing else None)

    def on_idle(self) -> None:
        """Start automatic cycles and print the lines that are due."""
        now = self.clock.monotonic()
        with self._qlock:
            if self._next_auto is not None and now >= self._next_auto:
                self._next_auto = max(self._next_auto + self.period_s, now)
                self.run_cycle()
            due = []
            while self._queue and self._queue[0][0] <= now:
                due.append(self._queue.popleft()[1])
        for line in due:
            if self.take_fault("power_cut"):
                with self._qlock:
                    self._queue.clear()
                    self._busy_until = now
                return
            if self.take_fault("garbage"):
                self.send(NOISE)
            self.send(line)
            self.lines_printed += 1

    def _schedule(self, spec: CycleSpec, start: float) -> None:
        lines = render_report(spec)
        if self._queue:
            start = max(start, self._queue[-1][0])
        offsets = [0.0] * HEADER_LINES + [float(s.elapsed_s) for s in spec.samples]
        last = offsets[-1]
        offsets += [last] * (len(lines) - len(offsets))
        for offset, line in zip(offsets, lines):
            self._queue.append((start + offset, line.encode("ascii") + self.terminator))
        self._busy_until = start + last
        self.cycles_started += 1
