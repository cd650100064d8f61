"""Printed lines on a page, found by structure as document-image tools find them (printed_lines): ruled and
squared paper, a form's boxes, rows of cells and comb fields, a table's rules, the frame of an app's canvas.

A line is a straight run of ink much longer than it is thick, horizontal or vertical (within a few degrees:
the runs are measured on the ink smeared by a pixel or two across the line). Handwriting has such runs too
(a 1's stem, a 7's bar, a 4's cross), so a run is taken as printed only by what it is part of: a thin run
across most of the picture (ruled paper), or runs a quarter of the picture long that meet at corners or
junctions with two of them parallel (a box, cells, a grid, a comb's ticks on its baseline). Lines found
within the digit's own box are given back to it by the caller (digit_finding): a printed line runs on past
the digit it frames or touches.
"""

import numpy as np

from image_operations import dilated, in_runs_of, label_marks, max_filter_along

LINE_RUN = 0.45  # a run this share of the picture's width (height) is a ruled line on its own ...
FRAME_RUN = 0.25  # runs this share of the side that meet at angles make a frame ...
LINE_THICKNESS = 0.025  # ... if no thicker than this share of the picture's side (both kinds) ...
MIN_LINE_THICKNESS = 5  # ... or than this many pixels (a 4 px rule, anti-aliased, on a small picture)
SLANT_TOLERANCE = 2  # px the ink is smeared across a line before its runs are measured (lines ~7 degrees off)


def line_thickness(shape) -> int:
    """The thickest a printed line is taken to be, in pixels of a picture of this shape."""
    return max(MIN_LINE_THICKNESS, round(LINE_THICKNESS * min(shape)))


def printed_lines(ink: np.ndarray) -> np.ndarray:
    """The pixels of `ink` (a boolean mask) that are printed lines: runs across LINE_RUN of the picture, and
    runs of FRAME_RUN of its side that meet others at angles as a box's, a grid's or a comb's do. Runs
    are measured on the ink smeared SLANT_TOLERANCE px across them, so a line photographed a few degrees
    off the picture's axes runs unbroken; a run's pixels count only where the ink is a line's thickness
    across it, so a ruled line runs on through a stroke that crosses it and leaves the stroke whole."""
    height, width = ink.shape
    thickness = line_thickness(ink.shape)
    along_rows, along_columns = (max_filter_along(ink, SLANT_TOLERANCE, axis) for axis in (0, 1))
    thin_rows = ink & ~in_runs_of(ink, thickness + 1, axis=0)  # at most a line's thickness high
    thin_columns = ink & ~in_runs_of(ink, thickness + 1, axis=1)
    ruled = (thin_rows & in_runs_of(along_rows, round(LINE_RUN * width), axis=1)) | (
        thin_columns & in_runs_of(along_columns, round(LINE_RUN * height), axis=0)
    )
    length = max(4, round(FRAME_RUN * min(height, width)))
    horizontal = thin_rows & in_runs_of(along_rows, length, axis=1)
    vertical = thin_columns & in_runs_of(along_columns, length, axis=0)
    # Runs that touch (a pixel apart) form one structure. It is printed if it has runs both ways, two of them
    # parallel (a box or three sides of one, cells, a grid, a comb): a 4's or a 7's straight strokes are one
    # each way.
    structures, found = label_marks(dilated(horizontal | vertical), min_area=1)
    if len(found) == 0:
        return ruled
    pieces_h, pieces_v = (_pieces_per_structure(runs, structures, len(found)) for runs in (horizontal, vertical))
    frame = ((pieces_h >= 2) & (pieces_v >= 1)) | ((pieces_h >= 1) & (pieces_v >= 2))
    return ruled | (frame[structures] & (horizontal | vertical))


def _pieces_per_structure(runs: np.ndarray, structures: np.ndarray, count: int) -> np.ndarray:
    """How many separate runs (connected pieces of `runs`) each structure (1..count) holds; index 0 is none."""
    pieces, stats = label_marks(runs, min_area=1)
    structure_of_piece = np.zeros(len(stats) + 1, dtype=np.int64)
    structure_of_piece[pieces[runs]] = structures[runs]
    held = np.bincount(structure_of_piece[1:], minlength=count + 1)
    held[0] = 0
    return held
