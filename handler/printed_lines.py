"""Printed lines on a page, found by structure as document-image tools find them (printed_lines): ruled and
squared paper, a form's boxes, rows of cells and comb fields, a table's rules, the frame of an app's canvas.

A line is a straight run of ink much longer than it is thick, horizontal or vertical (within a few degrees:
the runs are measured on the ink smeared by a pixel or two across the line). Handwriting has such runs too
(a 1's stem, a 7's bar, a 4's cross), so a run is taken as printed only by what it is part of: a thin run
across most of the picture (ruled paper), or runs a quarter of the picture long that meet at corners or
junctions with two of them parallel (a box, cells, a grid, a comb's ticks on its baseline; a line that a
stroke lying on it cuts in two stays one), and only if it is
of about the weight of the page's longest line (print is of one weight; a marker's straight stroke is
thicker than the box it touches) and running along the page's slant (a stroke a few degrees off it holds
runs too once smeared). A comb's ticks, often shorter than that, are found standing on its baseline: sticks
of one length at one pitch (comb_teeth). Lines found within the digit's own box are given back to it by the caller
(digit_finding): a printed line runs on past the digit it frames or touches. Where a stroke darker than the
print lies on a line or crosses it, ink_over_lines tells its pixels from the line's; where one as dark as the
print lies half on a line, swollen_lines does, by the line's thickness.
"""

from typing import NamedTuple

import numpy as np

from image_operations import box_counter, connected, dilated, in_runs_of, max_filter_along

LINE_RUN = 0.45  # a run this share of the picture's width (height) is a ruled line on its own ...
FRAME_RUN = 0.25  # runs this share of the side that meet at angles make a frame ...
LINE_THICKNESS = 0.025  # ... if no thicker than this share of the picture's side (both kinds) ...
MIN_LINE_THICKNESS = 5  # ... or than this many pixels (a 4 px rule, anti-aliased, on a small picture)
LINE_WEIGHT_SPREAD = 1.6  # printed lines are at most this many times as thick as the page's longest (+1 px)
SLANT_TOLERANCE = 2  # px the ink is smeared across a line before its runs are measured (a slight bow)
LINE_SLANT = np.tan(np.deg2rad(4))  # a piece of run leaning more than this off the page's lines ...
LINE_DRIFT = 2.5  # ... and drifting this many px across from them along its length is a pen stroke
# The page's lines are looked for at these slopes (up to 6 degrees either way, a degree apart) ...
SKEW_SLOPES = np.tan(np.deg2rad(np.arange(-6, 7)))
SKEW_GAIN = 1.1  # ... and taken as slanted if the ink's row profile is this much sharper so than level
SKEW_PIXELS = 6_000  # ink pixels the slope is judged on at most (bounded cost and memory)
# Ink darker than the page's print where it lies on a line (drop-out forms are printed light for this):
INK_OVER_LINE = 0.15  # stronger than the lines' core by this (ink strength: share darker than the paper) ...
LINE_CORE = 0.9  # ... the core's being this quantile of the lines' pixels (their edges are anti-aliased, fainter)
# A comb's teeth: short sticks on a printed line, about one length (within this share) ...
TOOTH_LENGTH_SPREAD = 0.25
TOOTH_PITCH_SPREAD = 0.15  # ... standing at one pitch: each this share of it from the nearest other one ...
MIN_TEETH = 3  # ... at least this many on a line ...
MAX_TEETH = 64  # ... and no comb where more stand (a texture, not a form: the pairwise comparison stays small)
MIN_TOOTH = 3  # px a stick stands off its line at least
LOOSE_SHARE = 0.9  # a line with a free end this much shorter than the longest either way is a pen stroke
LINE_MEETING = 2  # px from a line's end to a line across it where they meet (ink wider than either at the junction)
LINE_SWELL = 2  # px a line is thicker than its own weight where a stroke of the print's shade lies along it


def line_thickness(shape) -> int:
    """The thickest a printed line is taken to be, in pixels of a picture of this shape."""
    return max(MIN_LINE_THICKNESS, round(LINE_THICKNESS * min(shape)))


def printed_lines(ink: np.ndarray) -> tuple:
    """(along rows, along columns): the pixels of `ink` (a boolean mask) that are printed lines running
    (nearly) horizontally and vertically: runs across LINE_RUN of the picture, and
    runs of FRAME_RUN of its side that meet others at angles as a box's, a grid's or a comb's do. The
    runs are measured along the lines' own slant (skew_of_lines: a page photographed turned by a few
    degrees), on the ink smeared SLANT_TOLERANCE px across them; a run's pixels count only where the ink
    is a line's thickness across it, so a ruled line runs on through a stroke that crosses it and leaves
    the stroke whole."""
    height, width = ink.shape
    thickness = line_thickness(ink.shape)
    slope = skew_of_lines(ink)
    length = max(4, round(FRAME_RUN * min(height, width)))
    ruled_rows, horizontal = _runs_along_rows(ink, slope, (round(LINE_RUN * width), length), thickness)
    # A vertical line of a picture turned by the same angle is a row of the transposed picture, slanted back.
    ruled_columns, vertical = (
        runs.T for runs in _runs_along_rows(ink.T, -slope, (round(LINE_RUN * height), length), thickness)
    )
    horizontal, vertical = _without_pen_strokes(horizontal, vertical, slope)
    ruled_rows &= horizontal
    ruled_columns &= vertical
    # Runs that touch (a pixel apart) form one structure, and so do the pieces of one line that a stroke lying
    # on it cut apart (_joins_through_ink): a 4's tail along its box's side leaves the box one structure. It is
    # printed if it has lines both ways, two of them parallel (a box or three sides of one, cells, a grid, a
    # comb): a 4's or a 7's straight strokes are one line each way, however their crossing cuts them.
    row_runs, column_runs = _line_pieces(horizontal, slope, thickness), _line_pieces(vertical.T, -slope, thickness)
    joins = _joins_through_ink(row_runs, ink, slope, thickness)
    joins |= _joins_through_ink(column_runs, ink.T, -slope, thickness).T
    structures, found = connected(dilated(horizontal | vertical) | joins)
    if found == 0:
        return ruled_rows, ruled_columns
    rows_h = _lines_per_structure(row_runs, structures, found)
    columns_v = _lines_per_structure(column_runs, structures.T, found)
    frame = ((rows_h >= 2) & (columns_v >= 1)) | ((rows_h >= 1) & (columns_v >= 2))
    in_frame = frame[structures]
    along_rows, along_columns = ruled_rows | (in_frame & horizontal), ruled_columns | (in_frame & vertical)
    # A pen stroke standing on print is told by its free end and by its length beside the longest line either
    # way (a 1 on a comb's baseline may be the only upright line).
    row_pieces = _line_pieces(along_rows, slope, thickness)
    column_pieces = _line_pieces(along_columns.T, -slope, thickness)
    longest = max(row_pieces.line_length.max(initial=0), column_pieces.line_length.max(initial=0))
    along_rows, along_columns = (
        along_rows & ~_loose_strokes(row_pieces, longest, along_columns, ink, slope, thickness),
        along_columns & ~_loose_strokes(column_pieces, longest, along_rows.T, ink.T, -slope, thickness).T,
    )
    # A comb's ticks are often shorter than any run asked of a frame; found on the lines they stand on.
    return (
        along_rows | comb_teeth(ink.T, along_columns.T, along_rows.T, -slope, thickness).T,
        along_columns | comb_teeth(ink, along_rows, along_columns, slope, thickness),
    )


def comb_teeth(ink: np.ndarray, lines: np.ndarray, crossing: np.ndarray, slope: float, thickness: int) -> np.ndarray:
    """The pixels of `ink` that are a comb's teeth on `lines` (printed lines along rows, slanted by `slope`)
    that the `crossing` lines (along columns) found so far are not: sticks standing on a line (or hanging
    from it), no wider than a line, at least MIN_TEETH of about one length at one pitch on it. Where a pen
    stroke runs on from a tooth's tip, the tooth is taken only as long as its siblings; a stroke standing
    on the line between the teeth is no tooth (off the pitch); where a stroke touches a tooth, the ink
    wider than a line across it is the stroke's."""
    # A line is broken where a tooth stands on it (there the ink is more than a line's thickness high), and
    # ends short of a tooth at its end: lengthened across such gaps, so each tooth has the line's edge under it.
    if not lines.any():
        return lines
    bridged = max_filter_along(lines, thickness // 2 + 2, axis=1)
    sticks = ink & ~crossing
    teeth = (
        _teeth_above(sticks, bridged, slope, thickness)
        | _teeth_above(sticks[::-1], bridged[::-1], -slope, thickness)[::-1]
    )
    return teeth & ~in_runs_of(ink, thickness + 1, axis=1) if teeth.any() else teeth


def _teeth_above(ink: np.ndarray, lines: np.ndarray, slope: float, thickness: int) -> np.ndarray:
    """comb_teeth's sticks standing up from the lines' top edges."""
    foot = np.zeros_like(lines)  # a line's top edge with ink on it
    foot[1:] = lines[1:] & ~lines[:-1] & ink[:-1]
    feet = np.nonzero(foot)
    if len(feet[0]) < MIN_TEETH:
        return np.zeros_like(ink)
    standing = np.zeros(ink.shape, dtype=np.int64)
    standing[feet] = _heights_above(ink, *feet)
    stands, count = connected(standing >= MIN_TOOTH)  # side by side on an edge: one stick's foot
    if count < MIN_TEETH:
        return np.zeros_like(ink)
    rows, cols = np.nonzero(stands)
    which = stands[rows, cols] - 1
    width = np.bincount(which, minlength=count)
    height = np.zeros(count, dtype=np.int64)
    np.maximum.at(height, which, standing[rows, cols])
    centre = np.bincount(which, weights=cols, minlength=count) / width
    level = np.bincount(which, weights=rows - (cols - ink.shape[1] / 2) * slope, minlength=count) / width
    sticks = np.flatnonzero(width <= thickness + 2)
    if not MIN_TEETH <= len(sticks) <= MAX_TEETH:
        return np.zeros_like(ink)
    teeth, length = _comb(height[sticks], centre[sticks], level[sticks], thickness)
    cap = np.zeros(count, dtype=np.int64)
    cap[sticks] = np.where(teeth, np.minimum(height[sticks], length), 0)
    # Each foot's pixels mark their tooth's column from the edge up to its length (a difference array).
    foot = cap[which] > 0
    rows, cols, reach = rows[foot], cols[foot], cap[which][foot]
    marks = np.zeros((ink.shape[0] + 1, ink.shape[1]), dtype=np.int64)
    np.add.at(marks, (rows - reach, cols), 1)
    np.add.at(marks, (rows, cols), -1)
    tooth = np.cumsum(marks, axis=0)[:-1] > 0
    return ink & max_filter_along(tooth, 1, axis=1)


def _comb(height: np.ndarray, centre: np.ndarray, level: np.ndarray, thickness: int) -> tuple:
    """(which sticks are teeth, the length each may be taken to) for sticks of these heights standing at these
    centres on lines at these levels: teeth are sticks on one line about as long as at least two others
    (TOOTH_LENGTH_SPREAD) whose nearest such sibling is at the line's pitch (TOOTH_PITCH_SPREAD of the
    median gap), and the longer sticks standing at that pitch too (a tooth a pen stroke runs on from),
    taken to their siblings' length."""
    same_line = np.abs(level[:, None] - level[None, :]) <= thickness
    gap = np.abs(centre[:, None] - centre[None, :])
    np.fill_diagonal(same_line, False)
    tallest = np.maximum(height[:, None], height[None, :])
    alike = same_line & (np.abs(height[:, None] - height[None, :]) <= TOOTH_LENGTH_SPREAD * tallest)
    siblings = alike.sum(axis=1) >= MIN_TEETH - 1
    if not siblings.any():
        return siblings, 0
    nearest = np.where(alike, gap, np.inf).min(axis=1)  # finite for every stick with siblings
    pitch = float(np.median(nearest[siblings]))
    if pitch < thickness:  # the feet of one stick, not a comb
        return np.zeros_like(siblings), 0
    # A tooth's nearest sibling may stand two pitches off: the tooth between them is hidden or run on by a stroke.
    teeth = siblings & _at_the_pitch(np.where(siblings, nearest, pitch), pitch, most=2)
    if teeth.sum() < MIN_TEETH:
        return np.zeros_like(teeth), 0
    length = int(height[teeth].max())
    # A longer stick is a tooth run on by a stroke if a tooth stands a whole number of pitches from it.
    on_the_comb = (same_line & teeth[None, :] & _at_the_pitch(gap, pitch)).any(axis=1)
    return teeth | (on_the_comb & (height > length)), length


def _at_the_pitch(gap: np.ndarray, pitch: float, most: float = np.inf) -> np.ndarray:
    """Whether each gap between two sticks is a whole number of pitches, one to `most` (TOOTH_PITCH_SPREAD of a
    pitch either way)."""
    steps = np.round(gap / pitch)
    return (steps >= 1) & (steps <= most) & (np.abs(gap / pitch - steps) <= TOOTH_PITCH_SPREAD)


def _heights_above(ink: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """How many pixels of `ink` stand in an unbroken run straight up from each point (rows, cols), the
    point itself not counted: climbed a row at a time by the points still on ink, so the work is the
    runs' total length, not the picture's."""
    height = np.zeros(len(rows), dtype=np.int64)
    climbing = np.arange(len(rows))
    while len(climbing):
        above = rows[climbing] - height[climbing] - 1
        inside = above >= 0
        climbing, above = climbing[inside], above[inside]
        climbing = climbing[ink[above, cols[climbing]]]
        height[climbing] += 1
    return height


def ink_over_lines(lines: np.ndarray, strength: np.ndarray) -> np.ndarray:
    """The pixels of `lines` (all printed lines found, the faintest included: they set what the print's own
    ink is) where something darker lies on them, a pen's stroke along or across a line, as drop-out forms
    are read: stronger than the lines' core by INK_OVER_LINE. `strength` is the ink's, 0 (paper) to 1."""
    if not lines.any():
        return lines
    return lines & (strength > float(np.quantile(strength[lines], LINE_CORE)) + INK_OVER_LINE)


def swollen_lines(lines: np.ndarray) -> np.ndarray:
    """The pixels of `lines` (printed lines along rows) where a stroke as dark as the print lies half on a
    line (a 7's bar along a table's rule) or crosses it at a shallow angle: the columns where the line is
    LINE_SWELL px or more thicker than its own weight, and up to LINE_SWELL columns on from them where it is
    still thicker (a stroke comes onto a line at a slant; a line's anti-aliased edge comes and goes along it).
    Print is of one weight along a line: a line's weight is its median thickness over all its columns, those
    of all its pieces in one level band (_line_band), so a stroke may cover most of one cell's stretch of a
    table's rule; one lying along most of a line's length is not told from it."""
    pieces = _line_pieces(lines, 0.0, line_thickness(lines.shape))
    if len(pieces.left) == 0:
        return lines
    rows, cols = np.nonzero(pieces.labels)
    which = pieces.labels[rows, cols].astype(np.int64) - 1
    # Each piece's thickness in each of its columns; each band's thicknesses in order, the median its weight.
    columns, column_of_pixel, thickness = np.unique(
        which * lines.shape[1] + cols, return_inverse=True, return_counts=True
    )
    line = pieces.band[columns // lines.shape[1]]
    # The (lower) median from each band's histogram of thicknesses: the least thickness more than half reach.
    values = int(thickness.max()) + 1
    histogram = np.bincount(line * values + thickness, minlength=(pieces.band.max() + 1) * values).reshape(-1, values)
    middle = (histogram.sum(axis=1) - 1) // 2
    weight = (histogram.cumsum(axis=1) <= middle[:, None]).sum(axis=1)
    swelling = (thickness - weight[line])[column_of_pixel.ravel()]
    thicker, clearly = np.zeros_like(lines), np.zeros_like(lines)
    thicker[rows, cols] = swelling >= 1
    clearly[rows, cols] = swelling >= LINE_SWELL
    if not clearly.any():
        return clearly
    return thicker & max_filter_along(clearly, LINE_SWELL, axis=1)


class _LinePieces(NamedTuple):
    """The connected pieces of printed lines along rows (_line_pieces), each one's figures by its index."""

    labels: np.ndarray  # 1..n on each piece's pixels, 0 elsewhere
    left: np.ndarray  # its first column ...
    right: np.ndarray  # ... and its last
    middle_row: np.ndarray
    middle_column: np.ndarray
    level: np.ndarray  # its mean row with the page levelled (_slant_shifts)
    band: np.ndarray  # the _line_band it lies in, counted from 0: the pieces of one band are one line ...
    line_length: np.ndarray  # ... as long as they are together


def _line_pieces(lines: np.ndarray, slope: float, thickness: int) -> _LinePieces:
    """The pieces of `lines` (along rows, slanted by `slope`), labelled once for every question of which line a
    piece is on: joins across a stroke, lines per structure, loose strokes, a line's weight."""
    labels, count = connected(lines)
    rows, cols = np.nonzero(labels)
    which = labels[rows, cols] - 1
    left, right = np.full(count, lines.shape[1]), np.zeros(count, dtype=np.int64)
    np.minimum.at(left, which, cols)
    np.maximum.at(right, which, cols)
    size = np.maximum(np.bincount(which, minlength=count), 1)

    def mean(values: np.ndarray) -> np.ndarray:
        return np.bincount(which, weights=values, minlength=count) / size

    level = mean(rows - _slant_shifts(lines.shape[1], slope)[cols])
    band = _line_band(level, thickness)
    band -= band.min(initial=0)
    line_length = np.bincount(band, weights=right - left + 1)[band]
    return _LinePieces(labels, left, right, mean(rows), mean(cols), level, band, line_length)


def _loose_strokes(
    pieces: _LinePieces, longest: float, across: np.ndarray, ink: np.ndarray, slope: float, thickness: int
) -> np.ndarray:
    """The pieces of lines along rows, slanted by `slope` (_line_pieces), that are pen strokes standing on
    print or crossing it (a 1 in a cell of a table): with an end free (no ink runs on from it, no line `across`
    meets it, not at the picture's edge), on a line shorter than LOOSE_SHARE of the `longest` line, and
    without two other free-ended pieces about as long (TOOTH_LENGTH_SPREAD: a comb's ticks, a page's ruled
    lines ending at its edge). A printed line ends on another, on the picture's edge, or where a stroke
    crosses it."""
    labels, left, right = pieces.labels, pieces.left, pieces.right
    count = len(left)
    if count == 0:
        return np.zeros(labels.shape, dtype=bool)
    height, width = ink.shape
    # Lines across near an end (LINE_MEETING along the line, its thickness across it), counted only at the ends.
    across_in = box_counter(across)

    def free(end: np.ndarray, step: int) -> np.ndarray:
        row = np.round(pieces.middle_row + (end - pieces.middle_column) * slope).astype(np.int64)
        runs_on = np.zeros(count, dtype=bool)
        for beyond in (end + step, end + 2 * step):
            for near in (row - 1, row, row + 1):
                runs_on |= ink[np.clip(near, 0, height - 1), np.clip(beyond, 0, width - 1)]
        meets = across_in(row - thickness, row + thickness + 1, end - LINE_MEETING, end + LINE_MEETING + 1)
        inside = (end + 2 * step >= 0) & (end + 2 * step < width)
        return inside & ~runs_on & (meets == 0)

    loose = free(left, -1) | free(right, 1)
    if not loose.any():
        return np.zeros(labels.shape, dtype=bool)
    length = right - left + 1
    ordered = np.sort(length[loose].astype(np.float64))
    alike = np.searchsorted(ordered, length * (1 + TOOTH_LENGTH_SPREAD), side="right") - np.searchsorted(
        ordered, length / (1 + TOOTH_LENGTH_SPREAD), side="left"
    )
    loose &= (pieces.line_length < LOOSE_SHARE * longest) & (alike - 1 < 2)
    return np.concatenate(([False], loose))[labels]


def _without_pen_strokes(horizontal: np.ndarray, vertical: np.ndarray, slope: float) -> tuple:
    """The runs along rows and along columns without their pieces (connected runs) that are pen strokes
    that happen to be straight (a 1, a 7's bar, the flat side of a 6, a 0's side):
    - thicker than LINE_WEIGHT_SPREAD times the page's longest piece, and a pixel: the lines printed on one
      page are of about one weight (a piece's thickness is its pixels over its length);
    - leaning off the page's slant (_off_the_slant): a stroke a few degrees off the lines still holds runs
      once smeared, the more so the wider it is and the shorter the runs asked of a small picture."""
    (row_labels, row_thickness, row_length), (column_labels, column_thickness, column_length) = (
        _pieces(horizontal, axis=1),
        _pieces(vertical, axis=0),
    )
    lengths = np.concatenate([row_length, column_length])
    if len(lengths) == 0:
        return horizontal, vertical
    weight = np.concatenate([row_thickness, column_thickness])[np.argmax(lengths)]
    limit = LINE_WEIGHT_SPREAD * weight + 1
    rows_kept = (row_thickness <= limit) & ~_off_the_slant(row_labels, row_length, slope)
    # A vertical line of a page turned by the slope is a row of the transposed picture, slanted back.
    columns_kept = (column_thickness <= limit) & ~_off_the_slant(column_labels.T, column_length, -slope)
    # Label 0 (no run) maps to False.
    return np.concatenate([[False], rows_kept])[row_labels], np.concatenate([[False], columns_kept])[column_labels]


def _off_the_slant(labels: np.ndarray, length: np.ndarray, slope: float) -> np.ndarray:
    """Which pieces 1..n of `labels` (lines along rows, `length` columns long) lean off `slope` (dy/dx), the
    page's lines': their least-squares slope is off it by more than LINE_SLANT and drifts LINE_DRIFT px or
    more across their length (a fragment a few pixels long has no slope to speak of). Sums over each piece's
    pixels with bincounts, whatever the number of pieces."""
    if len(length) == 0:
        return np.zeros(0, dtype=bool)
    rows, cols = np.nonzero(labels)
    which = labels[rows, cols]
    rows, cols = rows - rows.mean(), cols - cols.mean()  # centred: the sums below stay small

    def total(values):
        return np.bincount(which, weights=values, minlength=len(length) + 1)[1:]

    n, x, y = total(np.ones_like(cols)), total(cols), total(rows)
    off = np.abs((n * total(cols * rows) - x * y) / np.maximum(n * total(cols * cols) - x * x, 1e-9) - slope)
    return (off > LINE_SLANT) & (off * (length - 1) >= LINE_DRIFT)


def _pieces(runs: np.ndarray, axis: int) -> tuple:
    """(labels, thickness, length) of the connected pieces of `runs`, lines along `axis`: a piece's length is
    the number of its runs across the axis (a line's extent), its thickness its pixels over that length (the
    line's mean weight). Counted with bincounts: a picture of noise, thousands of pieces, costs what a form does."""
    labels, count = connected(runs)
    before = np.zeros_like(runs)  # each pixel's neighbour before it across the axis
    if axis == 1:
        before[1:, :] = runs[:-1, :]
    else:
        before[:, 1:] = runs[:, :-1]
    length = np.bincount(labels[runs & ~before], minlength=count + 1)[1:]
    area = np.bincount(labels[runs], minlength=count + 1)[1:]
    return labels, area / np.maximum(length, 1), length


def skew_of_lines(ink: np.ndarray) -> float:
    """The slope (dy/dx) of the page's horizontal lines, among SKEW_SLOPES: the one along which the ink's
    row profile is sharpest (the sum of its squared counts: lines piled up in few rows), 0 unless another
    is clearly sharper. Counted on at most SKEW_PIXELS ink pixels, evenly spread."""
    rows, cols = np.nonzero(ink)
    if len(rows) == 0:
        return 0.0
    every = -(-len(rows) // SKEW_PIXELS)
    rows, cols = rows[::every], cols[::every] - ink.shape[1] / 2
    levelled = np.round(rows[None, :] - cols[None, :] * SKEW_SLOPES[:, None]).astype(np.int64)
    levelled -= levelled.min()
    span = int(levelled.max()) + 1
    counts = np.bincount(
        (levelled + span * np.arange(len(SKEW_SLOPES))[:, None]).ravel(), minlength=span * len(SKEW_SLOPES)
    )
    sharpness = (counts.reshape(len(SKEW_SLOPES), span).astype(np.float64) ** 2).sum(axis=1)
    level = int(np.flatnonzero(SKEW_SLOPES == 0)[0])
    best = int(np.argmax(sharpness))
    return float(SKEW_SLOPES[best]) if sharpness[best] > SKEW_GAIN * sharpness[level] else 0.0


def _runs_along_rows(ink: np.ndarray, slope: float, lengths: tuple, thickness: int) -> tuple:
    """For each length, the pixels of `ink` in a run along rows slanted by `slope`, at least that long, where
    the ink is at most `thickness` across it: the picture sheared so those rows are level, the runs found,
    and sheared back."""
    shifts = _slant_shifts(ink.shape[1], slope)
    level = _shifted_columns(ink, shifts)
    along = max_filter_along(level, SLANT_TOLERANCE, axis=0)
    thin = level & ~in_runs_of(level, thickness + 1, axis=0)  # at most a line's thickness high
    return tuple(_shifted_columns(thin & in_runs_of(along, length, axis=1), -shifts) for length in lengths)


def _slant_shifts(width: int, slope: float) -> np.ndarray:
    """For each column of a picture `width` wide, how many rows further down a line slanted by `slope` lies
    there than at the picture's middle: _shifted_columns by these levels such lines."""
    return np.round((np.arange(width) - width / 2) * slope).astype(np.int64)


def _shifted_columns(mask: np.ndarray, shifts: np.ndarray) -> np.ndarray:
    """The mask with column x read from `shifts[x]` rows further down (False beyond the picture)."""
    reach = int(np.abs(shifts).max())
    if reach == 0:
        return mask
    padded = np.pad(mask, ((reach, reach), (0, 0)))
    rows = np.arange(mask.shape[0])[:, None] + shifts[None, :] + reach
    return np.take_along_axis(padded, rows, axis=0)


def _joins_through_ink(pieces: _LinePieces, ink: np.ndarray, slope: float, thickness: int) -> np.ndarray:
    """A path along each gap between two pieces of one line (`pieces` along rows, slanted by `slope`: pieces in
    one _line_band, next along it) that `ink` fills from end to end within a pixel of the line's row: where a
    stroke lying on the line cut its run (the ink is thicker than a line there). One of the two pieces must be
    longer than two line thicknesses: a digit touching its box's side again and again cuts it into pieces
    hardly longer, each next to a longer one, while a stroke's own straight bits lie end to end, none of them
    long (a 9's stem beside a cell's wall). Pieces no longer than a line's thickness are bits of the stroke."""
    joins = np.zeros(ink.shape, dtype=bool)
    if len(pieces.left) < 2:
        return joins
    height, width = ink.shape
    shifts = _slant_shifts(width, slope)
    level = np.clip(np.round(pieces.level), 0, height - 1).astype(np.int64)
    left, right, band = pieces.left, pieces.right, pieces.band
    length = right - left + 1
    present, long = length > thickness, length > 2 * thickness
    order = np.flatnonzero(present)[np.lexsort((left[present], band[present]))]
    before, after = order[:-1], order[1:]
    gap = (band[before] == band[after]) & (left[after] > right[before] + 1) & (long[before] | long[after])
    if not gap.any():
        return joins
    row, start, stop = level[before[gap]], right[before[gap]] + 1, left[after[gap]]  # columns start .. stop - 1
    # The ink within a pixel across each gap's row, counted along the row (only the rows that hold a gap).
    gap_rows, row_of_gap = np.unique(row, return_inverse=True)
    level_ink = _shifted_columns(ink, shifts)
    near = (
        level_ink[gap_rows] | level_ink[np.maximum(gap_rows - 1, 0)] | level_ink[np.minimum(gap_rows + 1, height - 1)]
    )
    counted = np.zeros((len(gap_rows), width + 1), dtype=np.int32)
    counted[:, 1:] = np.cumsum(near, axis=1)
    row_of_gap = row_of_gap.ravel()
    filled = counted[row_of_gap, stop] - counted[row_of_gap, start] == stop - start
    # Each filled gap's columns, one after another: the path's pixels.
    length = (stop - start)[filled]
    path_cols = np.repeat(start[filled] - np.cumsum(length) + length, length) + np.arange(length.sum())
    joins[np.repeat(row[filled], length), path_cols] = True
    return _shifted_columns(joins, -shifts)


def _line_band(level: np.ndarray, thickness: int) -> np.ndarray:
    """The band of rows twice a line's thickness high that pieces at these levelled rows lie in: pieces of one
    band are one line, cut where a stroke or another line crosses it."""
    return np.round(level / (2 * thickness)).astype(np.int64)


def _lines_per_structure(pieces: _LinePieces, structures: np.ndarray, count: int) -> np.ndarray:
    """How many lines along rows each structure (1..count) holds (index 0: none): its `pieces` counted once
    per _line_band, so a line cut in two where a stroke crosses it (or where another line does) is one line."""
    if len(pieces.left) == 0:
        return np.zeros(count + 1, dtype=np.int64)
    rows, cols = np.nonzero(pieces.labels)
    structure_of_piece = np.zeros(len(pieces.left), dtype=np.int64)
    structure_of_piece[pieces.labels[rows, cols] - 1] = structures[rows, cols]
    distinct = np.unique(np.stack([structure_of_piece, pieces.band]), axis=1)
    held = np.bincount(distinct[0], minlength=count + 1)
    held[0] = 0
    return held
