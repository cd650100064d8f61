"""MNIST through torchvision, from a local copy when there is one and downloaded otherwise."""

import os
from pathlib import Path

from torchvision import datasets, transforms

from model.mnist_cnn import MNIST_MEAN, MNIST_STD

# Where the idx files live (torchvision's layout: <root>/MNIST/raw/): MNIST_DATA_ROOT, else a copy in
# ../shared/mnist beside the repo, else data/ (downloaded on first use). torchvision downloads only when
# the files are missing, so a read-only copy is used as it is.
_SHARED_COPY = Path(__file__).resolve().parent.parent.parent / "shared" / "mnist"
DEFAULT_DATA_ROOT = os.environ.get("MNIST_DATA_ROOT") or (
    str(_SHARED_COPY) if (_SHARED_COPY / "MNIST" / "raw").is_dir() else "data"
)

_TO_NORMALISED_TENSOR = [transforms.ToTensor(), transforms.Normalize((MNIST_MEAN,), (MNIST_STD,))]

# Light affine jitter: the small shifts, turns and size changes real handwriting has after centring.
TRAIN_TRANSFORM = transforms.Compose(
    [transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1)), *_TO_NORMALISED_TENSOR]
)
EVAL_TRANSFORM = transforms.Compose(_TO_NORMALISED_TENSOR)


def mnist(root: str, train: bool, transform=None) -> datasets.MNIST:
    return datasets.MNIST(root=root, train=train, transform=transform, download=True)
