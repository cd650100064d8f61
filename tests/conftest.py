from pathlib import Path

import pytest
import requests

from client.torchserve_api import read_keys
from torchserve_runner import TorchServe, built_model_store
from training.data import DEFAULT_DATA_ROOT, mnist

IMAGES = Path(__file__).resolve().parent / "images"
SEVEN_PNG = (IMAGES / "seven.png").read_bytes()


@pytest.fixture(scope="session")
def mnist_test_set():
    """The 10,000 MNIST test images as (PIL image, label), from training.data.DEFAULT_DATA_ROOT."""
    return mnist(DEFAULT_DATA_ROOT, train=False)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory) -> Path:
    """A model store holding a .mar built from the working tree by build_mar.sh."""
    return built_model_store(tmp_path_factory.mktemp("model_store"))


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory, model_store):
    """One real TorchServe for the session, with the project's config, on free loopback ports."""
    server = TorchServe(tmp_path_factory.mktemp("torchserve"), model_store).start()
    try:
        server.wait_until_ready(min_workers=2)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def keys(torchserve):
    return read_keys(torchserve.key_file)


@pytest.fixture(scope="session")
def predict(torchserve, keys):
    """POST to the session server's prediction endpoint with the inference token: predict(data=..., json=..., files=...)."""
    url = f"{torchserve.inference_url}/predictions/mnist"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {keys['inference']}"
    return lambda **body: session.post(url, timeout=60, **body)


def assert_healthy(torchserve, predict):
    assert predict(data=SEVEN_PNG).json()["digit"] == 7
    assert torchserve.client().ready_workers() >= 1
