"""The request bodies every HTTP test sends: each accepted input form, and the bad-input table with the
status and words its error must carry. Used against TorchServe directly (test_serving.py) and through
the pod's auth proxy (test_pod_rehearsal.py). Each body is keyword arguments for requests."""

import base64

import pytest
from PIL import Image

from client.images import encode
from tests.conftest import IMAGES, SEVEN_PNG
from wire_format import MAX_INSTANCES

TWO_JPEG = (IMAGES / "two_on_paper.jpg").read_bytes()
B64_SEVEN = base64.b64encode(SEVEN_PNG).decode()

# Each is read as a seven.
INPUT_FORMS = [
    pytest.param({"data": SEVEN_PNG, "headers": {"Content-Type": "image/png"}}, id="raw-png"),
    pytest.param({"data": SEVEN_PNG}, id="raw-png-no-content-type"),
    pytest.param({"json": {"base64": B64_SEVEN}}, id="json-base64"),
    pytest.param({"json": {"data": B64_SEVEN}}, id="json-data"),
    pytest.param({"json": {"b64": "data:image/png;base64," + B64_SEVEN}}, id="json-b64-data-uri"),
    pytest.param({"json": {"base64": base64.urlsafe_b64encode(SEVEN_PNG).decode().rstrip("=")}}, id="urlsafe-unpadded"),
    pytest.param({"data": B64_SEVEN, "headers": {"Content-Type": "text/plain"}}, id="base64-text-body"),
    pytest.param({"files": {"data": ("seven.png", SEVEN_PNG, "image/png")}}, id="multipart-data"),
    pytest.param({"files": {"file": ("seven.png", SEVEN_PNG, "image/png")}}, id="multipart-file"),
]

# (body, HTTP status, words the error message must contain)
BAD_BODIES = [
    pytest.param({"json": {"base64": "%%% not base64 %%%"}}, 400, "base64", id="invalid-base64"),
    pytest.param({"data": b"just some text, not an image!"}, 415, "not an image", id="not-an-image"),
    pytest.param({"data": SEVEN_PNG[: len(SEVEN_PNG) // 2]}, 400, "truncated", id="truncated-png"),
    pytest.param({"data": b""}, 400, "empty", id="empty-body"),
    pytest.param({"json": [1, 2, 3]}, 400, "base64", id="wrong-json-shape"),
    pytest.param({"json": {"image": B64_SEVEN}}, 400, '"base64"', id="missing-field"),
    pytest.param({"data": b'{"base64": "abc'}, 400, "does not parse", id="broken-json"),
    pytest.param(
        {"json": {"instances": [B64_SEVEN] * (MAX_INSTANCES + 1)}},
        413,
        f"at most {MAX_INSTANCES}",
        id="too-many-instances",
    ),
    pytest.param(
        {"json": {"base64": base64.b64encode(encode(Image.new("1", (5000, 5000)))).decode()}},
        413,
        "pixels",
        id="pixel-bomb",
    ),
    pytest.param({"data": encode(Image.new("L", (300, 300), 255))}, 422, "no digit", id="blank-canvas"),
]
