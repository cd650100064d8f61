"""A real TorchServe with the project's config and .mar, checked through HTTP only."""

import base64
import concurrent.futures
import socket

import psutil
import pytest
import requests

from client.images import encode
from mnist_handler import forward, onnx_session
from request_pipeline import prepare_request
from tests.conftest import SERVING, SEVEN_PNG, assert_healthy
from tests.request_bodies import BAD_BODIES, INPUT_FORMS, TWO_JPEG
from torchserve_runner import TorchServe, served_graph
from torchserve_runner.server import free_ports
from training.score_over_http import served_digits

pytestmark = pytest.mark.server


def test_ping_is_healthy_with_the_token(torchserve, keys):
    answer = requests.get(f"{torchserve.inference_url}/ping", headers={"Authorization": f"Bearer {keys['inference']}"})
    assert answer.status_code == 200 and answer.json()["status"] == "Healthy"


@pytest.mark.parametrize("body", INPUT_FORMS)
def test_every_input_form_predicts_the_digit(predict, body):
    body = dict(body)
    answer = predict(headers=body.pop("headers", {}), **body)
    assert answer.status_code == 200, answer.text
    assert answer.headers["Content-Type"].startswith("application/json")
    result = answer.json()
    assert result["digit"] == 7
    assert sum(result["probabilities"]) == pytest.approx(1.0, abs=1e-4)


def test_real_world_photo_is_read(predict):
    answer = predict(data=TWO_JPEG, headers={"Content-Type": "image/jpeg"})
    assert answer.status_code == 200 and answer.json()["digit"] == 2


def test_instances_are_answered_in_order(predict):
    images = [SEVEN_PNG, TWO_JPEG, SEVEN_PNG, TWO_JPEG]
    answer = predict(json={"instances": [{"base64": base64.b64encode(image).decode()} for image in images]})
    assert answer.status_code == 200
    assert [p["digit"] for p in answer.json()["predictions"]] == [7, 2, 7, 2]


@pytest.mark.parametrize("headers", [{}, {"Authorization": "Bearer not-the-key"}], ids=["no-token", "wrong-token"])
def test_every_api_requires_its_token(torchserve, keys, headers):
    inference = requests.post(f"{torchserve.inference_url}/predictions/mnist", data=SEVEN_PNG, headers=headers)
    ping = requests.get(f"{torchserve.inference_url}/ping", headers=headers)
    management = requests.get(f"{torchserve.management_url}/models/mnist", headers=headers)
    # The inference key is no management key.
    swapped = requests.get(
        f"{torchserve.management_url}/models/mnist", headers={"Authorization": f"Bearer {keys['inference']}"}
    )
    for answer in (inference, ping, management, swapped):
        # TorchServe's InvalidKeyException, as README.md's error table says
        assert answer.status_code == 400, answer.text
        assert answer.json()["type"] == "InvalidKeyException", answer.text
        assert "Token Authorization failed" in answer.json()["message"]


@pytest.mark.parametrize("body, status, words", BAD_BODIES)
def test_bad_input_gets_a_clear_4xx_and_the_server_keeps_serving(torchserve, predict, body, status, words):
    answer = predict(**body)
    assert answer.status_code == status, answer.text
    error = answer.json()
    assert error["code"] == status and words in error["message"]
    assert_healthy(torchserve, predict)


def test_oversized_request_is_refused_before_the_worker(torchserve, predict):
    answer = predict(data=b"A" * (SERVING.max_request_size + 1))
    assert answer.status_code == 413
    assert_healthy(torchserve, predict)


def test_concurrent_mix_of_good_and_bad_requests(torchserve, predict):
    """With batching on (8 / 5 ms), good and bad requests share batches: each gets its own answer."""
    bodies = [{"data": SEVEN_PNG}, {"data": b"garbage!"}, {"data": TWO_JPEG}, {"json": {"base64": "@@"}}] * 24
    with concurrent.futures.ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(lambda body: predict(**body), bodies))
    expected = [(200, 7), (415, None), (200, 2), (400, None)] * 24
    got = [(a.status_code, a.json().get("digit")) for a in answers]
    assert got == expected


def test_management_api_describes_the_configured_model(torchserve):
    described = torchserve.client().describe()
    assert (described["modelName"], described["batchSize"], described["maxBatchDelay"]) == (
        "mnist",
        SERVING.batch_size,
        SERVING.max_batch_delay_ms,
    )
    assert described["minWorkers"] == SERVING.workers


def test_management_api_scales_the_workers(own_server):
    """On a server of its own: rescaling the session's would change what the other HTTP tests run against."""
    server = own_server()
    server.wait_until_ready(min_workers=SERVING.workers)
    client = server.client()
    client.scale_workers(1)
    assert len(client.describe()["workers"]) == 1
    client.scale_workers(3)
    workers = client.describe()["workers"]
    assert len(workers) == 3 and all(w["status"] == "READY" for w in workers)
    assert server.client().predict(SEVEN_PNG)["digit"] == 7


def test_every_listening_socket_is_on_loopback(torchserve):
    """HTTP APIs, gRPC and anything else TorchServe opens: nothing reachable from another machine."""

    def listening_addresses(process: psutil.Process) -> list:
        try:
            return [c.laddr for c in process.net_connections(kind="inet") if c.status == psutil.CONN_LISTEN]
        except psutil.NoSuchProcess:  # a short-lived child (the system-metrics collector) already gone
            return []

    listening = [address for process in torchserve.processes() for address in listening_addresses(process)]
    assert len(listening) >= 5, listening  # inference, management, metrics, two gRPC
    assert all(address.ip in ("127.0.0.1", "::ffff:127.0.0.1") for address in listening), listening


def test_model_registration_is_disabled(torchserve, keys):
    """enable_model_api=false: refused before any URL is looked at (tests/test_server_hardening.py checks
    that no environment variable turns it on, and what allowed_urls refuses when it is on)."""
    answer = requests.post(
        f"{torchserve.management_url}/models",
        params={"url": "https://example.com/evil.mar"},
        headers={"Authorization": f"Bearer {keys['management']}"},
    )
    assert answer.status_code == 405 and "MethodNotAllowedException" in answer.text, answer.text


def test_frontend_logs_the_life_cycle_but_no_line_per_request(torchserve, predict):
    """config/log4j2.xml: TorchServe's built-in logging writes about ten lines per request; this one none."""

    def log_lines() -> list:
        return torchserve.log_file.read_text(errors="replace").splitlines()

    before = len(log_lines())
    assert all(predict(data=SEVEN_PNG).status_code == 200 for _ in range(50))
    lines = log_lines()
    assert len(lines) - before < 10, lines[before:][:20]
    assert any("Torch worker started" in line for line in lines)


def test_metrics_endpoint_serves_prometheus_text(torchserve, predict):
    predict(data=SEVEN_PNG)
    answer = requests.get(f"{torchserve.metrics_url}/metrics")
    assert answer.status_code == 200
    assert "ts_inference_requests_total" in answer.text


def test_http_predictions_equal_the_model_in_process(torchserve, mnist_test_set, model_store, tmp_path):
    """1,000 test images as PNGs over HTTP, 64 per request (training.score_over_http's path), get, image by
    image, the digit the served graph gives them in process through the handler's own steps: serving adds
    no error of its own."""
    served = served_digits(torchserve.client(), mnist_test_set.root, limit=1000)
    session = onnx_session(str(served_graph(model_store, tmp_path)))
    prepared = [prepare_request({"body": encode(mnist_test_set[i][0])}) for i in range(1000)]
    in_process = forward(session, [request.tensors for request in prepared]).argmax(1).tolist()
    assert [digit for digit, _ in served] == in_process


def test_curl_default_form_encoding_is_explained(predict):
    answer = predict(data=SEVEN_PNG, headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 400
    assert "Content-Type: image/png" in answer.json()["message"]


def test_a_port_taken_before_torchserve_binds_it_only_costs_a_restart(tmp_path, model_store):
    """The runner picks free ports, and Java binds them seconds later: another process may take one in
    between. Here one is taken on purpose: TorchServe exits, and the runner starts it on new ports."""
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        ports = {**free_ports(), "inference": taken.getsockname()[1]}
        server = TorchServe(tmp_path / "server", model_store, ports=ports).start()
        try:
            server.wait_until_ready()
            assert server.ports["inference"] != ports["inference"]
            assert server.client().predict(SEVEN_PNG)["digit"] == 7
        finally:
            server.stop()
