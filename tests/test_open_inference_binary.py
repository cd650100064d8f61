"""The Open Inference Protocol's binary tensor data extension (handler/open_inference_binary.py): a body that is
the JSON header and then the input's raw bytes, each layout, every refusal, and the same images as the JSON
forms give."""

import base64
import json
import math
import struct

import numpy as np
import pytest
import torch
from tritonclient.utils import serialize_byte_tensor

from client.images import encode
from input_errors import InvalidInput
from open_inference import OpenInference, is_open_inference
from open_inference_binary import (
    MAX_HEADER_BYTES,
    BinaryRequest,
    binary_data_of,
    binary_request_of,
    pictures_of_binary,
    pixels_of_binary,
)
from request_pipeline import prepare_request
from tests.conftest import SEVEN_PNG
from wire_format import MAX_INSTANCES, answers, document_of, form_of


def length_prefixed(*elements: bytes) -> bytes:
    """A BYTES tensor's binary layout: per element, its 4-byte little-endian length and its bytes."""
    return b"".join(struct.pack("<I", len(element)) + element for element in elements)


def binary_body(datatype: str, shape: list, data: bytes, size=None, **fields) -> bytes:
    """A request as tritonclient sends it with binary_data=True: the JSON header, then the input's bytes."""
    size = len(data) if size is None else size
    tensor = {"name": "images", "datatype": datatype, "shape": shape, "parameters": {"binary_data_size": size}}
    return json.dumps({"inputs": [tensor], **fields}).encode() + data


@pytest.fixture(scope="module")
def digits(mnist_test_set):
    """Three MNIST test digits as (their PNGs, their pixels in [0, 1] as (3, 28, 28) float32)."""
    images = [mnist_test_set[index][0] for index in range(3)]
    return [encode(image) for image in images], np.stack([np.asarray(image, np.float32) / 255 for image in images])


def test_binary_request_of_splits_the_json_header_from_the_bytes_after_it():
    header = {"id": "é-1", "inputs": []}  # a non-ASCII id: the header is read as UTF-8
    body = json.dumps(header, ensure_ascii=False).encode() + b"\x89PNG \n"
    split = binary_request_of(body)
    assert split.header == header and split.data == b"\x89PNG \n"
    assert split.data.obj is body  # a view of the body, not a copy


@pytest.mark.parametrize(
    "body",
    [
        pytest.param(b'{"inputs": []}', id="json-alone"),
        pytest.param(b'{"inputs": []} \r\n\t', id="json-then-whitespace"),  # a file sent with its last newline
        pytest.param(b'[{"inputs": []}]\x00\x01', id="a-list-then-bytes"),
        pytest.param(b'{"inputs": [\x00\x01', id="not-json"),
        pytest.param(b'{"id": "' + b"x" * MAX_HEADER_BYTES + b'"}\x00', id="header-over-the-bound"),
        pytest.param(b'{"id": "\xff"}\x00', id="header-not-utf-8"),
        pytest.param(b"[" * 100_000 + b"\x00", id="deeply-nested"),
    ],
)
def test_binary_request_of_is_none_for_what_is_not_a_header_and_bytes(body):
    assert binary_request_of(body) is None


def test_a_binary_body_is_an_open_inference_request_in_the_wire_format():
    body = binary_body("BYTES", [1], length_prefixed(SEVEN_PNG))
    document = document_of({"body": b"\n " + body})
    assert isinstance(document, BinaryRequest) and is_open_inference(document)
    assert form_of(document) == OpenInference()


def test_binary_data_ending_in_whitespace_bytes_is_kept_whole():
    """The body is not stripped at its end: a picture's last bytes may be spaces or newlines."""
    picture = SEVEN_PNG + b" \r\n"
    document = document_of({"body": binary_body("BYTES", [1], length_prefixed(picture))})
    assert pictures_of_binary(document.data, 1) == [picture]


def test_json_that_is_not_open_inference_followed_by_bytes_is_refused_as_before():
    for body in (b'{"base64": "abc"}\x00\x01', b'{"instances": ["abc"]}xyz'):
        with pytest.raises(InvalidInput, match="the body looks like JSON but does not parse"):
            document_of({"body": body})


def test_binary_data_of_is_all_the_bytes_its_size_declares():
    data = memoryview(b"\x00" * 8)
    assert binary_data_of({"parameters": {"binary_data_size": 8}}, data) is data
    assert binary_data_of({"data": [0.5], "parameters": {"other": 1}}, memoryview(b"")) is None
    assert binary_data_of({"data": [0.5], "parameters": "ignored"}, memoryview(b"")) is None


@pytest.mark.parametrize(
    "tensor, data, words",
    [
        (
            {"parameters": {"binary_data_size": 9}},
            b"\x00" * 8,
            "declares 9 bytes of binary data (binary_data_size), but 8",
        ),
        ({"parameters": {"binary_data_size": 7}}, b"\x00" * 8, "declares 7 bytes"),
        ({"parameters": {"binary_data_size": 10**9}}, b"\x00" * 8, "declares 1,000,000,000 bytes"),
        ({"parameters": {"binary_data_size": 8}}, b"", "but 0 follow the JSON header"),
        ({"parameters": {"binary_data_size": -8}}, b"\x00" * 8, "must be a non-negative integer, not -8"),
        ({"parameters": {"binary_data_size": 8.0}}, b"\x00" * 8, "not 8.0"),
        ({"parameters": {"binary_data_size": "8"}}, b"\x00" * 8, "not '8'"),
        ({"parameters": {"binary_data_size": True}}, b"\x00", "not True"),
        ({"data": [0.5], "parameters": {"binary_data_size": 8}}, b"\x00" * 8, 'has both "data" and a binary_data_size'),
        ({"data": [0.5]}, b"\x00" * 8, "8 bytes follow the JSON header, but inputs[0] declares no binary data"),
        ({"parameters": []}, b"\x00", '"parameters": {"binary_data_size": N}'),
    ],
)
def test_binary_data_of_refuses_sizes_that_do_not_account_for_the_bytes(tensor, data, words):
    with pytest.raises(InvalidInput) as refusal:
        binary_data_of(tensor, memoryview(data))
    assert words in str(refusal.value)


def test_pixels_of_binary_reads_little_endian_float32_in_place():
    data = memoryview(np.linspace(0, 1, 2 * 784, dtype="<f4").tobytes())
    pixels = pixels_of_binary(data, 2)
    assert pixels.dtype == np.dtype("<f4") and pixels.shape == (2 * 784,)
    assert pixels[-1] == 1.0 and np.shares_memory(pixels, np.frombuffer(data, np.uint8))


@pytest.mark.parametrize("size", [0, 784 * 4 - 1, 784 * 4 + 4, 2 * 784 * 8])
def test_pixels_of_binary_refuses_a_byte_count_that_is_not_n_times_784_floats(size):
    with pytest.raises(InvalidInput, match=f"binary data is {size:,} bytes; 2 FP32 images of 28x28 are 6,272"):
        pixels_of_binary(memoryview(b"\x00" * size), 2)


def test_pictures_of_binary_reads_each_length_prefixed_element():
    assert pictures_of_binary(memoryview(length_prefixed(SEVEN_PNG, b"\x89PNG")), 2) == [SEVEN_PNG, b"\x89PNG"]
    # tritonclient's own encoder writes the same layout
    layout = serialize_byte_tensor(np.array([SEVEN_PNG, b"x"], dtype=np.object_)).item()
    assert pictures_of_binary(memoryview(layout), 2) == [SEVEN_PNG, b"x"]


@pytest.mark.parametrize(
    "data, count, words",
    [
        (b"\xff\xff\xff\xff" + SEVEN_PNG, 1, "element 0 of inputs[0]'s binary data declares 4,294,967,295 bytes, but"),
        (length_prefixed(SEVEN_PNG)[:-1], 1, f"declares {len(SEVEN_PNG):,} bytes, but {len(SEVEN_PNG) - 1:,}"),
        (length_prefixed(SEVEN_PNG) + b"\x01\x00", 2, "ends before element 1's length"),
        (length_prefixed(SEVEN_PNG), 2, "ends before element 1's length"),
        (length_prefixed(SEVEN_PNG, b""), 2, "element 1 of inputs[0]'s binary data is empty"),
        (length_prefixed(SEVEN_PNG, SEVEN_PNG), 1, f"{len(SEVEN_PNG) + 4:,} bytes of inputs[0]'s binary data are left"),
    ],
)
def test_pictures_of_binary_refuses_lengths_that_do_not_fill_the_data(data, count, words):
    with pytest.raises(InvalidInput) as refusal:
        pictures_of_binary(memoryview(data), count)
    assert words in str(refusal.value)


@pytest.mark.parametrize("shape", [[3, 28, 28], [3, 1, 28, 28]])
def test_binary_fp32_gives_the_tensors_of_json_fp32(digits, shape):
    _, pixels = digits
    from_json = OpenInference().read(
        {"inputs": [{"datatype": "FP32", "shape": shape, "data": pixels.ravel().tolist()}]}
    )
    from_binary = OpenInference().read(binary_request_of(binary_body("FP32", shape, pixels.astype("<f4").tobytes())))
    assert from_binary.tensors.shape == (3, 1, 28, 28) and from_binary.tensors.dtype == torch.float32
    assert torch.allclose(from_binary.tensors, from_json.tensors, atol=1e-6)


def test_binary_bytes_give_the_pictures_of_base64_bytes(digits):
    pngs, _ = digits
    body = binary_body("BYTES", [3], length_prefixed(*pngs), id="r1", outputs=[{"name": "digit"}])
    via_binary = prepare_request({"body": body})
    document = {"inputs": [{"datatype": "BYTES", "shape": [3], "data": [base64.b64encode(p).decode() for p in pngs]}]}
    via_base64 = prepare_request({"body": json.dumps(document).encode()})
    assert via_binary.error is None and via_binary.form == OpenInference("r1", ("digit",))
    assert torch.equal(via_binary.tensors, via_base64.tensors)


def fp32_bytes(values: list) -> bytes:
    return np.array(values, dtype="<f4").tobytes()


@pytest.mark.parametrize(
    "body, status, words",
    [
        (binary_body("FP32", [1, 28, 28], fp32_bytes([0.5] * 783 + [math.nan])), 400, "binary data holds NaN"),
        (binary_body("FP32", [1, 28, 28], fp32_bytes([0.5] * 783 + [-math.inf])), 400, "NaN or infinite"),
        (binary_body("FP32", [1, 28, 28], fp32_bytes([0.5] * 9 + [255] * 775)), 400, "holds 255 at flat index 9"),
        (binary_body("FP32", [2, 28, 28], fp32_bytes([0.5] * 784)), 400, "2 FP32 images of 28x28 are 6,272"),
        (binary_body("FP32", [1, 28, 28], b"\x00" * 8, size=10**9), 400, "declares 1,000,000,000 bytes"),
        (binary_body("BYTES", [1], b"\xff\xff\xff\xff" + SEVEN_PNG), 400, "declares 4,294,967,295 bytes"),
        (binary_body("BYTES", [MAX_INSTANCES + 1], length_prefixed(SEVEN_PNG) * 65), 413, f"at most {MAX_INSTANCES}"),
        (binary_body("BYTES", [1], length_prefixed(b"not an image")), 415, "not an image"),
        (binary_body("INT64", [1], b"\x00" * 8), 400, 'datatype must be "BYTES"'),
        (json.dumps({"inputs": [{"datatype": "FP32", "shape": [1, 28, 28]}]}).encode() + b"\x00", 400, "declares no"),
    ],
)
def test_a_binary_refusal_is_worded_in_the_protocol_s_form(body, status, words):
    prepared = prepare_request({"body": body})
    assert prepared.error.status == status and words in str(prepared.error)
    (answer,) = answers([prepared], None)
    assert list(answer) == ["error"] and words in answer["error"]
