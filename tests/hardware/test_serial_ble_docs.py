"""The serial and BLE examples in docs/hardware.md are valid: configuration, report, replay lines."""

import json
import re
import tomllib
from pathlib import Path

from wardlink.hardware import registry
from wardlink.hardware.ble import bthome, ruuvi
from wardlink.hardware.ble.radio import record_to_advertisement
from wardlink.hardware.serial.framing import LineRejected
from wardlink.hardware.serial.sterilizer import SterilizerReportParser

DOC = (Path(__file__).resolve().parents[2] / "docs" / "hardware.md").read_text()
OURS = {"sterilizer_printer", "serial_lines", "modbus_rtu", "bthome", "ruuvitag", "ble_presence"}


def test_every_serial_and_ble_driver_is_documented():
    for name in OURS:
        assert f"| `{name}` |" in DOC, name
        assert name in registry.DRIVERS


def test_configuration_examples_validate_and_name_a_reported_quantity():
    blocks = re.findall(r"```toml\n(.*?)```", DOC, re.S)
    checked = 0
    for block in blocks:
        for channel in tomllib.loads(block).get("channels", []):
            if channel["driver"] not in OURS:
                continue
            params = registry.validate_params(channel["driver"], channel["params"])
            assert channel["quantity"] in registry.quantities(channel["driver"], params)
            checked += 1
    assert checked == 3


def test_the_documented_report_layout_parses():
    block = re.search(r"```\n(STEAM STERILIZER\n.*?)```", DOC, re.S).group(1)
    parser = SterilizerReportParser()
    events = []
    for line in block.splitlines():
        if line == "...":
            continue
        try:
            events += parser.feed(line)[1]
        except LineRejected as exc:  # pragma: no cover - the assertion below names the line
            raise AssertionError(f"documented line rejected: {line!r}: {exc}") from None
    assert [e["data"]["result"] for e in events] == ["PASS"]


def test_the_documented_replay_lines_decode():
    block = re.search(r"```jsonl\n(.*?)```", DOC, re.S).group(1)
    advs = [record_to_advertisement(json.loads(line)) for line in block.splitlines()]
    assert bthome.decode(advs[0].service_data[bthome.UUID]).values == {"temperature": 25.0, "humidity": 50.55}
    assert ruuvi.decode(advs[1].manufacturer_data[ruuvi.COMPANY_ID])["values"]["temperature"] == 24.3
