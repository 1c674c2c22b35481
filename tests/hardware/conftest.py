"""Fixtures for hardware tests: a manual clock and an emulated backend driven by it."""

import pytest

from wardlink.hardware import registry
from wardlink.clock import ManualClock


@pytest.fixture
def clock():
    """A clock that moves only when a test (or a driver's wait) advances it."""
    return ManualClock()


@pytest.fixture
def backend(clock, tmp_path):
    """Emulated buses whose sysfs tree lives under the test's temporary directory."""
    with registry.Backend.emulated(clock=clock, seed=1, root=tmp_path) as emulated:
        yield emulated
