"""The one way the repo's own code imports the handler's modules: as a TorchServe worker does from the
unpacked .mar, by bare name (`import mnist_handler`, `from mnist_cnn import ...`).

The .mar is flat: handler/*.py, plus the model file build_mar.sh packs as `--model-file model/mnist_cnn.py`.
Everything that runs the handler's steps outside TorchServe calls put_handler_modules_on_path() before it
imports them: the tests (tests/conftest.py), the benchmarks and peers, the adversarial corpus, the photo
evaluation and the fuzzer. The worker never does: it gets every module from the archive.
"""

import importlib
import sys

from torchserve_runner.server import REPO

HANDLER = REPO / "handler"
# The model file under the name it has in the .mar, and the package name the rest of the repo uses.
MODEL_FILE_MODULE = "mnist_cnn"
MODEL_MODULE = "model.mnist_cnn"


def put_handler_modules_on_path() -> None:
    """handler/ first on sys.path, and `mnist_cnn` bound to the module `model.mnist_cnn`, so the model's
    classes and constants are one object whichever name imports them. Calling it again changes nothing."""
    if str(HANDLER) not in sys.path:
        sys.path.insert(0, str(HANDLER))
    sys.modules.setdefault(MODEL_FILE_MODULE, importlib.import_module(MODEL_MODULE))
