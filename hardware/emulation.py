"""Common machinery for chip emulators: physical quantities, signals and fault injection.

An emulator stands where the chip would be (on an emulated bus, in an emulated sysfs
tree, behind a mock pin) and answers exactly what the chip would answer. Its physical
inputs (temperature, current, ...) are either fixed values that tests set
(``emu.temperature = 4.5``) or signals from :mod:`wardlink.hardware.signals` driven by the
injected clock.
"""

from __future__ import annotations

from collections.abc import Mapping

from wardlink.hardware import signals
from wardlink.hardware.errors import ConfigError, NotModelledError


class Physical:
    """A physical quantity an emulator senses: fixed value, signal, or frozen when stuck."""

    def __init__(self, default: float, unit: str) -> None:
        self.default = default
        self.unit = unit
        self.name = ""

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    def __get__(self, emu: ChipEmulator | None, owner: type) -> float | Physical:
        if emu is None:
            return self
        return emu._physical(self.name, self.default)

    def __set__(self, emu: ChipEmulator, value: float) -> None:
        # An exact value set by a test replaces any signal for that quantity.
        emu._signals.pop(self.name, None)
        emu._fixed[self.name] = float(value)
        emu._frozen.pop(self.name, None)


class ChipEmulator:
    """Base for emulators: physical quantities, signals, ``stuck`` and injected faults.

    Subclasses list the faults they model in ``FAULTS``; :meth:`inject` refuses others
    with :class:`NotModelledError` rather than pretending to honour them.
    """

    FAULTS: frozenset[str] = frozenset()

    def __init__(self, clock) -> None:
        self.clock = clock
        self._fixed: dict[str, float] = {}
        self._signals: dict[str, signals.Signal] = {}
        self._frozen: dict[str, float] = {}
        self._faults: dict[str, int | None] = {}
        self._stuck = False

    @classmethod
    def physicals(cls) -> dict[str, Physical]:
        """Return the physical quantities this emulator senses, by name."""
        found = {}
        for klass in reversed(cls.__mro__):
            found.update({k: v for k, v in vars(klass).items() if isinstance(v, Physical)})
        return found

    def _physical(self, name: str, default: float) -> float:
        if self._stuck:
            if name not in self._frozen:
                self._frozen[name] = self._live(name, default)
            return self._frozen[name]
        return self._live(name, default)

    def _live(self, name: str, default: float) -> float:
        signal = self._signals.get(name)
        if signal is not None:
            return signal(self.clock.now())
        return self._fixed.get(name, default)

    def attach_signals(self, spec: Mapping | None, *, seed: int) -> None:
        """Drive physical quantities from ``spec`` ({quantity: signal spec}); validate keys."""
        if not spec:
            return
        if not isinstance(spec, Mapping):
            raise ConfigError(f"emulate: must be a mapping of quantity to signal, got {spec!r}")
        allowed = self.physicals()
        origin = self.clock.now()
        for name, signal_spec in spec.items():
            if name not in allowed:
                raise ConfigError(
                    f"emulate.{name}: not a quantity of {type(self).__name__}; "
                    f"allowed: {', '.join(allowed)}"
                )
            self._signals[name] = signals.build(signal_spec, name=name, seed=seed, origin=origin)

    @property
    def stuck(self) -> bool:
        """True while the sensing element is frozen at the values it had when it stuck."""
        return self._stuck

    @stuck.setter
    def stuck(self, value: bool) -> None:
        """Freeze (True) or release (False) every physical quantity at its current value."""
        self._stuck = bool(value)
        self._frozen.clear()
        if self._stuck:
            for name, quantity in self.physicals().items():
                self._frozen[name] = self._live(name, quantity.default)

    def inject(self, fault: str, count: int | None = 1) -> None:
        """Make the next ``count`` operations fail with ``fault`` (``None``: until cleared)."""
        if fault not in self.FAULTS:
            raise NotModelledError(
                f"{type(self).__name__} does not model fault {fault!r}; "
                f"modelled: {', '.join(sorted(self.FAULTS)) or 'none'}"
            )
        if count is not None and count < 1:
            raise ValueError(f"count must be >= 1 or None, got {count}")
        self._faults[fault] = count

    def clear(self, fault: str | None = None) -> None:
        """Remove one injected fault, or all of them."""
        if fault is None:
            self._faults.clear()
        else:
            self._faults.pop(fault, None)

    def is_faulted(self, fault: str) -> bool:
        """Return True if ``fault`` is active, without consuming it."""
        return fault in self._faults

    def take_fault(self, fault: str) -> bool:
        """Return True and consume one occurrence if ``fault`` is active."""
        if fault not in self._faults:
            return False
        remaining = self._faults[fault]
        if remaining is not None:
            if remaining <= 1:
                del self._faults[fault]
            else:
                self._faults[fault] = remaining - 1
        return True
