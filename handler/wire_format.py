"""The wire format, in one place: what a TorchServe request may carry and how it is answered.

Requests (README, "Request"; openapi.yaml will describe them): a raw image body; a multipart upload; a base64
string as the body; JSON {"base64"|"data"|"b64": str}; JSON {"instances": [str | {"base64"|"data"|"b64": str},
...]}; an Open Inference Protocol request, JSON {"inputs": [...]}, its data in the JSON or as binary data
after it (open_inference, its own wire format).
The base64 may have a data-URI prefix, whitespace, the URL-safe alphabet or no padding. Requests are told
apart by their bytes, not the Content-Type header, so a wrong or missing type does no harm (TorchServe
parses a multipart or form-encoded body before it gets here; a multipart body the front door sends on as
bytes is read by multipart_body).

Reading a request takes three steps, so that a refusal is worded in the request's own form as soon as
that is known: document_of() finds its payload (parsed, if JSON), form_of() tells its wire format from it,
and that form's read() turns it into a Message: the encoded pictures it carries (image_decoding opens them)
or, from an Open Inference request, MNIST tensors. answers() turns the model's probabilities, or each
request's error, into the JSON each request gets, in its own form.
"""

import json

import torch

from input_errors import ACCEPTED_INPUT, InvalidInput, PayloadTooLarge, RequestError, quoted
from multipart_body import form_fields, is_multipart
from open_inference import OpenInference, is_open_inference
from open_inference_binary import binary_request_of
from wire_common import MAX_INSTANCES, Message, decode_base64, is_base64_text, rounded

BASE64_FIELDS = ("base64", "data", "b64")

# Field names a TorchServe request may carry the payload under: the raw body, or a form/JSON "data" part.
_PAYLOAD_KEYS = ("body", "data")
_FORM_FIELDS_SHOWN = 5

# What parsing a JSON body may build, counted on its bytes before it is parsed: each string is two quotes and
# each list or object an opening bracket, and those are what cost most per byte. A request of 64 pictures
# needs a few hundred quotes, an Open Inference FP32 tensor of 64x1x28x28 written nested 1,921 brackets. 8 MiB
# of "[[]]," would build 3.2 million lists (1.3 CPU-s, +258 MiB of worker memory), of '"ab",' 1.6 million
# strings (+108 MiB). Numbers cost at most ~10x their bytes (2 million floats, +77 MiB): they are left to
# the readers' own counts, which refuse them in the request's own form.
MAX_JSON_QUOTES = 4_096
MAX_JSON_BRACKETS = 4_096


class _Single:
    """One picture: a raw body, a multipart upload, base64 text or JSON {"base64": ...}; answered with
    {"digit": ..., "probabilities": [...]}, refused with RequestError.as_json()."""

    def read(self, document) -> Message:
        if isinstance(document, bytes):
            return Message(self, [decode_base64(document) if is_base64_text(document) else document])
        return Message(self, [_bytes_of_instance(document, "the JSON body")])

    def answer(self, probabilities: torch.Tensor) -> dict:
        return _prediction(probabilities[0])

    def refusal(self, error: RequestError) -> dict:
        return error.as_json()


class _Predictions(_Single):
    """JSON {"instances": [...]}: up to MAX_INSTANCES pictures, answered with {"predictions": [...]}."""

    def read(self, document: dict) -> Message:
        instances = document["instances"]
        if not isinstance(instances, list) or not instances:
            raise InvalidInput(f'"instances" must be a non-empty list; {ACCEPTED_INPUT}')
        if len(instances) > MAX_INSTANCES:
            raise PayloadTooLarge(f"{len(instances)} instances in one request; at most {MAX_INSTANCES} are accepted")
        return Message(self, [_bytes_of_instance(item, f"instances[{i}]") for i, item in enumerate(instances)])

    def answer(self, probabilities: torch.Tensor) -> dict:
        return {"predictions": [_prediction(row) for row in probabilities]}


SINGLE = _Single()
PREDICTIONS = _Predictions()


def read_request(request: dict) -> Message:
    """What a TorchServe request (its payload dict) carries, and how it is answered; refusals are raised."""
    document = document_of(request)
    return form_of(document).read(document)


def document_of(request: dict):
    """The request's payload: parsed JSON (a dict, list, str, ...), an Open Inference request with binary data
    (open_inference_binary.BinaryRequest), or bytes (a picture, or base64 text)."""
    payload = _payload_of(request)
    if isinstance(payload, (dict, list)):  # TorchServe already parsed it (decode_input_request=true)
        return payload
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    payload = bytes(payload)
    if is_multipart(payload):  # sent on as bytes by the front door: its fields are read as TorchServe's are
        payload = bytes(_payload_of(form_fields(payload)))
    payload = payload.lstrip()  # its end as sent: after a JSON header it is binary data, whitespace bytes too
    if not payload:
        raise InvalidInput(f"the request body is empty; {ACCEPTED_INPUT}")
    if payload[:1] in (b"{", b"[", b'"'):
        return _parse_json(payload)
    return payload.rstrip()


def form_of(document):
    """The wire format of a request's payload (document_of): it reads the payload and words the answer."""
    if isinstance(document, dict) and "instances" in document:
        return PREDICTIONS
    if is_open_inference(document):
        return OpenInference()
    return SINGLE


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
    """The JSON body, or an Open Inference request's JSON header and the binary data after it."""
    # Split first: json.loads would decode all the binary data only to fail on it.
    binary_request = binary_request_of(payload)
    if binary_request is not None and is_open_inference(binary_request.header):
        return binary_request
    quotes, brackets = payload.count(b'"'), payload.count(b"[") + payload.count(b"{")
    if quotes > MAX_JSON_QUOTES or brackets > MAX_JSON_BRACKETS:
        raise PayloadTooLarge(
            f"the JSON body has {quotes:,} quotes and {brackets:,} opening brackets; at most {MAX_JSON_QUOTES:,} "
            f"of each are accepted (64 images need a few hundred quotes, or 1,921 brackets as nested numbers); "
            + ACCEPTED_INPUT
        )
    try:
        return json.loads(payload)
    except (ValueError, RecursionError) as error:  # RecursionError: absurdly deep nesting
        raise InvalidInput(
            f"the body looks like JSON but does not parse ({quoted(str(error))}); {ACCEPTED_INPUT}"
        ) from None


def _bytes_of_instance(item, where: str) -> bytes:
    if isinstance(item, dict):
        text = next((item[field] for field in BASE64_FIELDS if field in item), None)
    else:
        text = item
    if not isinstance(text, str):
        fields = " or ".join(f'"{field}"' for field in BASE64_FIELDS)
        raise InvalidInput(f"{where} has no base64 string: expected an object with {fields}, or a string")
    return decode_base64(text, where)


def answers(requests: list, probabilities: torch.Tensor) -> list:
    """Each request's JSON answer, in its own form: its refusal, or its answer to its images' rows of
    `probabilities`, which holds the rows of every accepted image of the batch, in order."""
    out, next_image = [], 0
    for request in requests:
        if request.error is not None:
            out.append(request.form.refusal(request.error))
            continue
        count = len(request.tensors)
        out.append(request.form.answer(probabilities[next_image : next_image + count]))
        next_image += count
    return out


def _prediction(probabilities: torch.Tensor) -> dict:
    return {"digit": int(probabilities.argmax()), "probabilities": rounded(probabilities)}
