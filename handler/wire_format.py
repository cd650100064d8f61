"""The wire format, in one place: what a TorchServe request may carry and how it is answered.

Requests (README, "Request"; openapi.yaml will describe them): a raw image body; a multipart upload; a base64
string as the body; JSON {"base64"|"data"|"b64": str}; JSON {"instances": [str | {"base64"|"data"|"b64": str},
...]}. The base64 may have a data-URI prefix, whitespace, the URL-safe alphabet or no padding. Requests are
told apart by their bytes, not the Content-Type header, so a wrong or missing type does no harm (only a
form-encoded body is parsed by TorchServe before it gets here). pictures_of() turns one into the encoded
pictures it carries (image_decoding opens them); answers() turns the model's probabilities, or each
request's error, into the JSON each request gets.
"""

import base64
import binascii
import json
import re

import torch

from input_errors import ACCEPTED_INPUT, InvalidInput, PayloadTooLarge, quoted

BASE64_FIELDS = ("base64", "data", "b64")
MAX_INSTANCES = 64

# Field names a TorchServe request may carry the payload under: the raw body, or a form/JSON "data" part.
_PAYLOAD_KEYS = ("body", "data")
_FORM_FIELDS_SHOWN = 5
_DATA_URI_PREFIX = re.compile(rb"^data:[\w.+-]+/[\w.+-]+(;[\w=-]+)*;base64,", re.IGNORECASE)
_WHITESPACE = re.compile(rb"\s+")
_URL_SAFE_TO_STANDARD = bytes.maketrans(b"-_", b"+/")
_BASE64_TEXT = re.compile(rb"[A-Za-z0-9+/=\s_-]+")


def pictures_of(request: dict) -> tuple:
    """(the encoded pictures a TorchServe request (its payload dict) carries, as bytes; whether it is an
    "instances" request, answered with {"predictions": [...]})."""
    payload = _payload_of(request)
    if isinstance(payload, (dict, list)):  # TorchServe already parsed it (decode_input_request=true)
        return _from_json(payload)
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = bytes(payload).strip()
    if not payload:
        raise InvalidInput(f"the request body is empty; {ACCEPTED_INPUT}")
    if payload[:1] in (b"{", b"[", b'"'):
        return _from_json(_parse_json(payload))
    if _BASE64_TEXT.fullmatch(_DATA_URI_PREFIX.sub(b"", payload, count=1)):
        return [decode_base64(payload)], False
    # Binary image formats always hold bytes outside the base64 alphabet.
    return [payload], False


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
        raise InvalidInput(
            f"the body looks like JSON but does not parse ({quoted(str(error))}); {ACCEPTED_INPUT}"
        ) from None


def _from_json(document) -> tuple:
    if isinstance(document, dict) and "instances" in document:
        instances = document["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidInput(f'"instances" must be a non-empty list; {ACCEPTED_INPUT}')
        if len(instances) > MAX_INSTANCES:
            raise PayloadTooLarge(f"{len(instances)} instances in one request; at most {MAX_INSTANCES} are accepted")
        return [_bytes_of_instance(item, f"instances[{i}]") for i, item in enumerate(instances)], True
    return [_bytes_of_instance(document, "the JSON body")], False


def _bytes_of_instance(item, where: str) -> bytes:
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
    return data


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


def answers(requests: list, probabilities: torch.Tensor) -> list:
    """Each request's JSON answer: its refusal, its digit, or {"predictions": [...]} for an instances
    request, with `probabilities` holding the rows of every accepted image of the batch, in order."""
    out, next_image = [], 0
    for request in requests:
        if request.error is not None:
            out.append(request.error.as_json())
            continue
        count = len(request.tensors)
        predictions = [_prediction(row) for row in probabilities[next_image : next_image + count]]
        next_image += count
        out.append({"predictions": predictions} if request.many else predictions[0])
    return out


def _prediction(probabilities: torch.Tensor) -> dict:
    return {"digit": int(probabilities.argmax()), "probabilities": [round(p, 6) for p in probabilities.tolist()]}
