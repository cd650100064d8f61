"""Bring any picture of one digit into MNIST's form (mnist_form): the entry point, image -> tensor.

A digit photographed or drawn on a white canvas reaches the model in the form it was trained on: a large
picture is reduced first, turned upright as its EXIF tells viewers to show it (image_orientation), turned
into grey, its digit found (digit_finding) and fitted as MNIST's were.
An image that is already 28x28 is taken to be in MNIST form and only has its polarity fixed: re-cropping an
MNIST digit would change it, and the model's accuracy through the handler must equal its own.
"""

import math
from typing import Optional, Tuple

import numpy as np
import torch
from PIL import Image

from digit_finding import find_digit
from image_orientation import orientation_of, upright
from ink_colour import colour_of
from input_errors import InvalidInput, NoDigitFound

# By bare name, as everywhere the handler runs: TorchServe unpacks the .mar flat and imports the handler
# and the model file (--model-file mnist_cnn.py) as top-level modules (torchserve_runner/handler_modules.py).
from mnist_cnn import normalised
from mnist_form import MIN_CONTRAST, MNIST_SIDE, bright_on_dark, centre_digit
from page_perspective import straightened

# Larger pictures are first box-reduced to this size: the digit ends up 20 px anyway, and the float
# arrays of a 4096x4096 picture would cost ~10x more time than the rest of the request.
WORKING_SIDE = 1024
# Pixels of the picture reduced at a time (a strip of whole rows), whatever its size.
REDUCTION_STRIP_PIXELS = 1 << 20
MIN_PHOTO_SIDE = 32  # smaller pictures (but 28x28) have no room for paper around a digit: read as MNIST's
_SIXTEEN_BIT = ("I;16", "I;16B", "I;16L", "I;16N")
_WITH_ALPHA = ("RGBA", "RGBa", "LA", "La", "PA")


def to_mnist_tensor(image: Image.Image, size: Optional[Tuple[int, int]] = None) -> torch.Tensor:
    """One PIL image of any size and mode -> a normalised float tensor of shape (1, 28, 28); NoDigitFound
    if nothing on it stands out from the background. `size` is the picture's size as sent, when it was
    decoded at a reduced scale (image_decoding decodes a large JPEG so): the refusal names it."""
    working = upright(reduced(image), orientation_of(image))  # turned after reducing: a smaller copy
    grey = to_grey(working)
    if grey.shape == (MNIST_SIDE, MNIST_SIDE):
        grey = bright_on_dark(grey)
        pixels = grey if np.ptp(grey) >= MIN_CONTRAST else None
    elif min(grey.shape) < MIN_PHOTO_SIDE:  # too small to hold paper around a digit: as MNIST was made
        pixels = centre_digit(bright_on_dark(grey))
    else:
        # A page photographed at an angle is made upright first; its colour tells pen from print.
        digit = find_digit(*straightened(grey, colour_of(working)))
        pixels = None if digit is None else centre_digit(digit)
    if pixels is None:
        raise NoDigitFound(blank_message(*(size or image.size)))
    return torch.from_numpy(normalised(pixels)).to(torch.float32).unsqueeze(0)


def reduced(image: Image.Image) -> Image.Image:
    """A picture larger than WORKING_SIDE box-averaged down to it, strip by strip (so the reduction holds a
    strip, not a second copy of the picture), in a mode PIL reduces meaningfully: palette and bilevel
    pictures become grey (with alpha where they have transparency), 16-bit grey becomes 32-bit."""
    factor = math.ceil(max(image.size) / WORKING_SIDE)
    if factor <= 1:
        return image
    rows = factor * max(1, REDUCTION_STRIP_PIXELS // (image.width * factor))  # whole blocks per strip
    strips = []
    for top in range(0, image.height, rows):
        strip = _reducible(image.crop((0, top, image.width, min(top + rows, image.height))))
        strips.append(strip.reduce(factor))
    out = Image.new(strips[0].mode, (strips[0].width, sum(strip.height for strip in strips)))
    for index, strip in enumerate(strips):
        out.paste(strip, (0, index * rows // factor))
    return out


def _reducible(image: Image.Image) -> Image.Image:
    """The image in a mode PIL's reduce averages as pixels (a crop keeps the palette's transparency)."""
    if image.mode in _SIXTEEN_BIT:
        return image.convert("I")
    if image.mode in ("1", "P", "PA"):
        return image.convert("LA" if image.mode == "PA" or "transparency" in image.info else "L")
    return image


def to_grey(image: Image.Image) -> np.ndarray:
    """Luminance as float32 in [0, 255]; transparency becomes the background colour opposite the ink.
    InvalidInput for a float picture with NaN or infinite pixels (no grey level stands for them)."""
    if image.mode in ("I", "F", *_SIXTEEN_BIT):  # 16-bit, 32-bit and float scans: stretch to 8-bit range
        values = np.asarray(image, dtype=np.float64)  # float32 would overflow on the span of extreme floats
        if not np.isfinite(values).all():
            raise InvalidInput("the image has NaN or infinite pixel values; a float image needs finite ones")
        low, high = values.min(), values.max()
        stretched = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return stretched.astype(np.float32)
    if image.mode == "LAB":  # CIELab: its L* channel is the lightness (PIL converts LAB to nothing else)
        return np.asarray(image.getchannel(0), dtype=np.float32)
    if image.mode in _WITH_ALPHA or (image.mode == "P" and "transparency" in image.info):
        # Canvas drawings often have dark strokes on a transparent background whose hidden colour is black;
        # compositing onto the colour that contrasts with the strokes keeps the digit visible.
        grey_alpha = np.asarray(image.convert("LA"), dtype=np.float32)
        grey, alpha = grey_alpha[..., 0], grey_alpha[..., 1] / 255.0
        ink_luminance = (grey * alpha).sum() / max(alpha.sum(), 1.0)
        background = 255.0 if ink_luminance < 128 else 0.0
        return grey * alpha + background * (1.0 - alpha)
    return np.asarray(image.convert("L"), dtype=np.float32)


def blank_message(width: int, height: int) -> str:
    return (
        f"no digit found: the {width}x{height} image has no mark that stands out from its "
        f"background by {MIN_CONTRAST} grey levels; send a picture of one digit, dark on light or light on dark"
    )
