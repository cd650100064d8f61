"""Hostile input. Property-based: whatever bytes or JSON a client sends, the handler's preparation ends
in images ready for the model or in its typed input error, never in another exception (which would fail
a whole batch). Named bombs and unusual images (tests/hostile_images.py): in-process and through HTTP."""

import base64
import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from mnist_preprocessing import prepare_request
from tests.conftest import SEVEN_PNG, assert_healthy, encode
from tests.hostile_images import BOMBS, UNUSUAL_SEVENS, payload

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


@pytest.mark.parametrize("name", BOMBS)
def test_bombs_are_refused_before_decoding(name):
    _, status, words = BOMBS[name]
    prepared = prepare_request({"body": payload(name)})
    assert prepared.error is not None and prepared.error.status == status and words in str(prepared.error)


@pytest.mark.parametrize("name", UNUSUAL_SEVENS)
def test_unusual_images_are_prepared(name):
    assert prepare_request({"body": payload(name)}).error is None


def peak_rss_bytes(pid: int) -> int:
    """The process's peak resident memory so far (Linux's VmHWM), which a decoded bomb would raise."""
    status = Path(f"/proc/{pid}/status").read_text()
    return int(next(line for line in status.splitlines() if line.startswith("VmHWM:")).split()[1]) * 1024


def test_through_http_bombs_get_their_4xx_and_worker_memory_stays_flat(torchserve, predict):
    worker_pids = [worker["pid"] for worker in torchserve.client().describe()["workers"]]
    peaks_before = [peak_rss_bytes(pid) for pid in worker_pids]
    for name, (_, status, words) in BOMBS.items():
        answer = predict(data=payload(name))
        assert answer.status_code == status and words in answer.json()["message"], (name, answer.text)
    # The smallest bomb would take 64 MB decoded; refused from its header, it leaves the workers' peak as it was.
    growth = [peak_rss_bytes(pid) - before for pid, before in zip(worker_pids, peaks_before)]
    print(f"\nworker peak RSS growth: {[f'{g / 2**20:.1f} MiB' for g in growth]}")
    assert all(g < 32 * 2**20 for g in growth), growth
    assert_healthy(torchserve, predict)


def test_through_http_unusual_images_get_their_digit(torchserve, predict):
    for name in UNUSUAL_SEVENS:
        answer = predict(data=payload(name))
        assert answer.status_code == 200 and answer.json()["digit"] == 7, (name, answer.text)
