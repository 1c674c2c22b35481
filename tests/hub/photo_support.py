"""Small real photos for upload tests: files a camera could have written, which the hub's
metadata stripping can follow (it refuses a damaged photo)."""

from __future__ import annotations

import io

from PIL import Image


def jpeg(seed: int = 0, size: tuple[int, int] = (16, 12)) -> bytes:
    """Return a valid baseline JPEG without metadata (different bytes for each ``seed``)."""
    image = Image.new("RGB", size)
    image.putdata([((seed * 37 + x * 15) % 256, (y * 20) % 256, (seed + x * y) % 256)
                   for y in range(size[1]) for x in range(size[0])])
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def png(seed: int = 0, size: tuple[int, int] = (16, 12)) -> bytes:
    """Return a valid PNG without text chunks (different bytes for each ``seed``)."""
    out = io.BytesIO()
    Image.frombytes("RGB", size, bytes((seed + i) % 256 for i in range(size[0] * size[1] * 3))).save(out, "PNG")
    return out.getvalue()
