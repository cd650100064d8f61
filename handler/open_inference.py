"""The Open Inference Protocol (KServe v2 REST) as a wire format: POST /v2/models/mnist/infer, whose JSON
body TorchServe hands the handler as it hands /predictions/mnist's. wire_format dispatches here for a JSON
object with "inputs" (is_open_inference).

A request carries exactly one input tensor, n images (1 to MAX_INSTANCES):
- "BYTES", shape [n]: n base64 strings, each an encoded picture, decoded and bounded as every picture is;
- "FP32", shape [n, 28, 28] or [n, 1, 28, 28]: n*784 numbers in [0, 1], flat in row-major order or nested
  as the shape, MNIST digits as torchvision's ToTensor gives them (white on black). They skip the picture
  path and are normalised as its own output is (mnist_cnn.normalised).
The data is in the JSON ("data"), or follows the JSON header as bytes: the protocol's binary tensor data
extension, as tritonclient sends it by default (open_inference_binary reads it, with the same checks).
"parameters" are otherwise ignored; "outputs" may select "probabilities" and "digit"; a string "id" is echoed.
Answers are always JSON, whatever binary_data an output's parameters ask for: tritonclient reads them alike.
Answers are {"model_name", "id"?, "outputs": [tensor, ...]}, refusals {"error": message} with the error's
own status. Every count is checked against the shape before anything is built from the data.
"""

import math
from dataclasses import dataclass
from typing import Optional, Tuple

import numpy as np
import torch

from input_errors import ACCEPTED_FORMAT_NAMES, MAX_QUOTED_CHARS, InvalidInput, PayloadTooLarge, RequestError, quoted
from mnist_cnn import normalised
from mnist_form import MNIST_SIDE
from open_inference_binary import BinaryRequest, binary_data_of, pictures_of_binary, pixels_of_binary
from wire_common import MAX_INSTANCES, Message, decode_base64, rounded

MODEL_NAME = "mnist"
# Longest request "id" echoed: ample for a UUID or a trace id; the answer stays small whatever is sent.
MAX_ID_CHARS = 256
# What follows n in an input's shape, by datatype.
SHAPE_TAILS = {"BYTES": ((),), "FP32": ((MNIST_SIDE, MNIST_SIDE), (1, MNIST_SIDE, MNIST_SIDE))}
_BYTES_INPUT = f'{{"datatype": "BYTES", "shape": [n], "data": [n base64 {ACCEPTED_FORMAT_NAMES} pictures]}}'
_FP32_INPUT = (
    '{"datatype": "FP32", "shape": [n, 28, 28] or [n, 1, 28, 28], "data": n*784 numbers in [0, 1], row-major}: '
    "MNIST digits, white on black, as torchvision's ToTensor gives them"
)
ACCEPTED = (
    f"an Open Inference Protocol request carries one input tensor of n images, n from 1 to {MAX_INSTANCES}: "
    f"{_BYTES_INPUT} or {_FP32_INPUT}; or its data as bytes after the JSON header (binary_data_size: FP32 "
    'little-endian float32, BYTES 4-byte length-prefixed pictures); "outputs" may name "probabilities" and "digit"'
)
# A JSON body's binary data: none.
_NO_BINARY_DATA = memoryview(b"")


def is_open_inference(document) -> bool:
    """Whether a request's payload (wire_format.document_of) is an Open Inference Protocol request, in JSON or
    with binary data."""
    return isinstance(document, BinaryRequest) or (isinstance(document, dict) and "inputs" in document)


def _probabilities(probabilities: torch.Tensor) -> dict:
    return {
        "name": "probabilities",
        "datatype": "FP32",
        "shape": list(probabilities.shape),
        "data": rounded(probabilities),
    }


def _digit(probabilities: torch.Tensor) -> dict:
    return {
        "name": "digit",
        "datatype": "INT64",
        "shape": [len(probabilities)],
        "data": probabilities.argmax(1).tolist(),
    }


_OUTPUTS = {"probabilities": _probabilities, "digit": _digit}
OUTPUT_NAMES = tuple(_OUTPUTS)


@dataclass(frozen=True)
class OpenInference:
    """The answer form of an Open Inference request (mnist_request.AnswerForm): the "id" it echoes and the
    outputs it asked for. Bare, it words a refusal before the request is read."""

    request_id: Optional[str] = None
    outputs: Tuple[str, ...] = OUTPUT_NAMES

    def read(self, document) -> Message:
        """The request's pictures (BYTES) or MNIST tensors (FP32), from its JSON (a dict) or from the binary data
        after its JSON header (a BinaryRequest), and the form its answer takes."""
        binary_request = isinstance(document, BinaryRequest)
        header, after = (document.header, document.data) if binary_request else (document, _NO_BINARY_DATA)
        form = OpenInference(request_id_of(header), outputs_of(header))
        tensor = input_of(header)
        binary = binary_data_of(tensor, after)
        if tensor.get("datatype") == "BYTES":
            return Message(form, pictures=pictures_of(tensor, binary))
        if tensor.get("datatype") == "FP32":
            return Message(form, tensors=mnist_tensors_of(tensor, binary))
        raise InvalidInput(
            f'inputs[0].datatype must be "BYTES" (encoded pictures) or "FP32" (MNIST tensors), not '
            f"{_shown(tensor.get('datatype'))}; {ACCEPTED}"
        )

    def answer(self, probabilities: torch.Tensor) -> dict:
        answer = {"model_name": MODEL_NAME}
        if self.request_id is not None:
            answer["id"] = self.request_id
        answer["outputs"] = [_OUTPUTS[name](probabilities) for name in self.outputs]
        return answer

    def refusal(self, error: RequestError) -> dict:
        return {"error": str(error)}


def request_id_of(document: dict) -> Optional[str]:
    """The request's "id", to echo (cut to MAX_ID_CHARS), or None if it sent none."""
    request_id = document.get("id")
    if request_id is None:
        return None
    if not isinstance(request_id, str):
        raise InvalidInput(f'"id" must be a string, not {_shown(request_id)}; {ACCEPTED}')
    return request_id[:MAX_ID_CHARS]


def outputs_of(document: dict) -> Tuple[str, ...]:
    """The names of the outputs asked for, in their order (each once); all of them if none is named."""
    asked = document.get("outputs")
    if asked is None or asked == []:
        return OUTPUT_NAMES
    if not isinstance(asked, list):
        raise InvalidInput(f'"outputs" must be a list of {{"name": ...}} objects, not {_shown(asked)}; {ACCEPTED}')
    names = []
    for index, output in enumerate(asked):
        name = output.get("name") if isinstance(output, dict) else None
        if not isinstance(name, str) or name not in _OUTPUTS:  # a list or object name is no key
            raise InvalidInput(
                f'outputs[{index}] asks for {_shown(name)}; the outputs are "probabilities" (FP32 [n, 10]) and '
                f'"digit" (INT64 [n]), named as {{"name": "digit"}}'
            )
        names.append(name)
    return tuple(dict.fromkeys(names))


def input_of(document: dict) -> dict:
    """The request's one input tensor."""
    inputs = document["inputs"]
    if not isinstance(inputs, list) or len(inputs) != 1:
        got = f"{len(inputs):,} inputs" if isinstance(inputs, list) else _shown(inputs)
        raise InvalidInput(f'"inputs" must be a list of exactly one input tensor, got {got}; {ACCEPTED}')
    if not isinstance(inputs[0], dict):
        raise InvalidInput(f"inputs[0] must be an object, not {_shown(inputs[0])}; {ACCEPTED}")
    return inputs[0]


def pictures_of(tensor: dict, binary: Optional[memoryview] = None) -> list:
    """A BYTES input's encoded pictures, as bytes: from its base64 "data", or its binary data if it has one."""
    count = _count_of(tensor)
    if binary is not None:
        return pictures_of_binary(binary, count)
    data = tensor.get("data")
    if not isinstance(data, list) or len(data) != count:
        got = f"a list of {len(data):,}" if isinstance(data, list) else _shown(data)
        raise InvalidInput(f"inputs[0].data must be a list of {count} base64 strings, as its shape says; got {got}")
    return [_picture(item, f"inputs[0].data[{index}]") for index, item in enumerate(data)]


def _picture(item, where: str) -> bytes:
    if not isinstance(item, str):
        raise InvalidInput(f"{where} must be a base64 string, not {_shown(item)}; {ACCEPTED}")
    return decode_base64(item, where, ACCEPTED)


def mnist_tensors_of(tensor: dict, binary: Optional[memoryview] = None) -> torch.Tensor:
    """An FP32 input's images, (n, 1, 28, 28), normalised as the picture path normalises its own: from its
    "data" numbers, or its binary data if it has one."""
    count = _count_of(tensor)
    if binary is None:
        pixels = _checked(_pixels(_flattened(tensor.get("data"), tensor["shape"])), "inputs[0].data")
    else:
        pixels = _checked(pixels_of_binary(binary, count), "inputs[0]'s binary data")
    # normalised() takes grey levels 0-255, as the picture path has them: ToTensor's [0, 1] times 255.
    return torch.from_numpy(normalised(pixels.reshape(count, 1, MNIST_SIDE, MNIST_SIDE) * 255.0)).to(torch.float32)


def _count_of(tensor: dict) -> int:
    """n, the images of an input of a known datatype, from its shape: checked before its data is looked at."""
    shape, tails = tensor.get("shape"), SHAPE_TAILS[tensor["datatype"]]
    accepted = " or ".join(str(["n", *tail]).replace("'", "") for tail in tails)
    expected = f"inputs[0].shape must be {accepted} for {tensor['datatype']} (integers, n >= 1)"
    if not (isinstance(shape, list) and 0 < len(shape) <= 4 and all(type(size) is int for size in shape)):
        got = f"a {len(shape)}-item list" if isinstance(shape, list) else _shown(shape)
        raise InvalidInput(f"{expected}, not {got}; {ACCEPTED}")
    if tuple(shape[1:]) not in tails or shape[0] < 1:
        raise InvalidInput(f"{expected}, not {shape}; {ACCEPTED}")
    if shape[0] > MAX_INSTANCES:
        raise PayloadTooLarge(
            f"shape {shape} asks for {shape[0]:,} images in one request; at most {MAX_INSTANCES} are accepted"
        )
    return shape[0]


def _flattened(data, shape: list) -> list:
    """An FP32 input's numbers in row-major order: `data` flat, or nested as `shape` is. Each level's lengths
    are checked before the next is walked, so the walk stays within the shape's own n*784 items."""
    size = math.prod(shape)
    if isinstance(data, list) and len(data) == size:
        return data
    level = [data]
    for length in shape:
        if not all(isinstance(row, list) and len(row) == length for row in level):
            got = f"a list of {len(data):,}" if isinstance(data, list) else _shown(data)
            raise InvalidInput(
                f"inputs[0].data must hold {size:,} numbers for shape {shape}, flat in row-major order or nested "
                f"as the shape; got {got} that is neither; {ACCEPTED}"
            )
        level = [item for row in level for item in row]
    return level


def _pixels(values: list) -> np.ndarray:
    """The numbers as float64, each checked to be a number."""
    wrong = next((index for index, value in enumerate(values) if type(value) not in (int, float)), None)
    if wrong is not None:
        raise InvalidInput(
            f"inputs[0].data holds {_shown(values[wrong])} at flat index {wrong:,}; only numbers are accepted"
        )
    try:
        pixels = np.array(values, dtype=np.float64)
    except OverflowError:
        raise InvalidInput("inputs[0].data holds an integer beyond float's range; FP32 pixels are in [0, 1]") from None
    return pixels


def _checked(pixels: np.ndarray, where: str) -> np.ndarray:
    """FP32 pixels, checked to be finite and in [0, 1]; `where` they were names them in a refusal."""
    if not np.isfinite(pixels).all():
        raise InvalidInput(f"{where} holds NaN or infinite values; FP32 pixels are finite numbers in [0, 1]")
    outside = np.flatnonzero((pixels < 0) | (pixels > 1))
    if outside.size:
        raise InvalidInput(
            f"{where} holds {pixels[outside[0]]:g} at flat index {outside[0]:,}: FP32 pixels are in [0, 1], "
            "as torchvision's ToTensor gives them (grey levels 0-255 divided by 255, white digit on black)"
        )
    return pixels


def _shown(value) -> str:
    """A client's value in a message: a short string quoted, anything else by its JSON type."""
    if isinstance(value, str):
        return quoted(value[: MAX_QUOTED_CHARS + 1])
    return {dict: "an object", list: "a list", bool: "a boolean", type(None): "null"}.get(type(value), "a number")
