import io
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import requests

from client.torchserve_api import read_keys
from tests.torchserve_server import REPO, TorchServe
from training.data import DEFAULT_DATA_ROOT, mnist

IMAGES = Path(__file__).resolve().parent / "images"
SEVEN_PNG = (IMAGES / "seven.png").read_bytes()


def encode(image, format="PNG", **options) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=format, **options)
    return buffer.getvalue()


def copy_build_inputs(checkout: Path) -> Path:
    """What build_mar.sh needs, copied into `checkout`, so a test can break a piece of it."""
    checkout.mkdir(parents=True)
    for part in ("build_mar.sh", "handler", "model"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, checkout / part)
    return checkout


def build_mar(export_dir: Path, checkout: Path = REPO) -> subprocess.CompletedProcess:
    # A copied checkout has no .venv: the archiver is then found on PATH, as in the Docker build.
    env = {**os.environ, "EXPORT_DIR": str(export_dir), "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}"}
    return subprocess.run([str(checkout / "build_mar.sh")], env=env, capture_output=True, text=True)


def built_model_store(export_dir: Path, checkout: Path = REPO) -> Path:
    """A model store holding a .mar built from `checkout` (the working tree); raises with build_mar.sh's error."""
    result = build_mar(export_dir, checkout)
    if result.returncode != 0:
        raise RuntimeError(f"build_mar.sh failed:\n{result.stderr}")
    return export_dir


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
