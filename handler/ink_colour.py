"""Pen told from print by its colour, where a picture has colour: forms print their boxes in a colour the
writing often is not (drop-out forms do so on purpose), and a stroke lying on a printed line in another
colour is the writer's, however dark the print.

A pixel's ink is the colour it takes away from the paper, (paper - pixel) in RGB (ink_colours): ink laid
over paper at any coverage (an anti-aliased edge, a line thinner than a pixel, a block averaged with paper)
moves the pixel from the paper's colour straight towards the ink's, so its direction is the ink's own
whatever its strength. The print's colour is the direction most of the lines' pixels share; a pixel is off
it by the amount of colour it has across that direction (across_print), which noise on a faint edge does
not reach and a pen's stroke does.
"""

from typing import Optional

import numpy as np
from PIL import Image

# A pen's stroke differs from black print by ~80 levels of colour across the print's colour (blue ball-point,
# at full strength), from red print by more; the noise of a phone's JPEG on a line's faint edge, by < 25.
OFF_PRINT = 40  # levels of colour (RGB) across the print's colour that make a line's pixel a pen's
MIN_INK = 30  # pixels this close to the paper's colour (RGB distance) have too faint a colour to set the print's
PAPER_SAMPLE = 4096  # the paper's tint is a median of this many to twice as many of its pixels, evenly spread
LUMINANCE = np.array([0.299, 0.587, 0.114], dtype=np.float32)  # grey from RGB, as PIL converts to "L"
_COLOUR_MODES = ("RGB", "RGBX", "CMYK", "YCbCr", "HSV")


def colour_of(image: Image.Image) -> Optional[np.ndarray]:
    """The picture's RGB as uint8 (height, width, 3); None where it has no colour of its own to tell inks
    apart by: grey and bilevel modes, and pictures with transparency (their hidden colours are arbitrary)."""
    palette_colour = image.mode == "P" and "transparency" not in image.info
    if image.mode not in _COLOUR_MODES and not palette_colour:
        return None
    return np.asarray(image if image.mode == "RGB" else image.convert("RGB"))


def reduced_colour(rgb: np.ndarray, factor: int) -> np.ndarray:
    """The mean colour of each factor x factor block, as float32 (the analysis copy's colour)."""
    image = Image.fromarray(rgb, "RGB")
    return np.asarray(image.reduce(factor) if factor > 1 else image, dtype=np.float32)


def ink_colours(rgb: np.ndarray, paper: np.ndarray, paper_grey: np.ndarray) -> np.ndarray:
    """Each pixel's ink as the colour it takes away from the paper there, (paper - pixel) in RGB. The paper's
    colour there is its tint (the median colour of the `paper` pixels, a mask, taken on about PAPER_SAMPLE
    of them spread evenly: a median needs no more) at the brightness of `paper_grey`, the paper's local grey
    level: light falling off across a page dims the paper's colour, not its tint. Light ink on dark paper
    points the other way, as its print does."""
    if not paper.any():
        return np.zeros_like(rgb)
    on_paper = rgb[paper]
    tint = np.median(on_paper[:: max(1, len(on_paper) // PAPER_SAMPLE)], axis=0)
    tint /= max(float(tint @ LUMINANCE), 1.0)
    return paper_grey[..., None] * tint - rgb


def across_print(lines: np.ndarray, ink: np.ndarray) -> np.ndarray:
    """How far each pixel's ink (ink_colours) is from the print's colour: its levels of colour (RGB) across
    the print's, the median direction of the clearly inked pixels of `lines` (printed lines found, a mask;
    most of their pixels are print). Zero everywhere where the lines hold no clear ink. Black and grey inks
    share one direction; they are told apart by strength (printed_lines.ink_over_lines), not here."""
    on_lines = ink[lines]
    strength = np.sqrt((on_lines**2).sum(axis=1))
    inked = strength >= MIN_INK
    if not inked.any():
        return np.zeros(lines.shape, dtype=np.float32)
    print_colour = np.median(on_lines[inked] / strength[inked, None], axis=0)
    print_colour /= max(float(np.linalg.norm(print_colour)), 1e-6)
    across = ink - (ink @ print_colour)[..., None] * print_colour
    return np.sqrt((across**2).sum(axis=2))
