"""Bring any picture of one digit into MNIST's form: a bright digit on black, fitted in a 20x20 box,
centred by mass in 28x28, normalised with the training statistics.

That is how the MNIST images themselves were made (LeCun et al.), so a digit photographed or drawn on a
white canvas reaches the model in the form it was trained on. An image that is already 28x28 is taken to
be in MNIST form and only has its polarity fixed: re-cropping an MNIST digit would change it, and the
model's accuracy through the handler must equal its own.
"""

import math
from typing import Optional

import numpy as np
import torch
from PIL import Image

from input_errors import NoDigitFound
# By bare name, as everywhere the handler runs: TorchServe unpacks the .mar flat and imports the handler
# and the model file (--model-file mnist_cnn.py) as top-level modules; pytest.ini's pythonpath mirrors that.
from mnist_cnn import MNIST_MEAN, MNIST_STD

MNIST_SIDE = 28
DIGIT_BOX = 20  # MNIST fits each digit's longer side to 20 px, leaving a 4 px margin
MIN_CONTRAST = 32  # grey levels the digit must stand out from the background by
INK_LEVEL = 0.25  # share of the strongest stroke that counts as ink when finding the digit's box
# Larger pictures are first box-reduced to this size: the digit ends up 20 px anyway, and the float
# arrays of a 4096x4096 picture would cost ~10x more time than the rest of the request.
WORKING_SIDE = 1024
# Modes PIL cannot reduce (or would average palette indices of) -> the mode to convert them to first.
_REDUCIBLE_AS = {"1": "L", "P": "RGBA", "PA": "RGBA", "I;16": "I", "I;16B": "I", "I;16L": "I", "I;16N": "I"}


def to_mnist_tensor(image: Image.Image) -> torch.Tensor:
    """One PIL image of any size and mode -> a normalised float tensor of shape (1, 28, 28); NoDigitFound
    if nothing on it stands out from the background."""
    grey = bright_on_dark(to_grey(reduced(image)))
    if grey.shape == (MNIST_SIDE, MNIST_SIDE):
        pixels = grey if np.ptp(grey) >= MIN_CONTRAST else None
    else:
        pixels = centre_digit(grey)
    if pixels is None:
        raise NoDigitFound(_blank_message(image.width, image.height))
    return torch.from_numpy((pixels / 255.0 - MNIST_MEAN) / MNIST_STD).to(torch.float32).unsqueeze(0)


def reduced(image: Image.Image) -> Image.Image:
    factor = math.ceil(max(image.size) / WORKING_SIDE)
    if factor <= 1:
        return image
    if image.mode in _REDUCIBLE_AS:
        image = image.convert(_REDUCIBLE_AS[image.mode])
    return image.reduce(factor)


def to_grey(image: Image.Image) -> np.ndarray:
    """Luminance as float32 in [0, 255]; transparency becomes the background colour opposite the ink."""
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):  # 16-bit and float scans: stretch to 8-bit range
        values = np.asarray(image, dtype=np.float32)
        low, high = values.min(), values.max()
        return (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        # Canvas drawings often have dark strokes on a transparent background whose hidden colour is black;
        # compositing onto the colour that contrasts with the strokes keeps the digit visible.
        grey_alpha = np.asarray(image.convert("LA"), dtype=np.float32)
        grey, alpha = grey_alpha[..., 0], grey_alpha[..., 1] / 255.0
        ink_luminance = (grey * alpha).sum() / max(alpha.sum(), 1.0)
        background = 255.0 if ink_luminance < 128 else 0.0
        return grey * alpha + background * (1.0 - alpha)
    return np.asarray(image.convert("L"), dtype=np.float32)


def _border(grey: np.ndarray) -> np.ndarray:
    return np.concatenate([grey[0], grey[-1], grey[1:-1, 0], grey[1:-1, -1]])


def bright_on_dark(grey: np.ndarray) -> np.ndarray:
    """MNIST digits are white on black; pictures are usually the opposite. The border tells which."""
    return 255.0 - grey if np.median(_border(grey)) > 127 else grey


def centre_digit(grey: np.ndarray) -> Optional[np.ndarray]:
    """The digit of a bright-on-dark picture cropped, fitted in DIGIT_BOX and centred by mass in 28x28;
    None if no mark stands out from the background by MIN_CONTRAST."""
    ink = np.clip(grey - np.median(_border(grey)), 0, None)
    peak = ink.max()
    if peak < MIN_CONTRAST:
        return None
    ink *= 255.0 / peak  # full contrast, as in MNIST, whatever the lighting
    rows = np.flatnonzero((ink > INK_LEVEL * 255).any(axis=1))
    cols = np.flatnonzero((ink > INK_LEVEL * 255).any(axis=0))
    digit = ink[rows[0] : rows[-1] + 1, cols[0] : cols[-1] + 1]

    height, width = digit.shape
    scale = DIGIT_BOX / max(height, width)
    size = (max(1, round(width * scale)), max(1, round(height * scale)))
    # PIL's bilinear resize anti-aliases when shrinking, like MNIST's own normalisation.
    fitted = np.asarray(Image.fromarray(digit).resize(size, Image.Resampling.BILINEAR), dtype=np.float32)
    fitted = np.clip(fitted, 0, 255)

    canvas = np.zeros((MNIST_SIDE, MNIST_SIDE), dtype=np.float32)
    mass = fitted.sum()
    centre_row = (fitted.sum(axis=1) @ np.arange(fitted.shape[0])) / mass
    centre_col = (fitted.sum(axis=0) @ np.arange(fitted.shape[1])) / mass
    # Place the centre of mass at the canvas centre (13.5 in pixel indices), keeping the digit whole.
    top = int(np.clip(round((MNIST_SIDE - 1) / 2 - centre_row), 0, MNIST_SIDE - fitted.shape[0]))
    left = int(np.clip(round((MNIST_SIDE - 1) / 2 - centre_col), 0, MNIST_SIDE - fitted.shape[1]))
    canvas[top : top + fitted.shape[0], left : left + fitted.shape[1]] = fitted
    return canvas


def _blank_message(width: int, height: int) -> str:
    return (
        f"no digit found: the {width}x{height} image has no mark that stands out from its "
        f"background by {MIN_CONTRAST} grey levels; send a picture of one digit, dark on light or light on dark"
    )
