"""Bluetooth Low Energy: pure advertisement decoders, presence tracking, radios and devices.

The decoders (:mod:`.bthome`, :mod:`.ruuvi`, :mod:`.ibeacon`) are pure functions of bytes;
bleak is imported only by :mod:`.scanner` when a real adapter starts scanning. Drivers
registered in :mod:`wardlink.hardware.registry`: ``bthome``, ``ruuvitag``, ``ble_presence``.
"""
