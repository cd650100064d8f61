import io
import os
import subprocess
from pathlib import Path

import pytest

from tests.torchserve_server import REPO, TorchServe
from training.data import DEFAULT_DATA_ROOT, mnist

IMAGES = Path(__file__).resolve().parent / "images"


def encode(image, format="PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


@pytest.fixture(scope="session")
def mnist_test_set():
    """The 10,000 MNIST test images as (PIL image, label), from training.data.DEFAULT_DATA_ROOT."""
    return mnist(DEFAULT_DATA_ROOT, train=False)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory) -> Path:
    """A model store holding a .mar built from the working tree by build_mar.sh."""
    store = tmp_path_factory.mktemp("model_store")
    subprocess.run([str(REPO / "build_mar.sh")], env={**os.environ, "EXPORT_DIR": str(store)}, check=True)
    return store


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory, model_store):
    """One real TorchServe for the session, with the project's config, on free loopback ports."""
    server = TorchServe(tmp_path_factory.mktemp("torchserve"), model_store).start()
    try:
        server.wait_until_ready(min_workers=2)
        yield server
    finally:
        server.stop()
