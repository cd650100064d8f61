"""Refused requests are counted on TorchServe's metrics endpoint (Prometheus text): RequestsRefused, one
count per refused request, labelled with its ErrorType (input_errors: InvalidInput, UnsupportedImage, ...).

The handler emits the counter through TorchServe's metrics API (handler/mnist_handler.py). TorchServe
0.12's frontend publishes a backend metric only if its server-wide metrics config declares it, or with
model_metrics_auto_detect=true, which config/config.properties sets.
"""

import io
import re
import time

import pytest
import requests
from PIL import Image

from client.torchserve_api import ServiceError
from tests.conftest import SEVEN_PNG

METRIC = "RequestsRefused"
_SAMPLE = re.compile(rf"^{METRIC}\{{(?P<labels>[^}}]*)\}} (?P<value>\S+)$", re.MULTILINE)
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


BLANK_PNG = _png(Image.new("L", (64, 64), 255))


def refusal_counts(metrics_url: str) -> dict:
    """ErrorType -> RequestsRefused, as GET <metrics_url>/metrics reports it now ({} before the first refusal)."""
    session = requests.Session()
    session.trust_env = False  # straight to the loopback address, whatever http_proxy says
    text = session.get(f"{metrics_url}/metrics", timeout=30).text
    counts = {}
    for sample in _SAMPLE.finditer(text):
        labels = dict(_LABEL.findall(sample["labels"]))
        assert labels["ModelName"] == "mnist", sample.group(0)
        counts[labels["ErrorType"]] = counts.get(labels["ErrorType"], 0) + float(sample["value"])
    return counts


def counts_after(metrics_url: str, expected: dict, timeout: float = 10) -> dict:
    """The counts once they reach `expected` (the frontend reads them from the worker's output, a moment
    after the answer), or as they are after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        counts = refusal_counts(metrics_url)
        if all(counts.get(kind, 0) >= value for kind, value in expected.items()) or time.monotonic() > deadline:
            return counts
        time.sleep(0.2)


def settled_counts(metrics_url: str) -> dict:
    """The counts once refusals answered before this test have all been reported (unchanged for 1 s)."""
    counts = refusal_counts(metrics_url)
    for _ in range(30):
        time.sleep(1)
        latest = refusal_counts(metrics_url)
        if latest == counts:
            break
        counts = latest
    return counts


def increased(before: dict, after: dict) -> dict:
    return {kind: after[kind] - before.get(kind, 0) for kind in after if after[kind] != before.get(kind, 0)}


def test_each_refusal_is_counted_by_error_type_on_the_metrics_endpoint(torchserve):
    client = torchserve.client()
    before = settled_counts(torchserve.metrics_url)
    for body, status in ((b"definitely not an image", 415), (b"{", 400), (b"", 400), (BLANK_PNG, 422)):
        with pytest.raises(ServiceError, match=f"^{status} "):
            client.predict(body)
    assert client.predict(SEVEN_PNG)["digit"] == 7  # an accepted request is not counted
    expected = {"UnsupportedImage": 1, "InvalidInput": 2, "NoDigitFound": 1}
    after = counts_after(torchserve.metrics_url, {kind: before.get(kind, 0) + n for kind, n in expected.items()})
    assert increased(before, after) == expected


def test_a_refusal_in_an_instances_request_counts_once(torchserve):
    client = torchserve.client()
    before = settled_counts(torchserve.metrics_url)
    with pytest.raises(ServiceError, match="^413 "):
        client.predict_many([SEVEN_PNG] * 65)
    after = counts_after(torchserve.metrics_url, {"PayloadTooLarge": before.get("PayloadTooLarge", 0) + 1})
    assert increased(before, after) == {"PayloadTooLarge": 1}
