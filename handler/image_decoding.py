"""Turn the encoded pictures of one request (wire_format's Message) into images: opened first, every
bound checked, then decoded one at a time.

What one request may cost is bounded before the costly part starts, in this order for each picture:
its file structure (image_structure.inspect: chunks, segments, scans, strips, tags, compressions), the
formats Pillow may open (ACCEPTED_FORMATS), the pixels its header announces (MAX_PIXELS for a request's
pictures in all), the pixel data a lossless file encodes (MAX_SAMPLE_BYTES: what its decoder inflates
and unpacks, the CPU of decoding it) and what decoding it holds (MAX_DECODING_MEMORY: the decoded image
and what a decoder keeps beside it, a progressive JPEG's coefficients, a TIFF's strip, WebP's canvases).
A large JPEG is decoded at a reduced scale (libjpeg's DCT scaling), never below the size the
preprocessing works at. Text and metadata Pillow expands from PNG chunks are bounded per chunk, per
picture and per request. Pictures are decoded one at a time, each released before the next, so a
request holds one decoded picture at a time.
"""

import contextlib
import io
import math
import sys
import warnings
from dataclasses import dataclass, field
from typing import List, Tuple

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from image_structure import MAX_TEXT_CHUNK, MAX_TEXT_PER_IMAGE, Structure, inspect
from input_errors import (
    ACCEPTED_FORMAT_NAMES,
    ACCEPTED_FORMATS,
    ACCEPTED_INPUT,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedImage,
    quoted,
)
from wire_common import MAX_INSTANCES
from wire_format import read_request

# Decompression-bomb and slow-request guard: a request's images may hold 4096x4096 pixels in all; more
# is refused from the image headers, before any pixel is decoded. Only the first frame or page of an
# animated GIF/PNG/WebP or multi-page TIFF is decoded, and its size is what Pillow reports (a GIF frame
# larger than its screen enlarges the size when the file is opened), so this covers all that is decoded.
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# Per picture, the pixel data a lossless file (PNG, TIFF, BMP, GIF, WebP) encodes, at its own bit depth:
# its decoder inflates and unpacks all of it, ~3 ms a MiB here, so this bounds decoding to ~75 ms. It
# admits 4096x4096 grey or 8 MP of RGB (a 4K screenshot), 6 MP of RGBA or 16-bit grey; a JPEG is bounded
# by its pixels and scans instead, and decoded at a reduced scale (docs/security.md has the measurements).
MAX_SAMPLE_BYTES = 24 * 2**20
# Per picture, what decoding it holds: the decoded image (1 byte a pixel for grey and palette, 2 for
# 16-bit grey, 4 otherwise: PIL keeps RGB and grey+alpha in 4) and what its decoder holds beside it. With
# the preprocessing's working copies, a worker's peak stays within ~128 MiB of its idle peak.
MAX_DECODING_MEMORY = 64 * 2**20
# A JPEG larger than this on its longer side is decoded at 1/2, 1/4 or 1/8 scale, never below it (the
# preprocessing's own working size: mnist_preprocessing.WORKING_SIDE).
JPEG_WORKING_SIDE = 1024
# Text and metadata: the service reads pixels only, but Pillow inflates every compressed PNG text chunk
# (zTXt, compressed iTXt) and the ICC profile (iCCP) when it opens the file, up to 1 MiB each and 64 MiB
# per image by default: a 90 kB PNG could cost 63 MiB, and 64 of them in one request 4 GB. Real pictures
# carry a few kB (an XMP packet, an ICC profile of 0.5-60 kB). Per chunk and per image (image_structure):
PngImagePlugin.MAX_TEXT_CHUNK = MAX_TEXT_CHUNK
PngImagePlugin.MAX_TEXT_MEMORY = MAX_TEXT_PER_IMAGE
# Per request, the metadata of all its pictures, counted from their files before Pillow opens them
# (image_structure: inflated as Pillow would inflate it, JPEG's APPn and COM segments, WebP's chunks) and
# again as Pillow holds it (image.info), the larger count charged.
MAX_METADATA_PER_REQUEST = 2 * 1024 * 1024

# Bytes PIL stores per pixel, by mode; every other mode takes 4 (RGB and grey+alpha included).
_STORED_BYTES = {"1": 1, "L": 1, "P": 1, "I;16": 2, "I;16B": 2, "I;16L": 2, "I;16N": 2}


@dataclass
class Picture:
    """One picture of a request: opened (format, mode and size known; a large JPEG set to decode at a
    reduced scale), not decoded until decode() is called."""

    image: Image.Image
    size: Tuple[int, int]  # (width, height) as sent, whatever scale it is decoded at
    index: int  # its place in the request, the key of its metadata in the budget


@dataclass
class _Budget:
    """What the pictures of one request have cost so far, checked after each is inspected, opened or decoded."""

    pixels: int = 0
    held_from_open: int = 0  # bytes decoders allocated when their files were opened (WebP), held until read
    metadata: dict = field(default_factory=dict)  # picture index -> bytes of metadata it holds

    def open(self, data: bytes) -> Picture:
        index = len(self.metadata)
        structure = inspect(data, metadata_allowance=MAX_METADATA_PER_REQUEST - sum(self.metadata.values()))
        self.charge_metadata(index, structure.metadata_bytes)  # before Pillow copies or inflates any of it
        # Before Pillow opens it: WebP's decoder allocates its canvases at once, and every picture of the
        # request is opened before the first is read, so these add up over the request.
        self.held_from_open += structure.open_bytes
        _check_memory(
            self.held_from_open, "the canvases its decoder allocates when opened, with the request's other pictures'"
        )
        image = _open(data)
        size = image.size
        self.pixels += image.width * image.height
        if self.pixels > MAX_PIXELS:
            raise PayloadTooLarge(
                f"{self.pixels:,} pixels in one request; at most {MAX_PIXELS:,} are accepted in all "
                f"(one {MAX_SIDE}x{MAX_SIDE} picture, or {MAX_INSTANCES} of 512x512)"
            )
        _check_samples(image, structure)
        _decode_jpeg_reduced(image)
        memory = (
            image.width * image.height * _STORED_BYTES.get(image.mode, 4) + structure.extra_bytes + structure.open_bytes
        )
        _check_memory(memory, f"the {image.width}x{image.height} {image.mode} image and the decoder's buffers")
        self.charge_metadata(index, _metadata_bytes(image))
        return Picture(image, size, index)

    def charge_metadata(self, index: int, held: int) -> None:
        """The picture's metadata is the larger of what its file was counted to hold and what Pillow holds."""
        self.metadata[index] = max(self.metadata.get(index, 0), held)
        total = sum(self.metadata.values())
        if total > MAX_METADATA_PER_REQUEST:
            raise PayloadTooLarge(
                f"the request's images carry {total:,} bytes of text and metadata; at most "
                f"{MAX_METADATA_PER_REQUEST:,} are accepted per request (the service reads only pixels: "
                "strip the metadata, or send fewer images per request)"
            )


@dataclass
class OpenedRequest:
    """A request's pictures, every bound checked, none decoded yet."""

    pictures: List[Picture]
    budget: _Budget

    def decode(self, picture: Picture) -> Image.Image:
        """The picture's pixels, decoded (PNG text chunks after the pixel data are charged now): release
        them with image.close() before decoding the next one."""
        image = _load(picture.image)
        self.budget.charge_metadata(picture.index, _metadata_bytes(image))
        return image


def open_pictures(encoded: List[bytes]) -> OpenedRequest:
    """A request's encoded pictures, opened; refused before any pixel is decoded if they would cost too much."""
    budget = _Budget()
    return OpenedRequest([budget.open(data) for data in encoded], budget)


def open_request(request: dict) -> OpenedRequest:
    """The pictures a TorchServe request (its payload dict) carries, opened as open_pictures opens them."""
    return open_pictures(read_request(request).pictures)


def open_image(data: bytes) -> Image.Image:
    """One image's bytes, fully decoded, with the same bounds as a request of one image."""
    opened = open_request({"body": data})
    (picture,) = opened.pictures
    return opened.decode(picture)


def _decode_jpeg_reduced(image: Image.Image) -> None:
    """A JPEG larger than JPEG_WORKING_SIDE set to decode at 1/2, 1/4 or 1/8 scale (libjpeg's DCT scaling:
    less entropy-to-pixel work, a smaller image), as grey where it is colour; the scale divides the
    preprocessing's own reduction factor, so the picture it works on has the same size as without."""
    if image.format not in ("JPEG", "MPO"):
        return
    factor = math.ceil(max(image.size) / JPEG_WORKING_SIDE)
    scale = next(s for s in (8, 4, 2, 1) if factor % s == 0)
    if scale > 1:
        image.draft("L", (max(1, image.width // scale), max(1, image.height // scale)))


def _check_samples(image: Image.Image, structure: Structure) -> None:
    """The pixel data a lossless file encodes, at its own bit depth, within MAX_SAMPLE_BYTES; a picture
    with transparency counts as RGBA: PIL holds grey and alpha in 4 bytes a pixel too, and averages them
    as RGBA when the picture is reduced."""
    bits = structure.bits_per_pixel
    if bits and (image.mode in ("LA", "La", "PA", "RGBA", "RGBa") or "transparency" in image.info):
        bits = max(bits, 32)
    samples = math.ceil(image.width * image.height * bits / 8)
    if samples > MAX_SAMPLE_BYTES:
        raise PayloadTooLarge(
            f"the {image.width}x{image.height} {image.format} encodes {samples / 2**20:,.1f} MiB of pixel data "
            f"({bits} bits a pixel); at most {MAX_SAMPLE_BYTES // 2**20} MiB are accepted per picture (4096x4096 "
            "in grey, 8 megapixels in RGB, 6 with transparency or 16-bit grey): send it smaller, in grey, or as a JPEG"
        )


def _check_memory(amount: int, what: str) -> None:
    """What decoding one picture holds, within MAX_DECODING_MEMORY."""
    if amount > MAX_DECODING_MEMORY:
        raise PayloadTooLarge(
            f"decoding the picture would hold {amount / 2**20:,.1f} MiB ({what}); at most "
            f"{MAX_DECODING_MEMORY // 2**20} MiB are accepted per picture (a progressive JPEG's coefficients and "
            "WebP's canvases take 3-16 bytes a pixel): send it smaller, or as a baseline JPEG or a PNG"
        )


def _metadata_bytes(image: Image.Image) -> int:
    """Memory held by the image's text and metadata (PNG text, EXIF, ICC profile, XMP, comments)."""
    return sum(sys.getsizeof(value) for value in image.info.values() if isinstance(value, (str, bytes, bytearray)))


@contextlib.contextmanager
def _pillow_limits():
    """Pillow's size and text limits turned into refusals, whenever Pillow checks them (opening or decoding)."""
    with warnings.catch_warnings():
        # PIL only warns between MAX_IMAGE_PIXELS and twice that; here the limit is the limit.
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            yield
        except (Image.DecompressionBombError, Image.DecompressionBombWarning):
            raise PayloadTooLarge(
                f"the image header announces more than {MAX_SIDE}x{MAX_SIDE} pixels, so it was not decoded; "
                f"images up to {MAX_PIXELS:,} pixels are accepted"
            ) from None
        except ValueError as error:
            if "MAX_TEXT" not in str(error):  # PngImagePlugin's two text limits both name their variable
                raise
            raise PayloadTooLarge(
                f"the PNG carries more text than accepted: at most {MAX_TEXT_CHUNK:,} bytes per text chunk "
                f"and {MAX_TEXT_PER_IMAGE:,} per image, inflated (the service reads only pixels: strip the "
                "text chunks)"
            ) from None


def _open(data: bytes) -> Image.Image:
    """Read the header only: format and size are known, no pixel is decoded yet."""
    try:
        with _pillow_limits():
            return Image.open(io.BytesIO(data), formats=tuple(ACCEPTED_FORMATS))
    except UnidentifiedImageError:
        raise UnsupportedImage(
            f"the bytes are not an image in an accepted format ({ACCEPTED_FORMAT_NAMES}); {ACCEPTED_INPUT}"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidInput(f"the image header is corrupt ({quoted(str(error))})") from None


def _load(image: Image.Image) -> Image.Image:
    try:
        with _pillow_limits():
            image.load()
    except PayloadTooLarge:
        raise
    except Exception as error:  # PIL's decoders raise many types on hostile bytes (struct.error, IndexError...)
        raise InvalidInput(
            f"the image is truncated or corrupt ({type(error).__name__}: {quoted(str(error))})"
        ) from None
    return image
