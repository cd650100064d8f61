"""The Open Inference Protocol through a real TorchServe: POST /v2/models/mnist/infer as a KServe v2 client
sends it (tritonclient's InferenceServerClient) and as hostile clients may, answered as /predictions/mnist
answers the same pictures."""

import base64
import json

import numpy as np
import pytest
import requests
from tritonclient.http import InferenceServerClient, InferInput, InferRequestedOutput
from tritonclient.utils import InferenceServerException

from client.images import encode
from tests.conftest import SEVEN_PNG, assert_healthy

pytestmark = pytest.mark.server

COUNT = 8  # test digits per request


@pytest.fixture(scope="module")
def triton(torchserve):
    """tritonclient's HTTP client on the session's TorchServe (it takes host:port, no scheme)."""
    client = InferenceServerClient(torchserve.inference_url.removeprefix("http://"), network_timeout=60)
    yield client
    client.close()


@pytest.fixture(scope="module")
def token(keys) -> dict:
    return {"Authorization": f"Bearer {keys['inference']}"}


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


def infer(triton, token, tensor: InferInput, **options):
    outputs = [InferRequestedOutput(name, binary_data=False) for name in ("probabilities", "digit")]
    return triton.infer("mnist", [tensor], outputs=outputs, headers=token, **options)


def test_bytes_pictures_get_the_answers_of_predictions(triton, token, digits):
    pngs, _, predictions = digits
    tensor = InferInput("images", [COUNT], "BYTES")
    tensor.set_data_from_numpy(np.array([base64.b64encode(png) for png in pngs], dtype=np.object_), binary_data=False)
    result = infer(triton, token, tensor, request_id="bytes-request")
    assert result.get_response()["model_name"] == "mnist" and result.get_response()["id"] == "bytes-request"
    assert result.as_numpy("digit").tolist() == [prediction["digit"] for prediction in predictions]
    expected = np.array([prediction["probabilities"] for prediction in predictions])
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=2e-6)


@pytest.mark.parametrize("shape", [[COUNT, 1, 28, 28], [COUNT, 28, 28]], ids=["n-1-28-28", "n-28-28"])
def test_fp32_digits_get_the_answers_of_their_pngs(triton, token, digits, shape):
    _, pixels, predictions = digits
    tensor = InferInput("images", shape, "FP32")
    tensor.set_data_from_numpy(pixels.reshape(shape), binary_data=False)
    # No outputs named: tritonclient asks for binary outputs in "parameters", which are ignored: both come as JSON.
    result = triton.infer("mnist", [tensor], headers=token)
    assert result.get_response().keys() == {"model_name", "outputs"}
    assert result.as_numpy("digit").tolist() == [prediction["digit"] for prediction in predictions]
    expected = np.array([prediction["probabilities"] for prediction in predictions])
    np.testing.assert_allclose(result.as_numpy("probabilities"), expected, atol=2e-6)


def test_a_refusal_reaches_tritonclient_with_its_status_and_the_worker_serves_on(
    triton, token, digits, torchserve, predict
):
    _, pixels, predictions = digits
    grey_levels = InferInput("images", [COUNT, 28, 28], "FP32")
    grey_levels.set_data_from_numpy(pixels * 255, binary_data=False)  # 0-255 where [0, 1] is asked for
    with pytest.raises(InferenceServerException) as refused:
        infer(triton, token, grey_levels)
    assert refused.value.status() == "400"
    assert "FP32 pixels are in [0, 1]" in refused.value.message()
    only_digit = InferInput("images", [1, 28, 28], "FP32")
    only_digit.set_data_from_numpy(pixels[:1], binary_data=False)
    result = triton.infer(
        "mnist", [only_digit], outputs=[InferRequestedOutput("digit", binary_data=False)], headers=token
    )
    assert [output["name"] for output in result.get_response()["outputs"]] == ["digit"]
    assert result.as_numpy("digit").tolist() == [predictions[0]["digit"]]
    assert_healthy(torchserve, predict)


def fp32(data, shape) -> dict:
    return {"inputs": [{"name": "images", "datatype": "FP32", "shape": shape, "data": data}]}


def deeply_nested(depth: int) -> list:
    nested = [0.5]
    for _ in range(depth):
        nested = [nested]
    return nested


SEVEN_B64 = base64.b64encode(SEVEN_PNG).decode()
# (document, status, words its error must carry)
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
}


def test_hostile_requests_are_refused_in_the_protocol_s_form_and_the_workers_serve_on(torchserve, token, predict):
    session, url = requests.Session(), f"{torchserve.inference_url}/v2/models/mnist/infer"
    workers_before = sorted(worker.pid for worker in torchserve.workers())
    for name, (document, status, words) in HOSTILE.items():
        answer = session.post(url, data=json.dumps(document), headers=token, timeout=60)
        assert answer.status_code == status and words in answer.json()["error"], (name, answer.text[:500])
        assert answer.json().keys() == {"error"}, name
    assert sorted(worker.pid for worker in torchserve.workers()) == workers_before  # none died or restarted
    assert_healthy(torchserve, predict)
