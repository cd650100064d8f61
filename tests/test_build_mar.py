"""build_mar.sh: builds the archive TorchServe needs, again and again, and says what is missing."""

import json
import os
import shutil
import subprocess
import zipfile

from tests.torchserve_server import REPO

BUILD_MAR = REPO / "build_mar.sh"


def build(export_dir, script=BUILD_MAR) -> subprocess.CompletedProcess:
    return subprocess.run([str(script)], env={**os.environ, "EXPORT_DIR": str(export_dir)}, capture_output=True, text=True)


def test_archive_holds_model_weights_and_handler_and_rebuilds(tmp_path):
    for _ in range(2):  # idempotent: the second run replaces the first archive
        result = build(tmp_path)
        assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "mnist.mar") as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
    assert {"mnist_cnn.py", "mnist_cnn.pt", "mnist_handler.py", "image_decoding.py", "input_errors.py", "mnist_preprocessing.py"} <= names
    assert manifest["model"]["modelName"] == "mnist"
    assert manifest["model"]["handler"] == "mnist_handler.py"
    assert manifest["model"]["modelFile"] == "mnist_cnn.py"


def test_missing_weights_are_named(tmp_path):
    checkout = tmp_path / "checkout"
    checkout.mkdir()
    for part in ("build_mar.sh", "handler", "model"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, checkout / part)
    (checkout / "model" / "mnist_cnn.pt").unlink()
    result = build(tmp_path / "out", checkout / "build_mar.sh")
    assert result.returncode != 0
    assert "missing model/mnist_cnn.pt" in result.stderr
    assert not (tmp_path / "out").exists()
