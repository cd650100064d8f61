"""The model archive (.mar) built from the working tree, or from a copy of its build inputs, by build_mar.sh."""

import os
import shutil
import subprocess
import zipfile
from pathlib import Path

from torchserve_runner.server import REPO


def copy_build_inputs(checkout: Path) -> Path:
    """What build_mar.sh needs, copied into `checkout`, so a test can break a piece of it."""
    checkout.mkdir(parents=True)
    for part in ("build_mar.sh", "handler", "model"):
        source = REPO / part
        (shutil.copytree if source.is_dir() else shutil.copy)(source, checkout / part)
    return checkout


def build_mar(export_dir: Path, checkout: Path = REPO, precision: str = "int8") -> subprocess.CompletedProcess:
    """build_mar.sh into `export_dir`; `precision` is the served graph's (int8, or float for A/B runs)."""
    # A copied checkout has no .venv: the archiver is then found on PATH, as in the Docker build.
    env = {
        **os.environ,
        "EXPORT_DIR": str(export_dir),
        "PRECISION": precision,
        "PATH": f"{REPO / '.venv' / 'bin'}:{os.environ['PATH']}",
    }
    return subprocess.run([str(checkout / "build_mar.sh")], env=env, capture_output=True, text=True)


def built_model_store(export_dir: Path, checkout: Path = REPO, precision: str = "int8") -> Path:
    """A model store holding a .mar built from `checkout` (the working tree); raises with build_mar.sh's error."""
    result = build_mar(export_dir, checkout, precision)
    if result.returncode != 0:
        raise RuntimeError(f"build_mar.sh failed:\n{result.stderr}")
    return export_dir


def served_graph(model_store: Path, folder: Path) -> Path:
    """The ONNX graph inside the store's mnist.mar, extracted into `folder`: what the workers run."""
    with zipfile.ZipFile(model_store / "mnist.mar") as archive:
        (graph,) = [name for name in archive.namelist() if name.endswith(".onnx")]
        return Path(archive.extract(graph, folder))
