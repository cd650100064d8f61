"""Turn one TorchServe request into the PIL images it carries.

Accepted (README, "Request"): a raw image body; a multipart upload; a base64 string as
the body; JSON {"base64"|"data"|"b64": str}; JSON {"instances": [str | {"base64"|"data"|"b64": str}, ...]}.
The base64 may have a data-URI prefix, whitespace, the URL-safe alphabet or no padding. Requests are
told apart by their bytes, not the Content-Type header, so a wrong or missing type does no harm (only a
form-encoded body is parsed by TorchServe before it gets here).

What one request may cost is bounded before the costly part starts: the formats Pillow may open
(ACCEPTED_FORMATS), the pixels decoded (MAX_PIXELS, from the headers, for every image of the request),
the scans of a JPEG (MAX_JPEG_SCANS, counted from its markers) and the text/metadata Pillow expands from
PNG chunks (per chunk, per image and per request).
"""

import base64
import binascii
import contextlib
import io
import json
import re
import sys
import warnings
from dataclasses import dataclass, field

from PIL import Image, PngImagePlugin, UnidentifiedImageError

from input_errors import (
    ACCEPTED_FORMAT_NAMES,
    ACCEPTED_FORMATS,
    ACCEPTED_INPUT,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedImage,
    quoted,
)
from mnist_request import MnistRequest

BASE64_FIELDS = ("base64", "data", "b64")
MAX_INSTANCES = 64
# Decompression-bomb and slow-request guard: a request's images may hold 4096x4096 pixels in all; more
# is refused from the image headers, before any pixel is decoded. Only the first frame or page of an
# animated GIF/PNG/WebP or multi-page TIFF is decoded, and its size is what Pillow reports (a GIF frame
# larger than its screen enlarges the size when the file is opened), so this covers all that is decoded.
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
# A progressive JPEG's decoder walks every block of the image once per scan, however little data the scan
# holds, so a 4096x4096 JPEG repeating one cheap scan 2,500 times decodes for more than 30 s. libjpeg's
# standard progressive script has 10 scans for colour (6 for grey), baseline JPEGs have 1 (at most 4 when
# non-interleaved), and encoders that optimise their scripts (mozjpeg) stay under 20; 32 leaves room for
# any of them and bounds a request to ~3x the decoding work of a standard progressive 4096x4096 picture.
MAX_JPEG_SCANS = 32
# Text and metadata: the service reads pixels only, but Pillow inflates every compressed PNG text chunk
# (zTXt, compressed iTXt) and the ICC profile (iCCP) when it opens the file, up to 1 MiB each and 64 MiB
# per image by default: a 90 kB PNG could cost 63 MiB, and 64 of them in one request 4 GB. Real pictures
# carry a few kB (an XMP packet, an ICC profile of 0.5-60 kB).
MAX_TEXT_CHUNK = 256 * 1024  # per chunk, inflated
MAX_TEXT_PER_IMAGE = 512 * 1024  # per image, all text chunks together
PngImagePlugin.MAX_TEXT_CHUNK = MAX_TEXT_CHUNK
PngImagePlugin.MAX_TEXT_MEMORY = MAX_TEXT_PER_IMAGE
# Per request, the text and metadata every image keeps in memory (image.info: text, EXIF, ICC, XMP) until
# the request is answered: with the per-image bound, a request's peak stays under ~2.5 MiB of metadata.
MAX_METADATA_PER_REQUEST = 2 * 1024 * 1024

# Field names a TorchServe request may carry the payload under: the raw body, or a form/JSON "data" part.
_PAYLOAD_KEYS = ("body", "data")
_FORM_FIELDS_SHOWN = 5
_DATA_URI_PREFIX = re.compile(rb"^data:[\w.+-]+/[\w.+-]+(;[\w=-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")
_URL_SAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s_-]+")
# In a JPEG scan's entropy-coded data 0xFF is followed by a stuffed 0x00, a restart marker (RST0-7) or
# another 0xFF (fill); anything else after 0xFF is the next real marker.
_MARKER_AFTER_SCAN_DATA = re.compile(rb"\xff[^\x00\xd0-\xd7\xff]")


@dataclass
class _Budget:
    """What the images of one request have cost so far, checked after each image is opened or decoded."""

    pixels: int = 0
    metadata: dict = field(default_factory=dict)  # id(image) -> bytes of metadata it holds

    def open(self, data: bytes) -> Image.Image:
        image = _open(data)
        self.pixels += image.width * image.height
        if self.pixels > MAX_PIXELS:
            raise PayloadTooLarge(
                f"{self.pixels:,} pixels in one request; at most {MAX_PIXELS:,} are accepted in all "
                f"(one {MAX_SIDE}x{MAX_SIDE} picture, or {MAX_INSTANCES} of 512x512)"
            )
        self.charge_metadata(image)
        return image

    def charge_metadata(self, image: Image.Image) -> None:
        self.metadata[id(image)] = _metadata_bytes(image)
        total = sum(self.metadata.values())
        if total > MAX_METADATA_PER_REQUEST:
            raise PayloadTooLarge(
                f"the request's images carry {total:,} bytes of text and metadata; at most "
                f"{MAX_METADATA_PER_REQUEST:,} are accepted per request (the service reads only pixels: "
                "strip the metadata, or send fewer images per request)"
            )


def decode_request(request: dict) -> MnistRequest:
    """The request's images, decoded (PIL images); refused before any pixel is decoded if they would cost
    too much."""
    budget = _Budget()
    decoded = _open_request(request, budget)
    for image in decoded.images:
        _load(image)
        budget.charge_metadata(image)  # PNG text chunks after the pixel data are read while decoding
    return decoded


def _open_request(request: dict, budget: _Budget) -> MnistRequest:
    payload = _payload_of(request)
    if isinstance(payload, (dict, list)):  # TorchServe already parsed it (decode_input_request=true)
        return _from_json(payload, budget)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = bytes(payload).strip()
    if not payload:
        raise InvalidInput(f"the request body is empty; {ACCEPTED_INPUT}")
    if payload[:1] in (b"{", b"[", b"\""):
        return _from_json(_parse_json(payload), budget)
    if _BASE64_TEXT.fullmatch(_DATA_URI_PREFIX.sub(b"", payload, count=1)):
        return MnistRequest([budget.open(decode_base64(payload))], many=False)
    # Binary image formats always hold bytes outside the base64 alphabet.
    return MnistRequest([budget.open(payload)], many=False)


def _payload_of(request: dict):
    for key in _PAYLOAD_KEYS:
        if request.get(key) is not None:
            return request[key]
    if len(request) == 1:  # a multipart upload with one field, whatever its name
        return next(iter(request.values()))
    if not request:
        raise InvalidInput(
            "no payload reached the model: a body sent as application/x-www-form-urlencoded (curl's default "
            f"for --data) is parsed as a form; set Content-Type: image/png or application/json; {ACCEPTED_INPUT}"
        )
    # The names are the client's: a few, each quoted and cut short (they may be megabytes of control bytes).
    names = sorted(request, key=str)
    shown = ", ".join(quoted(name) for name in names[:_FORM_FIELDS_SHOWN])
    more = f" and {len(names) - _FORM_FIELDS_SHOWN:,} more" if len(names) > _FORM_FIELDS_SHOWN else ""
    raise InvalidInput(
        f"expected one payload, got {len(names):,} form fields: {shown}{more}; send the image as the body or "
        f'a form field named "data"; {ACCEPTED_INPUT}'
    )


def _parse_json(payload: bytes):
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise InvalidInput(f"the body looks like JSON but does not parse ({quoted(str(error))}); {ACCEPTED_INPUT}") from None


def _from_json(document, budget: _Budget) -> MnistRequest:
    if isinstance(document, dict) and "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidInput(f'"instances" must be a non-empty list; {ACCEPTED_INPUT}')
        if len(instances) > MAX_INSTANCES:
            raise PayloadTooLarge(f"{len(instances)} instances in one request; at most {MAX_INSTANCES} are accepted")
        images = [_image_from_instance(item, f"instances[{i}]", budget) for i, item in enumerate(instances)]
        return MnistRequest(images, many=True)
    return MnistRequest([_image_from_instance(document, "the JSON body", budget)], many=False)


def _image_from_instance(item, where: str, budget: _Budget) -> Image.Image:
    if isinstance(item, dict):
        text = next((item[field] for field in BASE64_FIELDS if field in item), None)
    else:
        text = item
    if not isinstance(text, str):
        fields = " or ".join(f'"{field}"' for field in BASE64_FIELDS)
        raise InvalidInput(f"{where} has no base64 string: expected an object with {fields}, or a string")
    try:
        data = decode_base64(text.encode("ascii"))
    except UnicodeEncodeError:
        raise InvalidInput(f"{where} is not base64: it has non-ASCII characters") from None
    return budget.open(data)


def decode_base64(text: bytes) -> bytes:
    """Standard or URL-safe base64, with or without a data-URI prefix, whitespace and padding."""
    text = _WHITESPACE.sub(b"", _DATA_URI_PREFIX.sub(b"", text.strip(), count=1))
    text = text.rstrip(b"=").translate(_URL_SAFE_TO_STANDARD)
    try:
        decoded = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            "the payload is neither an image nor valid base64 (only A-Z a-z 0-9 + / - _ = are allowed, "
            f"after an optional data:image/...;base64, prefix); {ACCEPTED_INPUT}"
        ) from None
    if not decoded:
        raise InvalidInput(f"the base64 string is empty; {ACCEPTED_INPUT}")
    return decoded


def open_image(data: bytes) -> Image.Image:
    """One image's bytes, fully decoded, with the same bounds as a request of one image."""
    budget = _Budget()
    image = _load(budget.open(data))
    budget.charge_metadata(image)
    return image


def jpeg_scan_count(data: bytes, stop_after: int = MAX_JPEG_SCANS + 1) -> int:
    """How many scans (SOS markers, 0xFFDA) libjpeg would read from a JPEG, walking its marker segments
    as libjpeg does; counting stops at EOI or once stop_after scans are seen.

    Marker segments (APPn, COM, DHT, ...) are skipped by their length, so an EXIF thumbnail's own markers
    are not counted. In a scan's entropy-coded data every 0xFF byte is followed by a stuffed 0x00 or is a
    restart marker (RST0-7), so the first other 0xFF xx there is the next real marker (found by a regular
    expression, at C speed: a 10 MB photo is walked in a few milliseconds)."""
    scans, position, end = 0, 2, len(data)  # after SOI
    while position + 1 < end:
        if data[position] != 0xFF:  # stray bytes between segments: libjpeg skips to the next 0xFF
            position = data.find(b"\xff", position)
            if position < 0:
                break
            continue
        marker = data[position + 1]
        if marker == 0xFF:  # fill byte before a marker
            position += 1
            continue
        if marker == 0xD9:  # EOI: libjpeg reads nothing after it
            break
        if marker in (0x00, 0x01, 0xD8) or 0xD0 <= marker <= 0xD7:  # markers without a length
            position += 2
            continue
        if position + 4 > end:
            break
        position += 2 + int.from_bytes(data[position + 2 : position + 4], "big")
        if marker != 0xDA:
            continue
        scans += 1
        if scans >= stop_after:
            break
        following = _MARKER_AFTER_SCAN_DATA.search(data, position)  # skip the scan's entropy-coded data
        if following is None:
            break
        position = following.start()
    return scans


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
    if data[:3] == b"\xff\xd8\xff" and jpeg_scan_count(data) > MAX_JPEG_SCANS:
        raise PayloadTooLarge(
            f"the JPEG has more than {MAX_JPEG_SCANS} scans, so it was not decoded; JPEGs with at most "
            f"{MAX_JPEG_SCANS} scans are accepted (baseline JPEGs have 1, standard progressive ones about 10)"
        )
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
        raise InvalidInput(f"the image is truncated or corrupt ({type(error).__name__}: {quoted(str(error))})") from None
    return image
