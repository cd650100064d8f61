"""The Open Inference Protocol through the front door (nginx before TorchServe, as the pod has it), as a KServe
v2 client calls it: tritonclient's InferenceServerClient with its defaults (binary tensor data) and without,
answered as /predictions/mnist answers the same pictures; and as hostile clients may call it."""

import base64
import json
import struct
import time

import numpy as np
import pytest
import requests
from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from client.images import encode
from input_errors import InvalidInput
from open_inference import mnist_tensors_of
from tests.conftest import SEVEN_PNG
from torchserve_runner.process_tree import cpu_seconds

pytestmark = pytest.mark.server

COUNT = 8  # test digits per request
# tritonclient's set_data_from_numpy: binary tensor data after the JSON header (its default), or JSON "data".
DATA_FORMS = [pytest.param(True, id="binary"), pytest.param(False, id="json")]


@pytest.fixture(scope="module")
def token(front_door):
    """token(): the front door's Authorization header, a new dict each call: tritonclient's infer adds its
    Inference-Header-Content-Length to the dict it is given, which would then go with the next request."""
    return lambda: {"Authorization": f"Bearer {front_door.token}"}


@pytest.fixture(scope="module")
def triton(front_door):
    """tritonclient's HTTP client on the front door (it takes host:port, no scheme)."""
    client = InferenceServerClient(front_door.url.removeprefix("http://"), network_timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def predict(front_door, token):
    """POST /predictions/mnist through the front door: predict(data=..., json=...)."""
    session = requests.Session()
    session.headers.update(token())
    return lambda **body: session.post(f"{front_door.url}/predictions/mnist", timeout=60, **body)


@pytest.fixture(scope="module")
def digits(mnist_test_set, predict):
    """The first COUNT MNIST test digits: (their PNGs, their pixels in [0, 1] as float32 (n, 28, 28), and
    /predictions/mnist's answers for the PNGs)."""
    images = [mnist_test_set[index][0] for index in range(COUNT)]
    pngs = [encode(image) for image in images]
    answer = predict(json={"instances": [base64.b64encode(png).decode() for png in pngs]})
    assert answer.status_code == 200, answer.text
    pixels = np.stack([np.asarray(image, dtype=np.float32) / 255 for image in images])
    return pngs, pixels, answer.json()["predictions"]


def assert_answers(result, predictions, tolerance: float):
    """tritonclient's result holds /predictions/mnist's digits and, within `tolerance`, its probabilities."""
    assert result.as_numpy("digit").tolist() == [prediction["digit"] for prediction in predictions]
    expected = np.array([prediction["probabilities"] for prediction in predictions])
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=tolerance)


def test_the_state_endpoints_say_what_the_front_door_serves(triton, token):
    assert triton.is_server_live(headers=token())
    assert triton.is_server_ready(headers=token())
    assert triton.is_model_ready("mnist", headers=token())
    metadata = triton.get_model_metadata("mnist", headers=token())
    assert metadata["name"] == "mnist"
    assert metadata["inputs"] == [
        {"name": "images", "datatype": "BYTES", "shape": [-1]},
        {"name": "pixels", "datatype": "FP32", "shape": [-1, 1, 28, 28]},
    ]
    assert metadata["outputs"] == [
        {"name": "probabilities", "datatype": "FP32", "shape": [-1, 10]},
        {"name": "digit", "datatype": "INT64", "shape": [-1]},
    ]


@pytest.mark.parametrize("binary_data", DATA_FORMS)
def test_bytes_pictures_get_the_answers_of_predictions(triton, token, digits, binary_data):
    pngs, _, predictions = digits
    # As binary data a BYTES element is the picture itself; in JSON it must be a string: base64.
    elements = pngs if binary_data else [base64.b64encode(png) for png in pngs]
    tensor = InferInput("images", [COUNT], "BYTES").set_data_from_numpy(
        np.array(elements, dtype=np.object_), binary_data=binary_data
    )
    # Outputs asked for as binary data (tritonclient's default) come as JSON, which as_numpy reads alike.
    outputs = [InferRequestedOutput("probabilities"), InferRequestedOutput("digit")]
    result = triton.infer("mnist", [tensor], outputs=outputs, request_id="bytes-request", headers=token())
    assert result.get_response()["model_name"] == "mnist" and result.get_response()["id"] == "bytes-request"
    assert_answers(result, predictions, tolerance=2e-6)


@pytest.mark.parametrize("binary_data", DATA_FORMS)
@pytest.mark.parametrize("shape", [[COUNT, 1, 28, 28], [COUNT, 28, 28]], ids=["n-1-28-28", "n-28-28"])
def test_fp32_digits_get_the_answers_of_their_pngs(triton, token, digits, shape, binary_data):
    _, pixels, predictions = digits
    tensor = InferInput("pixels", shape, "FP32").set_data_from_numpy(pixels.reshape(shape), binary_data=binary_data)
    # No outputs named: tritonclient asks for all as binary data ("binary_data_output"); they come as JSON.
    result = triton.infer("mnist", [tensor], headers=token())
    assert result.get_response().keys() == {"model_name", "outputs"}
    assert_answers(result, predictions, tolerance=1e-5)  # float32 pixels, not the PNG's exact grey levels


@pytest.mark.parametrize("binary_data", DATA_FORMS)
def test_a_refusal_reaches_tritonclient_with_its_words_and_status(triton, token, digits, binary_data):
    _, pixels, predictions = digits
    grey_levels = pixels[:2] * 255  # 0-255 where [0, 1] is asked for
    tensor = InferInput("pixels", [2, 28, 28], "FP32").set_data_from_numpy(grey_levels, binary_data=binary_data)
    with pytest.raises(InferenceServerException) as refused:
        triton.infer("mnist", [tensor], headers=token())
    assert refused.value.status() == "400"
    # The handler's own words for these pixels, as each form reads them.
    read_as_sent = {"datatype": "FP32", "shape": [2, 28, 28]}
    if binary_data:
        binary = memoryview(grey_levels.astype("<f4").tobytes())
    else:
        binary, read_as_sent["data"] = None, grey_levels.ravel().tolist()
    with pytest.raises(InvalidInput) as expected:
        mnist_tensors_of(read_as_sent, binary)
    assert refused.value.message() == str(expected.value)
    # the next request is served: only the output asked for
    tensor = InferInput("pixels", [1, 28, 28], "FP32").set_data_from_numpy(pixels[:1], binary_data=binary_data)
    result = triton.infer("mnist", [tensor], outputs=[InferRequestedOutput("digit")], headers=token())
    assert [output["name"] for output in result.get_response()["outputs"]] == ["digit"]
    assert result.as_numpy("digit").tolist() == [predictions[0]["digit"]]


def test_without_the_token_tritonclient_is_refused_with_401(triton, digits):
    _, pixels, _ = digits
    tensor = InferInput("pixels", [1, 28, 28], "FP32").set_data_from_numpy(pixels[:1])
    with pytest.raises(InferenceServerException) as refused:
        triton.infer("mnist", [tensor])
    assert refused.value.status() == "401"
    assert refused.value.message() == "send the service token as Authorization: Bearer <token>"
    assert not triton.is_server_live() and not triton.is_model_ready("mnist")


def fp32(data, shape) -> dict:
    return {"inputs": [{"name": "images", "datatype": "FP32", "shape": shape, "data": data}]}


def deeply_nested(depth: int) -> list:
    nested = [0.5]
    for _ in range(depth):
        nested = [nested]
    return nested


def binary_body(datatype: str, shape: list, binary_data_size: int, data: bytes) -> bytes:
    """The JSON header with the input's binary_data_size, then `data`: as tritonclient sends binary data."""
    parameters = {"binary_data_size": binary_data_size}
    header = {"inputs": [{"name": "images", "datatype": datatype, "shape": shape, "parameters": parameters}]}
    return json.dumps(header).encode() + data


# Each refusal's cost in the workers: every count is checked before anything is built, so a refusal costs
# the body's JSON parsing (a million numbers: ~0.1 CPU-s on a quiet machine, more when other work shares the
# cores) and little more. The parsing is timed in this process at the same moment, as the workers pay it.
MAX_REFUSAL_CPU_SECONDS = 0.25
PARSINGS_A_REFUSAL_MAY_COST = 3  # the worker parses the body and walks what it parsed once, with room to spare


def parsing_cpu_seconds(data) -> float:
    """CPU seconds this process takes to parse `data` as JSON (0 for a binary body), the least of three."""
    if isinstance(data, bytes):
        return 0.0
    times = []
    for _ in range(3):
        start = time.process_time()
        json.loads(data)
        times.append(time.process_time() - start)
    return min(times)


SEVEN_B64 = base64.b64encode(SEVEN_PNG).decode()
SEVEN_ELEMENT = struct.pack("<I", len(SEVEN_PNG)) + SEVEN_PNG  # one BYTES element of binary data
# (body, status, words its error must carry)
HOSTILE = {
    "huge-shape": (fp32([0.5], [10**9, 28, 28]), 413, "at most 64"),
    "huge-shape-4d": (fp32([0.5], [64, 1, 10**9, 10**9]), 400, "inputs[0].shape must be [n, 28, 28] or [n, 1, 28, 28]"),
    "deeply-nested": (fp32(deeply_nested(500), [1, 28, 28]), 400, "nested as the shape"),
    "a-million-numbers": (fp32([0.5] * 10**6, [1, 28, 28]), 400, "got a list of 1,000,000"),
    "strings-in-fp32": (fp32(["0.5"] * 784, [1, 28, 28]), 400, "only numbers are accepted"),
    "65-bytes-items": (
        {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [65], "data": [SEVEN_B64] * 65}]},
        413,
        "at most 64",
    ),
    "not-base64": (
        {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [2], "data": [SEVEN_B64, "%%% no"]}]},
        400,
        "inputs[0].data[1] is neither an image nor valid base64",
    ),
    "two-inputs": ({"inputs": [fp32([0.5] * 784, [1, 28, 28])["inputs"][0]] * 2}, 400, "exactly one input"),
    "binary-size-of-10**9": (
        binary_body("FP32", [1, 28, 28], 10**9, b"\x00" * 784 * 4),
        400,
        "declares 1,000,000,000 bytes of binary data",
    ),
    "binary-element-of-2**32-1-bytes": (
        binary_body("BYTES", [1], 4 + len(SEVEN_PNG), b"\xff\xff\xff\xff" + SEVEN_PNG),
        400,
        "element 0 of inputs[0]'s binary data declares 4,294,967,295 bytes",
    ),
    "binary-65-elements": (binary_body("BYTES", [65], 65 * len(SEVEN_ELEMENT), SEVEN_ELEMENT * 65), 413, "at most 64"),
}


def test_hostile_requests_are_cheap_refusals_in_the_protocol_s_form_and_the_workers_serve_on(
    front_door, front_door_torchserve, token, predict
):
    session, url = requests.Session(), f"{front_door.url}/v2/models/mnist/infer"
    workers_before = [worker.pid for worker in front_door_torchserve.workers()]
    for name, (body, status, words) in HOSTILE.items():
        data = body if isinstance(body, bytes) else json.dumps(body)
        cpu_before = sum(cpu_seconds(pid) for pid in workers_before)
        answer = session.post(url, data=data, headers=token(), timeout=60)
        cpu = sum(cpu_seconds(pid) for pid in workers_before) - cpu_before
        print(f"{name}: {answer.status_code}, workers' CPU {cpu:.3f} s")
        assert answer.status_code == status and words in answer.json()["error"], (name, answer.text[:500])
        assert answer.json().keys() == {"error"}, name
        assert cpu < MAX_REFUSAL_CPU_SECONDS + PARSINGS_A_REFUSAL_MAY_COST * parsing_cpu_seconds(data), name
    assert [worker.pid for worker in front_door_torchserve.workers()] == workers_before  # none died or restarted
    assert predict(data=SEVEN_PNG).json()["digit"] == 7
