"""The emulated I2C bus speaks smbus2's API with the kernel's error numbers and byte orders."""

import errno

import pytest
from smbus2 import i2c_msg

from wardlink.hardware.errors import BusError, DeviceAbsentError, NackError, NotModelledError
from wardlink.hardware.i2c.bus import EmulatedI2CBus, I2CDevice, RegisterChip


class Memory(RegisterChip):
    """A 256-byte register file, like a small EEPROM with auto-increment."""

    def __init__(self, clock):
        super().__init__(clock)
        self.cells = bytearray(range(256))

    def write_register(self, register, data):
        self.cells[register:register + len(data)] = data

    def read_register(self, register, length):
        return bytes(self.cells[(register + i) & 0xFF] for i in range(length))


@pytest.fixture
def bus(clock):
    with EmulatedI2CBus(1) as emulated:
        emulated.attach(0x50, Memory(clock))
        yield emulated


def test_byte_and_block_transfers(bus):
    assert bus.read_byte_data(0x50, 0x10) == 0x10
    bus.write_byte_data(0x50, 0x10, 0xAA)
    assert bus.read_i2c_block_data(0x50, 0x0F, 3) == [0x0F, 0xAA, 0x11]
    bus.write_i2c_block_data(0x50, 0x20, [1, 2, 3])
    assert bus.read_i2c_block_data(0x50, 0x20, 3) == [1, 2, 3]


def test_smbus_words_are_little_endian_on_the_wire(bus):
    assert bus.read_word_data(0x50, 0x12) == 0x1312
    bus.write_word_data(0x50, 0x30, 0xBEEF)
    assert bus.read_i2c_block_data(0x50, 0x30, 2) == [0xEF, 0xBE]


def test_i2c_rdwr_combined_write_then_read(bus):
    read = i2c_msg.read(0x50, 4)
    bus.i2c_rdwr(i2c_msg.write(0x50, [0x40]), read)
    assert list(read) == [0x40, 0x41, 0x42, 0x43]


def test_block_limit_is_32_bytes_like_smbus2(bus):
    with pytest.raises(ValueError):
        bus.read_i2c_block_data(0x50, 0, 33)


def test_empty_address_is_enxio_and_nack_is_eremoteio(bus):
    with pytest.raises(OSError) as absent:
        bus.read_byte_data(0x51, 0)
    assert absent.value.errno == errno.ENXIO
    bus.chips[0x50].inject("nack")
    with pytest.raises(OSError) as nack:
        bus.read_byte_data(0x50, 0)
    assert nack.value.errno == errno.EREMOTEIO
    assert bus.read_byte_data(0x50, 0) == 0  # a single NACK only


def test_closed_bus_fails_like_a_closed_file_descriptor(bus):
    bus.close()
    with pytest.raises(OSError) as caught:
        bus.read_byte_data(0x50, 0)
    assert caught.value.errno == errno.EBADF


def test_drivers_see_typed_errors_that_are_still_oserrors(bus):
    device = I2CDevice(bus, 0x51, sleep=None)
    with pytest.raises(DeviceAbsentError) as absent:
        with device.io("probe"):
            bus.read_byte_data(0x51, 0)
    assert isinstance(absent.value, OSError) and absent.value.errno == errno.ENXIO
    assert "0x51" in str(absent.value)
    bus.chips[0x50].inject("nack")
    with pytest.raises(NackError):
        with I2CDevice(bus, 0x50, sleep=None).io("probe"):
            bus.read_byte_data(0x50, 0)
    with pytest.raises(BusError):
        with device.io("probe"):
            raise OSError(errno.ETIMEDOUT, "timed out")


def test_transactions_to_several_addresses_at_once_are_not_modelled(bus):
    with pytest.raises(NotModelledError):
        bus.i2c_rdwr(i2c_msg.write(0x50, [0]), i2c_msg.read(0x51, 1))


def test_unknown_fault_names_are_refused(bus):
    with pytest.raises(NotModelledError, match="modelled: absent, nack"):
        bus.chips[0x50].inject("smoke")
