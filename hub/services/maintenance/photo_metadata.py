"""Take the metadata out of photos before they are stored: where and when they were taken.

A phone's camera writes the place (GPS), the time, the device and often a thumbnail into the
photo (JPEG Exif/XMP/IPTC, PNG text chunks, WebP EXIF/XMP chunks). A photo of an infusion pump
in a ward tells anyone who downloads it where that ward is and who carried which phone; none
of it is needed to maintain the equipment. The pixels are kept byte for byte (no re-encoding,
no quality lost): only the metadata segments are dropped. A JPEG keeps its orientation, as a
one-entry Exif block, so a portrait photo still shows upright.

A photo whose structure cannot be followed is refused rather than stored with its metadata.
"""

from __future__ import annotations

import struct

from wardlink.hub.errors import InvalidInput
from wardlink.hub.i18n import N_

_JPEG_KEEP_APP = {0xE0, 0xEE}  # JFIF, Adobe (colour transform); APP2 only for an ICC profile
_PNG_DROP = {b"tEXt", b"zTXt", b"iTXt", b"eXIf", b"tIME"}
_WEBP_DROP = {b"EXIF", b"XMP "}
_ORIENTATION_TAG = 0x0112


def strip_metadata(data: bytes, content_type: str) -> bytes:
    """Return the photo ``data`` without its metadata; other content types come back unchanged."""
    try:
        if content_type == "image/jpeg":
            return _jpeg(data)
        if content_type == "image/png":
            return _png(data)
        if content_type == "image/webp":
            return _webp(data)
    except (IndexError, ValueError, struct.error) as exc:
        kind = content_type.split("/")[1].upper()
        raise InvalidInput(N_("file: the %(kind)s photo is damaged (%(exc)s); take or export it again"),
                           kind=kind, exc=exc) from None
    return data


# ------------------------------------------------------------------ JPEG


def _jpeg(data: bytes) -> bytes:
    out, orientation, i = [], None, 2
    while True:
        if data[i] != 0xFF:
            raise ValueError(f"no marker at byte {i}")
        while data[i] == 0xFF:  # fill bytes before a marker
            i += 1
        marker = data[i]
        i += 1
        if 0xD0 <= marker <= 0xD7 or marker == 0x01:  # markers without a length
            out.append(bytes((0xFF, marker)))
            continue
        if marker == 0xD9:
            break
        (length,) = struct.unpack(">H", data[i:i + 2])
        if length < 2 or i + length > len(data):
            raise ValueError(f"segment {marker:#04x} runs past the end")
        payload = data[i + 2:i + length]
        if marker == 0xDA:  # start of scan: the image data runs to the end-of-image marker
            end = data.find(b"\xff\xd9", i + length)
            out.append(data[i - 2:(end if end >= 0 else len(data))])
            break
        if marker == 0xE1 and payload.startswith(b"Exif\x00\x00"):
            orientation = _orientation(payload[6:]) or orientation
        if _keep_jpeg_segment(marker, payload):
            out.append(b"\xff" + bytes((marker,)) + data[i:i + length])
        i += length
    if orientation not in (None, 1):  # after JFIF's APP0, which must come first when there is one
        out.insert(1 if out and out[0].startswith(b"\xff\xe0") else 0, _exif_orientation(orientation))
    return b"\xff\xd8" + b"".join(out) + b"\xff\xd9"


def _keep_jpeg_segment(marker: int, payload: bytes) -> bool:
    if marker == 0xE2:
        return payload.startswith(b"ICC_PROFILE\x00")  # not MPF: it points at images after the end
    if 0xE0 <= marker <= 0xEF:
        return marker in _JPEG_KEEP_APP
    return marker != 0xFE  # comments go; tables, frames and everything else stay


def _orientation(tiff: bytes) -> int | None:
    """Return the Orientation of Exif IFD0 (1-8), or None when it has none or cannot be read."""
    order = {b"II": "<", b"MM": ">"}.get(tiff[:2])
    if order is None:
        return None
    (ifd,) = struct.unpack(order + "I", tiff[4:8])
    (count,) = struct.unpack(order + "H", tiff[ifd:ifd + 2])
    for n in range(count):
        at = ifd + 2 + 12 * n
        tag, kind = struct.unpack(order + "HH", tiff[at:at + 4])
        if tag == _ORIENTATION_TAG and kind == 3:
            (value,) = struct.unpack(order + "H", tiff[at + 8:at + 10])
            return value if 1 <= value <= 8 else None
    return None


def _exif_orientation(value: int) -> bytes:
    """An APP1 segment whose Exif holds the Orientation tag and nothing else."""
    tiff = (b"MM\x00\x2a" + struct.pack(">I", 8) + struct.pack(">H", 1)
            + struct.pack(">HHIHH", _ORIENTATION_TAG, 3, 1, value, 0) + struct.pack(">I", 0))
    payload = b"Exif\x00\x00" + tiff
    return b"\xff\xe1" + struct.pack(">H", len(payload) + 2) + payload


# ------------------------------------------------------------------ PNG


def _png(data: bytes) -> bytes:
    out, i = [data[:8]], 8
    while True:
        (length,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        end = i + 12 + length
        if len(kind) < 4 or end > len(data):
            raise ValueError("a chunk runs past the end")
        if kind not in _PNG_DROP:
            out.append(data[i:end])
        i = end
        if kind == b"IEND":
            return b"".join(out)  # anything after the end is dropped too


# ------------------------------------------------------------------ WebP


def _webp(data: bytes) -> bytes:
    (size,) = struct.unpack("<I", data[4:8])
    end, i, out = min(8 + size, len(data)), 12, []
    while i + 8 <= end:
        kind = data[i:i + 4]
        (length,) = struct.unpack("<I", data[i + 4:i + 8])
        stop = i + 8 + length
        if stop > end:
            raise ValueError("a chunk runs past the end")
        chunk = data[i:stop] + (b"\x00" if length & 1 else b"")  # chunks are padded to even sizes
        if kind == b"VP8X":
            chunk = chunk[:8] + bytes((chunk[8] & ~0x0C,)) + chunk[9:]  # no EXIF (0x08) or XMP (0x04)
        if kind not in _WEBP_DROP:
            out.append(chunk)
        i = stop + (length & 1)
    body = b"WEBP" + b"".join(out)
    return b"RIFF" + struct.pack("<I", len(body)) + body
