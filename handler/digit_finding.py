"""Find the digit in a photo or a drawing, the way document-image tools read a page (find_digit).

The paper's brightness is estimated locally (a morphological closing on a thumbnail, smoothed) and divided
out, so shadows and light falling off across the page disappear (a drawing on a flat canvas has the canvas
colour as its paper); ink is what is clearly darker than the paper around it (a threshold relative to the
local paper, set per picture by Otsu's method; faint stretches of the digit's strokes, ridges above the split
between paper and ink, join it once it is chosen); printed lines (ruled and squared paper, a form's boxes) are
taken out, but for where a stroke darker than the print crosses them or lies on them, where one as dark
as the print makes a line thicker than its own weight, and, in a picture with colour, for ink in another
colour than the print's (ink_colour; a ruled line stays print whatever its colour, as a red margin does);
the marks are grouped into connected components and the digit is chosen among them, rejecting page edges
and the table around the page, lines and specks by shape and size. Which is ink and which is paper is
decided from the paper around the digit. Only the chosen marks, with their grey levels, go on to MNIST's own
normalisation (mnist_form.centre_digit). A picture of several digits (a number) gets its largest, most central digit
read; marks within about a third of that digit's size (of it, or of marks already counted) count as part of
it, so digits written closer than that are read together, as one unreliable digit.
"""

import functools
import math
from dataclasses import dataclass
from typing import Callable, Optional

import numpy as np
from scipy import ndimage

from image_operations import (
    box_blur,
    box_counter,
    box_reduced,
    closed_along,
    connected,
    darkest_reduced,
    dilated,
    enlarged,
    eroded,
    grey_closing,
    holes,
    label_marks,
    longest_runs,
    mask_enlarged,
    max_filter,
    min_filter,
    otsu_threshold,
    white_top_hat,
)
from ink_colour import OFF_PRINT, across_print, ink_colours, reduced_colour
from mnist_form import DIGIT_BOX, MIN_CONTRAST
from printed_lines import (
    LINE_MEETING,
    LINE_RUN,
    TOOTH_LENGTH_SPREAD,
    ink_over_lines,
    line_thickness,
    printed_lines,
    swollen_lines,
)

# Photos: the digit is looked for on a copy at most this size (the grey levels kept come from the full one).
ANALYSIS_SIDE = 320
# How a photo's digit is told from the rest (shares of the analysis copy's side unless said otherwise):
PAPER_RADIUS = 0.18  # the paper estimate (a closing) bridges ink strokes up to 2x this wide
SHADOW_GRID = 24  # blocks a side of the grid the paper's shadow-following estimate is made on
INK_STRENGTH_RANGE = (0.12, 0.5)  # bounds of the per-picture ink threshold (share darker than the paper)
HYSTERESIS = 0.6  # marks grow into ink this share as strong as the threshold ...
GROWTH = 3  # ... up to this many analysis pixels from clear ink
LINE_FRAGMENT = 0.08  # marks beside a printed line and smaller than this share of the digit are line ends,
STICK = 4  # ... and so are marks beside one this many times longer than wide (a comb's ticks) ...
SIBLING_LENGTH = 0.25  # ... which alone are no digit if two others as long (within this share) stand by lines
LINE_REMNANT = 0.0015  # marks beside a printed line smaller than this share of the picture are no digit
# Printed text beside the digit (labels, an app's toolbar), by its shape (shares of heights unless said):
LABEL_HEIGHT = 0.6  # text is shorter than this share of the digit ...
LABEL_GAP = 0.08  # ... and a mark wholly beside the digit this share of its size away is a label ...
LETTER_HEIGHTS = 0.45  # ... as are letters in a row: heights within this ratio ...
LETTER_ALIGNMENT = 0.25  # ... bottoms or tops this close ...
LETTER_SPACING, LETTER_OVERLAP = 0.8, 0.2  # ... at most this far apart, overlapping at most this much
TEXT_NEIGHBOURS = 48  # candidates nearest the digit compared pairwise (bounded cost)
OWN_LINE_MARGIN = 0.1  # straight strokes within this share of the digit's size around its box are its own ...
OWN_STROKE_REACH = 0.5  # ... or sticking out along their direction up to this share of it (a 7's bar) ...
OWN_STROKE_FAR = 2.0  # ... or this many times it on one side only (a 0's sides below an arc, a 1's stem)
FAINT_WIDTH = 3  # a faint stroke is a ridge narrower than a square of 2x this + 1 analysis px; a shadow is wider
RAIL_CHECKS = 256  # pieces checked for running rail to rail at a time (bounded memory, whatever the picture)
MIN_MARK_AREA = 0.0002  # marks smaller than this share of the picture's area are specks
PAPER_STEP = 0.04  # marks where the paper changes by this share per pixel lie on a page's edge
CANVAS_SHARE = 0.55  # share of the picture in exactly one colour: a canvas (a fat digit drawn large covers
# up to ~40 % of its canvas; an app's window around it, a fifth)
CANVAS_REGION = 0.05  # stretches of the canvas's colour this share of the picture are the canvas
CANVAS_SAMPLE = 13  # the canvas colour is counted on every 13th pixel (a prime)
RAMP_LOW = 0.5  # thin strokes: ink weaker than this share of the threshold is left out of their grey levels
THIN_STROKE = 1.8  # strokes thinner than this in the 20 px box are grown (a ball-point on a big picture) ...
GROWN_STROKE = 3.0  # ... to about this width (MNIST's are ~2.7; the grown edges are faint)
THINNED_STROKE = 3.5  # a pen's fat strokes in the 20 px box (a marker, a fat brush) are thinned to about
# this width (MNIST has fat digits, few fatter) ...
THINNED_BLUR = 4.0  # ... blurred ones, as wide for the blur as for the pen, to about this ...
FAT_MARGIN = 0.5  # ... when they are wider than that by more than this
SHARP_STROKE = 0.25  # strokes at full strength over at least this share of their ink have a pen's sharp edges
WIDE_STROKE_TOP = 0.9  # other strokes reach full brightness only at this quantile of the marks' strength


def find_digit(grey: np.ndarray, rgb: Optional[np.ndarray] = None) -> Optional[np.ndarray]:
    """A photo's digit alone, bright on black, with its grey levels (same shape as `grey`); None if no
    mark stands out from the paper. `rgb`, the same picture's colour (ink_colour.colour_of) where it has
    any, tells the writer's ink from the print's.

    A drawing on a flat canvas (its border one colour) is on that colour everywhere, however thick its
    strokes and however much of the middle they fill. In a photo, which is ink is decided from the paper
    around the digit: the polarity the middle of the picture suggests (the paper is most of it) is tried
    first and kept if the marks found are clearly darker (or, for light ink, brighter) than the paper
    around them; otherwise the other polarity is tried too and the one whose marks stand out more from
    their surroundings wins."""
    factor = math.ceil(max(grey.shape) / ANALYSIS_SIDE)  # working pixels per analysis pixel
    canvas = _canvas_colour(grey)
    if canvas is None:
        small = box_reduced(grey, factor)
        guess = _paper_is_light(small[_middle(small.shape)])
    else:
        guess = canvas > 127
    # The analysis copy's colour, made once and only if a polarity finds printed lines to tell pen from.
    colour = functools.cache(lambda: reduced_colour(rgb, factor)) if rgb is not None else None
    found = _digit_marks(grey, factor, guess, canvas, colour)
    if found is None or found.margin < 2 * MIN_CONTRAST:
        other = _digit_marks(grey, factor, not guess, canvas, colour)
        if other is not None and (found is None or other.margin > found.margin):
            found = other
    if found is None or found.margin < MIN_CONTRAST / 2:
        return None
    # Back at the working resolution: the ink's strength relative to the local paper, kept where the chosen
    # marks are (grown by an analysis pixel or two, so anti-aliased edges and strokes cut by ruled lines
    # stay whole), their edges graded as in MNIST. Thin strokes saturate from the marks' median strength
    # up, their faint surroundings cut, and are then grown to MNIST's width. Wider strokes keep their whole
    # profile, from the paper up to near their strongest ink, with the fading edge around them: an
    # out-of-focus digit keeps its shape, and its loops stay open instead of filling into a blob. Fat strokes
    # (a marker on a whiteboard) are thinned by a grey erosion: the gaps between them widen as in MNIST's
    # digits, whose strokes are thinner for their size. A blurred digit's are thinned less: the blur, not
    # the pen, made them wide, and eroding its fading edges takes its shape.
    width = _stroke_width_in_box(found)
    thin = width < THIN_STROKE
    keep = dilated(found.mask)
    if found.size >= 40:
        keep = dilated(keep)
    if not thin:
        keep = dilated(keep, 2)
    keep &= ~found.lines  # a box's side the digit touches is no part of its grey levels
    # All of this is worked out only around the digit (the rest stays black), the same pixels as over the
    # whole picture: the window reaches an analysis pixel beyond the kept marks (the paper's bilinear
    # enlargement looks that far) and beyond how far thin strokes are grown.
    growth = max(0, _radius_to(GROWN_STROKE, width, found, factor)) if thin else 0
    near = _bounding_window(keep | found.mask, 1 + math.ceil(growth / factor))
    window = tuple(slice(part.start * factor, min(part.stop * factor, side)) for part, side in zip(near, grey.shape))
    ink_side = grey[window] if found.dark_ink else 255.0 - grey[window]
    paper = enlarged(found.paper[near], factor, ink_side.shape)
    strength = np.clip(paper - ink_side, 0, None) / np.maximum(paper, 1.0)
    keep, marks = (mask_enlarged(mask[near], factor, ink_side.shape) for mask in (keep, found.mask))
    top = found.core if thin else max(found.core, float(np.quantile(strength[marks], WIDE_STROKE_TOP)))
    low, high = (RAMP_LOW * found.threshold if thin else 0.0), max(top, found.threshold + 0.05)
    levels = np.where(keep, np.clip((strength - low) / (high - low), 0, 1), 0.0).astype(np.float32)
    if width > THINNED_STROKE + FAT_MARGIN:
        target = THINNED_STROKE if _full_strength_share(levels) >= SHARP_STROKE else THINNED_BLUR
        if width > target + FAT_MARGIN:
            levels = min_filter(levels, max(0, -_radius_to(target, width, found, factor)))
    if not levels.any():
        return None
    if growth >= 1:
        # Not into the digit's loops, which would fill (a small 9 in a fine pen reads 1); gaps of fewer pixels
        # than the growth's square are the grain of a stroke, and close.
        loops = holes(levels > 0, min_area=growth * growth)
        levels = np.where(loops, 0.0, max_filter(levels, growth))
    digit = np.zeros(grey.shape, dtype=np.float32)
    digit[window] = levels * 255.0
    return digit


@dataclass
class _Marks:
    """The digit found on the analysis copy, with one polarity."""

    dark_ink: bool
    mask: np.ndarray  # the chosen marks
    box: tuple  # top, bottom, left, right (exclusive) of the marks
    paper: np.ndarray  # the paper's brightness estimate (in the polarity's terms: ink darker)
    threshold: float  # ink strength (share darker than the paper) that counted as ink
    core: float  # the marks' median strength
    margin: float  # grey levels between the marks and the paper around them (median against median)
    lines: np.ndarray  # printed lines that are not the digit's own strokes

    @property
    def size(self) -> int:
        """The longer side of the marks' box, in analysis pixels."""
        return max(self.box[1] - self.box[0], self.box[3] - self.box[2])


def _digit_marks(
    grey: np.ndarray, factor: int, dark_ink: bool, canvas: Optional[float], colour: Optional[Callable]
) -> Optional[_Marks]:
    """The digit's marks on the analysis copy with this polarity; `colour()` gives the copy's colour (float32
    RGB, ink_colour.reduced_colour) where the picture has any."""
    # Reduced to the analysis size keeping the darkest pixel of each block (of the ink's polarity): a
    # ball-point line 2 px wide stays as dark as it is instead of being averaged into the paper.
    ink_side = darkest_reduced(grey if dark_ink else 255.0 - grey, factor)
    if canvas is None:
        closed = _paper(ink_side)
    else:  # drawn on a flat canvas: the paper is its colour everywhere, however wide the strokes
        closed = np.full(ink_side.shape, canvas if dark_ink else 255.0 - canvas, dtype=np.float32)
    paper = np.maximum(closed, ink_side)
    contrast = paper - ink_side  # grey levels darker than the paper around
    if contrast.max() < MIN_CONTRAST:
        return None
    strength = contrast / np.maximum(paper, 1.0)
    candidates = strength[contrast > MIN_CONTRAST / 2]
    # Otsu's split between paper and ink, but never above half the strongest ink (smoothed against
    # noise): thin or blurred strokes are faint after reduction and a few of them weigh little in Otsu.
    peak = float(box_blur(strength, 1).max())
    threshold = float(
        np.clip(min(otsu_threshold(candidates), 0.5 * peak), INK_STRENGTH_RANGE[0], INK_STRENGTH_RANGE[1])
    )
    # Hysteresis, as edge detectors do: marks are grown from clear ink into fainter ink connected to it
    # (a ball-point line thins and fades along a stroke), and only marks holding clear ink count.
    # Growth reaches only a few pixels from clear ink: enough to bridge a faded stretch of a stroke, not
    # to run along a faint ruled line across the page.
    clear = (strength > threshold) & (contrast > MIN_CONTRAST / 2)
    faint = (strength > HYSTERESIS * threshold) & (contrast > MIN_CONTRAST / 2)
    faint &= dilated(clear, GROWTH)
    # Printed lines are found on all that is even slightly darker than the paper, where they are unbroken.
    weak = (strength > 0.5 * HYSTERESIS * threshold) & (contrast > MIN_CONTRAST / 4)
    printed = printed_lines(weak)
    # Where the picture has colour, ink in another colour than the print's is the writer's, on a line or not.
    off_print = np.zeros_like(weak)
    if colour is not None and (printed[0].any() or printed[1].any()):
        ink = ink_colours(colour(), ~weak, paper if dark_ink else 255.0 - paper)
        off_print = across_print(printed[0] | printed[1], ink) >= OFF_PRINT
        printed = _without_pen_colour(printed, off_print)
    any_printed = printed[0] | printed[1]
    # A stroke on a line, darker than the print or swelling the line beyond its weight (counted on clear ink:
    # a line's faint edges come and go with the light and the noise), that crosses it (its ink on both sides,
    # the line's width apart) is not cut by it; where a stroke lies along a line, its ink is joined to the
    # digit once it is chosen.
    swollen = swollen_lines(printed[0] & clear) | swollen_lines((printed[1] & clear).T).T
    on_lines = ink_over_lines(any_printed, strength) | swollen
    crossed = _crossed(on_lines, faint & ~any_printed, line_thickness(faint.shape) + 2)
    along_rows, along_columns = (lines & faint & ~crossed for lines in printed)
    lines = along_rows | along_columns
    faint &= ~lines
    labels, stats = label_marks(faint, min_area=math.ceil(MIN_MARK_AREA * faint.size))
    if len(stats) == 0:
        return None
    clear &= faint
    area = stats[:, 4].copy()
    stats[:, 4] = np.bincount(labels.ravel(), weights=clear.ravel(), minlength=len(stats) + 1)[1:]
    # How steeply the paper itself changes under each mark: a page's edge against the table is a step
    # in the paper estimate, a digit lies on smooth paper (even in a shadow).
    step_y, step_x = np.gradient(closed)
    steepness = np.hypot(step_y, step_x) / np.maximum(closed, 1.0)
    on_step = np.bincount(labels.ravel(), weights=steepness.ravel(), minlength=len(stats) + 1)[1:] / np.maximum(area, 1)
    beside_line = _meeting(labels, len(stats), dilated(lines))
    # A page's edge is no digit, nor, on a canvas, what an app draws around it.
    on_canvas = canvas is not None
    beyond_canvas = _beyond_canvas(stats, ink_side == closed) if on_canvas else np.zeros(len(stats), dtype=bool)
    elsewhere = (on_step > PAPER_STEP) | beyond_canvas
    chosen = _choose(stats, elsewhere, beside_line, faint.shape, on_canvas)
    if not chosen:
        return None
    mask = np.isin(labels, np.asarray(chosen) + 1)
    row_pieces, column_pieces = label_marks(along_rows), label_marks(along_columns)
    # A digit in the print's colour may have had its straight strokes taken for lines; one in another colour
    # kept them (off_print).
    if off_print[mask].mean() < 0.5:
        mask |= (
            _own_lines(mask, row_pieces, column_pieces) | _own_lines(mask.T, *_transposed(column_pieces, row_pieces)).T
        )
    mask |= _joined(mask, on_lines)
    mask |= _faint_stretches(mask, strength, (contrast > MIN_CONTRAST / 2) & ~dilated(any_printed), threshold)
    box = _box(mask)
    around = np.zeros_like(mask)
    around[_around(box, mask.shape)] = True
    around &= ~dilated(mask, 2)
    margin = float(np.median(ink_side[around]) - np.median(ink_side[mask])) if around.any() else 0.0
    stray = any_printed & ~mask
    return _Marks(dark_ink, mask, box, paper, threshold, float(np.median(strength[mask])), margin, stray)


def _faint_stretches(mask: np.ndarray, strength: np.ndarray, visible: np.ndarray, threshold: float) -> np.ndarray:
    """Stretches of the digit's strokes fainter than its ink threshold (pencil pressed lightly, a ball-point
    fading), connected to its marks. The threshold is set among the ink, and on clean paper the ink is all
    there is to set it on: it splits the strokes into strong and faint. How faint a stretch may be is set
    by the split between the paper and the ink (Otsu's on the `visible` ink with the paper around it), as
    the hysteresis share of it; only ridges count, ink standing out from what is within FAINT_WIDTH around
    it (a white top-hat): what is left of a shadow the paper's estimate missed is wide and does not."""
    split = max(otsu_threshold(strength[dilated(visible, 2)]), INK_STRENGTH_RANGE[0])
    if split >= threshold:
        return np.zeros_like(mask)
    ridges = white_top_hat(strength, FAINT_WIDTH)
    return _joined(mask, (ridges > HYSTERESIS * split) & visible & ~mask)


def _own_lines(mask: np.ndarray, pieces: tuple, crossing: tuple) -> np.ndarray:
    """The `pieces` of printed line (label_marks of lines along rows; _transposed for columns) that are the
    digit's own straight strokes (a 0's straight sides, a 4's cross, a 7's bar): touching its marks; within
    its box, or sticking out of it along their direction by up to OWN_STROKE_REACH of its size, or by up to
    OWN_STROKE_FAR of it on one side only to an end inside the picture (the digit's other marks may be small:
    a 0's arc above its sides, a 1's hook below its stem), that end free (a stroke's) or on a rail, a
    `crossing` line running on past the box (a 6's stem hanging from a rule, told below; a crossing piece
    that ends within the box's extent is no line to end on: a 0's bottom lying on a rule); not continued by
    another printed line beyond the box in their rows (a box's side or a comb's baseline the digit crosses
    runs on past it; the pieces between the digit's strokes are that line's), where a stroke's piece or a
    speck shorter than the box's margin is no such line (a bent stem is found as two pieces); not meeting a
    `crossing` line that runs on past the box (a cell's wall the digit fills, rule to rule) unless they run
    from it into the digit (_from_one_rail: a 7's bar from its cell's wall, a 6's stem from the rule above);
    not on a line that runs through the digit from one such line to another (_rail_to_rail: a wall the digit
    is written over); and not meeting one clear of the digit outside its extent (the side of a box the digit
    fills, ending on its corners), where a piece of a rule cut off by the digit's strokes is no corner."""
    top, bottom, left, right = digit = _box(mask)
    size = max(bottom - top, right - left)
    grow, reach = round(OWN_LINE_MARGIN * size) + 1, round(OWN_STROKE_REACH * size)
    far = round(OWN_STROKE_FAR * size)
    top, bottom, left, right = top - grow, bottom + grow, left - grow, right + grow
    labels, stats = pieces
    if len(stats) == 0:
        return np.zeros_like(mask)
    crossing_labels, crossing_stats = crossing
    across = (stats[:, 0] >= top) & (stats[:, 1] <= bottom)
    runs_on = (crossing_stats[:, 0] < top) | (crossing_stats[:, 1] > bottom)
    rails = np.isin(crossing_labels, np.flatnonzero(runs_on) + 1)
    # A piece sticking out of the box with its end out there free is a pen stroke's, and no line running on past
    # the digit (below): a printed line ends on another that runs on (a box's corner, a grid's crossing).
    outside = np.ones_like(mask)
    outside[max(0, top) : bottom, max(0, left) : right] = False
    near = max_filter(labels, 1)  # the piece within a pixel of each pixel (one of them, where two are)
    free = ~_meeting(near, len(stats), rails & outside)
    reachable = (stats[:, 2] >= left - reach) & (stats[:, 3] <= right + reach)
    stroke = reachable & free
    # A line's piece running off the picture ends at its edge, a stroke inside it.
    one_side = ((stats[:, 2] >= left) | (stats[:, 3] <= right)) & (stats[:, 2] > 0) & (stats[:, 3] < mask.shape[1])
    reachable_far = one_side & (stats[:, 2] >= left - far) & (stats[:, 3] <= right + far)
    beyond = np.concatenate([[False], (stats[:, 3] - stats[:, 2] >= grow) & ~stroke])[labels]
    beyond[:, max(0, left) : right] = False
    per_row = np.concatenate([[0], np.cumsum(beyond.sum(axis=1))])
    own_beyond = np.bincount(labels[beyond], minlength=len(stats) + 1)[1:]
    continued = per_row[stats[:, 1]] - per_row[stats[:, 0]] > own_beyond
    touching = _meeting(near, len(stats), mask)
    on_rail = _meeting(near, len(stats), rails)
    rails_in = box_counter(rails)
    # Within reach, a piece's end out of the box is free or on a rail (then told below).
    own = across & (reachable | reachable_far) & touching & ~continued
    candidates = np.flatnonzero(own & on_rail)
    from_wall = np.zeros(len(stats), dtype=bool)
    from_wall[candidates[_from_one_rail(stats, candidates, rails_in, mask.shape[1], (left, right))]] = True
    own &= ~on_rail | from_wall
    # Only a piece with a rail on both sides in its band can lie on a line from one to the other. A stroke
    # crossing a wall covers it for about the stroke's width, under two margins.
    band = stats[:, 0] - LINE_MEETING - 1, stats[:, 1] + LINE_MEETING + 1
    between = (rails_in(*band, 0, stats[:, 2]) > 0) & (rails_in(*band, stats[:, 3], mask.shape[1]) > 0)
    kept = np.flatnonzero(own & between)
    own[kept[_rail_to_rail(stats, kept, labels > 0, mask, rails_in, 2 * grow)]] = False
    if own.any():
        # A box's top or bottom beyond the digit: clear of its marks (a 0's flat bottom, given back too, is
        # not), a pixel or two from the side's end (at a corner the ink is wider than a line both ways). A bar
        # from a wall meets the wall as a box's side meets its corner, and is told from it above.
        clear = np.bincount(crossing_labels[dilated(mask)], minlength=len(crossing_stats) + 1) == 0
        clear[0] = False
        # A piece of a rule that the digit's strokes cut off (the rule runs on both sides of it) is no corner.
        start, end, band = crossing_stats[:, 0], crossing_stats[:, 1], crossing_stats[:, 2:4] + [-1, 1]
        cut_off = (rails_in(start - 2 * grow, start, *band.T) > 0) & (rails_in(end, end + 2 * grow, *band.T) > 0)
        clear[1:] &= runs_on | ~cut_off
        beside_the_digit = np.ones_like(mask)
        beside_the_digit[digit[0] : digit[1], digit[2] : digit[3]] = False
        own &= from_wall | ~_meeting(near, len(stats), dilated(clear[crossing_labels] & beside_the_digit))
    return np.isin(labels, np.flatnonzero(own) + 1)


def _from_one_rail(stats: np.ndarray, which: np.ndarray, rails_in: Callable, width: int, span: tuple) -> np.ndarray:
    """Which of the pieces `which` (label_marks stats of lines along rows, in a picture `width` wide) run from
    a rail (`rails_in`: the rails' box_counter) at one end into the digit at the other, with no piece of their
    row band beyond that end within `span` (the digit's columns), and no other piece standing on a rail by one
    end about as long or longer (TOOTH_LENGTH_SPREAD): a 7's bar or a 4's cross reaching a cell's wall. A rule
    between two walls meets one at each end, and so does a wall the digit crosses, counted with its piece
    beyond the crossing; a comb's teeth stand alike."""
    if len(which) == 0:
        return np.zeros(0, dtype=bool)
    top, bottom, left, right = (stats[:, k] for k in range(4))
    on_left, on_right = _at_rail(rails_in, top, bottom, left), _at_rail(rails_in, top, bottom, right - 1)
    # Others standing on a rail by one end (a line running off the picture is none) at least about as long:
    # a comb's teeth, one of them shortened by the digit's ink over it.
    length = (right - left).astype(np.float64)
    standing = np.sort(length[(on_left != on_right) & (left > 0) & (right < width)])
    alike = len(standing) - np.searchsorted(standing, length[which] / (1 + TOOTH_LENGTH_SPREAD), side="left")
    # Pieces of each one's band (rows overlapping) that lie wholly to its left or right within the span.
    band = (top[None, :] <= bottom[which, None]) & (bottom[None, :] >= top[which, None])
    to_left = band & (right[None, :] <= left[which, None]) & (right[None, :] > span[0])
    to_right = band & (left[None, :] >= right[which, None]) & (left[None, :] < span[1])
    from_left = on_left[which] & ~on_right[which] & ~to_right.any(axis=1)
    from_right = on_right[which] & ~on_left[which] & ~to_left.any(axis=1)
    return (from_left | from_right) & (alike <= 1)


def _rail_to_rail(
    stats: np.ndarray, which: np.ndarray, lines: np.ndarray, mask: np.ndarray, rails_in: Callable, crossing: int
) -> np.ndarray:
    """Which of the pieces `which` (label_marks stats of lines along rows) lie on a line that runs from one
    rail (`rails_in`: the rails' box_counter) to another, unbroken along their band through `lines` and the
    digit's `mask`, where the digit only crosses it (its ink covers no more than `crossing` px along the band
    at a time): a cell's wall the digit is written over, cut into pieces where its strokes cross it. A digit's
    own straight stroke ends in its ink or on the paper before it reaches a rail on both sides; one lying
    along the wall is the digit's. Worked out RAIL_CHECKS pieces at a time: a band a piece, the picture wide."""
    if len(which) == 0:
        return np.zeros(0, dtype=bool)
    lines_in, ink_in = box_counter(lines), box_counter(mask)
    width = lines.shape[1]
    columns = np.arange(width)
    walls = np.zeros(len(which), dtype=bool)
    for first in range(0, len(which), RAIL_CHECKS):
        top, bottom, left, right = (stats[which[first : first + RAIL_CHECKS], k, None] for k in range(4))
        # Each band's columns: on a line, under the digit's ink, or neither (a gap).
        on_line = lines_in(top, bottom, columns, columns + 1) > 0
        inked = ink_in(top, bottom, columns, columns + 1) > 0
        gap = ~(on_line | inked)
        start = np.where(gap & (columns < left), columns, -1).max(axis=1) + 1
        stop = np.where(gap & (columns >= right), columns, width).min(axis=1)
        rows = top[:, 0], bottom[:, 0]
        met = _at_rail(rails_in, *rows, start) & _at_rail(rails_in, *rows, stop - 1)
        along = inked & ~on_line & (columns >= start[:, None]) & (columns < stop[:, None])
        walls[first : first + RAIL_CHECKS] = met & (longest_runs(along) <= crossing)
    return walls


def _at_rail(rails_in: Callable, top: np.ndarray, bottom: np.ndarray, end: np.ndarray) -> np.ndarray:
    """Whether a rail (`rails_in`: the rails' box_counter) meets the end at column `end` of each piece of line
    along rows [top, bottom): within LINE_MEETING px of it along the line, a pixel beyond it across."""
    return rails_in(top - 1, bottom + 1, end - LINE_MEETING - 1, end + LINE_MEETING + 1) > 0


def _without_pen_colour(printed: tuple, off_print: np.ndarray) -> tuple:
    """The printed lines (along rows, along columns) without their pixels of another colour than the print's
    (`off_print`): a pen's stroke lying on a line. Ruled lines stay print whatever their colour (_ruled)."""
    along_rows, along_columns = printed
    return (
        along_rows & ~(off_print & ~_ruled(along_rows & off_print, along_columns, axis=1)),
        along_columns & ~(off_print & ~_ruled(along_columns & off_print, along_rows, axis=0)),
    )


def _ruled(lines: np.ndarray, across: np.ndarray, axis: int) -> np.ndarray:
    """The pieces of `lines` (along rows for axis 1, along columns for 0) that are ruled lines, printed
    whatever their colour (a ruled page's red margin), not a pen's strokes: pieces lying on one line (their
    middles within two line thicknesses across it, a turned page's drift included) that together span
    LINE_RUN of the picture along it, however a digit written across them cuts them, and that cross a line
    of `across` (the other way) inside that span: a 1 drawn from rule to rule meets the rules at its ends."""
    if not lines.any():
        return lines
    if axis == 0:  # columns are the transposed picture's rows
        return _ruled(lines.T, across.T, 1).T
    labels, stats = label_marks(lines)
    middle = (stats[:, 0] + stats[:, 1]) / 2  # the row each piece lies on
    order = np.argsort(middle)
    thickness = line_thickness(lines.shape)
    line = np.empty(len(stats), dtype=np.int64)  # pieces whose middles follow within two thicknesses: one line
    line[order] = np.cumsum(np.diff(middle[order], prepend=-np.inf) > 2 * thickness) - 1
    each = np.arange(line.max() + 1)
    top, left = (np.asarray(ndimage.minimum(stats[:, k], line, each), dtype=np.int64) for k in (0, 2))
    bottom, right = (np.asarray(ndimage.maximum(stats[:, k], line, each), dtype=np.int64) for k in (1, 3))
    ruled = []
    for one in np.flatnonzero(right - left >= LINE_RUN * lines.shape[1]):  # a few: each spans most of the picture
        inside = across[:, left[one] + 2 * thickness : right[one] - 2 * thickness]
        above = inside[max(0, top[one] - 3 * thickness) : max(0, top[one] - thickness)].any(axis=0)
        below = inside[bottom[one] + thickness : bottom[one] + 3 * thickness].any(axis=0)
        if (above & below).any():
            ruled.append(one)
    return np.isin(labels, np.flatnonzero(np.isin(line, ruled)) + 1)


def _crossed(on_lines: np.ndarray, ink: np.ndarray, reach: int) -> np.ndarray:
    """The pixels of `on_lines` that `ink` faces on both sides, fewer than `reach` px apart along a row or a
    column: where a stroke crosses a line."""
    if not on_lines.any():
        return on_lines
    return on_lines & (closed_along(ink, reach, axis=0) | closed_along(ink, reach, axis=1))


def _joined(mask: np.ndarray, extra: np.ndarray) -> np.ndarray:
    """The pixels of `extra` connected to `mask` (through `extra` itself)."""
    if not extra.any():
        return extra
    labels, count = connected(mask | extra)
    return extra & np.isin(labels, np.flatnonzero(_meeting(labels, count, mask)) + 1)


def _transposed(*pieces: tuple) -> list:
    """label_marks' (labels, stats) of each mask as they are for the transposed mask."""
    return [(labels.T, stats[:, [2, 3, 0, 1, 4]]) for labels, stats in pieces]


def _meeting(labels: np.ndarray, count: int, region: np.ndarray) -> np.ndarray:
    """Which of the pieces 1..count of `labels` have a pixel in `region`."""
    return np.bincount(labels[region], minlength=count + 1)[1:] > 0


def _full_strength_share(levels: np.ndarray) -> float:
    """The share of a digit's ink (grey levels above a tenth) at full strength (nine tenths and up): about
    half for a pen's stroke, under a fifth for a blurred one, whose edges fade over much of its width."""
    return float(np.count_nonzero(levels >= 0.9)) / max(1, np.count_nonzero(levels > 0.1))


def _stroke_width_in_box(found: _Marks) -> float:
    """The marks' typical stroke width once the digit is fitted in the 20 px box."""
    area = found.mask.sum()
    thinned = max(1, area - eroded(found.mask).sum())
    width = 2.0 * area / thinned  # a stroke w wide and L long: area w L, one erosion takes 2 L
    return width * DIGIT_BOX / found.size


def _radius_to(target: float, width_in_box: float, found: _Marks, factor: int) -> int:
    """Working pixels by which strokes `width_in_box` wide in the 20 px box are grown (positive: a grey
    dilation) or thinned (negative: an erosion) on each side to be about `target` wide there."""
    return round((target - width_in_box) / 2 * found.size / DIGIT_BOX * factor)


def _box(mask: np.ndarray) -> tuple:
    """(top, bottom, left, right) of a mask's pixels, bottom and right exclusive."""
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    return int(rows[0]), int(rows[-1]) + 1, int(cols[0]), int(cols[-1]) + 1


def _bounding_window(mask: np.ndarray, margin: int) -> tuple:
    """The slices of the box around a mask's pixels, grown by `margin` (within the array)."""
    top, bottom, left, right = _box(mask)
    return (
        slice(max(0, top - margin), min(mask.shape[0], bottom + margin)),
        slice(max(0, left - margin), min(mask.shape[1], right + margin)),
    )


def _paper(ink_side: np.ndarray) -> np.ndarray:
    """The paper's local brightness under dark ink. A grey closing (max then min filter), lightly smoothed,
    bridges the thickest marker stroke and keeps the step where the page meets a darker table (so the table
    is not taken for ink); but it also fills in a soft shadow smaller than its window, where the paper is
    darker than the closing says. So it is capped by a robust estimate that follows shadows: the upper
    quartile of block means in a window as wide, on a grid of SHADOW_GRID blocks a side (a thick stroke
    fills less than a quarter of such a window; the grid keeps the rank filter cheap)."""
    radius = max(2, round(PAPER_RADIUS * min(ink_side.shape)))
    # The picture continued beyond its edges as it is at them: a strip of table along the edge, narrower
    # than the window, must stay table (with neutral padding the closing would fill it with paper).
    closed = box_blur(grey_closing(ink_side, radius), 1)
    step = max(1, math.ceil(min(ink_side.shape) / SHADOW_GRID))
    blocks = box_reduced(ink_side, step)
    size = 2 * max(1, round(PAPER_RADIUS * min(blocks.shape))) + 1
    quartile = ndimage.percentile_filter(blocks, 75, size=size, mode="nearest")
    return np.minimum(closed, enlarged(box_blur(quartile, 1), step, ink_side.shape))


def _middle(shape):
    return slice(shape[0] // 5, shape[0] - shape[0] // 5), slice(shape[1] // 5, shape[1] - shape[1] // 5)


def _around(box, shape, margin: float = 0.3):
    top, bottom, left, right = box
    grow = int(margin * max(bottom - top, right - left)) + 2
    return slice(max(0, top - grow), min(shape[0], bottom + grow)), slice(
        max(0, left - grow), min(shape[1], right + grow)
    )


def _canvas_colour(grey: np.ndarray) -> Optional[float]:
    """The colour of a flat canvas (a drawing exported from a canvas or an app, a clean render: most of the
    picture exactly one colour), None for a photo (noise and uneven light leave no colour that common).
    Counted on every CANVAS_SAMPLE-th pixel in reading order: the share is what matters, not every pixel,
    and a prime step through the rows does not fall in step with a regular pattern (a checkerboard)."""
    sample = grey.ravel()[::CANVAS_SAMPLE]
    counts = np.bincount(np.clip(sample, 0, 255).astype(np.uint8), minlength=256)
    colour = float(np.argmax(counts))
    exact = np.abs(sample - colour) <= 0.5  # a 16-bit scan stretched to 8 bits is not a canvas for the bins
    return colour if exact.mean() >= CANVAS_SHARE else None


def _paper_is_light(region: np.ndarray) -> bool:
    """Most of the middle of a picture is paper: its median is nearer the bright end for dark ink (and
    above mid-grey if the middle is flat)."""
    low, high = np.percentile(region, (2, 98))
    middle = (low + high) / 2 if high - low >= MIN_CONTRAST else 127.5
    return bool(np.median(region) >= middle)


def _beyond_canvas(stats: np.ndarray, canvas_pixels: np.ndarray) -> np.ndarray:
    """Which marks lie beyond the canvas, their centre outside the box of the stretches of its colour at least
    CANVAS_REGION of the picture: an app's title, toolbar and scroll bar around the canvas a digit is drawn on
    (a digit drawn across the canvas may cut it in two stretches). Only where one stretch holds at least half
    of the canvas's colour, as an app's canvas does: a table's cells, each a stretch of the paper's colour,
    are no canvas with something beyond it."""
    regions = label_marks(canvas_pixels, min_area=math.ceil(CANVAS_REGION * canvas_pixels.size))[1]
    if len(regions) == 0 or regions[:, 4].max() < 0.5 * np.count_nonzero(canvas_pixels):
        return np.zeros(len(stats), dtype=bool)
    top, bottom, left, right = regions[:, 0].min(), regions[:, 1].max(), regions[:, 2].min(), regions[:, 3].max()
    middle_y, middle_x = (stats[:, 0] + stats[:, 1]) / 2, (stats[:, 2] + stats[:, 3]) / 2
    return (middle_y < top) | (middle_y >= bottom) | (middle_x < left) | (middle_x >= right)


def _choose(stats: np.ndarray, elsewhere: np.ndarray, beside_line: np.ndarray, shape, on_canvas: bool) -> list:
    """Indices of the components that make the digit: the largest, most central mark that is not a line,
    `elsewhere` (on a page's edge, beyond an app's canvas), the table or a speck, with the marks close to it
    (a 5's detached bar, a broken stroke)."""
    height, width = shape
    top, bottom, left, right, area = (stats[:, i] for i in range(5))
    box_h, box_w = bottom - top, right - left
    touches = (top == 0) | (left == 0) | (bottom == height) | (right == width)
    line = (np.maximum(box_h, box_w) >= 8 * np.minimum(box_h, box_w)) & (
        (box_w >= 0.6 * width) | (box_h >= 0.6 * height)
    )
    # A large mark at the border is the table or the page's edge in a photo; on a canvas, a digit drawn large.
    edge = touches & ((box_w >= 0.4 * width) | (box_h >= 0.4 * height)) & (not on_canvas)
    huge = (box_w >= 0.9 * width) & (box_h >= 0.9 * height)
    speck = area < MIN_MARK_AREA * height * width
    stick = np.maximum(box_h, box_w) >= STICK * np.minimum(box_h, box_w)
    remnant = beside_line & (
        (area < LINE_REMNANT * height * width) | (stick & _with_siblings(np.maximum(box_h, box_w), stick & beside_line))
    )
    good = ~(line | edge | huge | speck | elsewhere | remnant)
    if not good.any():
        return []
    centre_y, centre_x = (top + bottom) / 2 / height - 0.5, (left + right) / 2 / width - 0.5
    off_centre = np.sqrt(centre_y**2 + centre_x**2) / np.sqrt(0.5)
    score = np.where(good, area * (1 - 0.5 * off_centre) * np.where(touches, 0.3, 1.0), -1)
    main = int(np.argmax(score))
    reach = 0.35 * max(box_h[main], box_w[main]) + 2
    # What is left of a printed line where it met another (a box's corner, a cell's T), and a comb's ticks
    # (straight sticks standing on its baseline), are no part of a digit.
    line_fragment = beside_line & ((area < LINE_FRAGMENT * area[main]) | stick)
    candidates = good & (area >= 0.005 * area[main]) & ~line_fragment
    candidates &= ~_printed_text(stats, candidates, main)
    # Marks close to the digit as found so far join it, so a stroke faded into several pieces (a ball-point
    # running dry) is gathered piece by piece; a few rounds, so the reach cannot run across a whole page.
    chosen = np.zeros(len(stats), dtype=bool)
    chosen[main] = True
    for _ in range(4):
        near = (
            candidates
            & (bottom > top[chosen].min() - reach)
            & (top < bottom[chosen].max() + reach)
            & (right > left[chosen].min() - reach)
            & (left < right[chosen].max() + reach)
        )
        if not (near & ~chosen).any():
            break
        chosen |= near
    return list(np.flatnonzero(chosen))


def _printed_text(stats: np.ndarray, candidates: np.ndarray, main: int) -> np.ndarray:
    """Marks that are printed text or icons beside the digit, not pieces of it: letters in a row (two or more
    marks of about one height, on one baseline or top line, a letter's width apart, all smaller than the
    digit: "No.", "Q1:", a toolbar), or a smaller compact mark wholly to the digit's left or right, clear of
    it (a label whose letters ran together; not a stick, which may be a piece of a faded stroke). Only the
    TEXT_NEIGHBOURS candidates nearest the digit are compared, so the cost is bounded whatever the picture
    holds."""
    top, bottom, left, right = (stats[:, i].astype(np.float64) for i in range(4))
    height = bottom - top
    main_height, main_size = height[main], max(height[main], right[main] - left[main])
    text = np.zeros(len(stats), dtype=bool)
    beside = (right <= left[main]) | (left >= right[main])
    gap_to_main = np.maximum(left[main] - right, left - right[main])
    compact = np.maximum(height, right - left) < STICK * np.minimum(height, right - left)  # not a stroke's piece
    text |= beside & compact & (height < LABEL_HEIGHT * main_height) & (gap_to_main >= LABEL_GAP * main_size)
    others = np.flatnonzero(candidates & (height < LABEL_HEIGHT * main_height))
    others = others[others != main]
    if len(others) < 2:
        return text & candidates
    distance = np.hypot(
        (top[others] + bottom[others]) / 2 - (top[main] + bottom[main]) / 2,
        (left[others] + right[others]) / 2 - (left[main] + right[main]) / 2,
    )
    near = others[np.argsort(distance)[:TEXT_NEIGHBOURS]]
    t, b, lft, rgt, h = top[near], bottom[near], left[near], right[near], height[near]
    tallest = np.maximum(h[:, None], h[None, :])
    similar = np.minimum(h[:, None], h[None, :]) >= LETTER_HEIGHTS * tallest
    aligned = (np.abs(b[:, None] - b[None, :]) <= LETTER_ALIGNMENT * tallest) | (
        np.abs(t[:, None] - t[None, :]) <= LETTER_ALIGNMENT * tallest
    )
    gap = np.maximum(lft[None, :] - rgt[:, None], lft[:, None] - rgt[None, :])
    spaced = (gap <= LETTER_SPACING * tallest) & (gap >= -LETTER_OVERLAP * tallest)
    pair = similar & aligned & spaced
    np.fill_diagonal(pair, False)
    text[near] |= pair.any(axis=1)
    return text & candidates


def _with_siblings(length: np.ndarray, among: np.ndarray) -> np.ndarray:
    """Which of the marks `among` have at least two others among them about as long (within SIBLING_LENGTH
    of each other): a comb's ticks, not a 1 standing on a line. Sorted counts, no pairwise table."""
    lengths = np.sort(length[among].astype(np.float64))
    lower = np.searchsorted(lengths, length / (1 + SIBLING_LENGTH), side="left")
    upper = np.searchsorted(lengths, length * (1 + SIBLING_LENGTH), side="right")
    return among & (upper - lower - 1 >= 2)
