"""Hostile and unusual image payloads, shared by the in-process and the HTTP tests of tests/test_hostile_input.py.

Bombs are small files whose headers promise far more pixels than the per-request budget: they must be
refused before decoding. The unusual-but-valid images are a seven in forms real clients send; they must
be read as a seven.
"""

import functools
import io
import struct
import zlib

import numpy as np
from PIL import Image

from tests.conftest import IMAGES, encode

SEVEN = Image.open(IMAGES / "seven.png").resize((112, 112), Image.Resampling.LANCZOS)


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG that is only a header announcing width x height 8-bit grey pixels, and no pixel data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)) + chunk(b"IEND", b"")


def animated(format: str) -> bytes:
    """A seven on the first frame, then two blank frames (GIF animation or multi-page TIFF)."""
    buffer = io.BytesIO()
    blank = Image.new("L", SEVEN.size, 0)
    SEVEN.save(buffer, format=format, save_all=True, append_images=[blank, blank])
    return buffer.getvalue()


# name: (bytes maker, HTTP status, words the error message must contain)
BOMBS = {
    "png-bomb-400-megapixels": (lambda: encode(Image.new("1", (20_000, 20_000))), 413, "pixels are accepted"),
    "gif-bomb-64-megapixels": (lambda: encode(Image.new("L", (8_000, 8_000)), "GIF"), 413, "pixels are accepted"),
    "tiff-bomb-400-megapixels": (
        lambda: encode(Image.new("1", (20_000, 20_000)), "TIFF", compression="group4"),
        413,
        "pixels are accepted",
    ),
    "png-header-claiming-2^31-squared": (lambda: png_header_claiming(2**31 - 1, 2**31 - 1), 413, "pixels are accepted"),
    "json-nested-50000-deep": (lambda: b'{"instances": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 400, "JSON"),
}

# name: bytes maker; each holds a seven
UNUSUAL_SEVENS = {
    "animated-gif": lambda: animated("GIF"),
    "multi-page-tiff": lambda: animated("TIFF"),
    "16-bit-png": lambda: encode(Image.fromarray(np.asarray(SEVEN, dtype=np.uint16) * 257)),
    "cmyk-jpeg": lambda: encode(SEVEN.convert("CMYK"), "JPEG", quality=95),
    "cmyk-tiff": lambda: encode(SEVEN.convert("CMYK"), "TIFF"),
}


@functools.cache
def payload(name: str) -> bytes:
    """The bytes of a named payload, made once per session (bombs take a second to compress)."""
    maker = BOMBS[name][0] if name in BOMBS else UNUSUAL_SEVENS[name]
    return maker()
