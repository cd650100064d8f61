"""handler/page_perspective.py on synthetic photos: a white page with a hand-drawn mark, lying on a darker table,
seen at an angle (PIL's own perspective warp of the flat page onto known corners), maybe dim and noisy. The corners
found against the known ones, what straightening does to a square drawn on the page, and the pictures with no page
(or no keystone) to straighten."""

import itertools

import numpy as np
import pytest
from PIL import Image, ImageDraw

import page_perspective
from page_perspective import MAX_STRAIGHTENED_PIXELS, page_quadrilateral, straightened

PAGE = (300, 400)  # the flat page's (width, height)
PAPER, INK, TABLE = 235.0, 20.0, 80.0
FAR_SIDES = {"top": 0, "right": 1, "bottom": 2, "left": 3}  # quarter turns of a page whose far side is on top


def perspective_coefficients(output_points, source_points) -> tuple:
    """PIL's PERSPECTIVE coefficients taking each output point to its source point."""
    rows, values = [], []
    for (x, y), (u, v) in zip(output_points, source_points):
        rows += [[x, y, 1, 0, 0, 0, -u * x, -u * y], [0, 0, 0, x, y, 1, -v * x, -v * y]]
        values += [u, v]
    return tuple(np.linalg.solve(np.array(rows, float), np.array(values, float)))


def flat_page(mark: str = "seven", size=PAGE) -> Image.Image:
    """The page as it lies: a seven drawn with a thick pen, a zero in a fat marker filling most of the page, or
    a filled square (side 90) a little above the middle."""
    page = Image.new("F", size, PAPER)
    draw = ImageDraw.Draw(page)
    width, height = size
    if mark == "seven":
        stroke = [(0.3 * width, 0.36 * height), (0.68 * width, 0.33 * height), (0.47 * width, 0.7 * height)]
        draw.line(stroke, fill=INK, width=12, joint="curve")
    elif mark == "zero":
        draw.ellipse([0.15 * width, 0.1 * height, 0.85 * width, 0.9 * height], outline=INK, width=45)
    else:
        draw.rectangle([105, 75, 195, 165], fill=INK)
    return page


def photo(corners, frame=(640, 480), mark="seven", light=1.0, noise=0.0, seed=0, table=TABLE) -> np.ndarray:
    """A grey photo (float32) of the flat page lying on the table with its corners (top-left, top-right,
    bottom-right, bottom-left of the page) at `corners`, at `light` of full light, with Gaussian noise."""
    page = flat_page(mark)
    width, height = page.size
    coefficients = perspective_coefficients(corners, [(0, 0), (width, 0), (width, height), (0, height)])
    seen = page.transform(frame, Image.Transform.PERSPECTIVE, coefficients, Image.Resampling.BILINEAR, fillcolor=table)
    values = np.asarray(seen, np.float32) * light
    values += np.random.default_rng(seed).normal(0, noise, values.shape).astype(np.float32)
    return np.clip(values, 0, 255)


def keystoned(frame=(640, 480), far=0.7, far_side="top", turn=0.0, shift=0.0, fill=1.0) -> np.ndarray:
    """Corners of the page seen at an angle: its far side `far` as long as its near side (shifted along it by
    `shift` of its length), on `far_side`, turned by `turn` degrees. The mean lengths of opposite sides are
    the page's own, times `fill`, so straightening restores its proportions."""
    quarters = FAR_SIDES[far_side]
    # Built with the far side on top, then turned by quarter turns: across and along the view are the page's
    # width and height, or (far side left or right) its height and width.
    across, along = PAGE if quarters % 2 == 0 else PAGE[::-1]
    near = 2 * across * fill / (1 + far)
    half_height = along * fill / 2
    shape = np.array(
        [
            [-far * near / 2, -half_height],
            [far * near / 2, -half_height],
            [near / 2, half_height],
            [-near / 2, half_height],
        ]
    )
    shape[:2, 0] += shift * near
    angle = np.radians(turn) + np.pi / 2 * quarters
    rotation = np.array([[np.cos(angle), -np.sin(angle)], [np.sin(angle), np.cos(angle)]])
    # Turned by quarter turns, the corners are renamed so that the page itself stays upright.
    return np.roll(shape @ rotation.T + np.array(frame) / 2, quarters, axis=0)


def ink_aspect(values: np.ndarray) -> float:
    """Width over height of the box around the ink (darker than the table and the paper)."""
    rows, cols = np.nonzero(values < (INK + TABLE) / 2)
    return (cols.max() - cols.min() + 1) / (rows.max() - rows.min() + 1)


# --- the page's corners ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "far, far_side, turn", list(itertools.product([0.6, 0.72, 0.85], ["top", "right", "bottom", "left"], [-6, 0, 8]))
)
def test_the_corners_of_a_page_seen_at_an_angle_are_found_in_order(far, far_side, turn):
    known = keystoned(far=far, far_side=far_side, turn=turn, fill=0.8)
    found = page_quadrilateral(photo(known))
    assert found is not None and found.shape == (4, 2)
    # Top-left, top-right, bottom-right, bottom-left of the page, each within 1.5 % of the picture's side.
    assert np.abs(found - known).max() <= 0.015 * 640, np.round(found - known, 1)


@pytest.mark.parametrize("frame", [(320, 240), (360, 480), (1024, 768)])
@pytest.mark.parametrize("light, noise", [(1.0, 0.0), (0.5, 12.0), (0.25, 6.0)])
def test_the_corners_are_found_at_any_size_in_dim_light_and_noise(frame, light, noise):
    fill = 0.7 * min(frame) / 400
    known = keystoned(frame, far=0.7, turn=4, fill=fill)
    found = page_quadrilateral(photo(known, frame, light=light, noise=noise, seed=len(frame)))
    assert found is not None
    assert np.abs(found - known).max() <= 0.015 * max(frame), np.round(found - known, 1)


def test_the_ink_on_the_page_does_not_matter_however_much_of_it_there_is():
    picture = photo(keystoned(far=0.65, turn=-3, fill=0.9), mark="zero")
    ink, paper = picture < (INK + TABLE) / 2, picture > (PAPER + TABLE) / 2
    assert ink.sum() > 0.2 * (ink.sum() + paper.sum())  # a fifth of the page and more is ink
    known = keystoned(far=0.65, turn=-3, fill=0.9)
    found = page_quadrilateral(picture)
    assert found is not None and np.abs(found - known).max() <= 0.015 * 640


# --- straightening ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "far, shift, far_side, fill",
    [(0.6, 0.15, "top", 1.05), (0.65, 0.25, "top", 1.05), (0.8, 0.3, "top", 1.05), (0.65, -0.2, "left", 0.75)]
    + [(0.65, 0.2, "right", 0.75)],
)
@pytest.mark.parametrize("light, noise", [(1.0, 0.0), (0.6, 6.0)])
def test_straightening_gives_a_square_drawn_on_the_page_its_shape_back(far, shift, far_side, fill, light, noise):
    corners = keystoned(far=far, far_side=far_side, shift=shift, fill=fill)
    picture = photo(corners, mark="square", light=light, noise=noise)
    page, _ = straightened(picture)
    assert page is not picture and page.dtype == np.float32 and page.ndim == 2
    seen, restored = ink_aspect(picture / light), ink_aspect(page / light)
    assert abs(seen - 1) >= 0.2, seen
    assert abs(restored - 1) <= 0.1, restored
    # The page's proportions come back too, and no sliver of the table is left along its edges.
    assert abs(page.shape[0] / page.shape[1] - PAGE[1] / PAGE[0]) <= 0.1 * PAGE[1] / PAGE[0]
    edges = np.concatenate([page[0], page[-1], page[:, 0], page[:, -1]])
    assert np.percentile(edges, 1) > (PAPER + TABLE) / 2 * light


def test_the_pictures_colour_is_straightened_with_its_grey():
    picture = photo(keystoned(far=0.6, shift=0.15, fill=1.05), mark="square")
    rgb = np.repeat(np.clip(picture, 0, 255).astype(np.uint8)[..., None], 3, axis=2)
    page, page_rgb = straightened(picture, rgb)
    assert page_rgb.shape == (*page.shape, 3) and page_rgb.dtype == np.uint8
    assert np.abs(page_rgb.astype(np.float32) - page[..., None]).max() <= 2  # the same warp, in 8-bit levels
    level = photo(keystoned(far=1.0, fill=0.95))
    assert straightened(level, rgb)[1] is rgb


@pytest.mark.parametrize("turn", [0, 5, -5])
def test_a_page_lying_square_or_merely_turned_is_found_but_left_as_it_is(turn):
    picture = photo(keystoned(far=1.0, turn=turn, fill=0.95), noise=4.0)
    assert page_quadrilateral(picture) is not None
    assert straightened(picture)[0] is picture


def test_the_straightened_page_never_has_more_pixels_than_the_picture(monkeypatch):
    # A lozenge whose sides, averaged, make a rectangle larger than the picture it is seen in (its corners
    # given: it is too slanted for the finder to trust).
    slanted = np.array([[10, 10], [250, 10], [590, 110], [350, 110]], float)
    assert np.hypot(*(slanted[2] - slanted[1])) * np.hypot(*(slanted[1] - slanted[0])) > 600 * 120
    with monkeypatch.context() as patched:
        patched.setattr(page_perspective, "page_quadrilateral", lambda grey: slanted)
        picture = photo(slanted, frame=(600, 120))
        page, _ = straightened(picture)
        assert page is not picture and page.size <= picture.size
    # A page that would straighten to 540 x 720, more than MAX_STRAIGHTENED_PIXELS, and pages of all sizes.
    assert 540 * 720 > MAX_STRAIGHTENED_PIXELS
    pictures = [photo(keystoned((1024, 768), far=0.6, fill=1.8), frame=(1024, 768))]
    rng = np.random.default_rng(7)
    for _ in range(12):  # seen from any side
        width = int(rng.integers(240, 1025))
        frame = (width, int(width * rng.uniform(0.75, 1.33)))
        fill = rng.uniform(0.7, 0.85) * min(frame) / max(PAGE)
        far_side = str(rng.choice(list(FAR_SIDES)))
        pictures.append(
            photo(keystoned(frame, rng.uniform(0.5, 0.85), far_side, rng.uniform(-10, 10), fill=fill), frame)
        )
    for picture in pictures:
        page, _ = straightened(picture)
        assert page is not picture  # each is straightened, so the bound is tested where it matters
        assert page.size <= min(picture.size, MAX_STRAIGHTENED_PIXELS)


# --- no page to find ----------------------------------------------------------------------------------------------


def canvas_with_a_digit(paper: float, ink: float) -> np.ndarray:
    canvas = Image.new("F", (280, 280), paper)
    ImageDraw.Draw(canvas).line([(70, 60), (210, 60), (120, 230)], fill=ink, width=26)
    return np.asarray(canvas, np.float32)


def checkerboard(square: int, shape=(480, 640)) -> np.ndarray:
    return ((np.indices(shape) // square).sum(axis=0) % 2 * 255).astype(np.float32)


NO_PAGE = {
    "a page filling the frame": lambda: photo(np.array([[-40, -30], [690, -50], [700, 520], [-60, 500]], float)),
    "a keystoned page larger than the frame": lambda: photo(keystoned(far=0.7, fill=1.8)),
    "a page running off two sides": lambda: photo(np.array([[-40, 60], [680, 80], [700, 420], [-60, 400]], float)),
    "a page running off one side": lambda: photo(np.array([[120, 60], [520, 80], [600, 560], [40, 540]], float)),
    "a page too small to matter": lambda: photo(keystoned(far=0.7, fill=0.35)),
    "a page barely brighter than the table": lambda: photo(keystoned(far=0.7, fill=0.8), table=215.0),
    "a digit on a white canvas": lambda: canvas_with_a_digit(paper=255, ink=0),
    "a digit on a chalkboard": lambda: canvas_with_a_digit(paper=30, ink=240),
    "a bright disc": lambda: np.where(
        np.hypot(*np.indices((480, 640)) - np.array([240, 320])[:, None, None]) < 200, PAPER, TABLE
    ),
    "a bright band across the picture": lambda: np.where(np.abs(np.indices((480, 640))[1] - 320) < 70, PAPER, TABLE),
    "a bright strip, too long for a page": lambda: photo(
        np.array([[40, 180], [600, 180], [600, 300], [40, 300]], float)
    ),
    "uniform grey": lambda: np.full((480, 640), 128.0),
    "uniform white": lambda: np.full((768, 1024), 255.0),
    "uniform noise": lambda: np.random.default_rng(1).uniform(0, 255, (480, 640)),
    "Gaussian noise": lambda: np.clip(np.random.default_rng(2).normal(128, 50, (300, 300)), 0, 255),
    "a 1 px checkerboard": lambda: checkerboard(1),
    "a 6 px checkerboard": lambda: checkerboard(6),
    "a 40 px checkerboard": lambda: checkerboard(40),
    "a 2x2 checkerboard": lambda: checkerboard(240, (480, 480)),
    "a 20x20 picture": lambda: np.full((20, 20), 200.0),
    "a 31 px high picture": lambda: photo(np.array([[12, 5], [30, 5], [33, 26], [9, 26]], float), frame=(42, 31)),
}


@pytest.mark.parametrize("picture", list(NO_PAGE))
def test_no_page_is_found_where_none_is_clearly_seen_and_the_picture_is_left_as_it_is(picture):
    grey = NO_PAGE[picture]().astype(np.float32)
    assert page_quadrilateral(grey) is None
    assert straightened(grey)[0] is grey
