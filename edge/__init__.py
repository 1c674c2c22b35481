"""Wardlink gateway runtime: sample sensors, buffer every reading durably, forward over MQTT.

The pieces, each in its own module: :mod:`edge.config` (TOML, validated once),
:mod:`edge.buffer` (SQLite store-and-forward buffer), :mod:`edge.sampler` (asyncio sampling
loop over :mod:`hardware` drivers), :mod:`edge.forwarder` (paho-mqtt, QoS 1, live-first
replay), :mod:`edge.alarms` (local threshold rules), :mod:`edge.remote` (remote config and
commands), :mod:`edge.gateway` (wires them together) and :mod:`edge.cli` (``wardlink-edge``).
"""

from edge.version import __version__

__all__ = ["__version__"]
