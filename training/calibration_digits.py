"""Write model/calibration_digits.npz: the 1,000 MNIST training digits that calibrate the int8 graph.

    python -m training.calibration_digits

model/quantize_int8.py measures the range of every activation on these digits. They are committed
(uint8, ~0.2 MB compressed) because the archive is built where the dataset is not (the Docker build),
and drawn from the training images with a fixed seed, never from the test images, which judge the result.
"""

import argparse
from pathlib import Path

import numpy as np
import torch

from model.quantize_int8 import CALIBRATION_DIGITS
from training.data import DEFAULT_DATA_ROOT, mnist

COUNT = 1000
SEED = 0


def calibration_digits(root: str, count: int = COUNT, seed: int = SEED) -> np.ndarray:
    """`count` training digits (count, 28, 28) uint8, drawn at random with `seed`."""
    indices = torch.randperm(60_000, generator=torch.Generator().manual_seed(seed))[:count]
    return mnist(root, train=True).data[indices].numpy()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="torchvision MNIST root (env MNIST_DATA_ROOT)")
    parser.add_argument("--out", type=Path, default=CALIBRATION_DIGITS)
    args = parser.parse_args()
    np.savez_compressed(args.out, digits=calibration_digits(args.data_root))
    print(f"wrote {COUNT} training digits to {args.out}")


if __name__ == "__main__":
    main()
