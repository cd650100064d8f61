"""build_mar.sh: builds the archive TorchServe needs, again and again, and says what is missing."""

import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from torchserve_runner import build_mar, copy_build_inputs

HANDLER_DIR = Path(__file__).resolve().parent.parent / "handler"


@pytest.mark.slow  # builds archives with build_mar.sh: 10-30 s each
def test_archive_holds_model_weights_and_handler_and_rebuilds_the_same_graph(tmp_path):
    graphs = []
    for _ in range(2):  # idempotent: the second run replaces the first archive
        result = build_mar(tmp_path)
        assert result.returncode == 0, result.stderr
        with zipfile.ZipFile(tmp_path / "mnist.mar") as archive:
            names = set(archive.namelist())
            manifest = json.loads(archive.read("MAR-INF/MANIFEST.json"))
            graphs.append(archive.read("mnist_cnn.onnx"))
    # Reproducible from the repository, wherever it is checked out: the same export, quantized on the same
    # committed calibration digits.
    assert build_mar(tmp_path / "elsewhere", copy_build_inputs(tmp_path / "checkout")).returncode == 0
    with zipfile.ZipFile(tmp_path / "elsewhere" / "mnist.mar") as archive:
        graphs.append(archive.read("mnist_cnn.onnx"))
    assert graphs[0] == graphs[1] == graphs[2]
    handler_modules = {path.name for path in HANDLER_DIR.glob("*.py")}
    assert {"image_decoding.py", "input_errors.py", "mnist_preprocessing.py", "request_pipeline.py"} <= handler_modules
    assert {"mnist_cnn.py", "mnist_cnn.pt", "mnist_cnn.onnx", "mnist_handler.py"} | handler_modules <= names
    assert manifest["model"]["modelName"] == "mnist"
    assert manifest["model"]["handler"] == "mnist_handler.py"
    assert manifest["model"]["modelFile"] == "mnist_cnn.py"


@pytest.mark.parametrize(
    "break_weights, message",
    [
        pytest.param(lambda weights: weights.unlink(), "missing model/mnist_cnn.pt", id="missing"),
        # The ONNX export loads the weights at build time: weights that do not load make no archive.
        pytest.param(
            lambda weights: weights.write_bytes(b"these are not weights"),
            "exporting model/mnist_cnn.pt to ONNX failed",
            id="not-loadable",
        ),
    ],
)
def test_unusable_weights_stop_the_build_and_are_named(tmp_path, break_weights, message):
    checkout = copy_build_inputs(tmp_path / "checkout")
    break_weights(checkout / "model" / "mnist_cnn.pt")
    result = build_mar(tmp_path / "out", checkout)
    assert result.returncode != 0
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_unknown_precision_is_refused_with_the_accepted_ones(tmp_path):
    result = subprocess.run(
        ["./build_mar.sh"],
        cwd=HANDLER_DIR.parent,
        capture_output=True,
        text=True,
        env={**os.environ, "PRECISION": "fp16", "EXPORT_DIR": str(tmp_path / "out")},
    )
    assert result.returncode != 0
    assert "PRECISION must be int8 (default) or float, not 'fp16'" in result.stderr
    assert not (tmp_path / "out").exists()


@pytest.mark.slow  # builds archives with build_mar.sh: 10-30 s each
def test_every_handler_module_is_packed_without_editing_the_script(tmp_path):
    checkout = copy_build_inputs(tmp_path / "checkout")
    (checkout / "handler" / "extra_step.py").write_text("STEP = 1\n")
    result = build_mar(tmp_path / "out", checkout)
    assert result.returncode == 0, result.stderr
    with zipfile.ZipFile(tmp_path / "out" / "mnist.mar") as archive:
        assert "extra_step.py" in archive.namelist()


@pytest.mark.slow  # builds archives with build_mar.sh: 10-30 s each
def test_the_unpacked_archive_imports_on_its_own(tmp_path):
    """As a TorchServe worker imports it: the archive's flat directory on sys.path, nothing of the repo
    (no pytest pythonpath); every module, the model's included, comes from the archive, once."""
    assert build_mar(tmp_path).returncode == 0
    unpacked = tmp_path / "unpacked"
    with zipfile.ZipFile(tmp_path / "mnist.mar") as archive:
        archive.extractall(unpacked)
    modules = sorted(path.stem for path in unpacked.glob("*.py"))
    probe = (
        "import importlib, json, sys\n"
        f"sys.path.insert(0, {str(unpacked)!r})\n"
        f"loaded = {{name: importlib.import_module(name).__file__ for name in {modules!r}}}\n"
        "print(json.dumps({'loaded': loaded, 'model_package': 'model' in sys.modules}))\n"
    )
    # -I: no PYTHONPATH, no current directory, no user site: only the archive and the installed packages.
    result = subprocess.run([sys.executable, "-I", "-c", probe], capture_output=True, text=True, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    assert set(report["loaded"]) >= {"mnist_handler", "mnist_cnn", "request_pipeline", "mnist_preprocessing"}
    assert all(Path(path).parent == unpacked for path in report["loaded"].values()), report["loaded"]
    assert not report["model_package"]
