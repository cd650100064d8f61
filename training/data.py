"""MNIST through torchvision, from a local copy when there is one and downloaded otherwise."""

import os
from pathlib import Path

import torch
from PIL import Image, ImageFilter
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


class PenAndFocus:
    """What another pen or an out-of-focus photo leaves of a digit once the handler has found it and
    stretched its contrast: with probability `thick` the strokes a pixel wider on each side (a marker), with
    probability `blur` blurred by a Gaussian of sigma 0.5 to `max_sigma` px and brought back to full
    contrast; else as it is. Draws from torch's generator, so a seeded run is reproducible."""

    def __init__(self, thick: float, blur: float, max_sigma: float = 2.5):
        self.thick, self.blur, self.max_sigma = thick, blur, max_sigma

    def __call__(self, image: Image.Image) -> Image.Image:
        draw = float(torch.rand(()))
        if draw < self.thick:
            return image.filter(ImageFilter.MaxFilter(3))
        if draw < self.thick + self.blur:
            blurred = image.filter(ImageFilter.GaussianBlur(float(torch.empty(()).uniform_(0.5, self.max_sigma))))
            peak = max(blurred.getextrema()[1], 1)
            return blurred.point(lambda level: min(255, round(level * 255 / peak)))
        return image


def train_transform(thick: float = 0.0, blur: float = 0.0, max_sigma: float = 2.5) -> transforms.Compose:
    """Light affine jitter (the small shifts, turns and size changes real handwriting has after centring),
    then, when asked (training.train --thick-pen/--blur), the pen and focus changes of photos."""
    steps = [transforms.RandomAffine(degrees=10, translate=(0.1, 0.1), scale=(0.9, 1.1))]
    if thick or blur:
        steps.append(PenAndFocus(thick, blur, max_sigma))
    return transforms.Compose([*steps, *_TO_NORMALISED_TENSOR])


TRAIN_TRANSFORM = train_transform()
EVAL_TRANSFORM = transforms.Compose(_TO_NORMALISED_TENSOR)


def mnist(root: str, train: bool, transform=None) -> datasets.MNIST:
    return datasets.MNIST(root=root, train=train, transform=transform, download=True)
