"""Generic operations on grey-level arrays and boolean masks, each a pure function of its arguments.

They know nothing of digits or requests (digit_finding and mnist_form build on them). The costly ones are
scipy.ndimage's C implementations, whose cost per pixel does not depend on what the picture shows:
filters (and openings by a line) are separable and O(1) per pixel whatever the radius, labelling is one
pass, and every figure of the marks is a vectorised reduction over the labelled pixels, never a Python loop
over marks or runs (a checkerboard has tens of thousands of marks).
"""

from typing import Callable, Tuple

import numpy as np
from PIL import Image
from scipy import ndimage

# 8-connectivity: pixels touching by a corner belong to one mark, as a pen stroke's diagonal steps do.
_EIGHT_NEIGHBOURS = np.ones((3, 3), dtype=bool)
_ROW_NEIGHBOURS = np.array([[0, 0, 0], [1, 1, 1], [0, 0, 0]], dtype=bool)


def border(values: np.ndarray) -> np.ndarray:
    """The pixels along the edge of a 2-D array, each once."""
    return np.concatenate([values[0], values[-1], values[1:-1, 0], values[1:-1, -1]])


def max_filter(values: np.ndarray, radius: int) -> np.ndarray:
    """The maximum over a (2 radius + 1)^2 square around each pixel, the picture continued at its edges."""
    return ndimage.maximum_filter(values, size=2 * radius + 1, mode="nearest")


def min_filter(values: np.ndarray, radius: int) -> np.ndarray:
    """The minimum over a (2 radius + 1)^2 square around each pixel, the picture continued at its edges."""
    return ndimage.minimum_filter(values, size=2 * radius + 1, mode="nearest")


def grey_closing(values: np.ndarray, radius: int) -> np.ndarray:
    """A grey closing (max, then min, over (2 radius + 1)^2 squares) of the picture continued beyond its
    edges as it is at them, far enough that the closing near an edge sees that continuation itself (a
    strip along the edge narrower than the window stays as it is)."""
    margin = 2 * radius
    closed = min_filter(max_filter(np.pad(values, margin, mode="edge"), radius), radius)
    return closed[margin : margin + values.shape[0], margin : margin + values.shape[1]]


def white_top_hat(values: np.ndarray, radius: int) -> np.ndarray:
    """The picture less its grey opening (min, then max, over (2 radius + 1)^2 squares, the picture continued
    at its edges): what is narrower than the square stands out as it did, what is wider is gone."""
    return values - max_filter(min_filter(values, radius), radius)


def box_blur(values: np.ndarray, radius: int) -> np.ndarray:
    """The mean over a (2 radius + 1)^2 square around each pixel, the picture continued at its edges."""
    return ndimage.uniform_filter(values.astype(np.float32, copy=False), size=2 * radius + 1, mode="nearest")


def dilated(mask: np.ndarray, radius: int = 1) -> np.ndarray:
    """A boolean mask grown by `radius` pixels (a square); nothing grows in from outside the picture."""
    if radius < 1:
        return mask.copy()
    return ndimage.maximum_filter(mask, size=2 * radius + 1, mode="constant", cval=False)


def max_filter_along(mask: np.ndarray, radius: int, axis: int) -> np.ndarray:
    """A boolean mask grown by `radius` pixels along one axis only (0: up and down, 1: left and right)."""
    return ndimage.maximum_filter1d(mask, size=2 * radius + 1, axis=axis, mode="constant", cval=False)


def box_counter(mask: np.ndarray) -> Callable[..., np.ndarray]:
    """counts(top, bottom, left, right): how many pixels of `mask` lie in each box [top, bottom) x [left,
    right) (arrays of bounds, top <= bottom and left <= right, clipped to the picture). A summed-area table,
    built once and read at four corners a box: what a box costs does not depend on its size."""
    height, width = mask.shape
    sums = np.zeros((height + 1, width + 1), dtype=np.int32)
    sums[1:, 1:] = mask.cumsum(axis=0, dtype=np.int32).cumsum(axis=1, dtype=np.int32)

    def counts(top, bottom, left, right) -> np.ndarray:
        top, bottom = np.clip(top, 0, height), np.clip(bottom, 0, height)
        left, right = np.clip(left, 0, width), np.clip(right, 0, width)
        return sums[bottom, right] - sums[top, right] - sums[bottom, left] + sums[top, left]

    return counts


def in_runs_of(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """The pixels of a boolean mask in a run of at least `length` along one axis (0: a column, 1: a row):
    a morphological opening by a line, two 1-D passes whatever the length (rounded up to odd, so the
    line is centred)."""
    size = max(1, length) | 1
    shrunk = ndimage.minimum_filter1d(mask, size=size, axis=axis, mode="constant", cval=False)
    return ndimage.maximum_filter1d(shrunk, size=size, axis=axis, mode="constant", cval=False)


def closed_along(mask: np.ndarray, length: int, axis: int) -> np.ndarray:
    """A boolean mask with its gaps of fewer than `length` pixels (rounded up to odd) between two of its pixels
    along one axis (0: a column, 1: a row) filled: a closing by a line, two 1-D passes, on the mask padded
    with half a line of nothing (so a gap at the picture's edge stays open)."""
    size = max(1, length) | 1
    half = size // 2
    padding = [(0, 0), (0, 0)]
    padding[axis] = (half, half)
    grown = ndimage.maximum_filter1d(np.pad(mask, padding), size=size, axis=axis, mode="constant", cval=False)
    closed = ndimage.minimum_filter1d(grown, size=size, axis=axis, mode="constant", cval=True)
    return np.take(closed, np.arange(half, half + mask.shape[axis]), axis=axis)


def eroded(mask: np.ndarray) -> np.ndarray:
    """A boolean mask shrunk by one pixel (a 3x3 square); the outside of the picture counts as mask."""
    return ndimage.minimum_filter(mask, size=3, mode="constant", cval=True)


def connected(mask: np.ndarray) -> Tuple[np.ndarray, int]:
    """The 8-connected components of a boolean mask: (labels, 0 off the mask and 1..count on it; count),
    without label_marks' boxes and areas where only which pixels belong together matters."""
    return ndimage.label(mask, structure=_EIGHT_NEIGHBOURS)


def holes(mask: np.ndarray, min_area: int = 1) -> np.ndarray:
    """The pixels off a boolean mask that it encloses: 4-connected stretches of them (what 8-connected marks
    close off) of at least `min_area` pixels that do not reach the array's edge, such as a loop's inside."""
    labels, count = ndimage.label(~mask)
    area = np.bincount(labels.ravel(), minlength=count + 1)
    enclosed = area >= max(min_area, 1)
    enclosed[0] = False
    enclosed[border(labels)] = False
    return enclosed[labels]


def label_marks(mask: np.ndarray, min_area: int = 1) -> Tuple[np.ndarray, np.ndarray]:
    """The 8-connected components ("marks") of a boolean mask with at least `min_area` pixels:
    (labels: int32, 0 off the kept marks, 1..n on them in the order their first pixel is met row by row;
    stats: (n, 5) int64 rows of top, bottom, left, right (both exclusive), area)."""
    labels, count = connected(mask)
    area = np.bincount(labels.ravel(), minlength=count + 1)
    area[0] = 0
    kept = np.flatnonzero(area >= max(min_area, 1))
    renumbered = np.zeros(count + 1, dtype=np.int32)
    renumbered[kept] = np.arange(1, len(kept) + 1, dtype=np.int32)
    labels = renumbered[labels]
    stats = np.zeros((len(kept), 5), dtype=np.int64)
    stats[:, 4] = area[kept]
    rows, cols = np.nonzero(labels)
    which = labels[rows, cols] - 1
    stats[:, 0], stats[:, 2] = mask.shape
    np.minimum.at(stats[:, 0], which, rows)
    np.maximum.at(stats[:, 1], which, rows + 1)
    np.minimum.at(stats[:, 2], which, cols)
    np.maximum.at(stats[:, 3], which, cols + 1)
    return labels, stats


def otsu_threshold(values: np.ndarray) -> float:
    """Otsu's threshold of values in [0, 1], on a 64-bin histogram (0.5 for fewer than 16 values)."""
    if values.size < 16:
        return 0.5
    counts, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2
    weight = np.cumsum(counts)
    total = weight[-1]
    mean = np.cumsum(counts * centres)
    between = (mean[-1] * weight / total - mean) ** 2 / np.maximum(weight * (total - weight), 1)
    return float(centres[int(np.argmax(between[:-1]))])


def box_reduced(values: np.ndarray, factor: int) -> np.ndarray:
    """The mean of each factor x factor block."""
    if factor <= 1:
        return values
    return np.asarray(Image.fromarray(values.astype(np.float32, copy=False), "F").reduce(factor), dtype=np.float32)


def darkest_reduced(values: np.ndarray, factor: int) -> np.ndarray:
    """The minimum of each factor x factor block (the picture continued at its edges to whole blocks): one
    strided minimum per position in the block, far cheaper than numpy's reduction over two strided axes."""
    if factor <= 1:
        return values
    height, width = values.shape
    rows, cols = -(-height // factor), -(-width // factor)
    padded = np.pad(values, ((0, rows * factor - height), (0, cols * factor - width)), mode="edge")
    darkest = padded[::factor, ::factor].copy()
    for row in range(factor):
        for col in range(factor):
            np.minimum(darkest, padded[row::factor, col::factor], out=darkest)
    return darkest


def enlarged(values: np.ndarray, factor: int, shape) -> np.ndarray:
    """A block-reduced array back at `shape`, smoothly (bilinear)."""
    if factor <= 1:
        return values
    full = (values.shape[1] * factor, values.shape[0] * factor)  # PIL's (width, height)
    image = Image.fromarray(values.astype(np.float32), "F").resize(full, Image.Resampling.BILINEAR)
    return np.asarray(image, dtype=np.float32)[: shape[0], : shape[1]]


def mask_enlarged(mask: np.ndarray, factor: int, shape) -> np.ndarray:
    """A mask of a block-reduced copy back at `shape`, each of its pixels a factor x factor block."""
    return np.repeat(np.repeat(mask, factor, axis=0), factor, axis=1)[: shape[0], : shape[1]]


def longest_runs(mask: np.ndarray) -> np.ndarray:
    """The length of the longest run of True in each row of a 2-D boolean array (0 where a row holds none)."""
    counts = mask.cumsum(axis=1, dtype=np.int32)
    # At each pixel, the count where the run through it began: the count at the last False before it.
    began = np.maximum.accumulate(np.where(mask, 0, counts), axis=1)
    return (counts - began).max(axis=1, initial=0)
