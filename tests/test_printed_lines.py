"""handler/printed_lines.py: printed lines found by structure (boxes, cells, combs, tables, ruled paper, at the
page's slant), and a digit's own straight strokes left alone."""

import numpy as np
import pytest

from printed_lines import ink_over_lines, printed_lines, skew_of_lines, swollen_lines

SIDE = 200


def blank() -> np.ndarray:
    return np.zeros((SIDE, SIDE), dtype=bool)


def found(ink: np.ndarray) -> np.ndarray:
    along_rows, along_columns = printed_lines(ink)
    return along_rows | along_columns


def box(ink: np.ndarray, top: int, left: int, bottom: int, right: int, weight: int = 2) -> None:
    ink[top : top + weight, left:right] = True
    ink[bottom - weight : bottom, left:right] = True
    ink[top:bottom, left : left + weight] = True
    ink[top:bottom, right - weight : right] = True


def stroke(ink: np.ndarray, points, width: int = 6) -> None:
    """A hand-drawn-like stroke: discs of `width` along a polyline (not straight along rows or columns)."""
    yy, xx = np.mgrid[0 : ink.shape[0], 0 : ink.shape[1]]
    for (y0, x0), (y1, x1) in zip(points, points[1:]):
        for t in np.linspace(0, 1, 60):
            y, x = y0 + t * (y1 - y0), x0 + t * (x1 - x0)
            ink |= (yy - y) ** 2 + (xx - x) ** 2 <= (width / 2) ** 2


def test_a_box_around_a_digit_is_found_and_the_digit_is_not():
    ink = blank()
    box(ink, 40, 50, 160, 150)
    digit = blank()
    stroke(digit, [(70, 80), (60, 110), (90, 120), (130, 85)])
    lines = found(ink | digit)
    assert lines[ink & ~digit].mean() > 0.9
    assert not lines[digit & ~ink].any()


@pytest.mark.parametrize("layout", ["cells", "comb", "table"])
def test_rows_of_cells_a_comb_and_a_table_are_found(layout):
    ink = blank()
    if layout == "cells":
        for k in range(4):
            box(ink, 70, 10 + 45 * k, 130, 55 + 45 * k)
    elif layout == "comb":  # ticks a quarter of the picture high (shorter ones: digit_finding's sticks)
        ink[150:152, 10:190] = True
        for x in range(10, 191, 45):
            ink[95:152, x : x + 2] = True
    else:
        ink[::50, :] = True
        ink[:, ::50] = True
    assert found(ink)[ink].mean() > 0.85


def test_a_ruled_line_is_found_and_a_stroke_crossing_it_stays_whole():
    ink = blank()
    ink[100:102, :] = True
    digit = blank()
    stroke(digit, [(40, 90), (160, 120)], width=10)  # thicker than a printed line, as a pen's stroke is
    lines = found(ink | digit)
    assert lines[ink & ~digit].mean() > 0.9
    assert not lines[digit].any()


def test_a_digits_own_straight_strokes_are_not_a_frame():
    four = blank()
    four[60:140, 120:126] = True  # the 4's stem, printed-straight (shorter than a ruled line)
    four[110:116, 70:140] = True  # its bar, crossing the stem: one run each way, no frame
    one = blank()
    one[50:130, 98:103] = True  # a 1, a straight stroke standing alone (not across the picture: ruled)
    for digit in (four, one):
        assert not found(digit).any()


def test_a_box_cut_in_two_by_the_strokes_lying_on_it_is_still_one_box():
    """A 4 whose tail lies along its box's left side and whose stem crosses the top by the right corner: each
    cuts the box's runs (the ink is thicker there), leaving the top and the side's upper piece an L on their
    own, which is no frame. The side's two pieces are one line, through the stroke's ink between them."""
    ink = blank()
    box(ink, 40, 60, 160, 140)  # narrower than a ruled line: only its structure tells it is print
    digit = blank()
    stroke(digit, [(95, 68), (110, 62), (125, 68)])
    stroke(digit, [(34, 128), (70, 110)])
    lines = found(ink | digit)
    top = np.zeros_like(ink)
    top[40:42, 70:115] = True
    assert lines[top].all()
    assert lines[ink & ~digit].mean() > 0.9


@pytest.mark.parametrize("weight", [1, 2])
def test_a_markers_straight_stroke_touching_a_box_is_not_of_the_boxs_weight(weight):
    """A 7 whose bar, straight as a ruler, runs from one side of its box to the other: the bar joins the box's
    structure, but a marker's 5 px stroke is clearly thicker than the box's print."""
    ink = blank()
    box(ink, 40, 50, 160, 150, weight)
    seven = blank()
    seven[60:65, 50:150] = True
    stroke(seven, [(62, 145), (150, 95)], width=5)
    lines = found(ink | seven)
    assert lines[ink & ~seven].mean() > 0.9
    assert lines[seven & ~ink].mean() < 0.01  # at most a pixel where the stroke meets the box's side


@pytest.mark.parametrize("degrees, width", [(10, 3), (15, 5)])
def test_a_stroke_leaning_off_the_pages_lines_is_not_one_of_them(degrees, width):
    """A 0's straight side, a few degrees off vertical, reaching the rule of its cell in a small picture: the
    smeared stroke holds runs as long as the cells' walls, but it does not run along the page's lines."""
    ink = np.zeros((100, 300), dtype=bool)
    for k in range(4):
        box(ink, 15, 20 + 65 * k, 86, 86 + 65 * k)
    side = np.zeros_like(ink)
    stroke(side, [(16, 110), (71, 110 - 55 * np.tan(np.deg2rad(degrees)))], width=width)
    lines = found(ink | side)
    assert lines[ink & ~side].mean() > 0.9
    assert lines[side & ~ink].mean() < 0.05  # at most where it meets the rule


def test_a_pages_lines_of_somewhat_different_weights_are_all_found():
    ink = blank()
    ink[20:22, :] = True  # a ruled line across the page, the longest
    box(ink, 60, 30, 180, 120, weight=4)  # a field's box printed twice as heavy as the rules
    assert found(ink)[ink].mean() > 0.9


def test_lines_of_a_page_turned_by_four_degrees_are_found_at_its_slant():
    ink = blank()
    slope = np.tan(np.deg2rad(4))
    cols = np.arange(SIDE)
    for row in (60, 140):
        rows = np.round(row + (cols - SIDE / 2) * slope).astype(int)
        ink[rows, cols] = ink[rows + 1, cols] = True
    for col in (40, 160):
        rows = np.arange(50, 151)
        shifted = np.round(col - (rows - SIDE / 2) * slope).astype(int)
        ink[rows, shifted] = ink[rows, shifted + 1] = True
    assert skew_of_lines(ink) == pytest.approx(slope, abs=0.01)
    assert found(ink)[ink].mean() > 0.85


def test_ink_darker_than_the_print_is_told_from_the_line_it_lies_on():
    """A grey rule with anti-aliased (fainter) edges and a black stroke crossing it: only the crossing is
    darker than the rule's core; a line alone has nothing on it, whatever its edges."""
    strength = np.zeros((SIDE, SIDE), np.float32)
    strength[99, :] = strength[102, :] = 0.3  # the rule's edges
    strength[100:102, :] = 0.55  # its core: grey print
    lines = strength > 0
    assert not ink_over_lines(lines, strength).any()
    strength[60:140, 90:94] = 0.9  # a pen's stroke across it
    assert np.array_equal(ink_over_lines(lines, strength), lines & (strength == 0.9))
    assert not ink_over_lines(np.zeros_like(lines), strength).any()


def test_a_line_is_swollen_where_a_stroke_of_its_shade_lies_along_it():
    """A 2 px rule with a 3 px stroke lying half on it (4 px together) over columns 60-119, coming onto it at a
    slant over columns 54-59 (3 px there): the stroke's columns and the last LINE_SWELL of its slant are
    swollen; the rest of the rule is not, however long the stretch the stroke covers between two walls
    that cut the rule, nor where its anti-aliased edge makes it 3 px."""
    lines = blank()
    lines[100:102, :] = True
    lines[102, 60:120] = lines[99, 60:120] = True  # the stroke over both edges: 4 px across
    lines[99, 54:60] = True  # where it comes onto the rule
    lines[102, 150:170] = True  # an anti-aliased edge
    lines[98:104, [40, 130]] = False  # walls across cut the rule: 90 px of 200 between them, 60 of it stroke
    swollen = swollen_lines(lines)
    assert np.array_equal(np.flatnonzero(swollen.any(axis=0)), np.arange(58, 120))
    assert not (swollen & ~lines).any()


def test_lines_of_even_weight_are_not_swollen_whatever_their_weight_or_anti_aliasing():
    """A 1 px line, a 4 px one and a 2 px one whose anti-aliased edge comes and goes (2-3 px): print of one
    weight along each line, the weights of a page's lines differing (a form's frame and its cells)."""
    lines = blank()
    lines[30, :] = True
    lines[80:84, :] = True
    lines[140:142, :] = True
    lines[142, ::2] = True
    assert not swollen_lines(lines).any()
    assert not swollen_lines(blank()).any()


def test_the_slope_is_level_without_lines():
    assert skew_of_lines(blank()) == 0.0
    digit = blank()
    stroke(digit, [(40, 60), (100, 140), (160, 70)])
    assert abs(skew_of_lines(digit)) <= np.tan(np.deg2rad(6))


def test_the_masks_are_the_ink_pictures_shape_and_inside_the_ink_whatever_it_shows():
    checkerboard = (np.indices((SIDE, SIDE)).sum(axis=0) % 2).astype(bool)
    noise = np.random.default_rng(0).random((SIDE, SIDE)) < 0.3
    for ink in (checkerboard, noise, np.ones((SIDE, SIDE), bool), blank()):
        along_rows, along_columns = printed_lines(ink)
        assert along_rows.shape == along_columns.shape == ink.shape
        assert not (along_rows & ~ink).any() and not (along_columns & ~ink).any()


def test_a_straight_stroke_with_a_free_end_on_a_tables_rule_is_not_print():
    """A 1 in a table's cell, thin and straight as the print, drawn down through the cell's bottom rule: it
    joins the table's structure, but it ends in the open, and no line of the table is as short as it."""
    ink = blank()
    ink[40:42, :] = True
    ink[150:152, :] = True
    for x in (20, 100, 180):
        ink[40:152, x : x + 2] = True
    one = blank()
    one[70:165, 140:142] = True
    lines = found(ink | one)
    assert lines[ink & ~one].mean() > 0.9
    assert not lines[one & ~ink].any()


def test_a_stroke_standing_clear_of_a_grids_rules_in_a_low_picture_is_not_print():
    """A strip of squared paper 60 px high: a 1 in a cell, 3 px clear of the rules above and below, is as long
    as a ruled line must be in so low a picture, but its ends are free: no line meets them."""
    ink = np.zeros((60, SIDE), dtype=bool)
    ink[8:10, :] = True
    ink[50:52, :] = True
    for x in range(5, SIDE, 40):
        ink[:, x : x + 2] = True
    one = np.zeros_like(ink)
    one[13:47, 102:105] = True
    lines = found(ink | one)
    assert lines[ink].mean() > 0.9
    assert not lines[one].any()


def comb(ink: np.ndarray, tick: int, ticks=range(10, 191, 45), baseline: int = 150) -> None:
    """A comb field: a baseline 2 px wide at `baseline` and ticks `tick` px high standing on it at `ticks`."""
    ink[baseline : baseline + 2, 10:192] = True
    for x in ticks:
        ink[baseline - tick : baseline, x : x + 2] = True


def test_a_combs_short_teeth_are_found_on_its_baseline():
    """Ticks far shorter than a frame's runs (a comb field's are a quarter to half of its cells' height)."""
    ink = blank()
    comb(ink, tick=15)
    assert found(ink)[ink].mean() > 0.9


def test_a_stroke_running_on_from_a_tooth_keeps_all_but_the_tooth():
    ink = blank()
    comb(ink, tick=15)
    stem = blank()
    stem[105:135, 100:102] = True  # a 1's stem ending on the tooth at x 100, thin as the print
    between = blank()
    between[110:150, 120:122] = True  # a stroke standing on the baseline between two teeth
    lines = found(ink | stem | between)
    assert lines[135:150, 100:102].all()  # the tooth, as long as its siblings
    assert not lines[stem].any()
    assert not lines[between].any()


def test_sticks_standing_on_a_line_off_one_pitch_are_no_comb():
    """Three strokes of one length on a ruled line, spaced as handwriting is, not as a comb's teeth are."""
    ink = blank()
    comb(ink, tick=15, ticks=(30, 45, 120))
    assert not found(ink)[135:150].any()


def test_a_boxs_side_cut_short_by_a_digit_touching_it_again_and_again_is_still_the_boxs():
    """A 3 whose arcs end on its box's left side, and meet there: its ink, thicker than a line, cuts the side
    into pieces hardly longer than two line thicknesses. Each is joined to the longer one next to it (the
    corners' pieces are the box's through its top and bottom); left out, they would stay with the 3 and make
    it an 8."""
    ink = blank()
    box(ink, 60, 60, 118, 140)
    three = blank()
    stroke(three, [(72, 61), (64, 90), (78, 100), (90, 61)])
    stroke(three, [(90, 61), (100, 100), (114, 90), (106, 61)])
    lines = found(ink | three)
    side = np.zeros_like(ink)
    side[62:116, 60:62] = True  # between its top and bottom
    assert lines[side & ~three].mean() > 0.9


def test_a_comb_of_four_teeth_one_of_them_under_a_digit_is_found():
    """A 0 standing on the second of four teeth: the first tooth's nearest sibling of its length is two
    pitches off, the tooth between them run on by the 0's ink; it is a tooth all the same."""
    ink = blank()
    comb(ink, tick=15, ticks=(10, 55, 100, 145))
    zero = blank()
    stroke(zero, [(134, 56), (110, 40), (90, 56), (110, 72), (134, 56)], width=4)
    lines = found(ink | zero)
    assert lines[135:150, 10:12].all()
    assert lines[zero & ~ink].mean() < 0.1


def test_a_1_standing_on_a_combs_baseline_in_a_low_picture_is_not_print():
    """The picture is hardly higher than the comb's cells: the 1 runs across half of it, as a ruled line runs
    across a picture of ruled paper, and is the only upright line. It is a stroke all the same: it ends in the
    paper, as no ruled line does, and is far shorter than the baseline it stands on."""
    ink = np.zeros((60, SIDE), dtype=bool)
    comb(ink, tick=10, ticks=range(10, 191, 45), baseline=45)
    one = np.zeros_like(ink)
    one[12:45, 120:123] = True
    lines = found(ink | one)
    assert lines[ink & ~one].mean() > 0.9
    assert not lines[12:40, 120:123].any()
