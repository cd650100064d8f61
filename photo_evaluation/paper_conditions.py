"""The conditions of issue #11: a digit written on paper as people photograph it (shadows, blur, JPEG, ruled
and squared paper, a page on a table, pens and markers, rotation, small digits, colours) and as programs draw
it (clean canvases, a chalkboard, MNIST itself, a fat brush on a transparent canvas); and a phone's photo
of a page stored the way its camera stores it, turned, with the EXIF tag that says which way up it is. Each
condition is a function (digit, rng) -> (file bytes, format).
"""

import numpy as np
from PIL import Image, ImageFilter

from client.images import encode
from photo_evaluation.drawing import (
    COLOURED_INKS,
    COLOURED_PAPERS,
    choice,
    ink_alpha,
    jpeg,
    light_falloff,
    noise,
    paper,
    phone,
    to_image,
    written_page,
)


def clean_canvas(digit, rng):
    """A drawing exported from a canvas: black strokes on white, PNG, nothing else."""
    page = written_page(digit, rng, paper_colour=(255, 255, 255), ink=(0, 0, 0))
    return encode(to_image(page), "PNG"), "PNG"


def clean_chalkboard(digit, rng):
    """Light chalk on a dark board, a clean PNG."""
    board = choice(rng, [(30, 45, 38), (25, 25, 28), (35, 40, 60)])
    chalk = choice(rng, [(235, 235, 230), (245, 240, 200), (220, 230, 240)])
    page = written_page(digit, rng, paper_colour=board, ink=chalk)
    return encode(to_image(page), "PNG"), "PNG"


def clean_mnist28(digit, rng):
    """The MNIST digit itself, 28x28 grey PNG."""
    return encode(digit, "PNG"), "PNG"


def shadow(digit, rng):
    """Light falling off across the page (the paper 30-60 % darker on one side) and a soft shadow."""
    page = light_falloff(written_page(digit, rng), rng, rng.uniform(0.3, 0.6), shadow=True)
    image = to_image(noise(page, rng, 3.0)).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 1.0)))
    return jpeg(image, rng.integers(70, 90))


def blur(digit, rng):
    """Out of focus or shaken: Gaussian blur of 1.5-4 % of the picture's side."""
    page = written_page(digit, rng)
    radius = rng.uniform(0.015, 0.04) * min(page.shape[:2])
    image = to_image(noise(light_falloff(page, rng, rng.uniform(0, 0.12)), rng, 2.0))
    return jpeg(image.filter(ImageFilter.GaussianBlur(radius)), rng.integers(80, 93))


def jpeg_low(digit, rng):
    """Heavily compressed: JPEG quality 30-50 (after the mild phone defects)."""
    page = written_page(digit, rng)
    page = light_falloff(page, rng, rng.uniform(0, 0.12))
    image = to_image(noise(page, rng, 3.0)).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.8)))
    return jpeg(image, rng.integers(30, 51))


def ruled_paper(digit, rng):
    """Written on ruled paper: thin coloured lines (blue, red, grey, green, violet), maybe a margin line."""
    return phone(written_page(digit, rng, lines="ruled"), rng)


def squared_paper(digit, rng):
    """Written on squared paper: a grid of thin coloured lines."""
    return phone(written_page(digit, rng, lines="squared"), rng)


def page_on_table(digit, rng):
    """The page fills 70-92 % of the frame, a darker table shows around it, the page slightly turned."""
    page = written_page(digit, rng, size=(240, 420), digit_share=(0.35, 0.6), lines=choice(rng, [None, None, "ruled"]))
    height, width, _ = page.shape
    share = rng.uniform(0.70, 0.92)
    frame_w, frame_h = int(width / share), int(height / share)
    table = np.asarray(
        choice(rng, [(90, 60, 40), (60, 55, 50), (120, 100, 80), (40, 40, 45), (140, 120, 95)]), np.float32
    )
    sheet = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "RGB").convert("RGBA")
    sheet = sheet.rotate(rng.uniform(-6, 6), resample=Image.Resampling.BICUBIC, expand=True)
    frame = to_image(noise(paper(frame_w, frame_h, table), rng, 6.0))  # wood/cloth texture, roughly
    frame = frame.filter(ImageFilter.GaussianBlur(1.0))
    top = int(rng.integers(0, max(1, frame_h - sheet.height + 1)))
    left = int(rng.integers(0, max(1, frame_w - sheet.width + 1)))
    frame.paste(sheet, (left + min(0, frame_w - sheet.width) // 2, top + min(0, frame_h - sheet.height) // 2), sheet)
    photo = light_falloff(np.asarray(frame, np.float32), rng, rng.uniform(0, 0.25))
    image = to_image(noise(photo, rng, 3.0)).filter(ImageFilter.GaussianBlur(rng.uniform(0.3, 0.9)))
    return jpeg(image, rng.integers(75, 92))


def thin_pen(digit, rng):
    """A ball-point: strokes of 3-5 px (at least 40 % of the digit's own) on a picture of a few hundred px."""
    ink = choice(rng, [(30, 45, 140), (25, 25, 30), (40, 40, 90)])
    return phone(written_page(digit, rng, stroke="thin", ink=ink), rng)


def thick_marker(digit, rng):
    """A felt marker: strokes 1.6-2.2x as wide as the digit's own."""
    return phone(written_page(digit, rng, stroke="thick"), rng)


def rotated(digit, rng):
    """The digit (and the page) turned by up to 20 degrees."""
    turned = digit.rotate(rng.uniform(-20, 20), resample=Image.Resampling.BICUBIC, expand=True)
    return phone(written_page(turned, rng), rng)


def small_digit(digit, rng):
    """A small digit (its 28 px frame 45-100 px) on a large page (600-900 px)."""
    page = written_page(digit, rng, size=(600, 900), digit_share=(0.075, 0.11))
    return phone(page, rng, blur=(0.2, 0.6))


def coloured(digit, rng):
    """Coloured paper (yellow, pink, blue, green, orange) and coloured ink (blue, red, green, violet, black)."""
    page = written_page(digit, rng, paper_colour=choice(rng, COLOURED_PAPERS), ink=choice(rng, COLOURED_INKS))
    return phone(page, rng)


def canvas_fat_brush(digit, rng):
    """A drawing exported from a web canvas with a fat brush: strokes 1.6-2.2x as wide as the digit's own,
    the digit drawn large (its 28 px frame 60-90 % of a 200-500 px canvas), the background transparent
    black as browsers export it, PNG."""
    side = int(rng.integers(200, 501))
    alpha = ink_alpha(digit, int(side * rng.uniform(0.6, 0.9)), rng, "thick")
    top, left = (int(rng.integers(0, side - alpha.shape[0] + 1)) for _ in range(2))
    rgba = np.zeros((side, side, 4), np.uint8)
    rgba[top : top + alpha.shape[0], left : left + alpha.shape[1], 3] = np.round(alpha * 255).astype(np.uint8)
    return encode(Image.fromarray(rgba, "RGBA"), "PNG"), "PNG"


# What phones write in EXIF's Orientation when the page is upright in the picture they show: 6 held upright
# for a portrait (the most common), 8 turned the other way, 3 upside down.
PHONE_ORIENTATIONS = (6, 6, 8, 3)


def phone_orientation(digit, rng):
    """A phone held upright or turned: its sensor's pixels stored as they lie, a quarter or half turn from the
    page as the viewer sees it, and the EXIF Orientation that tells viewers how to turn them (phone defects)."""
    page = written_page(digit, rng)
    return phone(page, rng, orientation=choice(rng, PHONE_ORIENTATIONS))
