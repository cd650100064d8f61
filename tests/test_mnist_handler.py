"""The handler inside TorchServe's own Context, with batches no HTTP test can be sure to form."""

import base64
import json
import logging
import sys
import zipfile
from http import HTTPStatus
from pathlib import Path

import pytest
import ts
from PIL import Image
from ts.context import Context, RequestProcessor
from ts.metrics.metric_cache_yaml_impl import MetricsCacheYamlImpl

from client.images import encode
from mnist_handler import MnistHandler
from tests.conftest import IMAGES, SEVEN_PNG

TWO_JPEG = (IMAGES / "two_on_paper.jpg").read_bytes()


@pytest.fixture(scope="module")
def handler(model_store, tmp_path_factory):
    """The handler initialised as a TorchServe worker does, with a Context on the unpacked .mar: its manifest,
    model file and weights. The handler's code is the working tree's, the same files build_mar.sh packs
    (tests/test_build_mar.py imports every module from an unpacked .mar on its own)."""
    model_dir = tmp_path_factory.mktemp("unpacked_mar")
    with zipfile.ZipFile(model_store / "mnist.mar") as archive:
        archive.extractall(model_dir)
    manifest = json.loads((model_dir / "MAR-INF" / "MANIFEST.json").read_text())
    metrics = MetricsCacheYamlImpl(str(Path(ts.__file__).parent / "configs" / "metrics.yaml"))
    metrics.initialize_cache()
    metrics.model_name = "mnist"
    context = Context(
        "mnist",
        str(model_dir),
        manifest,
        batch_size=8,
        gpu=None,
        mms_version="0.12.0",
        metrics=metrics,
        model_yaml_config={},
    )
    sys.path.insert(0, str(model_dir))
    try:
        handler = MnistHandler()
        handler.initialize(context)
        yield handler, context
    finally:
        sys.path.remove(str(model_dir))


def handle_batch(handler_and_context, requests: list, headers: list = None) -> list:
    """(status, JSON answer) for each request of one batch, as TorchServe would send them; `headers`: each
    request's headers, as the frontend passes them on."""
    handler, context = handler_and_context
    context.request_processor = [RequestProcessor(dict(header)) for header in headers or [{}] * len(requests)]
    # As ts.service.Service.predict sets them for each batch: the batch index -> the request's id.
    context.request_ids = context.metrics.request_ids = {index: f"request-{index}" for index in range(len(requests))}
    answers = handler.handle(requests, context)
    statuses = [processor.get_response_status_code() for processor in context.request_processor]
    return [(status, json.loads(answer)) for status, answer in zip(statuses, answers)]


def test_one_bad_request_fails_alone_in_its_batch(handler):
    instances = {"instances": [{"base64": base64.b64encode(image).decode()} for image in (TWO_JPEG, SEVEN_PNG)]}
    results = handle_batch(
        handler,
        [
            {"body": SEVEN_PNG},
            {"body": b"definitely not an image!"},
            {"body": json.dumps(instances).encode()},
            {"body": b""},
            {"body": TWO_JPEG},
        ],
    )
    assert [status for status, _ in results] == [200, 415, 200, 400, 200]
    assert results[0][1]["digit"] == 7
    assert "not an image" in results[1][1]["message"] and results[1][1]["code"] == 415
    assert [p["digit"] for p in results[2][1]["predictions"]] == [2, 7]
    assert "empty" in results[3][1]["message"]
    assert results[4][1]["digit"] == 2


def test_a_fault_in_one_request_fails_it_alone_with_500(handler, monkeypatch):
    """Whatever reading a request raises, the batch's other requests are answered: here a fault injected
    into the preprocessing of one picture size."""
    import request_pipeline

    read = request_pipeline.to_mnist_tensor

    def faulty_for_5x3(image, size=None):
        if image.size == (5, 3):
            raise ValueError("a fault no check foresaw")
        return read(image, size)

    monkeypatch.setattr(request_pipeline, "to_mnist_tensor", faulty_for_5x3)
    odd = json.dumps({"base64": base64.b64encode(encode(Image.new("L", (5, 3), 9))).decode()}).encode()
    results = handle_batch(handler, [{"body": SEVEN_PNG}, {"body": odd}, {"body": TWO_JPEG}])
    assert [status for status, _ in results] == [200, 500, 200]
    assert results[1][1]["type"] == "InternalError" and "fault is logged" in results[1][1]["message"]
    assert (results[0][1]["digit"], results[2][1]["digit"]) == (7, 2)


def test_a_batch_of_only_bad_requests_answers_each(handler):
    results = handle_batch(handler, [{"body": b"{"}, {"body": b"\x89PNG broken"}])
    assert [status for status, _ in results] == [400, 415]


def test_probabilities_are_a_distribution(handler):
    ((status, answer),) = handle_batch(handler, [{"body": SEVEN_PNG}])
    assert status == 200
    assert len(answer["probabilities"]) == 10
    assert sum(answer["probabilities"]) == pytest.approx(1.0, abs=1e-4)
    assert max(answer["probabilities"]) == answer["probabilities"][answer["digit"]]


@pytest.mark.parametrize("first", ["describe", "explain"])
def test_describe_and_explain_headers_answer_only_their_own_request(handler, first):
    """BaseHandler reads these headers from the batch's first request and answers the whole batch in that
    mode (one answer: the others got 503). The frontend marks POST /explanations/mnist with "explain"."""
    other = "explain" if first == "describe" else "describe"
    headers = [{first: "True"}, {}, {other: "True"}, {}]
    results = handle_batch(
        handler, [{"body": SEVEN_PNG}, {"body": TWO_JPEG}, {"body": SEVEN_PNG}, {"body": SEVEN_PNG}], headers
    )
    assert len(results) == 4
    statuses = {"describe": 200, "explain": 400}
    assert [status for status, _ in results] == [statuses[first], 200, statuses[other], 200]
    for (status, answer), header in zip(results, headers):
        if "explain" in header:
            assert "no explanations" in answer["message"] and answer["code"] == 400
    assert results[1][1]["digit"] == 2 and results[3][1]["digit"] == 7
    assert results[0 if first == "describe" else 2][1]["digit"] == 7


def metric_lines(caplog, name: str) -> list:
    """The [METRICS] lines the worker printed for `name` (TorchServe's frontend reads them from its stdout)."""
    return [record.getMessage() for record in caplog.records if record.getMessage().startswith(f"[METRICS]{name}.")]


def test_refusals_are_counted_per_error_type_and_logged_at_debug(handler, caplog):
    caplog.set_level(logging.DEBUG)
    handle_batch(handler, [{"body": b"not an image"}, {"body": SEVEN_PNG}, {"body": b""}, {"body": b"{"}])
    prefix = "[METRICS]RequestsRefused.Count:1|#ModelName:mnist,Level:Model,ErrorType:"
    counted = [line.removeprefix(prefix).split("|")[0] for line in metric_lines(caplog, "RequestsRefused")]
    assert counted == ["UnsupportedImage", "InvalidInput", "InvalidInput"]
    refusals = [record for record in caplog.records if record.name == "mnist_handler"]
    assert len(refusals) == 3 and {record.levelno for record in refusals} == {logging.DEBUG}
    assert "UnsupportedImage" in refusals[0].getMessage()


def test_refusals_carry_the_standard_reason_phrase(handler):
    _, context = handler
    bomb = {"instances": [base64.b64encode(SEVEN_PNG).decode()] * 65}
    bodies = [b"not an image", b"", json.dumps(bomb).encode(), b"\x89PNG broken"]
    results = handle_batch(handler, [{"body": body} for body in bodies])
    phrases = [processor.get_response_status_phrase() for processor in context.request_processor]
    statuses = [status for status, _ in results]
    assert statuses == [415, 400, 413, 415]
    assert phrases == [HTTPStatus(status).phrase for status in statuses]


def test_each_overridden_step_is_timed_once_as_basehandler_times_it(handler, caplog):
    """BaseHandler's preprocess/inference/postprocess are @timed (ts_handler_<step>, with the model config's
    handler: profile: true); the overrides keep that, and HandlerTime is still recorded."""
    _, context = handler
    caplog.set_level(logging.INFO)
    saved = context.model_yaml_config
    context.model_yaml_config = {"handler": {"profile": True}}
    try:
        handle_batch(handler, [{"body": SEVEN_PNG}, {"body": b"not an image"}])
    finally:
        context.model_yaml_config = saved
    for step in ("preprocess", "inference", "postprocess"):
        assert len(metric_lines(caplog, f"ts_handler_{step}")) == 1, step
    assert len(metric_lines(caplog, "HandlerTime")) == 1


def test_open_inference_requests_keep_their_form_and_status_beside_plain_ones(handler):
    """An Open Inference request is answered, or refused with its error's status, in the protocol's form;
    a plain request of the same batch keeps its own."""
    seven = base64.b64encode(SEVEN_PNG).decode()
    oip = {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [2], "data": [seven, seven]}], "id": "a"}
    too_many = {"inputs": [{"name": "images", "datatype": "BYTES", "shape": [65], "data": [seven] * 65}]}
    requests = [json.dumps(document).encode() for document in (oip, too_many)] + [b"not an image", SEVEN_PNG]
    results = handle_batch(handler, [{"body": body} for body in requests])
    assert [status for status, _ in results] == [200, 413, 415, 200]
    assert results[0][1]["id"] == "a" and results[0][1]["outputs"][1]["data"] == [7, 7]
    assert list(results[1][1]) == ["error"] and "at most 64" in results[1][1]["error"]
    assert results[2][1]["code"] == 415 and results[3][1]["digit"] == 7
