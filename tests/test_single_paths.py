"""One MQTT client adapter and one retry/backoff helper: no module builds a paho client or
computes an exponential backoff of its own."""

from __future__ import annotations

import re
from pathlib import Path


def test_every_mqtt_client_and_every_backoff_of_the_project_goes_through_the_shared_helpers():
    """No module outside wardlink/mqtt.py builds or sets up a paho client by hand, and none
    outside wardlink/retry.py computes its own exponential backoff."""
    root = Path(__file__).resolve().parent.parent
    by_hand = {
        "wardlink/mqtt.py": re.compile(r"mqtt\.Client\(|Client\(CallbackAPIVersion|\.(tls_set|username_pw_set|will_set)\("),
        "wardlink/retry.py": re.compile(r"\b2 \*\* |\bdelay \* 2\b|delay \*= "),
    }
    found = []
    for package in ("wardlink", "hardware", "edge", "hub", "provisioning"):
        for path in sorted((root / package).rglob("*.py")):
            name = path.relative_to(root).as_posix()
            for lineno, line in enumerate(path.read_text().splitlines(), 1):
                for home, pattern in by_hand.items():
                    if name != home and pattern.search(line):
                        found.append(f"{name}:{lineno}: {line.strip()} (belongs in {home})")
    assert not found, "\n".join(found)
