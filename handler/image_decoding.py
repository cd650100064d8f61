"""Turn one TorchServe request into the PIL images it carries.

Accepted (see README "Request and response"): a raw image body; a multipart upload; a base64 string as
the body; JSON {"base64"|"data"|"b64": str}; JSON {"instances": [str | {"base64"|"data"|"b64": str}, ...]}.
The base64 may have a data-URI prefix, whitespace, the URL-safe alphabet or no padding. Requests are
told apart by their bytes, not the Content-Type header, so a wrong or missing type does no harm (only a
form-encoded body is parsed by TorchServe before it gets here).
"""

import base64
import binascii
import io
import json
import re
import warnings
from dataclasses import dataclass

from PIL import Image, UnidentifiedImageError

from input_errors import ACCEPTED_INPUT, InvalidInput, PayloadTooLarge, UnsupportedImage

BASE64_FIELDS = ("base64", "data", "b64")
MAX_INSTANCES = 64
# Decompression-bomb and slow-request guard: a request's images may hold 4096x4096 pixels in all; more
# is refused from the image headers, before any pixel is decoded.
MAX_SIDE = 4096
MAX_PIXELS = MAX_SIDE * MAX_SIDE
Image.MAX_IMAGE_PIXELS = MAX_PIXELS

# Field names a TorchServe request may carry the payload under: the raw body, or a form/JSON "data" part.
_PAYLOAD_KEYS = ("body", "data")
_DATA_URI_PREFIX = re.compile(rb"^data:[\w.+-]+/[\w.+-]+(;[\w=-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")
_URL_SAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s_-]+")


@dataclass
class DecodedRequest:
    images: list
    many: bool  # True for an "instances" request, which is answered with {"predictions": [...]}


def decode_request(request: dict) -> DecodedRequest:
    """The request's images, decoded; refused before any pixel is decoded if they hold too many pixels."""
    decoded = _open_request(request)
    pixels = sum(image.width * image.height for image in decoded.images)
    if pixels > MAX_PIXELS:
        raise PayloadTooLarge(
            f"{pixels:,} pixels in one request; at most {MAX_PIXELS:,} are accepted in all "
            f"(one {MAX_SIDE}x{MAX_SIDE} picture, or {MAX_INSTANCES} of 512x512)"
        )
    for image in decoded.images:
        _load(image)
    return decoded


def _open_request(request: dict) -> DecodedRequest:
    payload = _payload_of(request)
    if isinstance(payload, (dict, list)):  # TorchServe already parsed it (decode_input_request=true)
        return _from_json(payload)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = bytes(payload).strip()
    if not payload:
        raise InvalidInput(f"the request body is empty; {ACCEPTED_INPUT}")
    if payload[:1] in (b"{", b"[", b"\""):
        return _from_json(_parse_json(payload))
    if _BASE64_TEXT.fullmatch(_DATA_URI_PREFIX.sub(b"", payload, count=1)):
        return DecodedRequest([_open(decode_base64(payload))], many=False)
    # Binary image formats always hold bytes outside the base64 alphabet.
    return DecodedRequest([_open(payload)], many=False)


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
    raise InvalidInput(f"expected one payload, got form fields: {', '.join(sorted(request))}; {ACCEPTED_INPUT}")


def _parse_json(payload: bytes):
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise InvalidInput(f"the body looks like JSON but does not parse ({error}); {ACCEPTED_INPUT}") from None


def _from_json(document) -> DecodedRequest:
    if isinstance(document, dict) and "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidInput(f'"instances" must be a non-empty list; {ACCEPTED_INPUT}')
        if len(instances) > MAX_INSTANCES:
            raise PayloadTooLarge(f"{len(instances)} instances in one request; at most {MAX_INSTANCES} are accepted")
        return DecodedRequest([_image_from_instance(item, f"instances[{i}]") for i, item in enumerate(instances)], True)
    return DecodedRequest([_image_from_instance(document, "the JSON body")], many=False)


def _image_from_instance(item, where: str) -> Image.Image:
    if isinstance(item, dict):
        text = next((item[field] for field in BASE64_FIELDS if field in item), None)
    else:
        text = item
    if not isinstance(text, str):
        fields = " or ".join(f'"{field}"' for field in BASE64_FIELDS)
        raise InvalidInput(f"{where} has no base64 string: expected an object with {fields}, or a string")
    try:
        return _open(decode_base64(text.encode("ascii")))
    except UnicodeEncodeError:
        raise InvalidInput(f"{where} is not base64: it has non-ASCII characters") from None


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
    """One image, fully decoded (bombs refused from the header)."""
    return _load(_open(data))


def _open(data: bytes) -> Image.Image:
    """Read the header only: format and size are known, no pixel is decoded yet."""
    try:
        with warnings.catch_warnings():
            # PIL only warns between MAX_IMAGE_PIXELS and twice that; here the limit is the limit.
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            return Image.open(io.BytesIO(data))
    except UnidentifiedImageError:
        raise UnsupportedImage(f"the bytes are not an image format PIL can read; {ACCEPTED_INPUT}") from None
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PayloadTooLarge(
            f"the image header announces more than {MAX_SIDE}x{MAX_SIDE} pixels, so it was not decoded; "
            f"images up to {MAX_PIXELS:,} pixels are accepted"
        ) from None
    except (OSError, SyntaxError, ValueError) as error:
        raise InvalidInput(f"the image header is corrupt ({error})") from None


def _load(image: Image.Image) -> Image.Image:
    try:
        image.load()
    except Exception as error:  # PIL's decoders raise many types on hostile bytes (struct.error, IndexError...)
        raise InvalidInput(f"the image is truncated or corrupt ({type(error).__name__}: {error})") from None
    return image
