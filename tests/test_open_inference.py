"""The Open Inference Protocol's wire format (handler/open_inference.py): every form it accepts, every refusal
with its status and words, the outputs asked for, the id echoed and the answer's tensors."""

import base64
import json
import math

import numpy as np
import pytest
import torch
from PIL import Image

from client.images import encode
from input_errors import InvalidInput, NoDigitFound, PayloadTooLarge
from open_inference import (
    MAX_ID_CHARS,
    OUTPUT_NAMES,
    OpenInference,
    input_of,
    is_open_inference,
    mnist_tensors_of,
    outputs_of,
    pictures_of,
    request_id_of,
)
from request_pipeline import prepare_request
from tests.conftest import SEVEN_PNG
from wire_format import MAX_INSTANCES, PREDICTIONS, SINGLE, answers, form_of

SEVEN_B64 = base64.b64encode(SEVEN_PNG).decode()


def bytes_input(data: list, shape: list = None) -> dict:
    return {"name": "images", "datatype": "BYTES", "shape": [len(data)] if shape is None else shape, "data": data}


def fp32_input(data, shape: list) -> dict:
    return {"name": "images", "datatype": "FP32", "shape": shape, "data": data}


def oip_body(tensor: dict, **fields) -> dict:
    return {"body": json.dumps({"inputs": [tensor], **fields}).encode()}


@pytest.fixture(scope="module")
def digits(mnist_test_set):
    """Three MNIST test digits as (their PNGs, their pixels in [0, 1] as (3, 28, 28) float64)."""
    images = [mnist_test_set[index][0] for index in range(3)]
    return [encode(image) for image in images], np.stack([np.asarray(image) / 255.0 for image in images])


def test_is_open_inference_is_a_json_object_with_inputs():
    assert is_open_inference({"inputs": []})
    assert is_open_inference({"inputs": "anything", "id": "x"})
    for other in ({"instances": []}, {"base64": SEVEN_B64}, [{"inputs": []}], "inputs", b'{"inputs": []}'):
        assert not is_open_inference(other)


def test_wire_format_dispatches_open_inference_and_keeps_the_others():
    assert form_of({"inputs": [bytes_input([SEVEN_B64])]}) == OpenInference()
    assert form_of({"instances": [SEVEN_B64], "inputs": []}) is PREDICTIONS  # as before: "instances" wins
    assert form_of({"base64": SEVEN_B64}) is SINGLE and form_of(b"raw bytes") is SINGLE


def test_request_id_of_echoes_a_string_cut_short():
    assert request_id_of({}) is None
    assert request_id_of({"id": "req-1"}) == "req-1"
    assert request_id_of({"id": "x" * (MAX_ID_CHARS + 100)}) == "x" * MAX_ID_CHARS
    with pytest.raises(InvalidInput, match='"id" must be a string, not a number'):
        request_id_of({"id": 42})


def test_outputs_of_selects_known_outputs_in_order():
    assert outputs_of({}) == OUTPUT_NAMES == ("probabilities", "digit")
    assert outputs_of({"outputs": []}) == OUTPUT_NAMES
    assert outputs_of({"outputs": [{"name": "digit"}]}) == ("digit",)
    asked = [{"name": "digit", "parameters": {"binary_data": False}}, {"name": "probabilities"}, {"name": "digit"}]
    assert outputs_of({"outputs": asked}) == ("digit", "probabilities")


@pytest.mark.parametrize(
    "outputs, words",
    [
        ([{"name": "logits"}], "outputs[0] asks for 'logits'"),
        ([{"name": "digit"}, "digit"], "outputs[1] asks for null"),
        ([{"name": 7}], "outputs[0] asks for a number"),
        ([{"name": {}}], "outputs[0] asks for"),  # unhashable: found by Schemathesis as a 500
        ([{"name": ["digit"]}], "outputs[0] asks for"),
        ({"name": "digit"}, '"outputs" must be a list'),
    ],
)
def test_outputs_of_refuses_what_is_not_an_output(outputs, words):
    with pytest.raises(InvalidInput) as refusal:
        outputs_of({"outputs": outputs})
    assert words in str(refusal.value) and '"probabilities"' in str(refusal.value) and refusal.value.status == 400


def test_input_of_is_the_one_input():
    tensor = bytes_input([SEVEN_B64])
    assert input_of({"inputs": [tensor]}) is tensor
    for inputs, words in [
        ([], "got 0 inputs"),
        ([tensor, tensor], "got 2 inputs"),
        ("x", "got 'x'"),
        ([7], "inputs[0]"),
    ]:
        with pytest.raises(InvalidInput, match="exactly one input tensor|must be an object") as refusal:
            input_of({"inputs": inputs})
        assert words in str(refusal.value)


def test_pictures_of_decodes_each_base64_item():
    data_uri = "data:image/png;base64," + SEVEN_B64
    urlsafe = base64.urlsafe_b64encode(SEVEN_PNG).decode().rstrip("=")
    assert pictures_of(bytes_input([SEVEN_B64, data_uri, urlsafe])) == [SEVEN_PNG] * 3


@pytest.mark.parametrize(
    "tensor, error, words",
    [
        (bytes_input([SEVEN_B64] * (MAX_INSTANCES + 1)), PayloadTooLarge, f"at most {MAX_INSTANCES}"),
        (bytes_input([SEVEN_B64] * 65, shape=[64]), InvalidInput, "a list of 64 base64 strings, as its shape says"),
        (bytes_input([SEVEN_B64], shape=[2]), InvalidInput, "got a list of 1"),
        (
            bytes_input([SEVEN_B64], shape=[1, 1]),
            InvalidInput,
            "inputs[0].shape must be [n] for BYTES (integers, n >= 1), not [1, 1]",
        ),
        (bytes_input([], shape=[0]), InvalidInput, "not [0]"),
        (bytes_input([SEVEN_B64], shape="1"), InvalidInput, "not '1'"),
        (bytes_input([SEVEN_B64], shape=[True]), InvalidInput, "not a 1-item list"),
        (bytes_input([7]), InvalidInput, "inputs[0].data[0] must be a base64 string, not a number"),
        (bytes_input(["%%% not base64"]), InvalidInput, "inputs[0].data[0] is neither an image nor valid base64"),
        (bytes_input([SEVEN_B64, ""]), InvalidInput, "the base64 string of inputs[0].data[1] is empty"),
        (bytes_input(["é"]), InvalidInput, "non-ASCII"),
        ({"datatype": "BYTES", "shape": [1]}, InvalidInput, "got null"),
    ],
)
def test_pictures_of_refuses_with_what_is_accepted(tensor, error, words):
    with pytest.raises(error) as refusal:
        pictures_of(tensor)
    assert type(refusal.value) is error and words in str(refusal.value)


@pytest.mark.parametrize("shape", [[3, 28, 28], [3, 1, 28, 28]])
def test_mnist_tensors_of_normalises_as_the_picture_path_does(digits, shape):
    """A test digit in [0, 1] gives the tensor its PNG gives through the pictures' own path, flat or nested."""
    pngs, pixels = digits
    from_pngs = prepare_request({"body": json.dumps({"instances": [base64.b64encode(p).decode() for p in pngs]})})
    flat = mnist_tensors_of(fp32_input(pixels.ravel().tolist(), shape))
    nested = mnist_tensors_of(fp32_input(pixels.reshape(shape).tolist(), shape))
    assert flat.shape == (3, 1, 28, 28) and flat.dtype == torch.float32
    assert torch.equal(flat, nested)
    assert torch.allclose(flat, from_pngs.tensors, atol=1e-6)


def test_mnist_tensors_of_takes_integers_as_numbers():
    integers = mnist_tensors_of(fp32_input([0, 1] * 392, [1, 28, 28]))
    assert torch.equal(integers, mnist_tensors_of(fp32_input([0.0, 1.0] * 392, [1, 28, 28])))


HUGE = 10**9
DEEP = [[[[[0.5]]]]]
for _ in range(300):
    DEEP = [DEEP]


@pytest.mark.parametrize(
    "tensor, error, words",
    [
        (fp32_input([0.5], [HUGE, 28, 28]), PayloadTooLarge, f"asks for {HUGE:,} images"),
        (fp32_input([0.5], [-1, 28, 28]), InvalidInput, "(integers, n >= 1), not [-1, 28, 28]"),
        (fp32_input([0.5] * 784, [1, 784]), InvalidInput, "must be [n, 28, 28] or [n, 1, 28, 28] for FP32"),
        (fp32_input([0.5] * 784, [1, 28, 28, 1]), InvalidInput, "not [1, 28, 28, 1]"),
        (fp32_input([0.5] * 784, [1, 2, 28, 28]), InvalidInput, "not [1, 2, 28, 28]"),
        (fp32_input([0.5] * 784, [1, 1, 1, 28, 28]), InvalidInput, "not a 5-item list"),
        (fp32_input([0.5] * 783, [1, 28, 28]), InvalidInput, "must hold 784 numbers for shape [1, 28, 28]"),
        (fp32_input([0.5] * 10**6, [2, 28, 28]), InvalidInput, "got a list of 1,000,000"),
        (fp32_input(DEEP, [1, 28, 28]), InvalidInput, "flat in row-major order or nested as the shape"),
        (fp32_input([[0.5] * 784], [1, 28, 28]), InvalidInput, "nested as the shape"),
        (fp32_input("0.5", [1, 28, 28]), InvalidInput, "got '0.5'"),
        (fp32_input([0.5] * 783 + ["0.5"], [1, 28, 28]), InvalidInput, "holds '0.5' at flat index 783"),
        (fp32_input([True] * 784, [1, 28, 28]), InvalidInput, "holds a boolean at flat index 0"),
        (fp32_input([None] * 784, [1, 28, 28]), InvalidInput, "holds null"),
        (fp32_input([0.5] * 100 + [math.nan] * 684, [1, 28, 28]), InvalidInput, "NaN or infinite"),
        (fp32_input([math.inf] * 784, [1, 28, 28]), InvalidInput, "NaN or infinite"),
        (fp32_input([0.5] * 9 + [255] * 775, [1, 28, 28]), InvalidInput, "holds 255 at flat index 9: FP32 pixels are"),
        (fp32_input([-0.001] * 784, [1, 28, 28]), InvalidInput, "holds -0.001 at flat index 0"),
        (fp32_input([10**400] * 784, [1, 28, 28]), InvalidInput, "beyond float's range"),
    ],
)
def test_mnist_tensors_of_refuses_with_what_is_accepted(tensor, error, words):
    with pytest.raises(error) as refusal:
        mnist_tensors_of(tensor)
    assert type(refusal.value) is error and words in str(refusal.value)


def test_read_gives_the_pictures_or_tensors_and_the_answer_form():
    document = {"id": "r1", "outputs": [{"name": "digit"}], "inputs": [bytes_input([SEVEN_B64] * 2)]}
    message = OpenInference().read(document)
    assert message.pictures == [SEVEN_PNG] * 2 and message.tensors is None
    assert message.form == OpenInference("r1", ("digit",))
    message = OpenInference().read({"inputs": [fp32_input([0.0] * 784 * 2, [2, 1, 28, 28])], "parameters": {"a": 1}})
    assert message.pictures == [] and message.tensors.shape == (2, 1, 28, 28)
    assert message.form == OpenInference()
    with pytest.raises(InvalidInput, match='datatype must be "BYTES" .* or "FP32" .*, not \'INT64\''):
        OpenInference().read({"inputs": [{"datatype": "INT64", "shape": [1], "data": [1]}]})


def test_answer_holds_the_outputs_asked_for_and_echoes_the_id():
    probabilities = torch.tensor([[0.0] * 9 + [1.0], [0.5, 0.25] + [0.03125] * 8])
    answer = OpenInference("r1").answer(probabilities)
    assert answer == {
        "model_name": "mnist",
        "id": "r1",
        "outputs": [
            {"name": "probabilities", "datatype": "FP32", "shape": [2, 10], "data": probabilities.flatten().tolist()},
            {"name": "digit", "datatype": "INT64", "shape": [2], "data": [9, 0]},
        ],
    }
    only_digit = OpenInference(outputs=("digit",)).answer(probabilities)
    assert "id" not in only_digit and [output["name"] for output in only_digit["outputs"]] == ["digit"]
    json.dumps(answer, allow_nan=False)  # JSON as it is sent


def test_refusal_is_the_protocol_s_error_object():
    assert OpenInference().refusal(PayloadTooLarge("too many")) == {"error": "too many"}


@pytest.mark.parametrize(
    "request_, status, words",
    [
        (oip_body(bytes_input([base64.b64encode(b"not an image").decode()])), 415, "not an image"),
        (oip_body(bytes_input([SEVEN_B64]), outputs=[{"name": "x"}]), 400, "outputs[0]"),
        ({"body": json.dumps({"inputs": []}).encode()}, 400, "exactly one input"),
        ({"body": {"inputs": [fp32_input([2] * 784, [1, 28, 28])]}}, 400, "[0, 1]"),  # already parsed by TorchServe
    ],
)
def test_an_open_inference_refusal_is_worded_in_the_protocol_s_form(request_, status, words):
    prepared = prepare_request(request_)
    assert prepared.error.status == status
    (answer,) = answers([prepared], None)
    assert list(answer) == ["error"] and words in answer["error"]


def test_a_batch_answers_each_request_in_its_own_form(digits):
    pngs, pixels = digits
    requests = [
        oip_body(fp32_input(pixels.ravel().tolist(), [3, 28, 28]), id="fp32"),
        {"body": pngs[0]},
        oip_body(bytes_input(["%%%"])),
        {"body": b""},
        oip_body(bytes_input([base64.b64encode(png).decode() for png in pngs[:2]]), outputs=[{"name": "digit"}]),
    ]
    prepared = [prepare_request(request) for request in requests]
    accepted = torch.cat([request.tensors for request in prepared if request.error is None])
    rows = torch.nn.functional.one_hot(torch.tensor([7, 2, 1, 7, 7, 2]), 10).float()  # stands in for the model
    assert len(accepted) == len(rows)
    fp32, single, oip_refusal, plain_refusal, only_digits = answers(prepared, rows)
    assert fp32["id"] == "fp32" and fp32["outputs"][1]["data"] == [7, 2, 1]
    assert single["digit"] == 7
    assert list(oip_refusal) == ["error"]
    assert plain_refusal["code"] == 400 and plain_refusal["type"] == "InvalidInput"
    assert only_digits["outputs"] == [{"name": "digit", "datatype": "INT64", "shape": [2], "data": [7, 2]}]


def test_a_blank_fp32_image_is_answered_not_refused():
    """FP32 tensors are taken as they are: no digit finding, so no 422 for an empty canvas (its PNG gets one)."""
    assert prepare_request(oip_body(fp32_input([0.0] * 784, [1, 28, 28]))).error is None
    assert isinstance(prepare_request({"body": encode(Image.new("L", (28, 28)))}).error, NoDigitFound)


def test_bytes_pictures_get_the_same_tensors_as_instances(digits):
    pngs, _ = digits
    b64 = [base64.b64encode(png).decode() for png in pngs]
    via_oip = prepare_request(oip_body(bytes_input(b64)))
    via_instances = prepare_request({"body": json.dumps({"instances": b64}).encode()})
    assert torch.equal(via_oip.tensors, via_instances.tensors)
