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

from image_operations import dilated, label_marks, max_filter_along, run_lengths

LINE_RUN = 0.45  # a run this share of the picture's width (height) is a ruled line on its own ...
RULED_THICKNESS, MIN_RULED_THICKNESS = 0.012, 3  # ... if no thicker than this share of the side (or px)
FRAME_RUN = 0.25  # runs this share of the side that meet at angles make a frame ...
LINE_THICKNESS = 0.025  # ... if no thicker than this share of the picture's side ...
MIN_LINE_THICKNESS = 5  # ... or than this many pixels (a 4 px rule, anti-aliased, on a small picture)
SLANT_TOLERANCE = 2  # px the ink is smeared across a line before its runs are measured (lines ~7 degrees off)


def line_thickness(shape, share: float, least: int) -> int:
    """The thickest a printed line is taken to be, in pixels of a picture of this shape."""
    return max(least, round(share * min(shape)))


def straight_runs(ink: np.ndarray, length: int, thickness: int) -> tuple:
    """(horizontal, vertical): the pixels of `ink` (a boolean mask) in a horizontal (vertical) run at least
    `length` long that is a line's thickness across, or where it crosses another such run (a corner, a
    junction: the ink there is as long across as along). Runs are measured on the ink smeared
    SLANT_TOLERANCE px across them, so a line photographed a few degrees off the picture's axes runs
    unbroken."""
    along_rows = run_lengths(max_filter_along(ink, SLANT_TOLERANCE, axis=0))
    along_columns = run_lengths(max_filter_along(ink, SLANT_TOLERANCE, axis=1).T).T
    thin_across_rows, thin_across_columns = run_lengths(ink.T).T <= thickness, run_lengths(ink) <= thickness
    long_rows, long_columns = ink & (along_rows >= length), ink & (along_columns >= length)
    horizontal, vertical = long_rows & thin_across_rows, long_columns & thin_across_columns
    return horizontal, vertical


def printed_lines(ink: np.ndarray) -> np.ndarray:
    """The pixels of `ink` (a boolean mask) that are printed lines: runs across LINE_RUN of the picture, and
    runs of FRAME_RUN of its side that meet others at angles as a box's, a grid's or a comb's do."""
    height, width = ink.shape
    # A ruled line runs on through the strokes that cross it (the ink there is thicker than a line).
    thin = line_thickness(ink.shape, RULED_THICKNESS, MIN_RULED_THICKNESS)
    ruled_rows, _ = straight_runs(ink, round(LINE_RUN * width), thin)
    _, ruled_columns = straight_runs(ink, round(LINE_RUN * height), thin)
    thickness = line_thickness(ink.shape, LINE_THICKNESS, MIN_LINE_THICKNESS)
    horizontal, vertical = straight_runs(ink, max(4, round(FRAME_RUN * min(height, width))), thickness)
    ruled = ruled_rows | ruled_columns
    # Runs that touch (a pixel apart) form one structure. It is printed if it has runs both ways, two of them
    # parallel (a box or three sides of one, cells, a grid, a comb): a 4's or a 7's straight strokes are one
    # each way.
    structures, found = label_marks(dilated(horizontal | vertical), min_area=1)
    if len(found) == 0:
        return ruled
    pieces_h, pieces_v = (_pieces_per_structure(runs, structures, len(found)) for runs in (horizontal, vertical))
    frame = (
        ((pieces_h >= 2) & (pieces_v >= 2)) | ((pieces_h >= 1) & (pieces_v >= 3)) | ((pieces_h >= 3) & (pieces_v >= 1))
    )
    return ruled | (frame[structures] & (horizontal | vertical))


def _pieces_per_structure(runs: np.ndarray, structures: np.ndarray, count: int) -> np.ndarray:
    """How many separate runs (connected pieces of `runs`) each structure (1..count) holds; index 0 is none."""
    pieces, stats = label_marks(runs, min_area=1)
    structure_of_piece = np.zeros(len(stats) + 1, dtype=np.int64)
    structure_of_piece[pieces[runs]] = structures[runs]
    held = np.bincount(structure_of_piece[1:], minlength=count + 1)
    held[0] = 0
    return held
