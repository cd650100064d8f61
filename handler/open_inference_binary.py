"""The Open Inference Protocol's binary tensor data extension (KServe v2 / Triton HTTP), as tritonclient sends
by default (InferInput.set_data_from_numpy, binary_data=True): the body is the JSON inference header followed
by the input's raw bytes, and the input says how many in "parameters": {"binary_data_size": N}, with no "data".

The body is told by its bytes, as every request is: a JSON object with "inputs" followed by more bytes (the
Inference-Header-Content-Length HTTP header that says where the JSON ends is not needed). Layouts, by datatype:
- FP32: n*784 little-endian float32, row-major (open_inference checks them as it checks JSON numbers);
- BYTES: per element, a 4-byte little-endian unsigned length, then that many bytes: an encoded picture as it
  is, not base64.
Every length is checked against the bytes there are before anything is built from them, and nothing is
copied but each picture's bytes: the binary data is a view of the body, the FP32 pixels read in place.
"""

import json
import re
import struct
from dataclasses import dataclass
from typing import List, Optional

import numpy as np

from input_errors import InvalidInput, quoted
from mnist_form import MNIST_SIDE

# The longest JSON header looked for before binary data: one input's header is a few hundred bytes. A longer
# body that does not parse as JSON is refused as any such body is, without decoding all of it in search of one.
MAX_HEADER_BYTES = 64 * 1024
MNIST_PIXELS = MNIST_SIDE * MNIST_SIDE

FP32 = np.dtype("<f4")
_JSON_WHITESPACE = re.compile(rb"[ \t\n\r]*")  # what json.loads allows after a value
_LENGTH = struct.Struct("<I")
_BYTES_LAYOUT = "a BYTES input's binary data is, per element, a 4-byte little-endian length and that many bytes"


@dataclass(frozen=True)
class BinaryRequest:
    """A request body split at the end of its JSON header: the header, parsed, and the bytes after it."""

    header: dict
    data: memoryview  # a view of the body: not copied


def binary_request_of(body: bytes) -> Optional[BinaryRequest]:
    """The body as a JSON object followed by more bytes, or None if it is not one (a JSON value alone or with
    whitespace after it, bytes that do not start with a JSON value, or one that does not end within
    MAX_HEADER_BYTES). Only the header is decoded: json.loads would decode the whole body first, and a
    failed decode copies it twice over."""
    # latin-1 maps each byte to one character: where the value ends is its length in bytes.
    prefix = body[:MAX_HEADER_BYTES].decode("latin-1")
    try:
        _, end = json.JSONDecoder().raw_decode(prefix)
        if _JSON_WHITESPACE.fullmatch(body, end):
            return None
        header = json.loads(body[:end])  # again as UTF-8: its strings as sent, invalid UTF-8 refused
    except (ValueError, RecursionError):  # RecursionError: absurdly deep nesting
        return None
    return BinaryRequest(header, memoryview(body)[end:]) if isinstance(header, dict) else None


def binary_data_of(tensor: dict, data: memoryview) -> Optional[memoryview]:
    """The one input's binary data: `data`, all the bytes after the JSON header (empty for a JSON body), which
    its binary_data_size must count exactly; None for an input whose data is in the JSON."""
    parameters = tensor.get("parameters")
    size = parameters.get("binary_data_size") if isinstance(parameters, dict) else None
    if size is None:
        if len(data):
            raise InvalidInput(
                f"{len(data):,} bytes follow the JSON header, but inputs[0] declares no binary data: an input "
                'sent as bytes after the header says how many in "parameters": {"binary_data_size": N}'
            )
        return None
    if type(size) is not int or size < 0:
        raise InvalidInput(f"inputs[0].parameters.binary_data_size must be a non-negative integer, not {quoted(size)}")
    if "data" in tensor:
        raise InvalidInput(
            'inputs[0] has both "data" and a binary_data_size: its data is either in the JSON or after it, not both'
        )
    if size != len(data):
        raise InvalidInput(
            f"inputs[0] declares {size:,} bytes of binary data (binary_data_size), but {len(data):,} follow the "
            "JSON header: the inputs' binary data follows the header in input order, each exactly its size"
        )
    return data


def pixels_of_binary(data: memoryview, count: int) -> np.ndarray:
    """An FP32 input's count*784 pixels, read in place as little-endian float32 (not yet checked)."""
    expected = count * MNIST_PIXELS * FP32.itemsize
    if len(data) != expected:
        raise InvalidInput(
            f"inputs[0]'s binary data is {len(data):,} bytes; {count} FP32 images of 28x28 are {expected:,} "
            "(784 little-endian float32 each, row-major)"
        )
    return np.frombuffer(data, dtype=FP32)


def pictures_of_binary(data: memoryview, count: int) -> List[bytes]:
    """A BYTES input's count elements, each a length-prefixed encoded picture; together they fill `data`."""
    pictures, offset = [], 0
    for index in range(count):
        if len(data) - offset < _LENGTH.size:
            raise InvalidInput(f"inputs[0]'s binary data ends before element {index}'s length; {_BYTES_LAYOUT}")
        (length,) = _LENGTH.unpack_from(data, offset)
        offset += _LENGTH.size
        if length > len(data) - offset:
            raise InvalidInput(
                f"element {index} of inputs[0]'s binary data declares {length:,} bytes, but {len(data) - offset:,} "
                f"are left; {_BYTES_LAYOUT}"
            )
        if length == 0:
            raise InvalidInput(f"element {index} of inputs[0]'s binary data is empty: each is an encoded picture")
        pictures.append(bytes(data[offset : offset + length]))
        offset += length
    if offset != len(data):
        raise InvalidInput(
            f"{len(data) - offset:,} bytes of inputs[0]'s binary data are left after the {count} elements its "
            f"shape says; {_BYTES_LAYOUT}"
        )
    return pictures
