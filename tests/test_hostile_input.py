"""Property-based: whatever bytes or JSON a client sends, the handler's preparation ends in images ready
for the model or in its typed input error, never in another exception (which would fail a whole batch)."""

import base64
import io
import json

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_preprocessing import prepare_request
from tests.conftest import IMAGES, encode

SEVEN_PNG = (IMAGES / "seven.png").read_bytes()
FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=50),
    lambda children: st.lists(children, max_size=5) | st.dictionaries(st.sampled_from(["base64", "data", "b64", "instances", "x"]) | st.text(max_size=8), children, max_size=5),
    max_leaves=20,
)


def assert_prepared_or_refused(request: dict) -> None:
    prepared = prepare_request(request)  # any other exception fails the test
    if prepared.error is None:
        assert prepared.images.shape[1:] == (1, 28, 28) and prepared.images.isfinite().all()
    else:
        assert 400 <= prepared.error.status < 500 and str(prepared.error)


@FUZZ
@given(st.binary(max_size=2048))
def test_any_bytes(body):
    assert_prepared_or_refused({"body": body})


@FUZZ
@given(json_values)
def test_any_json_document(document):
    assert_prepared_or_refused({"body": json.dumps(document).encode()})


@FUZZ
@given(st.lists(st.tuples(st.integers(0, len(SEVEN_PNG) - 1), st.integers(0, 255)), min_size=1, max_size=8))
def test_a_valid_png_with_corrupted_bytes(edits):
    corrupted = bytearray(SEVEN_PNG)
    for position, value in edits:
        corrupted[position] = value
    assert_prepared_or_refused({"body": bytes(corrupted)})
    assert_prepared_or_refused({"body": json.dumps({"base64": base64.b64encode(corrupted).decode()}).encode()})


@FUZZ
@given(
    st.sampled_from(["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16", "I", "F"]),
    st.integers(1, 300),
    st.integers(1, 300),
    st.sampled_from(["PNG", "TIFF", "GIF", "BMP", "WEBP", "JPEG"]),
    st.integers(0, 2**32 - 1),
)
def test_any_mode_size_and_format(mode, width, height, format, seed):
    noise = np.random.default_rng(seed).integers(0, 256, (height, width), dtype=np.uint8)
    image = Image.fromarray(noise).convert(mode)
    try:
        data = encode(image, format)
    except (OSError, ValueError, KeyError):  # this format cannot store this mode: nothing to send
        return
    assert_prepared_or_refused({"body": data})


def test_deeply_nested_json_is_refused():
    prepared = prepare_request({"body": b'{"instances": ' + b"[" * 50_000 + b"]" * 50_000 + b"}"})
    assert prepared.error is not None and prepared.error.status == 400


def test_animated_and_multi_page_images_use_the_first_frame():
    frames = [Image.new("L", (40, 40), 0) for _ in range(3)]
    frames[0].paste(255, (10, 10, 30, 30))
    for format in ("GIF", "TIFF", "PNG"):
        buffer = io.BytesIO()
        frames[0].save(buffer, format=format, save_all=True, append_images=frames[1:])
        assert prepare_request({"body": buffer.getvalue()}).error is None
