"""handler/ink_colour.py: a pen's stroke told from the print by its colour, whatever either's strength."""

import io

import numpy as np
import pytest
from PIL import Image

from ink_colour import LUMINANCE, MIN_INK, OFF_PRINT, PAPER_SAMPLE, across_print, colour_of, ink_colours, reduced_colour

PAPER = np.array([240, 232, 210], np.float32)  # cream
BLACK_PRINT, BLUE_PRINT, RED_PRINT = (20, 20, 25), (40, 70, 150), (190, 90, 90)
BLUE_PEN, BLACK_PEN = (30, 45, 140), (25, 25, 30)


def page(print_colour, pen_colour, coverage: float = 1.0, light: float = 1.0):
    """(rgb, lines, the paper's grey level): a 60 x 80 page with a 2 px printed rule across row 30, and a pen's
    stroke lying along it from column 30 to 50 (rows 29-32), `coverage` of it ink (its anti-aliased edge, a
    thin stroke); `light` dims the page towards its right-hand side (light falling off)."""
    rgb = np.tile(PAPER, (60, 80, 1))
    rgb[30:32, :] = print_colour
    rgb[29:33, 30:50] = coverage * np.asarray(pen_colour, np.float32) + (1 - coverage) * rgb[29:33, 30:50]
    dimming = np.linspace(1.0, light, 80, dtype=np.float32)
    rgb *= dimming[None, :, None]
    lines = np.zeros((60, 80), bool)
    lines[30:32, :] = True
    return rgb, lines, np.tile(float(PAPER @ LUMINANCE) * dimming, (60, 1))


def pen_on(rgb, lines, paper_grey) -> np.ndarray:
    paper = rgb @ LUMINANCE > 0.8 * paper_grey
    return lines & (across_print(lines, ink_colours(rgb, paper, paper_grey)) >= OFF_PRINT)


def stroke_on_the_line() -> np.ndarray:
    expected = np.zeros((60, 80), bool)
    expected[30:32, 30:50] = True
    return expected


@pytest.mark.parametrize("print_colour", [BLACK_PRINT, RED_PRINT])
@pytest.mark.parametrize("light", [1.0, 0.6])
def test_a_blue_stroke_lying_on_a_black_or_red_line_is_the_pens(print_colour, light):
    assert np.array_equal(pen_on(*page(print_colour, BLUE_PEN, light=light)), stroke_on_the_line())


def test_a_pen_in_the_prints_own_colour_is_not_told_from_it():
    for print_colour, pen_colour in ((BLACK_PRINT, BLACK_PEN), (BLUE_PRINT, BLUE_PEN)):
        assert not pen_on(*page(print_colour, pen_colour)).any()


def test_a_faint_stroke_is_the_pens_only_where_its_colour_is_clear_of_noise():
    """The direction of (paper - pixel) is the ink's at any coverage; OFF_PRINT is an amount of colour, so a
    faint stroke's colour counts only where it is more than noise."""
    assert np.array_equal(pen_on(*page(BLACK_PRINT, BLUE_PEN, coverage=0.7)), stroke_on_the_line())
    assert not pen_on(*page(BLACK_PRINT, BLUE_PEN, coverage=0.25)).any()


def test_noise_on_a_faint_line_is_no_pen():
    rgb, lines, paper_grey = page(BLUE_PRINT, BLUE_PRINT)
    rgb[30:32, :] = 0.3 * np.asarray(BLUE_PRINT, np.float32) + 0.7 * PAPER  # a thin line's anti-aliased edge
    rgb += np.random.default_rng(0).normal(0, 6, rgb.shape).astype(np.float32)  # a phone's sensor and JPEG
    assert not pen_on(rgb, lines, paper_grey).any()


def test_ink_colours_are_the_colour_taken_from_the_paper_at_its_local_brightness():
    rgb, lines, paper_grey = page(BLACK_PRINT, BLUE_PEN, light=0.5)
    ink = ink_colours(rgb, ~lines, paper_grey)
    assert np.abs(ink[:20]).max() < 1.0  # paper, dimmed or not, takes nothing away
    for column in (10, 70):
        assert np.allclose(
            ink[30, column], PAPER * paper_grey[0, column] / paper_grey[0, 0] - rgb[30, column], atol=1.0
        )


def test_the_papers_tint_is_read_on_a_sample_spread_over_the_whole_paper():
    """The tint is a median of about PAPER_SAMPLE paper pixels: taken over the whole page, not its top rows.
    Here the top 40 % of a large page is pink and the rest white: the page's paper is white."""
    rgb = np.full((400, 400, 3), 250.0, dtype=np.float32)
    rgb[:160] = (250.0, 200.0, 200.0)
    assert rgb.shape[0] * rgb.shape[1] > 10 * PAPER_SAMPLE
    paper_grey = rgb @ LUMINANCE
    ink = ink_colours(rgb, np.ones((400, 400), dtype=bool), paper_grey)
    assert np.abs(ink[200:]).max() < 1.0  # the white paper takes no colour from itself
    assert ink[:160, :, 0].max() < -20  # the pink has more red than the white paper's tint would at its grey


def test_lines_without_clear_ink_give_no_print_colour():
    rgb, lines, paper_grey = page(BLACK_PRINT, BLUE_PEN, coverage=0.1)
    faint = np.zeros_like(lines)
    faint[5, :] = True  # a "line" of paper
    assert np.abs(ink_colours(rgb, ~lines, paper_grey)[5]).max() < MIN_INK
    assert not across_print(faint, ink_colours(rgb, ~lines, paper_grey)).any()


@pytest.mark.parametrize(
    "mode, has_colour",
    [("RGB", True), ("CMYK", True), ("YCbCr", True), ("P", True), ("L", False), ("1", False), ("LA", False)]
    + [("RGBA", False), ("I;16", False), ("F", False)],
)
def test_colour_is_read_from_pictures_that_have_it_and_no_transparency(mode, has_colour):
    picture = Image.new("RGB", (40, 30), (200, 30, 40)).convert(mode)
    rgb = colour_of(picture)
    assert (rgb is not None) == has_colour
    if has_colour:
        assert rgb.shape == (30, 40, 3) and rgb.dtype == np.uint8


def test_a_palette_picture_with_a_transparent_colour_has_no_colour_to_read():
    buffer = io.BytesIO()
    Image.new("RGB", (40, 30), (200, 30, 40)).convert("P").save(buffer, "PNG", transparency=0)
    assert colour_of(Image.open(io.BytesIO(buffer.getvalue()))) is None


def test_the_colour_is_reduced_by_the_analysis_copys_factor():
    rgb = np.zeros((7, 9, 3), np.uint8)
    rgb[:2, :2] = (200, 100, 0)
    small = reduced_colour(rgb, 2)
    assert small.shape == (4, 5, 3) and small.dtype == np.float32
    assert np.allclose(small[0, 0], (200, 100, 0))
    assert reduced_colour(rgb, 1).shape == rgb.shape
