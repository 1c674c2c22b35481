"""Photos lose where, when and with what they were taken before they are stored; the pixels stay
byte for byte, and a JPEG keeps its orientation.

The photos are made by Pillow as a camera would write them: Exif with GPS, the camera's make
and time, an XMP packet and a comment in a JPEG; text and eXIf chunks in a PNG; EXIF and XMP
chunks in a WebP. Each is then stripped, decoded again and compared pixel for pixel.
"""

from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image, ImageOps

from relational_support import clock, web
from test_attachments_ui import _order, _page_post, _upload_routes, stored_paths
from wardlink.hub.errors import InvalidInput
from wardlink.hub.services.maintenance.photo_metadata import strip_metadata

__all__ = ["clock", "web"]

GPS_IFD = 0x8825
XMP = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description exif:GPSLatitude="51,30.1N"/></x:xmpmeta>'
SECRETS = (b"WardPhone 12", b"2026:03:01 14:05:00", b"51,30.1N", b"bay 4 by the window")


def picture(size=(48, 32)) -> Image.Image:
    image = Image.new("RGB", size)
    image.putdata([((x * 5) % 256, (y * 7) % 256, (x * y) % 256) for y in range(size[1]) for x in range(size[0])])
    return image


def camera_exif(orientation: int | None = 6) -> Image.Exif:
    exif = Image.Exif()
    exif[0x010F] = "WardPhone 12"  # Make
    exif[0x0132] = "2026:03:01 14:05:00"  # DateTime
    if orientation is not None:
        exif[0x0112] = orientation
    exif.get_ifd(GPS_IFD).update({1: "N", 2: (51.0, 30.0, 6.0), 3: "W", 4: (0.0, 7.0, 39.0)})
    return exif


def jpeg(orientation: int | None = 6) -> bytes:
    out = io.BytesIO()
    picture().save(out, "JPEG", quality=90, exif=camera_exif(orientation), xmp=XMP, comment=b"bay 4 by the window")
    return out.getvalue()


def pixels(data: bytes) -> bytes:
    with Image.open(io.BytesIO(data)) as image:
        return image.convert("RGB").tobytes()


def test_a_jpeg_loses_gps_camera_time_xmp_and_comment_and_keeps_its_pixels_and_orientation():
    original = jpeg()
    assert all(secret in original for secret in SECRETS[:3])
    with Image.open(io.BytesIO(original)) as image:
        assert image.getexif().get_ifd(GPS_IFD)  # the fixture really carries a position

    clean = strip_metadata(original, "image/jpeg")
    assert not any(secret in clean for secret in SECRETS)
    assert pixels(clean) == pixels(original)
    with Image.open(io.BytesIO(clean)) as image:
        assert dict(image.getexif()) == {0x0112: 6}
        assert image.getexif().get_ifd(GPS_IFD) == {}
        assert ImageOps.exif_transpose(image).size == (32, 48)  # still shown upright (rotated a quarter turn)
    assert strip_metadata(clean, "image/jpeg") == clean  # stripping twice changes nothing more


def test_a_jpeg_without_orientation_gets_no_exif_at_all():
    clean = strip_metadata(jpeg(orientation=None), "image/jpeg")
    assert b"Exif" not in clean
    with Image.open(io.BytesIO(clean)) as image:
        assert dict(image.getexif()) == {}


def test_a_png_loses_its_text_and_exif_chunks_and_keeps_its_pixels():
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("Location", "bay 4 by the window")
    info.add_itxt("XML:com.adobe.xmp", XMP.decode())
    out = io.BytesIO()
    picture().save(out, "PNG", pnginfo=info, exif=camera_exif())
    original = out.getvalue()
    assert SECRETS[0] in original and SECRETS[3] in original

    clean = strip_metadata(original + b"trailing bytes after IEND", "image/png")
    assert not any(secret in clean for secret in SECRETS) and clean.endswith(b"IEND\xaeB`\x82")
    assert pixels(clean) == pixels(original)


def test_a_webp_loses_its_exif_and_xmp_chunks_and_flags_and_keeps_its_pixels():
    out = io.BytesIO()
    picture().save(out, "WEBP", lossless=True, exif=camera_exif(), xmp=XMP)
    original = out.getvalue()
    assert SECRETS[0] in original and SECRETS[2] in original

    clean = strip_metadata(original, "image/webp")
    assert not any(secret in clean for secret in SECRETS)
    assert int.from_bytes(clean[4:8], "little") == len(clean) - 8
    assert clean[12:16] != b"VP8X" or clean[20] & 0x0C == 0
    assert pixels(clean) == pixels(original)


@pytest.mark.parametrize("kind, data", [
    ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF"),  # a segment longer than the file
    ("image/jpeg", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00photo"),
    ("image/png", b"\x89PNG\r\n\x1a\n\x00\x00\x00\x0dIHDR\x00\x00"),
    ("image/webp", b"RIFF\x40\x00\x00\x00WEBPVP8L\x30\x00\x00\x00\x2f"),
])
def test_a_damaged_photo_is_refused_with_a_clear_error(kind, data):
    with pytest.raises(InvalidInput, match=r"^file: the (JPEG|PNG|WEBP) photo is damaged .*take or export it again"):
        strip_metadata(data, kind)


def test_pdfs_and_text_are_stored_as_sent():
    document = b"%PDF-1.7\n% a service report\n"
    assert strip_metadata(document, "application/pdf") is document


def test_a_photo_sent_to_any_upload_route_is_stored_without_its_position(web):
    order_id = _order(web)
    sent = jpeg()
    for route, client, page, path, field, extra in _upload_routes(web, order_id):
        answer = _page_post(client, page, path, {**extra, field: (io.BytesIO(sent), "pump.jpg", "image/jpeg")})
        assert answer.status_code < 400, (route, answer.status_code, answer.text[:300])
    [path] = stored_paths(Path(web.config.data_dir))  # one stripped file, whichever route brought it
    stored = path.read_bytes()
    assert not any(secret in stored for secret in SECRETS) and pixels(stored) == pixels(sent)
