"""Modbus RTU master against an emulated slave on a real pty: bytes, timing and faults."""

import time

import pytest
import serial

from wardlink.hardware.errors import CRCError, DecodeError, NotModelledError, SensorTimeoutError
from wardlink.hardware.serial.modbus import ModbusExceptionError, ModbusRtuMaster, silent_interval
from wardlink.hardware.serial.modbus_emulator import ModbusSlaveEmulator

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def slave():
    """Unit 0x11 holding the Simply Modbus example registers."""
    emu = ModbusSlaveEmulator(0x11, holding={0x6B: 0xAE41, 0x6C: 0x5652, 0x6D: 0x4340}, input={0x08: 0x000A})
    with emu:
        yield emu
    assert emu.error is None


@pytest.fixture
def port(slave):
    with serial.Serial(slave.port, 19200, timeout=0.1) as opened:
        yield opened


@pytest.fixture
def master(port):
    return ModbusRtuMaster(port, timeout=0.3, retries=0)


def test_request_bytes_on_the_wire_are_the_published_frames(slave, master):
    """The master sends FC03 and FC04 requests; the slave records exactly what arrived."""
    assert master.read_holding_registers(0x11, 0x6B, 3) == [0xAE41, 0x5652, 0x4340]
    assert master.read_input_registers(0x11, 0x08, 1) == [10]
    assert slave.requests == [bytes.fromhex("11 03 00 6B 00 03 76 87"), bytes.fromhex("11 04 00 08 00 01 B2 98")]
    assert master.stats.responses == 2 and master.stats.discarded_bytes == 0


def test_exception_response_raises_a_typed_error_naming_the_code(slave, master):
    """A read of an address the slave does not have is answered with exception 02."""
    with pytest.raises(ModbusExceptionError, match="exception 0x02 ILLEGAL DATA ADDRESS") as caught:
        master.read_holding_registers(0x11, 0x0100, 1)
    assert caught.value.code == 0x02 and caught.value.unit == 0x11 and caught.value.function == 0x03
    assert master.stats.exceptions == 1


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("bad_crc", CRCError),
        ("no_reply", SensorTimeoutError),
        ("garbage", DecodeError),
        ("truncate", SensorTimeoutError),
    ],
)
def test_each_fault_raises_its_typed_error_and_the_next_read_recovers(slave, master, fault, error):
    """One faulty answer fails one read; the line is resynchronised and the next read works."""
    slave.inject(fault)
    started = time.monotonic()
    with pytest.raises(error):
        master.read_input_registers(0x11, 0x08, 1)
    assert time.monotonic() - started < 2.0
    assert master.read_input_registers(0x11, 0x08, 1) == [10]


def test_injected_exception_code_reaches_the_caller(slave, master):
    slave.inject("exception", code=0x06)
    with pytest.raises(ModbusExceptionError, match="SERVER DEVICE BUSY"):
        master.read_input_registers(0x11, 0x08, 1)


def test_counters_record_every_kind_of_failure(slave, master):
    for fault in ("bad_crc", "no_reply", "garbage"):
        slave.inject(fault)
        with pytest.raises((CRCError, SensorTimeoutError, DecodeError)):
            master.read_input_registers(0x11, 0x08, 1)
    stats = master.stats
    assert (stats.requests, stats.responses, stats.crc_errors, stats.timeouts, stats.frame_errors) == (3, 0, 1, 1, 1)
    assert stats.discarded_bytes > 0


def test_retries_hide_one_lost_answer(port, slave):
    """With one retry, a single missing reply costs one timeout but the read succeeds."""
    master = ModbusRtuMaster(port, timeout=0.2, retries=1)
    slave.inject("no_reply")
    assert master.read_input_registers(0x11, 0x08, 1) == [10]
    assert master.stats.timeouts == 1
    assert len(slave.requests) == 2


def test_exception_responses_are_not_retried(port, slave):
    master = ModbusRtuMaster(port, timeout=0.2, retries=3)
    slave.inject("exception", code=0x04)
    with pytest.raises(ModbusExceptionError):
        master.read_input_registers(0x11, 0x08, 1)
    assert len(slave.requests) == 1


def test_frames_for_another_unit_or_with_a_bad_crc_get_no_answer(slave, port, master):
    """A real slave stays silent on frames not for it; the master sees a timeout."""
    with pytest.raises(SensorTimeoutError):
        master.read_input_registers(0x12, 0x08, 1)
    bad = bytes.fromhex("11 04 00 08 00 01 B2 99")  # CRC off by one bit
    port.write(bad)
    deadline = time.monotonic() + 5
    while bad not in slave.ignored and time.monotonic() < deadline:
        time.sleep(0.005)  # the slave ends a frame after t3.5 of silence
    assert bad in slave.ignored
    assert master.read_input_registers(0x11, 0x08, 1) == [10]
    assert any(frame[0] == 0x12 for frame in slave.ignored)


def test_master_keeps_the_inter_frame_silence(slave):
    """At 1200 baud t3.5 is 32 ms: the next request may not start sooner after a response."""
    with serial.Serial(slave.port, 1200, timeout=0.1) as port:
        master = ModbusRtuMaster(port, timeout=0.5)
        slave.t35 = silent_interval(1200)
        for _ in range(3):
            master.read_input_registers(0x11, 0x08, 1)
    events = slave.timeline
    gaps = [b[0] - a[0] for a, b in zip(events, events[1:]) if a[1] == "tx" and b[1] == "rx"]
    assert len(gaps) == 2
    assert min(gaps) >= silent_interval(1200) * 0.9


def test_unmodelled_fault_is_refused(slave):
    with pytest.raises(NotModelledError, match="modelled: bad_crc"):
        slave.inject("brownout")


def test_emulator_stops_cleanly_and_closes_its_pty():
    emu = ModbusSlaveEmulator(1, holding={0: 1}).start()
    assert emu.running
    emu.stop()
    emu.stop()
    assert not emu.running and emu.pty.closed
