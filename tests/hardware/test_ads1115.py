"""ADS1115: config words from the datasheet, scaling of transducers, the driver on its emulator."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from wardlink.hardware import registry
from wardlink.hardware.errors import ConfigError, HardwareError, NackError, NotModelledError, OutOfRangeError, SensorTimeoutError
from wardlink.hardware.i2c import ads1115
from wardlink.hardware.i2c.ads1115 import ADS1115, config_word, decode, scale


def test_single_shot_ain0_4_096_v_128_sps_is_0xc383():
    # Project hardware references / ADS1115 datasheet 8.6.3 config register layout.
    assert config_word("a0", 4.096, 128) == 0xC383


def test_power_on_config_is_0x8583_which_is_a0_a1_2_048_v_single_shot_128_sps_idle():
    assert ads1115.CONFIG_RESET == 0x8583 == config_word("a0-a1", 2.048, 128)


@pytest.mark.parametrize(
    ("frame", "fsr", "volts"),
    [  # datasheet table 8-3 (output codes): 1 LSB = FSR / 2^15
        (b"\x00\x01", 4.096, 0.000125),
        (b"\x40\x00", 4.096, 2.048),
        (b"\xc0\x00", 4.096, -2.048),
        (b"\x00\x00", 0.256, 0.0),
    ],
)
def test_conversion_codes_scale_by_fsr_over_32768(frame, fsr, volts):
    assert decode(frame, fsr) == pytest.approx(volts)


def test_saturated_code_is_out_of_range():
    with pytest.raises(OutOfRangeError):
        decode(b"\x7f\xff", 4.096)


def test_oxygen_manifold_transducer_0_5_to_4_5_v_maps_to_0_to_10_bar():
    assert scale(2.5, (0.5, 4.5), (0.0, 10.0), 0.05) == pytest.approx(5.0)
    assert scale(0.5, (0.5, 4.5), (0.0, 10.0), 0.05) == pytest.approx(0.0)


def test_current_loop_below_live_zero_is_a_fault():
    with pytest.raises(OutOfRangeError, match="open circuit"):
        scale(0.0005, (0.004, 0.020), (0.0, 16.0), 0.05)


@given(st.binary(max_size=4), st.sampled_from(sorted(ads1115.PGA)))
def test_decoder_on_any_bytes_returns_a_voltage_or_raises_hardware_error(frame, fsr):
    try:
        volts = decode(frame, fsr)
    except HardwareError:
        return
    assert abs(volts) < fsr


O2 = {"fsr_v": 6.144, "scale_from": [0.5, 4.5], "scale_to": [0, 10], "quantity": "pressure", "unit": "bar"}


def test_manifold_pressure_end_to_end(backend):
    with registry.open_device("ads1115", O2, backend) as adc:
        backend.emulator(adc).ain0 = 2.5
        values = adc.read()
        assert adc.quantities == {"voltage": "V", "pressure": "bar"}
    # 6.144 V range: 187.5 uV per code.
    assert values["voltage"] == pytest.approx(2.5, abs=0.0002)
    assert values["pressure"] == pytest.approx(5.0, abs=0.001)


def test_emulate_signal_on_the_scaled_quantity_drives_the_input(backend, clock):
    emulate = {"pressure": {"mean": 4.2, "amplitude": 0.5, "period_s": 600}}
    with registry.open_device("ads1115", O2, backend, emulate=emulate) as adc:
        first = adc.read()["pressure"]
        clock.advance(150 - adc.conversion_s)  # the first read's wait passed on the bus
        peak = adc.read()["pressure"]
    assert first == pytest.approx(4.2, abs=0.002)
    assert peak == pytest.approx(4.7, abs=0.002)


def test_4_to_20_ma_loop_through_a_150_ohm_shunt(backend):
    params = {"channel": "a1", "input": "current", "shunt_ohms": 150, "scale_from": [0.004, 0.020],
              "scale_to": [0, 16], "quantity": "pressure", "unit": "bar"}
    with registry.open_device("ads1115", params, backend) as adc:
        chip = backend.emulator(adc)
        chip.set_quantity("pressure", 8.0)
        assert chip.ain1 == pytest.approx(1.8)  # 12 mA x 150 ohm
        values = adc.read()
        chip.ain1 = 0.0  # broken loop wire
        with pytest.raises(OutOfRangeError):
            adc.read()
    assert values == pytest.approx({"voltage": 1.8, "current": 0.012, "pressure": 8.0}, abs=1e-3)


def test_two_channels_share_one_chip(backend):
    with registry.open_device("ads1115", {"channel": "a0"}, backend) as a0, \
            registry.open_device("ads1115", {"channel": "a2"}, backend) as a2:
        assert backend.emulator(a0) is backend.emulator(a2)
        chip = backend.emulator(a0)
        chip.ain0, chip.ain2 = 1.0, 3.0
        assert a0.read()["voltage"] == pytest.approx(1.0, abs=0.001)
        assert a2.read()["voltage"] == pytest.approx(3.0, abs=0.001)


def test_differential_input_reads_the_difference(backend):
    with registry.open_device("ads1115", {"channel": "a2-a3", "fsr_v": 0.256}, backend) as adc:
        chip = backend.emulator(adc)
        chip.ain2, chip.ain3 = 1.100, 1.000
        assert adc.read()["voltage"] == pytest.approx(0.1, abs=1e-5)


def test_conversion_takes_one_sample_period_and_os_bit_reports_it(backend, clock):
    bus = backend.i2c(1)
    with registry.open_device("ads1115", {"data_rate": 8}, backend):
        bus.write_i2c_block_data(0x48, ads1115.CONFIG, [0xC3, 0x03])  # 8 SPS
        assert not bus.read_i2c_block_data(0x48, ads1115.CONFIG, 2)[0] & 0x80
        clock.advance(0.125)
        assert bus.read_i2c_block_data(0x48, ads1115.CONFIG, 2)[0] & 0x80


def test_driver_that_never_waits_times_out(backend):
    backend.i2c(1).attach(0x48, ads1115.ADS1115Emulator(backend.bus_clock))
    adc = ADS1115(backend.i2c(1), 0x48, sleep=lambda s: None)
    with pytest.raises(SensorTimeoutError):
        adc.read()


def test_nack_is_typed(backend):
    with registry.open_device("ads1115", {}, backend) as adc:
        backend.emulator(adc).inject("nack")
        with pytest.raises(NackError):
            adc.read()


def test_continuous_mode_is_not_modelled(backend):
    with registry.open_device("ads1115", {}, backend):
        with pytest.raises(NotImplementedError):
            backend.i2c(1).write_i2c_block_data(0x48, ads1115.CONFIG, [0x42, 0x83])


def test_crc_fault_is_refused_because_the_ads1115_sends_no_crc(backend):
    with registry.open_device("ads1115", {}, backend) as adc:
        with pytest.raises(NotModelledError):
            backend.emulator(adc).inject("crc")


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"input": "current"}, "shunt_ohms: required"),
        ({"scale_from": [0.5, 4.5]}, "scale_to: required"),
        ({"scale_from": [0.5, 4.5], "scale_to": [0, 10], "quantity": "pressure"}, "fsr_v: 4.096 V does not cover"),
        ({"scale_from": [1, 1], "scale_to": [0, 10], "quantity": "p"}, "scale_from: must be two different numbers"),
        ({"channel": "a4"}, "channel: must be one of 'a0', 'a1'"),
    ],
)
def test_inconsistent_transducer_parameters_are_refused(params, message):
    with pytest.raises(ConfigError, match=message):
        registry.validate_params("ads1115", params)


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({"transducer": "4-20mA", "scale_to": [0, 16], "quantity": "pressure"}, "shunt_ohms: required by transducer"),
        ({"transducer": "0.5-4.5V", "fsr_v": 6.144, "scale_from": [0.33, 3.0], "scale_to": [0, 10],
          "quantity": "p"}, "scale_from: transducer = '0.5-4.5V' sets it to 0.5..4.5"),
        ({"transducer": "0.5-4.5V", "fsr_v": 6.144, "input": "current", "shunt_ohms": 150, "scale_to": [0, 10],
          "quantity": "p"}, "input: transducer = '0.5-4.5V' drives a voltage"),
        ({"transducer": "0.5-4.5V", "fsr_v": 6.144}, "scale_to: required with transducer"),
        ({"transducer": "0.5-4.5V", "scale_to": [0, 10], "quantity": "p"}, "fsr_v: 4.096 V does not cover"),
        ({"transducer": "0-10V"}, "transducer: must be one of '0.5-4.5V', '4-20mA'"),
    ],
)
def test_a_named_transducer_range_refuses_what_contradicts_it(params, message):
    with pytest.raises(ConfigError, match=message):
        registry.validate_params("ads1115", params)


def test_a_named_transducer_range_sets_the_input_and_its_span():
    loop = registry.validate_params("ads1115", {"transducer": "4-20mA", "shunt_ohms": 150, "scale_to": [0, 250],
                                                "quantity": "pressure", "unit": "bar"})
    assert (loop["input"], loop["scale_from"]) == ("current", (0.004, 0.020))
    volts = registry.validate_params("ads1115", {"transducer": "0.5-4.5V", "fsr_v": 6.144, "scale_to": [0, 250],
                                                 "quantity": "pressure"})
    assert (volts["input"], volts["scale_from"]) == ("voltage", (0.5, 4.5))
    assert registry.validate_params("ads1115", loop) == loop, "validated parameters pass again unchanged"


def test_4_to_20_ma_transducer_reads_a_bank_pressure(backend):
    params = {"transducer": "4-20mA", "shunt_ohms": 150, "scale_to": [0, 250], "quantity": "pressure",
              "unit": "bar"}
    with registry.open_device("ads1115", params, backend) as adc:
        backend.emulator(adc).set_quantity("pressure", 125.0)
        assert backend.emulator(adc).ain0 == pytest.approx(1.8)  # 12 mA x 150 ohm
        assert adc.read()["pressure"] == pytest.approx(125.0, abs=0.02)
