"""BTHome v2 service data (UUID 0xFCD2): plain and AES-CCM encrypted, as a pure decoder.

Layout (bthome.io/format): one device-information byte (bit 0 encrypted, bit 1 MAC
included, bit 2 trigger based, bits 5..7 version = 2), the advertiser's MAC reversed
when bit 1 is set, then objects ``id value`` with little-endian values whose size,
signedness and factor come from :data:`OBJECTS`. An unknown id stops decoding with
:class:`UnknownObjectError`: its length is unknown, so nothing after it can be trusted.

Encrypted packets (bthome.io/encryption): ciphertext, a 4-byte counter and a 4-byte MIC
follow the info byte; AES-128-CCM with a 4-byte tag and the nonce
``MAC(6) + D2 FC + info byte + counter``. A device with a bind key that sends plain
packets is refused (a downgrade), never silently accepted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from wardlink.hardware.ble.advert import mac_bytes
from wardlink.hardware.errors import DecodeError, DecryptionError, UnknownObjectError

UUID = "0000fcd2-0000-1000-8000-00805f9b34fb"
UUID16_LE = b"\xd2\xfc"


@dataclass(frozen=True)
class Obj:
    """One object type: quantity name, size in bytes, signedness, factor, unit, kind."""

    name: str
    size: int
    signed: bool = False
    factor: float = 1.0
    unit: str = ""
    kind: str = "sensor"  # sensor | binary | button | dimmer | text | raw | info


def _b(name: str) -> Obj:
    return Obj(name, 1, kind="binary")


# Object table (bthome.io/format; facts cross-checked with bthome-ble's const.py).
OBJECTS: dict[int, Obj] = {
    0x00: Obj("packet_id", 1, kind="info"),
    0x01: Obj("battery", 1, unit="%"),
    0x02: Obj("temperature", 2, True, 0.01, "degC"),
    0x03: Obj("humidity", 2, False, 0.01, "%RH"),
    0x04: Obj("pressure", 3, False, 0.01, "hPa"),
    0x05: Obj("illuminance", 3, False, 0.01, "lx"),
    0x06: Obj("mass", 2, False, 0.01, "kg"),
    0x07: Obj("mass_lb", 2, False, 0.01, "lb"),
    0x08: Obj("dew_point", 2, True, 0.01, "degC"),
    0x09: Obj("count", 1),
    0x0A: Obj("energy", 3, False, 0.001, "kWh"),
    0x0B: Obj("power", 3, False, 0.01, "W"),
    0x0C: Obj("voltage", 2, False, 0.001, "V"),
    0x0D: Obj("pm25", 2, unit="ug/m3"),
    0x0E: Obj("pm10", 2, unit="ug/m3"),
    0x0F: _b("generic"),
    0x10: _b("power_on"),
    0x11: _b("opening"),
    0x12: Obj("co2", 2, unit="ppm"),
    0x13: Obj("tvoc", 2, unit="ug/m3"),
    0x14: Obj("moisture", 2, False, 0.01, "%"),
    0x15: _b("battery_low"),
    0x16: _b("battery_charging"),
    0x17: _b("carbon_monoxide"),
    0x18: _b("cold"),
    0x19: _b("connectivity"),
    0x1A: _b("door"),
    0x1B: _b("garage_door"),
    0x1C: _b("gas_detected"),
    0x1D: _b("heat"),
    0x1E: _b("light"),
    0x1F: _b("lock"),
    0x20: _b("moisture_detected"),
    0x21: _b("motion"),
    0x22: _b("moving"),
    0x23: _b("occupancy"),
    0x24: _b("plug"),
    0x25: _b("presence"),
    0x26: _b("problem"),
    0x27: _b("running"),
    0x28: _b("safety"),
    0x29: _b("smoke"),
    0x2A: _b("sound"),
    0x2B: _b("tamper"),
    0x2C: _b("vibration"),
    0x2D: _b("window"),
    0x2E: Obj("humidity", 1, unit="%RH"),
    0x2F: Obj("moisture", 1, unit="%"),
    0x3A: Obj("button", 1, kind="button"),
    0x3C: Obj("dimmer", 2, kind="dimmer"),
    0x3D: Obj("count", 2),
    0x3E: Obj("count", 4),
    0x3F: Obj("rotation", 2, True, 0.1, "deg"),
    0x40: Obj("distance", 2, unit="mm"),
    0x41: Obj("distance_m", 2, False, 0.1, "m"),
    0x42: Obj("duration", 3, False, 0.001, "s"),
    0x43: Obj("current", 2, False, 0.001, "A"),
    0x44: Obj("speed", 2, False, 0.01, "m/s"),
    0x45: Obj("temperature", 2, True, 0.1, "degC"),
    0x46: Obj("uv_index", 1, False, 0.1),
    0x47: Obj("volume", 2, False, 0.1, "L"),
    0x48: Obj("volume_ml", 2, unit="mL"),
    0x49: Obj("volume_flow_rate", 2, False, 0.001, "m3/h"),
    0x4A: Obj("voltage", 2, False, 0.1, "V"),
    0x4B: Obj("gas", 3, False, 0.001, "m3"),
    0x4C: Obj("gas", 4, False, 0.001, "m3"),
    0x4D: Obj("energy", 4, False, 0.001, "kWh"),
    0x4E: Obj("volume", 4, False, 0.001, "L"),
    0x4F: Obj("water", 4, False, 0.001, "L"),
    0x50: Obj("timestamp", 4, unit="s"),
    0x51: Obj("acceleration", 2, False, 0.001, "m/s2"),
    0x52: Obj("gyroscope", 2, False, 0.001, "deg/s"),
    0x53: Obj("text", 0, kind="text"),
    0x54: Obj("raw", 0, kind="raw"),
    0x55: Obj("volume_storage", 4, False, 0.001, "L"),
    0x56: Obj("conductivity", 2, unit="uS/cm"),
    0x57: Obj("temperature", 1, True, 1.0, "degC"),
    0x58: Obj("temperature", 1, True, 0.35, "degC"),
    0x59: Obj("count", 1, True),
    0x5A: Obj("count", 2, True),
    0x5B: Obj("count", 4, True),
    0x5C: Obj("power", 4, True, 0.01, "W"),
    0x5D: Obj("current", 2, True, 0.001, "A"),
    0x5E: Obj("direction", 2, False, 0.01, "deg"),
    0x5F: Obj("precipitation", 2, False, 0.1, "mm"),
    0x60: Obj("channel", 1),
    0x61: Obj("rotational_speed", 2, unit="rpm"),
    0xF0: Obj("device_type", 2, kind="info"),
    0xF1: Obj("firmware_version", 4, kind="info"),
    0xF2: Obj("firmware_version", 3, kind="info"),
}

BUTTON_EVENTS = {
    0x00: None,
    0x01: "press",
    0x02: "double_press",
    0x03: "triple_press",
    0x04: "long_press",
    0x05: "long_double_press",
    0x06: "long_triple_press",
    0x80: "hold_press",
}
DIMMER_EVENTS = {0x00: None, 0x01: "rotate_left", 0x02: "rotate_right"}


@dataclass
class BTHomePacket:
    """A decoded BTHome v2 payload."""

    encrypted: bool
    trigger_based: bool
    values: dict[str, float] = field(default_factory=dict)
    units: dict[str, str] = field(default_factory=dict)
    events: list[dict] = field(default_factory=list)
    info: dict[str, int] = field(default_factory=dict)
    text: dict[str, str] = field(default_factory=dict)
    packet_id: int | None = None
    counter: int | None = None
    mac: str | None = None


def decode(data: bytes, *, mac: str | None = None, key: bytes | None = None) -> BTHomePacket:
    """Decode BTHome v2 service data (the bytes after the 0xFCD2 UUID).

    ``mac`` is the advertiser's address (needed for encrypted packets that do not carry
    it); ``key`` the 16-byte bind key of a device that encrypts.
    """
    data = bytes(data)
    if not data:
        raise DecodeError("empty BTHome payload")
    info = data[0]
    version = info >> 5
    if version != 2:
        raise DecodeError(f"BTHome version {version} in device info byte 0x{info:02X}; only v2 is supported")
    encrypted, has_mac, trigger = bool(info & 0x01), bool(info & 0x02), bool(info & 0x04)
    body = data[1:]
    if has_mac:
        if len(body) < 6:
            raise DecodeError("BTHome payload announces a MAC but is too short to hold one")
        mac = ":".join(f"{b:02X}" for b in reversed(body[:6]))
        body = body[6:]
    packet = BTHomePacket(encrypted, trigger, mac=mac)
    if encrypted:
        body, packet.counter = _decrypt(info, body, mac, key)
    elif key is not None:
        raise DecryptionError("unencrypted BTHome packet from a device configured with a bind key")
    _objects(body, packet)
    return packet


def _decrypt(info: int, body: bytes, mac: str | None, key: bytes | None) -> tuple[bytes, int]:
    if key is None:
        raise DecryptionError("encrypted BTHome packet and no bind key configured")
    if len(key) != 16:
        raise DecryptionError(f"a BTHome bind key has 16 bytes, got {len(key)}")
    if mac is None:
        raise DecryptionError("encrypted BTHome packet needs the advertiser's MAC address")
    if len(body) < 9:
        raise DecodeError(f"encrypted BTHome payload too short: {len(body)} bytes after the header")
    ciphertext, counter, mic = body[:-8], body[-8:-4], body[-4:]
    from cryptography.exceptions import InvalidTag
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    nonce = mac_bytes(mac) + UUID16_LE + bytes([info]) + counter
    try:
        plain = AESCCM(key, tag_length=4).decrypt(nonce, ciphertext + mic, None)
    except InvalidTag:
        raise DecryptionError("BTHome MIC check failed: wrong bind key or corrupted packet") from None
    return plain, int.from_bytes(counter, "little")


def encrypt(plain: bytes, *, mac: str, key: bytes, counter: int, info: int = 0x41) -> bytes:
    """Return encrypted service data for ``plain`` objects (what a sensor with a bind key sends)."""
    from cryptography.hazmat.primitives.ciphers.aead import AESCCM

    count = counter.to_bytes(4, "little")
    nonce = mac_bytes(mac) + UUID16_LE + bytes([info]) + count
    sealed = AESCCM(key, tag_length=4).encrypt(nonce, bytes(plain), None)
    return bytes([info]) + sealed[:-4] + count + sealed[-4:]


def _objects(body: bytes, packet: BTHomePacket) -> None:
    seen: dict[str, int] = {}
    i = 0
    while i < len(body):
        oid = body[i]
        obj = OBJECTS.get(oid)
        if obj is None:
            raise UnknownObjectError(f"unknown BTHome object id 0x{oid:02X} at byte {i} of the object data")
        size = obj.size
        start = i + 1
        if obj.kind in ("text", "raw"):
            if start >= len(body):
                raise DecodeError(f"BTHome object 0x{oid:02X} lacks its length byte")
            size, start = body[start], start + 1
        raw = body[start : start + size]
        if len(raw) != size:
            raise DecodeError(f"BTHome object 0x{oid:02X} needs {size} bytes, {len(raw)} left")
        i = start + size
        seen[obj.name] = seen.get(obj.name, 0) + 1
        name = obj.name if seen[obj.name] == 1 else f"{obj.name}_{seen[obj.name]}"
        _store(packet, obj, name, raw, oid)


def _store(packet: BTHomePacket, obj: Obj, name: str, raw: bytes, oid: int) -> None:
    if obj.kind == "text":
        packet.text[name] = raw.decode("utf-8", errors="replace")
        return
    if obj.kind == "raw":
        packet.text[name] = raw.hex()
        return
    value = int.from_bytes(raw, "little", signed=obj.signed)
    if obj.kind == "info":
        if oid == 0x00:
            packet.packet_id = value
        packet.info[name] = value
    elif obj.kind == "button":
        event = BUTTON_EVENTS.get(value)
        if event is not None:  # 0 = no press on this button; unknown codes are not events
            packet.events.append({"type": "button", "button": name, "event": event})
    elif obj.kind == "dimmer":
        event = DIMMER_EVENTS.get(raw[0])
        if event is not None:
            packet.events.append({"type": "dimmer", "dimmer": name, "event": event, "steps": raw[1]})
    else:
        packet.values[name] = round(value * obj.factor, 6)
        packet.units[name] = obj.unit
