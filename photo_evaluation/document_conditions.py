"""The conditions of issue #23: a digit as people send it from documents, boards and apps. A digit written in
a form's box, cells or comb field (a clean render and a phone photo), on a page photographed at an angle in
a dim room, on a whiteboard with glare and its frame in view, in pencil, shaken, beside a printed label,
drawn in an app and sent as a screenshot of the window, in coloured pen on squared paper in a shadow. Each
condition is a function (digit, rng) -> (file bytes, format).
"""

import numpy as np
from PIL import Image, ImageDraw, ImageFilter, ImageFont

from client.images import encode
from photo_evaluation.drawing import (
    COLOURED_INKS,
    INKS,
    PAPERS,
    PRINTED_LINE_COLOURS,
    choice,
    composite,
    dim_sensor,
    glare,
    ink_alpha,
    jpeg,
    light_falloff,
    motion_blurred,
    noise,
    paper,
    phone,
    printed_line,
    printed_text,
    seen_at_an_angle,
    to_image,
    written_page,
)

FORM_LAYOUTS = ("box", "cells", "comb", "table")
DIGIT_IN_FRAME = 20 / 28  # the share of ink_alpha's square that an MNIST digit's longer side takes


# --- forms ---------------------------------------------------------------------------------------------------


def _ink_box(alpha: np.ndarray) -> tuple:
    rows, cols = np.flatnonzero((alpha > 0.3).any(axis=1)), np.flatnonzero((alpha > 0.3).any(axis=0))
    return rows[0], rows[-1] + 1, cols[0], cols[-1] + 1


def _form_lines(height: int, width: int, cells: tuple, layout: str, weight: float, rng) -> np.ndarray:
    """The coverage of a form field's printed lines: a box, a row of cells, a comb (a baseline with ticks
    between the cells) or a table whose lines run off the picture, around cells at (top, left, height,
    width, count)."""
    top, left, cell_h, cell_w, count = cells
    bottom, right = top + cell_h, left + count * cell_w
    cover = np.zeros((height, width), np.float32)
    ends = (0, width, 0, height) if layout == "table" else (left, right + 1, top, bottom + 1)
    if layout == "comb":
        printed_line(cover, bottom, left, right + 1, weight, horizontal=True)
        tick = int(cell_h * rng.uniform(0.25, 0.5))
        for k in range(count + 1):
            printed_line(cover, left + k * cell_w, bottom - tick, bottom + 1, weight, horizontal=False)
        return cover
    rows = [top, bottom]
    if layout == "table":  # the rows of the table above and below
        rows += [y for y in (top - cell_h, bottom + cell_h) if 0 < y < height]
    for y in rows:
        printed_line(cover, y, ends[0], ends[1], weight, horizontal=True)
    for k in range(count + 1):
        printed_line(cover, left + k * cell_w, ends[2], ends[3], weight, horizontal=False)
    return cover


def _place_in_cell(alpha: np.ndarray, cell: tuple, weight: float, touching: bool, rng) -> tuple:
    """(top, left) for the digit's square so its ink lies in the cell (top, left, bottom, right): centred
    with some play, or with one side of its ink running onto a line of the cell."""
    ink_top, ink_bottom, ink_left, ink_right = _ink_box(alpha)
    c_top, c_left, c_bottom, c_right = cell
    room_y = (c_bottom - c_top) - (ink_bottom - ink_top) - 2 * weight
    room_x = (c_right - c_left) - (ink_right - ink_left) - 2 * weight
    y = c_top + weight + rng.uniform(0.25, 0.75) * max(room_y, 0) - ink_top
    x = c_left + weight + rng.uniform(0.25, 0.75) * max(room_x, 0) - ink_left
    if touching:  # the ink crosses onto the line by up to twice its weight
        over = rng.uniform(0, 2 * weight + 1)
        side = int(rng.integers(4))
        if side == 0:
            y = c_top - over - ink_top
        elif side == 1:
            y = c_bottom + over - ink_bottom
        elif side == 2:
            x = c_left - over - ink_left
        else:
            x = c_right + over - ink_right
    return int(round(y)), int(round(x))


def blank_form(rng: np.random.Generator) -> tuple:
    """A form's field with nothing written in it: a single box, a row of 3-5 cells, a comb field or a table's
    cells; printed lines 1-4 px wide in black, grey, blue, light blue or red. Returns (page, the cell to
    write in as (top, left, bottom, right), the lines' weight)."""
    layout = choice(rng, FORM_LAYOUTS)
    count = 1 if layout == "box" else int(rng.integers(3, 6))
    cell_h = int(rng.integers(60, 131))
    cell_w = int(cell_h * rng.uniform(0.75, 1.3))
    weight = rng.uniform(1.0, 4.0)
    margin_y, margin_x = (int(cell_h * rng.uniform(0.25, 0.9)) for _ in range(2))
    height, width = cell_h + 2 * margin_y, count * cell_w + 2 * margin_x
    page = paper(width, height, PAPERS[choice(rng, list(PAPERS))])
    lines = _form_lines(height, width, (margin_y, margin_x, cell_h, cell_w, count), layout, weight, rng)
    page *= 1 - lines[..., None]
    page += lines[..., None] * np.asarray(choice(rng, PRINTED_LINE_COLOURS), np.float32)
    which = int(rng.integers(count))
    cell = (margin_y, margin_x + which * cell_w, margin_y + cell_h, margin_x + (which + 1) * cell_w)
    return page, cell, weight


def form_page(digit: Image.Image, rng: np.random.Generator) -> np.ndarray:
    """The digit handwritten in one cell of a blank_form: 55-90 % of the cell's height, and one time in three
    running onto a line of its cell. The other cells are empty."""
    page, cell, weight = blank_form(rng)
    cell_h = cell[2] - cell[0]
    alpha = ink_alpha(digit, int(cell_h * rng.uniform(0.55, 0.9) / DIGIT_IN_FRAME), rng)
    top, left = _place_in_cell(alpha, cell, weight, touching=rng.random() < 1 / 3, rng=rng)
    _composite_clipped(page, alpha, INKS[choice(rng, list(INKS))], top, left)
    return page


def _composite_clipped(page: np.ndarray, alpha: np.ndarray, ink, top: int, left: int) -> None:
    """The ink composited where it falls on the page (a digit's empty frame may reach past the edge)."""
    rows = slice(max(0, -top), min(alpha.shape[0], page.shape[0] - top))
    cols = slice(max(0, -left), min(alpha.shape[1], page.shape[1] - left))
    composite(page, alpha[rows, cols], ink, max(0, top), max(0, left))


def clean_form(digit, rng):
    """A form's field as a scanner or a PDF export gives it: form_page, PNG, nothing else."""
    return encode(to_image(form_page(digit, rng)), "PNG"), "PNG"


def form_photo(digit, rng):
    """A form's field photographed by a phone: form_page turned by up to 4 degrees, with the phone's defects."""
    page = form_page(digit, rng)
    colour = tuple(int(v) for v in page[0, 0])
    turned = to_image(page).rotate(rng.uniform(-4, 4), resample=Image.Resampling.BICUBIC, fillcolor=colour)
    return phone(np.asarray(turned, np.float32), rng, light=0.25)


# --- photos of pages -------------------------------------------------------------------------------------------


def dim_angle(digit, rng):
    """A phone held at an angle in a dim room (seen_at_an_angle): the page's edges in view two times in three,
    on a dark table or floor; the paper at 20-40 % of full light, the sensor's noise at high gain, the
    phone's noise reduction blurring a little, JPEG quality 60-85."""
    in_view = rng.random() < 2 / 3
    lines = choice(rng, [None, None, "ruled", "squared"])
    # Framed close (the page's edges out of view), the picture is aimed at the digit: it stays whole.
    page = written_page(digit, rng, size=(280, 420), lines=lines, inset=0.0 if in_view else 0.2)
    frame = (int(rng.integers(320, 521)), int(rng.integers(320, 521)))
    table = choice(rng, [(90, 60, 40), (60, 55, 50), (120, 100, 80), (40, 40, 45)])
    scene = seen_at_an_angle(page, rng, table, frame, edges_in_view=in_view)
    scene = light_falloff(scene, rng, rng.uniform(0, 0.3))
    dark = dim_sensor(scene, rng, rng.uniform(0.2, 0.4))
    image = to_image(dark).filter(ImageFilter.GaussianBlur(rng.uniform(0.4, 0.9)))
    return jpeg(image, rng.integers(60, 86))


def whiteboard(digit, rng):
    """A digit in marker on a whiteboard: the board's aluminium frame and the wall in view on one to three
    sides, a lamp's glare (on or near the digit half the time) washing out what is under it, uneven light."""
    board = written_page(
        digit,
        rng,
        size=(300, 460),
        paper_colour=choice(rng, [(236, 238, 240), (226, 230, 234)]),
        ink=choice(rng, [(20, 20, 25), (30, 50, 160), (180, 30, 40), (20, 110, 50)]),
        stroke="thick",
    )
    height, width, _ = board.shape
    pad = [int(rng.integers(12, 60)) if rng.random() < 0.6 else 0 for _ in range(4)]  # top, bottom, left, right
    if not any(pad):
        pad[int(rng.integers(4))] = int(rng.integers(12, 60))
    wall = paper(width + pad[2] + pad[3], height + pad[0] + pad[1], choice(rng, [(200, 190, 170), (170, 175, 180)]))
    rim = int(rng.integers(5, 13))
    metal = np.asarray(choice(rng, [(175, 178, 182), (140, 142, 146), (205, 205, 208)]), np.float32)
    top, left = pad[0], pad[2]
    wall[max(0, top - rim) : top + height + rim, max(0, left - rim) : left + width + rim] = metal
    wall[top : top + height, left : left + width] = board
    ink_rows = np.flatnonzero((board.min(axis=2) < 150).any(axis=1))
    near_digit = rng.random() < 0.5 and len(ink_rows)
    centre = (
        (top + rng.uniform(ink_rows[0], ink_rows[-1]), left + rng.uniform(0.2, 0.8) * width)
        if near_digit
        else (rng.uniform(0, wall.shape[0]), rng.uniform(0, wall.shape[1]))
    )
    shiny = glare(wall, rng, centre, rng.uniform(0.08, 0.2) * min(height, width), rng.uniform(0.5, 0.85))
    return phone(light_falloff(shiny, rng, rng.uniform(0, 0.3)), rng, light=0.1)


def pencil(digit, rng):
    """A digit in pencil: grey graphite, lighter where pressed lightly, grainy where the paper's tooth shows."""
    page_colour = PAPERS[choice(rng, list(PAPERS))]
    width, height = (int(rng.integers(260, 481)) for _ in range(2))
    side = int(min(width, height) * rng.uniform(0.35, 0.7))
    page = paper(width, height, page_colour)
    alpha = ink_alpha(digit, side, rng, choice(rng, ["normal", "thin"]))
    pressure = Image.fromarray((rng.uniform(0, 255, (4, 4))).astype(np.uint8)).resize((side, side), Image.BICUBIC)
    pressure = 0.55 + 0.45 * np.asarray(pressure, np.float32) / 255.0
    grain = np.clip(rng.normal(0.8, 0.3, alpha.shape), 0, 1).astype(np.float32)
    alpha = alpha * pressure * grain * rng.uniform(0.65, 0.95)
    graphite = choice(rng, [(70, 72, 78), (95, 95, 100), (60, 60, 62)])
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    composite(page, alpha, graphite, top, left)
    return phone(page, rng)


def motion_blur(digit, rng):
    """A shaken phone: the picture smeared along a line of 1.5-4 % of its side in any direction."""
    page = light_falloff(written_page(digit, rng), rng, rng.uniform(0, 0.15))
    image = to_image(noise(page, rng, 2.5))
    smeared = motion_blurred(image, rng.uniform(0.015, 0.04) * min(image.size), rng.uniform(0, np.pi))
    return jpeg(smeared, rng.integers(75, 93))


PRINTED_INKS = [(15, 15, 18), (50, 50, 55), (20, 30, 90)]
LABELS = ("No.", "Q1:", "Nr.", "Answer:", "#", "Q7", "Ans.", "Box 4", "No")


def printed_label(digit, rng):
    """A printed label beside the handwritten digit ("No.", "Q1:", "Answer:"...): its capitals 15-45 % of the
    digit's height, to its left or above it (above wherever the digit would not fit on the page to its left),
    10-60 % of the digit's height away."""
    width, height = int(rng.integers(360, 561)), int(rng.integers(260, 421))
    page = paper(width, height, PAPERS[choice(rng, list(PAPERS))])
    side = int(min(width, height) * rng.uniform(0.4, 0.65))
    alpha = ink_alpha(digit, side, rng)
    ink_top, ink_bottom, ink_left, ink_right = _ink_box(alpha)
    digit_h = ink_bottom - ink_top
    letters = rng.uniform(0.15, 0.45) * digit_h
    gap = rng.uniform(0.1, 0.6) * digit_h
    text = choice(rng, LABELS)
    text_w = ImageFont.load_default(size=max(6, round(letters * 1.4))).getlength(text)
    above = rng.random() < 0.3 or text_w + gap + 2 + (ink_right - ink_left) > width
    # The digit's ink placed where the label fits beside it (above it, or to its left).
    lowest_ink_y = letters + gap + 2 if above else 0
    ink_y = int(rng.uniform(lowest_ink_y, max(lowest_ink_y + 1, height - digit_h)))
    lowest_ink_x = 0 if above else text_w + gap + 2
    ink_x = int(rng.uniform(lowest_ink_x, max(lowest_ink_x + 1, width - (side - ink_left))))
    top, left = ink_y - ink_top, ink_x - ink_left
    _composite_clipped(page, alpha, INKS[choice(rng, list(INKS))], top, left)
    if above:
        text_top, text_left = ink_y - gap - letters, ink_x + rng.uniform(-0.2, 0.3) * digit_h
    else:
        text_top = ink_y + rng.uniform(0, 1) * (digit_h - letters)
        text_left = ink_x - gap - text_w
    printed_text(page, text, letters, int(max(0, text_top)), int(max(0, text_left)), choice(rng, PRINTED_INKS))
    return phone(page, rng)


# --- screens -------------------------------------------------------------------------------------------------


def app_screenshot(digit, rng):
    """A digit drawn in a drawing app and sent as a screenshot of its window: a title bar with the window's
    name and buttons, a toolbar of icons, a scroll bar and a status bar around the canvas, light or dark
    theme, PNG."""
    dark = rng.random() < 0.35
    width, height = int(rng.integers(380, 641)), int(rng.integers(320, 521))
    chrome = (48, 48, 52) if dark else (236, 236, 238)
    canvas_colour, brush = (
        ((30, 30, 30), (245, 245, 245)) if dark and rng.random() < 0.5 else ((255, 255, 255), (0, 0, 0))
    )
    window = Image.new("RGB", (width, height), chrome)
    draw = ImageDraw.Draw(window)
    font = ImageFont.load_default(size=int(rng.integers(11, 16)))
    title_h, tools_h, status_h, scroll_w = (
        int(rng.integers(22, 33)),
        int(rng.integers(28, 45)),
        int(rng.integers(18, 27)),
        int(rng.integers(10, 17)),
    )
    title_colour = choice(rng, [(40, 90, 170), (60, 60, 66), (210, 210, 214), (120, 40, 120)])
    draw.rectangle((0, 0, width, title_h), fill=title_colour)
    text_colour = (250, 250, 250) if sum(title_colour) < 400 else (20, 20, 20)
    draw.text(
        (10, title_h // 4),
        choice(rng, ["Untitled - Paint", "sketch.png", "Drawing 1", "Notes"]),
        fill=text_colour,
        font=font,
    )
    for k in range(3):  # minimise, maximise, close
        x = width - (k + 1) * (title_h + 4)
        draw.rectangle((x + 6, 6, x + title_h - 4, title_h - 6), outline=text_colour, width=2)
    icon = tools_h - 10
    for k in range(int(rng.integers(6, 14))):
        x = 8 + k * (icon + 6)
        if x + icon > width - 8:
            break
        colour = tuple(int(v) for v in rng.integers(0, 256, 3))
        shape = int(rng.integers(3))
        box = (x, title_h + 5, x + icon, title_h + 5 + icon)
        if shape == 0:
            draw.rectangle(box, fill=colour)
        elif shape == 1:
            draw.ellipse(box, outline=colour, width=3)
        else:
            draw.line((box[0], box[3], box[2], box[1]), fill=colour, width=3)
    canvas_box = (4, title_h + tools_h, width - scroll_w - 4, height - status_h)
    draw.rectangle(canvas_box, fill=canvas_colour, outline=(128, 128, 132))
    track = (width - scroll_w - 2, title_h + tools_h, width - 2, height - status_h)
    draw.rectangle(track, fill=(70, 70, 74) if dark else (215, 215, 218))
    thumb_top = track[1] + int(rng.uniform(0, 0.5) * (track[3] - track[1]))
    draw.rectangle(
        (track[0] + 2, thumb_top, track[2] - 2, thumb_top + (track[3] - track[1]) // 3), fill=(140, 140, 146)
    )
    status = choice(rng, ["100%", "Ready", "280 x 280 px", "Layer 1  |  100%"])
    draw.text((8, height - status_h + 3), status, fill=(150, 150, 150) if dark else (80, 80, 80), font=font)
    canvas_w, canvas_h = canvas_box[2] - canvas_box[0] - 2, canvas_box[3] - canvas_box[1] - 2
    side = int(min(canvas_w, canvas_h) * rng.uniform(0.6, 0.95))
    alpha = ink_alpha(digit, side, rng, choice(rng, ["normal", "thick"]))
    alpha = (alpha > 0.5).astype(np.float32) if rng.random() < 0.3 else alpha  # some apps draw without anti-aliasing
    page = np.asarray(window, np.float32).copy()
    top = canvas_box[1] + 1 + int(rng.integers(0, canvas_h - side + 1))
    left = canvas_box[0] + 1 + int(rng.integers(0, canvas_w - side + 1))
    composite(page, alpha, brush, top, left)
    return encode(to_image(page), "PNG"), "PNG"


def squared_shadow(digit, rng):
    """Coloured pen on squared paper in a shadow: the squared_paper and shadow conditions together."""
    page = written_page(digit, rng, lines="squared", ink=choice(rng, COLOURED_INKS))
    page = light_falloff(page, rng, rng.uniform(0.3, 0.6), shadow=True)
    image = to_image(noise(page, rng, 3.0)).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return jpeg(image, rng.integers(70, 90))
