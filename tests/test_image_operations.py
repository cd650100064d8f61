"""handler/image_operations.py against brute-force references, on arrays hypothesis draws: each filter
against its sliding window, the top-hat against its windows, the labelling and the holes against a flood fill,
openings by a line against the run lengths of a walk along each row, the box counts against slicing, the
longest run against splitting a string, Otsu's threshold against an exhaustive search, the block
reductions against their definitions."""

from collections import deque

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from image_operations import (
    box_blur,
    box_counter,
    box_reduced,
    closed_along,
    darkest_reduced,
    dilated,
    eroded,
    grey_closing,
    holes,
    in_runs_of,
    label_marks,
    longest_runs,
    max_filter,
    max_filter_along,
    min_filter,
    otsu_threshold,
    white_top_hat,
)

CASES = settings(max_examples=60, deadline=None)

shapes = st.tuples(st.integers(1, 12), st.integers(1, 12))
greys = shapes.flatmap(lambda shape: arrays(np.float32, shape, elements=st.integers(0, 255).map(float)))
masks = shapes.flatmap(lambda shape: arrays(bool, shape))
radii = st.integers(0, 4)


def window(values: np.ndarray, row: int, col: int, radius: int) -> np.ndarray:
    """The (2 radius + 1)^2 square around (row, col), cut at the picture's edges."""
    return values[max(0, row - radius) : row + radius + 1, max(0, col - radius) : col + radius + 1]


def sliding(values: np.ndarray, radius: int, reduce) -> np.ndarray:
    out = np.empty(values.shape, dtype=np.float64)
    for row in range(values.shape[0]):
        for col in range(values.shape[1]):
            out[row, col] = reduce(window(values, row, col, radius))
    return out


@CASES
@given(greys, radii)
def test_max_and_min_filters_are_the_extremes_of_their_window(values, radius):
    # Continuing the picture at its edges adds no new value to a window's maximum or minimum.
    assert np.array_equal(max_filter(values, radius), sliding(values, radius, np.max))
    assert np.array_equal(min_filter(values, radius), sliding(values, radius, np.min))


@CASES
@given(greys, radii)
def test_grey_closing_is_a_max_then_min_of_the_picture_continued_beyond_its_edges(values, radius):
    padded = np.pad(values, 2 * radius, mode="edge")
    expected = sliding(sliding(padded, radius, np.max), radius, np.min)[
        2 * radius : padded.shape[0] - 2 * radius, 2 * radius : padded.shape[1] - 2 * radius
    ]
    assert np.array_equal(grey_closing(values, radius), expected)


@CASES
@given(greys, radii)
def test_a_white_top_hat_is_the_picture_less_the_max_of_the_min_of_its_windows(values, radius):
    opening = sliding(sliding(values, radius, np.min).astype(np.float32), radius, np.max)
    assert np.allclose(white_top_hat(values, radius), values - opening)
    assert (white_top_hat(values, radius) >= 0).all()


@CASES
@given(greys, st.integers(0, 2))
def test_box_blur_is_the_mean_of_the_window_of_the_picture_continued_at_its_edges(values, radius):
    padded = np.pad(values.astype(np.float64), radius, mode="edge")
    expected = sliding(padded, radius, np.mean)[radius : radius + values.shape[0], radius : radius + values.shape[1]]
    assert np.allclose(box_blur(values, radius), expected, atol=1e-3)


@CASES
@given(masks, radii)
def test_dilation_grows_the_mask_by_its_radius_and_nothing_comes_from_outside(mask, radius):
    assert np.array_equal(dilated(mask, radius), sliding(mask, radius, np.any).astype(bool))


@CASES
@given(masks)
def test_erosion_keeps_what_is_mask_around_and_counts_the_outside_as_mask(mask):
    assert np.array_equal(eroded(mask), sliding(mask, 1, np.all).astype(bool))


EIGHT_STEPS = [(dy, dx) for dy in (-1, 0, 1) for dx in (-1, 0, 1)]
FOUR_STEPS = [(-1, 0), (1, 0), (0, -1), (0, 1)]


def flood_fill_marks(mask: np.ndarray, steps=EIGHT_STEPS) -> list:
    """Connected components (8-connected unless told the steps) as sets of pixels, by breadth-first search."""
    seen = np.zeros(mask.shape, dtype=bool)
    marks = []
    for start in zip(*np.nonzero(mask)):
        if seen[start]:
            continue
        seen[start] = True
        pixels, queue = set(), deque([start])
        while queue:
            row, col = queue.popleft()
            pixels.add((row, col))
            for dy, dx in steps:
                near = (row + dy, col + dx)
                if 0 <= near[0] < mask.shape[0] and 0 <= near[1] < mask.shape[1] and mask[near] and not seen[near]:
                    seen[near] = True
                    queue.append(near)
        marks.append(pixels)
    return marks


@CASES
@given(masks, st.integers(1, 5))
def test_marks_are_the_flood_fills_of_at_least_the_minimum_area(mask, min_area):
    labels, stats = label_marks(mask, min_area=min_area)
    expected = [pixels for pixels in flood_fill_marks(mask) if len(pixels) >= min_area]
    found = [set(zip(*np.nonzero(labels == label))) for label in range(1, len(stats) + 1)]
    assert sorted(map(sorted, found)) == sorted(map(sorted, expected))
    assert not (labels[~mask]).any()
    for label, (top, bottom, left, right, area) in enumerate(stats, start=1):
        rows, cols = np.nonzero(labels == label)
        assert (top, bottom, left, right, area) == (rows.min(), rows.max() + 1, cols.min(), cols.max() + 1, len(rows))


@CASES
@given(masks, st.integers(1, 5))
def test_holes_are_the_stretches_off_the_mask_that_do_not_reach_the_edge_of_at_least_the_minimum_area(mask, min_area):
    expected = np.zeros(mask.shape, dtype=bool)
    last_row, last_col = mask.shape[0] - 1, mask.shape[1] - 1
    for pixels in flood_fill_marks(~mask, FOUR_STEPS):
        if len(pixels) >= min_area and not any(row in (0, last_row) or col in (0, last_col) for row, col in pixels):
            expected[tuple(np.array(sorted(pixels)).T)] = True
    assert (holes(mask, min_area) == expected).all()


def test_a_ring_has_its_inside_as_its_hole_and_a_cut_ring_none():
    ring, inside = np.zeros((7, 7), dtype=bool), np.zeros((7, 7), dtype=bool)
    ring[1:6, 1:6] = True
    ring[2:5, 2:5] = False
    inside[2:5, 2:5] = True
    assert (holes(ring) == inside).all()
    assert not holes(ring, min_area=10).any()  # the inside is 9 pixels
    ring[3, 1] = False  # cut: the inside reaches the edge through it
    assert not holes(ring).any()


def test_a_checkerboard_of_single_pixels_is_one_mark_in_eight_connectivity_and_costs_one_pass():
    board = (np.indices((320, 320)).sum(axis=0) % 2).astype(bool)
    labels, stats = label_marks(board)
    assert len(stats) == 1 and stats[0, 4] == board.sum()
    apart = np.zeros((320, 320), dtype=bool)
    apart[::2, ::2] = True  # 25,600 single pixels, none touching
    assert len(label_marks(apart)[1]) == 25_600 and len(label_marks(apart, min_area=2)[1]) == 0


def horizontal_run_lengths(mask: np.ndarray) -> np.ndarray:
    """For each pixel, the length of the horizontal run of the mask it is in (0 off it), walking each row."""
    lengths = np.zeros(mask.shape, dtype=np.int32)
    for row in range(mask.shape[0]):
        col = 0
        while col < mask.shape[1]:
            if not mask[row, col]:
                col += 1
                continue
            end = col
            while end < mask.shape[1] and mask[row, end]:
                end += 1
            lengths[row, col:end] = end - col
            col = end
    return lengths


@CASES
@given(masks)
def test_longest_runs_are_each_rows_longest_stretch_of_true(mask):
    rows = ["".join("1" if value else "0" for value in row).split("0") for row in mask]
    assert longest_runs(mask).tolist() == [max(len(stretch) for stretch in row) for row in rows]


@CASES
@given(masks, st.lists(st.tuples(*[st.integers(-3, 15)] * 4), min_size=1, max_size=6))
def test_box_counter_counts_the_mask_in_each_box_cut_at_the_pictures_edges(mask, corners):
    boxes = [(min(a, b), max(a, b), min(c, d), max(c, d)) for a, b, c, d in corners]
    top, bottom, left, right = (np.array(bounds) for bounds in zip(*boxes))
    expected = [int(mask[max(0, t) : max(0, b), max(0, lo) : max(0, hi)].sum()) for t, b, lo, hi in boxes]
    assert box_counter(mask)(top, bottom, left, right).tolist() == expected


@CASES
@given(masks, st.integers(0, 9))
def test_in_runs_of_keeps_the_pixels_of_runs_at_least_that_long_along_either_axis(mask, length):
    at_least = max(1, length) | 1  # rounded up to odd
    assert np.array_equal(in_runs_of(mask, length, axis=1), horizontal_run_lengths(mask) >= at_least)
    assert np.array_equal(in_runs_of(mask, length, axis=0), (horizontal_run_lengths(mask.T) >= at_least).T)


@CASES
@given(masks, st.integers(0, 9))
def test_closed_along_fills_the_gaps_shorter_than_the_length_between_pixels_of_the_mask(mask, length):
    expected = mask.copy()
    for row, line in enumerate(mask):
        pixels = np.flatnonzero(line)
        for start, stop in zip(pixels, pixels[1:]):
            if stop - start - 1 < (max(1, length) | 1):  # rounded up to odd
                expected[row, start:stop] = True
    assert np.array_equal(closed_along(mask, length, axis=1), expected)
    assert np.array_equal(closed_along(mask.T, length, axis=0), expected.T)


@CASES
@given(masks, st.integers(0, 3))
def test_max_filter_along_grows_a_mask_along_one_axis_only(mask, radius):
    padded = np.pad(mask, radius)
    rows = np.zeros_like(mask)
    for shift in range(2 * radius + 1):
        rows |= padded[radius : -radius or None, shift : shift + mask.shape[1]] if radius else mask
    assert np.array_equal(max_filter_along(mask, radius, axis=1), rows)
    assert np.array_equal(max_filter_along(mask.T, radius, axis=0), rows.T)


@CASES
@given(arrays(np.float64, st.integers(16, 200), elements=st.floats(0, 1, width=32)))
def test_otsu_threshold_maximises_the_between_class_variance_of_its_histogram(values):
    counts, edges = np.histogram(values, bins=64, range=(0.0, 1.0))
    centres = (edges[:-1] + edges[1:]) / 2

    def between(split: int) -> float:  # classes: bins [0, split] and (split, 63]
        low, high = counts[: split + 1], counts[split + 1 :]
        if not low.sum() or not high.sum():
            return 0.0
        mean_low = (low * centres[: split + 1]).sum() / low.sum()
        mean_high = (high * centres[split + 1 :]).sum() / high.sum()
        return low.sum() * high.sum() * (mean_low - mean_high) ** 2

    scores = [between(split) for split in range(63)]
    chosen = int(np.flatnonzero(np.isclose(centres, otsu_threshold(values)))[0])
    assert np.isclose(scores[chosen], max(scores), rtol=1e-6)


def test_otsu_threshold_of_too_few_values_is_the_middle():
    assert otsu_threshold(np.array([0.1, 0.9])) == 0.5


@CASES
@given(greys, st.integers(1, 5))
def test_block_reductions_are_the_mean_and_minimum_of_each_block(values, factor):
    rows, cols = -(-values.shape[0] // factor), -(-values.shape[1] // factor)
    padded = np.pad(values, ((0, rows * factor - values.shape[0]), (0, cols * factor - values.shape[1])), mode="edge")
    blocks = padded.reshape(rows, factor, cols, factor)
    assert np.array_equal(darkest_reduced(values, factor), blocks.min(axis=(1, 3)))
    # The mean: PIL averages the part of an edge block inside the picture.
    means = np.array(
        [
            [values[r * factor : (r + 1) * factor, c * factor : (c + 1) * factor].mean() for c in range(cols)]
            for r in range(rows)
        ]
    )
    assert np.allclose(box_reduced(values, factor), means, atol=1e-3)
