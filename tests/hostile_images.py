"""Hostile and unusual image payloads, shared by the in-process and the HTTP tests of tests/test_hostile_input.py.

Bombs are small files whose headers promise far more pixels than the per-request budget: they must be
refused before decoding. The unusual-but-valid images are a seven in forms real clients send; they must
be read as a seven. Below them, the payloads of the security review (docs/security.md): each is
made here once and sent both in-process and over HTTP.
"""

import functools
import io
import struct
import urllib.parse
import zlib

import numpy as np
from PIL import Image

from bench.hostile_corpus import instances, png_chunk, progressive_jpeg_with_scans
from client.images import encode
from tests.conftest import IMAGES

SEVEN = Image.open(IMAGES / "seven.png").resize((112, 112), Image.Resampling.LANCZOS)


def png_header_claiming(width: int, height: int) -> bytes:
    """A PNG that is only a header announcing width x height 8-bit grey pixels, and no pixel data."""
    header = png_chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0))
    return b"\x89PNG\r\n\x1a\n" + header + png_chunk(b"IEND", b"")


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
    "json-nested-50000-deep": (lambda: b'{"instances": ' + b"[" * 50_000 + b"]" * 50_000 + b"}", 413, "brackets"),
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
    for table in (BOMBS, REVIEW_PAYLOADS):
        if name in table:
            return table[name][0]()
    return UNUSUAL_SEVENS[name]()


# --- Finding 1: a progressive JPEG that repeats one cheap scan -------------------------------------------


def progressive_scan_bomb() -> bytes:
    """The review's payload: a grey 4096x4096 progressive JPEG whose full refinement scan is repeated 2,500
    times (206 kB), 17 s of decoding for libjpeg here (the review's 689 kB variant more than 30 s)."""
    return progressive_jpeg_with_scans(4096, 2_500)


# --- Finding 2: PNG text chunks that inflate to megabytes ------------------------------------------------


def png_with_text(chunks: int, chunk_size: int, after_pixels: bool = False) -> bytes:
    """The seven as a PNG carrying `chunks` zTXt chunks that each inflate to chunk_size bytes (~1,000x
    smaller compressed); before the pixel data (read when the file is opened) or after it (read while
    decoding)."""
    seven = encode(SEVEN)
    text = [png_chunk(b"zTXt", b"comment%d\x00\x00" % i + zlib.compress(b"a" * chunk_size, 9)) for i in range(chunks)]
    where = seven.index(b"IDAT") - 4 if not after_pixels else seven.index(b"IEND") - 4
    return seven[:where] + b"".join(text) + seven[where:]


# The review's payload: 64 instances of one PNG with 63 compressed text chunks of 1 MB each (5.6 MB).
def text_chunk_amplification() -> bytes:
    return instances([png_with_text(63, 1_000_000)] * 64)


# Each image within the per-image text bounds, the request over the per-request bound.
def text_over_the_request_budget() -> bytes:
    return instances([png_with_text(2, 200_000)] * 64)


# --- Finding 3: form field names of control bytes ---------------------------------------------------------

FORM_NAME_BYTES = 1_200_000  # in all, over FORM_FIELDS names


# Control characters other than whitespace: TorchServe's form decoder (Netty's AbstractHttpData) strips
# whitespace from a name with a regular expression that takes quadratic time on a long run of it (1.2 MB
# of tabs holds the frontend's event loop for minutes; see docs/security.md), which no handler
# can prevent.
CONTROL_CHARACTERS = [chr(c) for c in (*range(1, 9), *range(14, 32), 127)]


def control_byte_field_names(fields: int = 12) -> list:
    """`fields` distinct names of control characters, FORM_NAME_BYTES long in all. Each starts and ends
    with a letter: Netty trims characters up to the space from a name's ends, as String.trim() does, and
    answers 500 if a name is left empty."""
    length = FORM_NAME_BYTES // fields
    return ["n" + CONTROL_CHARACTERS[i % len(CONTROL_CHARACTERS)] * (length - 2) + "n" for i in range(fields)]


def form_with_control_byte_names() -> bytes:
    """An application/x-www-form-urlencoded body whose field names are those control characters."""
    return urllib.parse.urlencode({name: "1" for name in control_byte_field_names()}).encode()


# --- Finding 10: formats Pillow knows but the service does not accept -------------------------------------


def eps_seven() -> bytes:
    """Encapsulated PostScript: Pillow would hand it to Ghostscript to rasterise."""
    return (
        b"%!PS-Adobe-3.0 EPSF-3.0\n%%BoundingBox: 0 0 28 28\n%%EndComments\n"
        b"newpath 6 22 moveto 22 22 lineto 12 4 lineto 3 setlinewidth stroke\nshowpage\n%%EOF\n"
    )


ICNS_PNG_SIDE = 5792  # 33.5 Mpx: twice the per-request pixel budget


def icns_with_big_png() -> bytes:
    """An ICNS whose only icon is a 16x16 slot ("icp4") holding a 5792x5792 PNG, which Pillow decodes whole."""
    png = encode(Image.new("1", (ICNS_PNG_SIDE, ICNS_PNG_SIDE)))
    entry = b"icp4" + struct.pack(">I", 8 + len(png)) + png
    return b"icns" + struct.pack(">I", 8 + len(entry)) + entry


# --- Only the first page is decoded -----------------------------------------------------------------------


def tiff_seven_then_bomb() -> bytes:
    """A two-page TIFF: the seven, then a 400-megapixel page (as in BOMBS) that must never be decoded."""
    buffer = io.BytesIO()
    SEVEN.convert("1").save(
        buffer, "TIFF", save_all=True, compression="group4", append_images=[Image.new("1", (20_000, 20_000))]
    )
    return buffer.getvalue()


# name: (bytes maker, HTTP status, words the error message must contain); sent as the raw body
REVIEW_PAYLOADS = {
    "progressive-jpeg-2500-scans": (progressive_scan_bomb, 413, "scans"),
    "png-text-63x1MB-64-instances": (text_chunk_amplification, 413, "text"),
    "png-text-over-the-request-budget": (text_over_the_request_budget, 413, "per request"),
    "eps": (eps_seven, 415, "accepted format"),
    "icns-with-5792px-png": (icns_with_big_png, 415, "accepted format"),
}
