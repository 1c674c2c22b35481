"""Serial instruments: line-printing devices (steriliser reports, key=value, CSV) and Modbus RTU.

Pure parts (CRC, framing, profiles, register decoding) have no I/O; devices get their port
from the backend (``backend.bus("serial", settings)``); emulators serve a real pty.
Drivers registered in :mod:`wardlink.hardware.registry`: ``sterilizer_printer``, ``serial_lines``,
``modbus_rtu``.
"""
