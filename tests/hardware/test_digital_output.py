"""Digital outputs: steady and patterned switching seen on the mock pin."""


import pytest
from waiting import wait_for

from wardlink.hardware import registry
from wardlink.hardware.errors import ConfigError, DeviceClosedError


def test_on_and_off_switch_the_line(backend):
    with registry.open_device("digital_output", {"pin": 22}, backend) as buzzer:
        load = backend.emulator(buzzer)
        assert buzzer.read() == {"state": 0.0} and not load.is_on
        buzzer.on()
        assert buzzer.read() == {"state": 1.0} and load.is_on
        buzzer.off()
        assert not load.is_on


def test_active_low_relay_pulls_the_line_low_to_switch_on(backend):
    with registry.open_device("digital_output", {"pin": 23, "active_high": False}, backend) as relay:
        relay.on()
        assert backend.emulator(relay).pin.state == 0
        assert backend.emulator(relay).is_on


def test_initial_state_is_applied_at_open(backend):
    with registry.open_device("digital_output", {"pin": 24, "initial": True}, backend) as led:
        assert backend.emulator(led).is_on


@pytest.mark.timeout(10)
def test_beep_pattern_toggles_the_line_until_stopped(backend):
    with registry.open_device("digital_output", {"pin": 25}, backend) as buzzer:
        load = backend.emulator(buzzer)
        buzzer.pattern("fast", repeats=2)
        wait_for(lambda: load.changes >= 4, 5, "gpiozero's pattern thread to toggle the line", interval=0.01)
        assert buzzer.current_pattern == "fast"


def test_unknown_pattern_names_the_allowed_ones(backend):
    with registry.open_device("digital_output", {"pin": 26}, backend) as buzzer:
        with pytest.raises(ConfigError, match="pattern: must be one of steady, blink, beep"):
            buzzer.pattern("siren")


def test_switching_a_closed_output_is_refused(backend):
    buzzer = registry.open_device("digital_output", {"pin": 26}, backend)
    buzzer.close()
    with pytest.raises(DeviceClosedError):
        buzzer.on()
