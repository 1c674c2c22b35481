"""Buzzer, LED or relay on a GPIO pin, switched steadily or in a named pattern.

Patterns run in gpiozero's background thread, in real time: an alarm beeps at the
speed people hear whatever clock the rest of the program uses.
"""

from __future__ import annotations

from gpiozero import DigitalOutputDevice

from wardlink.hardware.device import Device
from wardlink.hardware.emulation import ChipEmulator
from wardlink.hardware.errors import ConfigError
from wardlink.hardware.gpio.pins import gpio_errors

#: name -> (on seconds, off seconds); None means steadily on.
PATTERNS: dict[str, tuple[float, float] | None] = {
    "steady": None,
    "blink": (0.5, 0.5),
    "beep": (0.1, 0.9),
    "fast": (0.1, 0.1),
    "alarm": (0.25, 0.25),
}


class DigitalOutput(Device):
    """A switched output: :meth:`on`, :meth:`off`, :meth:`pattern`; reads report ``state``."""

    driver = "digital_output"
    quantities = {"state": "bool"}

    def __init__(self, pin: str, *, pin_factory, active_high: bool = True, initial: bool = False) -> None:
        super().__init__(f"digital_output {pin}")
        with gpio_errors(pin):
            self._output = DigitalOutputDevice(
                pin, active_high=active_high, initial_value=initial, pin_factory=pin_factory
            )
        self.current_pattern = "steady" if initial else "off"

    @property
    def is_active(self) -> bool:
        """True while the output is switched on (or in the on phase of a pattern)."""
        self._check_open()
        return bool(self._output.value)

    def on(self) -> None:
        """Switch on steadily."""
        self.pattern("steady")

    def off(self) -> None:
        """Switch off and stop any pattern."""
        self._check_open()
        self._output.off()
        self.current_pattern = "off"

    def pattern(self, name: str, repeats: int | None = None) -> None:
        """Run pattern ``name`` (``repeats`` times, or until changed); see PATTERNS."""
        self._check_open()
        if name not in PATTERNS:
            raise ConfigError(f"pattern: must be one of {', '.join(PATTERNS)}, got {name!r}")
        timing = PATTERNS[name]
        if timing is None:
            self._output.on()
        else:
            self._output.blink(on_time=timing[0], off_time=timing[1], n=repeats, background=True)
        self.current_pattern = name

    def _read(self) -> dict[str, float]:
        return {"state": float(self.is_active)}

    def _close(self) -> None:
        self._output.close()


class OutputObserver(ChipEmulator):
    """What is wired to an emulated output: it records the line and reports if it is on."""

    def __init__(self, clock, pin, *, active_high: bool) -> None:
        super().__init__(clock)
        self.pin = pin
        self.active_high = active_high

    @property
    def is_on(self) -> bool:
        """True while the load (buzzer, LED, relay coil) is energised."""
        return bool(self.pin.state) == self.active_high

    @property
    def changes(self) -> int:
        """Number of level changes on the line since it was created."""
        return len(self.pin.states) - 1


def open_device(params: dict, backend) -> DigitalOutput:
    """Open an output on the backend's pin factory."""
    return DigitalOutput(
        params["pin"], pin_factory=backend.pin_factory(), active_high=params["active_high"],
        initial=params["initial"],
    )


def install_emulator(backend, params: dict) -> OutputObserver:
    """Attach an observer to the output pin."""
    with gpio_errors(params["pin"]):
        pin = backend.pin_factory().pin(params["pin"])
    return OutputObserver(backend.bus_clock, pin, active_high=params["active_high"])
