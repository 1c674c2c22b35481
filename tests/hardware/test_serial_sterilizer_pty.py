"""Steriliser printer port on a real pty: the emulator prints, the line device reads."""


import pytest
import waiting
import serial

from wardlink.hardware import registry
from wardlink.hardware.errors import BusError, ConfigError, DeviceClosedError
from wardlink.hardware.serial.devices import LineDevice
from wardlink.hardware.serial.framing import Framing
from wardlink.hardware.serial.ports import SerialLine, SerialSettings
from wardlink.hardware.serial.sterilizer import CycleSpec, SterilizerReportParser, typical_samples
from wardlink.hardware.serial.sterilizer_emulator import SterilizerEmulator

pytestmark = pytest.mark.timeout(60)


def wait_for(condition, timeout=5.0):
    """Poll ``condition`` until it is true; the emulator thread and the tty need a moment."""
    return waiting.wait_for(condition, timeout, "the condition", interval=0.01)


@pytest.fixture
def printer(clock):
    """An emulated steriliser (no automatic cycles) and a line device on its pty slave."""
    emu = SterilizerEmulator(clock)
    port = serial.Serial(emu.port, 9600, timeout=0.1)
    emu.start()
    device = LineDevice("sterilizer test", SerialLine(port, SerialSettings(emu.port)), SterilizerReportParser(),
                        Framing(), clock=clock)
    yield emu, device
    device.close()
    port.close()
    emu.stop()
    assert emu.error is None


def run_to_end(clock, emu, seconds, step=60.0):
    """Advance the clock through a cycle, letting the emulator print what falls due at each step."""
    for _ in range(int(seconds // step) + 1):
        clock.advance(step)
        wait_for(lambda: emu.idle)


def test_a_full_cycle_report_becomes_one_event(clock, printer):
    """The emulator prints a 134 degC cycle at its pace on the injected clock."""
    emu, device = printer
    spec = emu.run_cycle(CycleSpec(128, samples=typical_samples(134.0, 240, 600)))
    run_to_end(clock, emu, spec.samples[-1].elapsed_s)
    events = wait_for(device.poll_events)
    assert len(events) == 1
    event = events[0]
    assert event["type"] == "sterilizer.cycle" and event["data"]["cycle"] == 128
    assert event["data"]["result"] == "PASS" and event["data"]["hold_time_s"] == 240
    assert event["ts"] == pytest.approx(clock.now(), abs=60.0)
    assert device.read() == {"chamber_temperature": 82.0, "chamber_pressure": 101.3}
    assert device.stats()["rejected"] == 0
    assert device.poll_events() == []


def test_noise_lines_are_counted_and_kept_and_the_cycle_still_arrives(clock, printer):
    emu, device = printer
    spec = emu.run_cycle(CycleSpec(9, samples=typical_samples()))
    emu.inject("garbage", count=3)
    run_to_end(clock, emu, spec.samples[-1].elapsed_s)
    events = wait_for(device.poll_events)
    assert [e["data"]["cycle"] for e in events] == [9]
    stats = device.stats()
    assert stats["rejected"] == 3
    assert len(stats["recent_rejects"]) == 3


def test_a_power_cut_reports_the_cycle_as_incomplete(clock, printer):
    emu, device = printer
    first = emu.run_cycle(CycleSpec(20, samples=typical_samples()))
    clock.advance(100)
    wait_for(lambda: emu.lines_printed >= 9)
    emu.inject("power_cut")
    clock.advance(100)
    wait_for(lambda: emu.idle and not emu.is_faulted("power_cut"))
    second = emu.run_cycle(CycleSpec(21, samples=typical_samples()))
    run_to_end(clock, emu, first.samples[-1].elapsed_s + second.samples[-1].elapsed_s)
    events = []
    wait_for(lambda: events.extend(device.poll_events()) or len(events) >= 2)
    assert [(e["data"]["cycle"], e["data"]["result"]) for e in events] == [(20, "INCOMPLETE"), (21, "PASS")]


def test_values_go_stale(clock, printer):
    emu, device = printer
    emu.print_raw(b"CYCLE 000001\r\n00:00:00  START          40.0    101.0\r\n")
    wait_for(lambda: device.read())
    clock.advance(301)
    assert device.read() == {}


def test_an_unplugged_adapter_surfaces_as_a_bus_error(clock):
    emu = SterilizerEmulator(clock)
    port = serial.Serial(emu.port, 9600, timeout=0.1)
    device = LineDevice("unplugged", SerialLine(port, SerialSettings(emu.port)), SterilizerReportParser(),
                        Framing(), clock=clock)
    emu.stop()  # both pty ends close: reads fail as they do when a USB adapter disappears
    wait_for(lambda: device.error is not None)
    with pytest.raises(BusError, match="serial port failed"):
        device.read()
    device.close()
    port.close()


def test_sterilizer_printer_through_the_registry(backend, clock):
    """The emulated backend's steriliser starts a cycle on its own and repeats it."""
    with registry.open_device("sterilizer_printer", {"port": "/dev/ttyS0"}, backend) as device:
        emu = backend.emulator(device)
        assert isinstance(emu, SterilizerEmulator)
        wait_for(lambda: emu.cycles_started == 1)
        clock.advance(2400)
        events = wait_for(device.poll_events)
        assert [e["data"]["cycle"] for e in events] == [1]
        assert device.quantities == {"chamber_temperature": "degC", "chamber_pressure": "kPa"}
    with pytest.raises(DeviceClosedError):
        device.read()
    device.close()


def test_a_printer_port_cannot_be_shared(backend):
    with registry.open_device("sterilizer_printer", {"port": "/dev/ttyS0"}, backend):
        with pytest.raises(ConfigError, match="/dev/ttyS0 is already used by sterilizer_printer"):
            registry.open_device("sterilizer_printer", {"port": "/dev/ttyS0"}, backend)


def test_the_steriliser_emulator_has_no_free_quantities(backend):
    with pytest.raises(ConfigError, match="emulate.temperature: not a quantity"):
        registry.open_device("sterilizer_printer", {"port": "/dev/ttyS3"}, backend,
                             emulate={"temperature": {"mean": 134.0}})


def test_serial_lines_csv_through_the_registry(backend, clock):
    params = {
        "port": "/dev/ttyUSB1",
        "profile": "csv",
        "profile_options": {"header": True, "fields": {"temp": {"quantity": "temperature", "unit": "degC"},
                                                      "rh": {"quantity": "humidity", "unit": "%RH"}}},
    }
    emulate = {"temperature": {"kind": "constant", "value": 4.25}, "humidity": {"kind": "constant", "value": 51.5}}
    with registry.open_device("serial_lines", params, backend, emulate=emulate) as device:
        assert device.quantities == {"temperature": "degC", "humidity": "%RH"}
        assert wait_for(device.read) == {"temperature": 4.25, "humidity": 51.5}
        assert device.stats()["rejected"] == 0


def test_serial_lines_keyvalue_options_are_checked_at_start_up():
    with pytest.raises(ConfigError, match="profile_options.fields.T.quantity: required"):
        registry.validate_params("serial_lines", {"port": "/dev/ttyS0", "profile": "keyvalue",
                                                  "profile_options": {"fields": {"T": {}}}})
    with pytest.raises(ConfigError, match="framing.terminator: must be one of lf, crlf, cr"):
        registry.validate_params("sterilizer_printer", {"port": "/dev/ttyS0", "framing": {"terminator": "x"}})
