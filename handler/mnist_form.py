"""MNIST's own form, on grey arrays: a bright digit on black, fitted in a 20x20 box, centred by mass in 28x28.

That is how the MNIST images themselves were made (LeCun et al.); mnist_preprocessing brings any picture
here, and digit_finding sizes what it looks for by the box the digit will be fitted to.
"""

from typing import Optional

import numpy as np
from PIL import Image

from image_operations import border

MNIST_SIDE = 28
DIGIT_BOX = 20  # MNIST fits each digit's longer side to 20 px, leaving a 4 px margin
MIN_CONTRAST = 32  # grey levels the digit must stand out from the background by
INK_LEVEL = 0.25  # share of the strongest stroke that counts as ink when finding the digit's box


def bright_on_dark(grey: np.ndarray) -> np.ndarray:
    """MNIST digits are white on black; pictures are usually the opposite. The border tells which."""
    return 255.0 - grey if np.median(border(grey)) > 127 else grey


def centre_digit(grey: np.ndarray) -> Optional[np.ndarray]:
    """The digit of a bright-on-dark picture cropped, fitted in DIGIT_BOX and centred by mass in 28x28;
    None if no mark stands out from the background by MIN_CONTRAST."""
    ink = np.clip(grey - np.median(border(grey)), 0, None)
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
