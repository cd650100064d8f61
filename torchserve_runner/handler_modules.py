"""The handler's modules importable by bare name in a plain Python process, as a TorchServe worker imports
them from the unpacked .mar (`import mnist_handler`, `from mnist_cnn import ...`): for the code that runs
the handler's steps without TorchServe (the benchmarks' in-process limit and peers, the photo evaluation).
The tests get the same from pytest.ini's pythonpath."""

import sys

from torchserve_runner.server import REPO

FOLDERS = (REPO / "model", REPO / "handler")


def put_handler_modules_on_path() -> None:
    """handler/ and model/ first on sys.path, once."""
    for folder in FOLDERS:
        if str(folder) not in sys.path:
            sys.path.insert(0, str(folder))
