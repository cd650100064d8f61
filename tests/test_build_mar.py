"""build_mar.sh: builds the archive TorchServe needs, again and again, and says what is missing."""

import json
import zipfile

from tests.conftest import build_mar, copy_build_inputs


def test_archive_holds_model_weights_and_handler_and_rebuilds(tmp_path):
    for _ in range(2):  # idempotent: the second run replaces the first archive
        result = build_mar(tmp_path)
        assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "mnist.mar") as archive:
        names = set(archive.namelist())
        manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
    assert {"mnist_cnn.py", "mnist_cnn.pt", "mnist_handler.py", "image_decoding.py", "input_errors.py", "mnist_preprocessing.py"} <= names
    assert manifest["model"]["modelName"] == "mnist"
    assert manifest["model"]["handler"] == "mnist_handler.py"
    assert manifest["model"]["modelFile"] == "mnist_cnn.py"


def test_missing_weights_are_named(tmp_path):
    checkout = copy_build_inputs(tmp_path / "checkout")
    (checkout / "model" / "mnist_cnn.pt").unlink()
    result = build_mar(tmp_path / "out", checkout)
    assert result.returncode != 0
    assert "missing model/mnist_cnn.pt" in result.stderr
    assert not (tmp_path / "out").exists()
