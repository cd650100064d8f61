"""What every wire format shares (wire_format's own and open_inference's): how many images a request may
carry, base64 text decoded to picture bytes, and the Message a request's payload is read into.

A leaf below both, so that wire_format can dispatch to open_inference without an import cycle.
"""

import base64
import binascii
import re
from dataclasses import dataclass, field
from typing import List, Optional

import torch

from input_errors import ACCEPTED_INPUT, InvalidInput
from mnist_request import AnswerForm

# Images one request may carry, in any wire format: "instances", or an Open Inference tensor's n.
MAX_INSTANCES = 64
# Decimals of the probabilities answered: ample for a distribution, and half the JSON of float32's repr.
PROBABILITY_DECIMALS = 6

_DATA_URI_PREFIX = re.compile(rb"^data:[\w.+-]+/[\w.+-]+(;[\w=-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = b" \t\n\r\x0b\x0c"  # what a regular expression's \s is in bytes
_URL_SAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s_-]+")


@dataclass
class Message:
    """A request's payload, read: how it is answered, and what it carries for the model, either encoded
    pictures (image_decoding opens them) or MNIST tensors (n, 1, 28, 28) sent as such."""

    form: AnswerForm
    pictures: List[bytes] = field(default_factory=list)
    tensors: Optional[torch.Tensor] = None


def is_base64_text(payload: bytes) -> bool:
    """Whether a raw body is base64 text (with an optional data-URI prefix): binary image formats always
    hold bytes outside the base64 alphabet."""
    return _BASE64_TEXT.fullmatch(_DATA_URI_PREFIX.sub(b"", payload, count=1)) is not None


def decode_base64(text, where: str = "the payload", accepted: str = ACCEPTED_INPUT) -> bytes:
    """Standard or URL-safe base64 (bytes, or a JSON string), with or without a data-URI prefix, whitespace
    and padding. A refusal names `where` the text was and ends with `accepted`, what the request's wire
    format accepts."""
    if isinstance(text, str):
        try:
            text = text.encode("ascii")
        except UnicodeEncodeError:
            raise InvalidInput(f"{where} is not base64: it has non-ASCII characters; {accepted}") from None
    # One pass in C over what may be megabytes: whitespace out, the URL-safe alphabet made standard (a
    # regular expression's substitution took 26 ms on a 12 MP photo's 4 MB).
    text = _DATA_URI_PREFIX.sub(b"", text.strip(), count=1).translate(_URL_SAFE_TO_STANDARD, _WHITESPACE)
    text = text.rstrip(b"=")
    try:
        decoded = base64.b64decode(text + b"=" * (-len(text) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise InvalidInput(
            f"{where} is neither an image nor valid base64 (only A-Z a-z 0-9 + / - _ = are allowed, "
            f"after an optional data:image/...;base64, prefix); {accepted}"
        ) from None
    if not decoded:
        raise InvalidInput(f"the base64 string of {where} is empty; {accepted}")
    return decoded


def rounded(probabilities: torch.Tensor) -> list:
    """Probabilities as JSON numbers, PROBABILITY_DECIMALS after the point, in row-major order."""
    return [round(p, PROBABILITY_DECIMALS) for p in probabilities.flatten().tolist()]
