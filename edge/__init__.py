"""Wardlink gateway runtime: sample sensors, buffer every reading durably, forward over MQTT.

The pieces, each in its own module: :mod:`wardlink.edge.config` (TOML, validated once),
:mod:`wardlink.edge.buffer` (SQLite store-and-forward buffer), :mod:`wardlink.edge.sampler` (asyncio sampling
loop over :mod:`hardware` drivers), :mod:`wardlink.edge.forwarder` (paho-mqtt, QoS 1, live-first
replay), :mod:`wardlink.edge.alarms` (local threshold rules), :mod:`wardlink.edge.remote` (remote config and
commands), :mod:`wardlink.edge.gateway` (wires them together) and :mod:`wardlink.edge.cli` (``wardlink-edge``).
"""

from wardlink.edge.version import __version__

__all__ = ["__version__"]
