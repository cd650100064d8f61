"""Find the page in a photo of a sheet held at an angle and straighten it, as document scanners do.

A phone held at an angle sees a sheet of paper as a convex quadrilateral (a keystone) and the digit on it
squeezed and sheared the same way; mapping the page back to an upright rectangle gives the digit its shape
back. The page is trusted only where it is clearly visible: on a reduced copy, the large bright region
(Otsu's split of a smoothed copy, its largest 4-connected component with the ink and other holes filled)
must be a quadrilateral (it and the quadrilateral of its corners overlap almost wholly: not a blob, not a
stroke), cover a fair share of the picture, be clearly brighter than what surrounds it and show its four
corners inside the frame. Anything else (a page filling the frame, a drawing on a canvas, noise,
patterns) has no page, and a page seen square or merely turned is left alone: a warp would only blur it.

The cost does not depend on the picture: one block reduction of the whole picture, a fixed number of
vectorised numpy and scipy.ndimage passes over a copy of at most ANALYSIS_SIDE a side, O(1) work on a fixed
number of candidate corners, and one perspective warp (PIL's C code) of at most MAX_STRAIGHTENED_PIXELS.
"""

import itertools
import math
from typing import Optional

import numpy as np
from PIL import Image
from scipy import ndimage

from image_operations import border, box_blur, box_reduced, dilated, eroded, otsu_threshold

ANALYSIS_SIDE = 160  # the page is looked for on a copy at most this size (its sides refitted to a fraction of a pixel)
MIN_SIDE = 32  # smaller pictures have no room for a page with something around it
MIN_RANGE = 16  # grey levels between the copy's 2nd and 98th percentiles: flatter pictures show no page
DIRECTIONS = 16  # the page's corners are among its extreme points in this many directions (a corner's
# exterior angle, 180 deg less its own, is over 2 x 22.5 deg for any corner under 135 deg: two directions hit it)
REFIT_BAND = 2.5  # analysis pixels: outline points this near a side's rough line are refitted to it ...
REFIT_ENDS = 0.15  # ... leaving out this share of its length at each end (the rounded corners) ...
REFIT_POINTS = 4  # ... if at least this many
PAGE_SHARE = (0.2, 0.97)  # share of the picture the page's quadrilateral covers: less is no page to warp by,
# more is a page filling the frame (its edges are not seen)
MIN_OVERLAP = 0.9  # intersection over union of the bright region and its quadrilateral: a quad, not a blob
MAX_ELONGATION = 3.0  # longer over shorter mean side: a page, even foreshortened, not a stroke or a bar
PAGE_CONTRAST = 0.25  # the surroundings' median this share darker than the page's at least (a ratio: a dim
# room darkens both) ...
MIN_PAGE_STEP = 12  # ... and by this many grey levels (well above the smoothed copy's noise)
RING = 3  # analysis pixels around the page (past its blurred edge) that count as its surroundings
FRAME_MARGIN = 0.5  # analysis pixels: a corner must lie this far inside the frame (as precise as it is found)
SIDE_RATIO_TOLERANCE = 0.08  # opposite sides differing in length by more than this share ...
ANGLE_TOLERANCE = 6.0  # ... or a corner more degrees than this from square: the page is keystoned, warp it
PAGE_INSET = 0.015  # share of each side left out of the straightened page: no sliver of table at its edges
# The straightened page has no more pixels than the picture, nor than this (a quarter of 1024 x 768): the
# warp's cost goes with its pixels (PIL's, at this size, about what finding the page costs), and a digit on
# the page still spans a hundred pixels or more (the digit finder looks at a copy of 320 a side, MNIST at 20).
MAX_STRAIGHTENED_PIXELS = 512 * 384

# Every choice of 4 of the extreme points, kept in their order around the region (so each is a polygon).
_QUADS = np.array(list(itertools.combinations(range(DIRECTIONS), 4)))
_NEXT, _PREVIOUS = [1, 2, 3, 0], [3, 0, 1, 2]  # around a quadrilateral's corners (or sides)
_ANGLES = 2 * np.pi * np.arange(DIRECTIONS) / DIRECTIONS
_FAN = np.stack([np.cos(_ANGLES), np.sin(_ANGLES)])  # unit vectors, clockwise (y down) from the right


def page_quadrilateral(grey: np.ndarray) -> Optional[np.ndarray]:
    """The corners of the page in a photo, as a (4, 2) array of (x, y) in `grey`'s pixels ordered top-left,
    top-right, bottom-right, bottom-left; None unless a page is clearly seen with the table around it."""
    if min(grey.shape) < MIN_SIDE:
        return None
    factor = math.ceil(max(grey.shape) / ANALYSIS_SIDE)  # picture pixels per analysis pixel
    small = box_blur(box_reduced(grey, factor), 1)  # smoothed: noise and paper texture do not split the page
    low, high = np.percentile(small, (2, 98))
    if high - low < MIN_RANGE:
        return None
    page = _bright_region(small, low + (high - low) * otsu_threshold(np.clip((small - low) / (high - low), 0, 1)))
    corners = _corners(page)
    if corners is None or not _is_quadrilateral(corners, page) or not _clearly_seen(small, page, corners):
        return None
    return corners * factor


def straightened(grey: np.ndarray, rgb: Optional[np.ndarray] = None) -> tuple:
    """(grey, rgb) of the page of a photo warped to an upright rectangle when it is clearly seen and keystoned
    (opposite sides unequal or corners off square); otherwise `grey` and `rgb` themselves. The page is found
    on `grey`; `rgb`, the same picture's colour (uint8, height x width x 3) or None, is warped with it. The
    result never has more pixels than `grey`."""
    corners = page_quadrilateral(grey)
    if corners is None or not _keystoned(corners):
        return grey, rgb
    top, right, bottom, left = _side_lengths(corners)
    width, height = (top + bottom) / 2, (left + right) / 2
    scale = min(1.0, math.sqrt(min(grey.size, MAX_STRAIGHTENED_PIXELS) / (width * height)))
    size = (max(1, int(width * scale)), max(1, int(height * scale)))  # PIL's (width, height)
    # The page's corners just outside the output's, so its edges (and the table past them) stay out.
    unit = np.array([[0, 0], [1, 0], [1, 1], [0, 1]], dtype=float)
    target = (unit + (2 * unit - 1) * PAGE_INSET) * size
    coefficients = _perspective_coefficients(target, corners)

    def warped(image: Image.Image) -> np.ndarray:
        return np.asarray(image.transform(size, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR))

    page = warped(Image.fromarray(np.asarray(grey, dtype=np.float32), "F"))
    return page, None if rgb is None else warped(Image.fromarray(rgb, "RGB"))


def _bright_region(small: np.ndarray, threshold: float) -> np.ndarray:
    """The largest 4-connected region brighter than `threshold` (bright things touching the page only at a
    corner stay apart from it), with its holes filled: the ink on a page, however much, is part of it."""
    labels, count = ndimage.label(small > threshold)
    if count == 0:
        return np.zeros(small.shape, dtype=bool)
    sizes = np.bincount(labels.ravel())
    sizes[0] = 0
    region = labels == np.argmax(sizes)
    # A hole is a part of the rest that does not reach the frame: one labelling, whatever the holes.
    rest, count = ndimage.label(~region, structure=np.ones((3, 3), dtype=bool))
    reaches_frame = np.zeros(count + 1, dtype=bool)
    reaches_frame[border(rest)] = True
    return region | ~reaches_frame[rest]


def _corners(region: np.ndarray) -> Optional[np.ndarray]:
    """The region's four corners ((x, y) in analysis pixels from the copy's top-left edge), clockwise from the
    top-left: of its outline's extreme points in a fan of directions (in order around it), the 4 spanning the
    largest area, refitted."""
    rows, cols = np.nonzero(region & ~eroded(region))
    if len(rows) < 4:
        return None
    outline = np.stack([cols, rows], axis=1) + 0.5  # pixel centres
    candidates = outline[np.argmax(outline @ _FAN, axis=0)]
    quads = candidates[_QUADS]
    x, y = quads[..., 0], quads[..., 1]
    area = (x * y[:, _NEXT] - x[:, _NEXT] * y).sum(axis=1)  # twice the area, > 0 clockwise (y down)
    quad = _refitted(quads[np.argmax(area)], outline)
    sides = _sides(quad)
    # The top side is the one running most nearly left to right.
    top = np.argmax(sides[:, 0] / np.maximum(np.hypot(sides[:, 0], sides[:, 1]), 1e-9))
    return np.roll(quad, -top, axis=0)


def _refitted(corners: np.ndarray, outline: np.ndarray) -> np.ndarray:
    """The corners where the sides' lines cross, each side refitted (least squares) to the outline along its
    middle: the extreme points lie inside the corners, which the smoothing rounds off. A side with too few
    outline points along it (one along the frame's edge) keeps its line through the two corners."""
    sides = _sides(corners)
    lengths = np.hypot(sides[:, 0], sides[:, 1])
    if lengths.min() < 1:  # two candidates at one point: no quadrilateral to refit
        return corners
    outward = np.stack([sides[:, 1], -sides[:, 0]], axis=1) / lengths[:, None]
    along = (outline @ sides.T - (corners * sides).sum(axis=1)) / lengths**2  # (points, sides): 0 to 1 on it
    beyond = outline @ outward.T - (corners * outward).sum(axis=1)  # distance outside its line
    near = (np.abs(beyond) <= REFIT_BAND) & (along > REFIT_ENDS) & (along < 1 - REFIT_ENDS)
    count = near.sum(axis=0)
    x, y = outline[:, 0], outline[:, 1]
    moments = near.T.astype(float) @ np.stack([x, y, x * x, x * y, y * y], axis=1) / np.maximum(count, 1)[:, None]
    mean = moments[:, :2]
    spread_xx, spread_xy, spread_yy = moments[:, 2:].T - [mean[:, 0] ** 2, mean[:, 0] * mean[:, 1], mean[:, 1] ** 2]
    # The line runs along the points' widest spread; its normal turned outward.
    angle = np.arctan2(2 * spread_xy, spread_xx - spread_yy) / 2
    normal = np.stack([-np.sin(angle), np.cos(angle)], axis=1)
    normal *= np.sign((normal * outward).sum(axis=1))[:, None]
    # Outline pixels (with a neighbour off the region, diagonals too) lie inside the edge by up to
    # |n_x| + |n_y|, half that on average.
    offset = (normal * mean).sum(axis=1) + np.abs(normal).sum(axis=1) / 2
    fitted = count >= REFIT_POINTS
    normal = np.where(fitted[:, None], normal, outward)
    offset = np.where(fitted, offset, (outward * corners).sum(axis=1))
    # Corner i is where side i - 1 and side i cross.
    lines = np.stack([normal[_PREVIOUS], normal], axis=1)
    if (np.abs(np.linalg.det(lines)) < 1e-6).any():  # consecutive sides parallel: no corner between them
        return corners
    return np.linalg.solve(lines, np.stack([offset[_PREVIOUS], offset], axis=1)[..., None])[..., 0]


def _is_quadrilateral(corners: np.ndarray, region: np.ndarray) -> bool:
    """The region is a convex quadrilateral of a page's proportions covering a fair share of the picture."""
    sides = _sides(corners)
    turns = sides[:, 0] * sides[_NEXT, 1] - sides[:, 1] * sides[_NEXT, 0]
    if not (turns > 0).all():  # convex (and not flat)
        return False
    area = 0.5 * (corners[:, 0] * corners[_NEXT, 1] - corners[_NEXT, 0] * corners[:, 1]).sum()
    if not PAGE_SHARE[0] <= area / region.size <= PAGE_SHARE[1]:
        return False
    top, right, bottom, left = _side_lengths(corners)
    if max(top + bottom, left + right) > MAX_ELONGATION * min(top + bottom, left + right):
        return False
    # Pixel centres inside the quadrilateral: on the inner side of each of its sides.
    rows, cols = np.indices(region.shape) + 0.5
    inside = np.ones(region.shape, dtype=bool)
    for start, side in zip(corners, sides):
        inside &= side[0] * (rows - start[1]) - side[1] * (cols - start[0]) >= 0
    return (inside & region).sum() >= MIN_OVERLAP * (inside | region).sum()


def _clearly_seen(small: np.ndarray, region: np.ndarray, corners: np.ndarray) -> bool:
    """The page's four corners are seen, inside the frame, and it is clearly brighter than what surrounds it.
    A page running off the frame shows the frame's edge for one of its sides: warped by it, the page would be
    distorted in another way, not straightened."""
    height, width = small.shape
    if not ((corners > FRAME_MARGIN) & (corners < [width - FRAME_MARGIN, height - FRAME_MARGIN])).all():
        return False
    inside = region & ~dilated(~region, RING)
    around = dilated(region, RING + 1) & ~dilated(region, 1)  # past the page's blurred edge
    if not inside.any() or not around.any():
        return False
    page, surroundings = float(np.median(small[inside])), float(np.median(small[around]))
    return surroundings <= (1 - PAGE_CONTRAST) * page and page - surroundings >= MIN_PAGE_STEP


def _keystoned(corners: np.ndarray) -> bool:
    """Opposite sides of clearly unequal length, or a corner clearly off square: not a page lying square or
    merely turned (a rectangle), which needs no warp."""
    top, right, bottom, left = _side_lengths(corners)
    unequal = max(max(top, bottom) / min(top, bottom), max(left, right) / min(left, right)) - 1
    outgoing = _sides(corners)
    incoming = outgoing[_PREVIOUS]
    cosines = -(incoming * outgoing).sum(axis=1) / (np.hypot(*incoming.T) * np.hypot(*outgoing.T))
    off_square = np.abs(np.degrees(np.arccos(np.clip(cosines, -1, 1))) - 90).max()
    return unequal > SIDE_RATIO_TOLERANCE or off_square > ANGLE_TOLERANCE


def _sides(corners: np.ndarray) -> np.ndarray:
    """The sides as vectors, each from its corner to the next clockwise: top, right, bottom, left."""
    return corners[_NEXT] - corners


def _side_lengths(corners: np.ndarray) -> np.ndarray:
    sides = _sides(corners)
    return np.hypot(sides[:, 0], sides[:, 1])


def _perspective_coefficients(output: np.ndarray, source: np.ndarray) -> tuple:
    """PIL's 8 perspective coefficients (a..h: x_in = (a x + b y + c) / (g x + h y + 1), y_in likewise with
    d, e, f) taking each of the 4 `output` points to its `source` point: the 8x8 linear system they make."""
    system, values = np.zeros((8, 8)), np.zeros(8)
    for index, ((x, y), (u, v)) in enumerate(zip(output, source)):
        system[2 * index] = [x, y, 1, 0, 0, 0, -u * x, -u * y]
        system[2 * index + 1] = [0, 0, 0, x, y, 1, -v * x, -v * y]
        values[2 * index], values[2 * index + 1] = u, v
    return tuple(np.linalg.solve(system, values))
