"""Digital inputs on gpiozero mock pins: door contacts following signals, polarity, callbacks."""

import pytest

from wardlink.hardware import registry
from wardlink.hardware.errors import ConfigError, NotModelledError

DOOR = {"pin": 17}  # reed switch to ground, pull-up on, state 1 = door open


def test_door_follows_its_square_wave_on_the_clock(backend, clock):
    emulate = {"state": {"kind": "square", "period_s": 300, "duty": 0.1}}
    with registry.open_device("digital_input", DOOR, backend, emulate=emulate) as door:
        states = []
        for _ in range(20):
            states.append(door.read()["state"])
            clock.advance(30)
    # Open for the last 10 % of each 300 s period: 1 sample in 10.
    assert states == [0.0] * 9 + [1.0] + [0.0] * 9 + [1.0]


def test_emulated_contact_drives_the_mock_pin_level(backend):
    with registry.open_device("digital_input", DOOR, backend) as door:
        contact = backend.emulator(door)
        contact.state = 1
        assert door.read() == {"state": 1.0}
        assert contact.pin.state == 1  # active-high with pull-up: open door = line high
        contact.state = 0
        assert door.read() == {"state": 0.0}
        assert contact.pin.state == 0


def test_active_low_contact_inverts_the_line(backend):
    params = {"pin": "GPIO5", "active_high": False}
    with registry.open_device("digital_input", params, backend) as alarm:
        contact = backend.emulator(alarm)
        contact.state = 1
        assert alarm.read() == {"state": 1.0}
        assert contact.pin.state == 0


def test_floating_pin_with_pull_down_and_explicit_polarity(backend):
    with registry.open_device("digital_input", {"pin": 6, "pull": "none"}, backend) as contact_input:
        backend.emulator(contact_input).state = 1
        assert contact_input.read() == {"state": 1.0}


def test_change_callbacks_report_the_active_state(backend, clock):
    emulate = {"state": {"kind": "square", "period_s": 60, "duty": 0.5}}
    with registry.open_device("digital_input", DOOR, backend, emulate=emulate) as door:
        seen = []
        door.when_changed = seen.append
        for _ in range(4):
            door.read()
            clock.advance(30)
    assert seen == [True, False, True]


def test_cut_wire_reads_the_pull_level(backend):
    with registry.open_device("digital_input", DOOR, backend) as door:
        contact = backend.emulator(door)
        contact.state = 0
        contact.inject("open_circuit", count=None)
        # With the pull-up a cut reed-switch wire looks like an open door: fail-safe.
        assert door.read() == {"state": 1.0}


def test_cut_wire_on_a_floating_pin_is_not_modelled(backend):
    with registry.open_device("digital_input", {"pin": 13, "pull": "none"}, backend) as contact_input:
        backend.emulator(contact_input).inject("open_circuit", count=None)
        with pytest.raises(NotModelledError):
            contact_input.read()


def test_stuck_contact_keeps_its_state(backend, clock):
    emulate = {"state": {"kind": "square", "period_s": 60, "duty": 0.5}}
    with registry.open_device("digital_input", DOOR, backend, emulate=emulate) as door:
        backend.emulator(door).stuck = True
        frozen = door.read()
        clock.advance(30)
        assert door.read() == frozen


def test_pin_in_use_is_a_config_error(backend):
    with registry.open_device("digital_input", DOOR, backend):
        with pytest.raises(ConfigError, match="pin"):
            registry.open_device("digital_output", DOOR, backend)


def test_pin_released_on_close_can_be_reopened(backend):
    registry.open_device("digital_input", DOOR, backend).close()
    with registry.open_device("digital_input", DOOR, backend) as door:
        assert door.read() == {"state": 0.0}


def test_invalid_pin_name_is_refused_at_validation():
    with pytest.raises(ConfigError, match="pin: must be a GPIO pin"):
        registry.validate_params("digital_input", {"pin": "PA7"})
