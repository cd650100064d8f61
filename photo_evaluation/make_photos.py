"""Photo-like pictures of handwritten digits, made reproducibly from the MNIST **test** digits.

Each picture: an MNIST test digit upscaled smoothly, its stroke width changed by grey morphology when the
condition asks (thin pen, thick marker), composited as ink of some colour on paper of some colour (plain,
ruled or squared), then the photo effects of its condition (uneven light, blur, noise, JPEG, a table
around the page, rotation...); or drawn on a transparent canvas with a fat brush, as a web page exports
a drawing. Every picture is a pure function of (seed, condition, index), so a set is
the same on every machine and for every N (picture i of a condition does not depend on N).

    python -m photo_evaluation.make_photos --n 20 --out /tmp/photos   # writes the pictures as files

The evaluator (photo_evaluation.evaluate_photos) generates them in memory with `pictures(...)`.
"""

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator, Optional, Sequence

import numpy as np
from PIL import Image, ImageFilter

from client.images import encode

DEFAULT_N = 200
DEFAULT_SEED = 2026
MNIST_STROKE = 2.7  # typical MNIST stroke width, in its 28 px pixels


@dataclass
class Photo:
    condition: str
    index: int  # position in its condition
    mnist_index: int  # which MNIST test digit
    label: int
    data: bytes  # the encoded file (PNG or JPEG), as a client would send it
    format: str  # "PNG" or "JPEG"


# --- building blocks -------------------------------------------------------------------------------------

PAPERS = {"white": (245, 244, 240), "grey-white": (228, 228, 222), "cream": (240, 232, 210)}
COLOURED_PAPERS = [(250, 235, 130), (250, 200, 210), (190, 220, 245), (200, 240, 200), (255, 215, 160)]
INKS = {"black": (25, 25, 30), "blue": (30, 45, 140), "dark-grey": (60, 60, 64)}
COLOURED_INKS = [(30, 60, 190), (190, 30, 40), (20, 120, 50), (110, 30, 140), (20, 20, 20)]
LINE_COLOURS = [(120, 160, 220), (230, 120, 120), (150, 150, 150), (120, 190, 150), (170, 130, 200)]


def _choice(rng: np.random.Generator, items: Sequence):
    return items[int(rng.integers(len(items)))]


def ink_alpha(digit: Image.Image, side: int, rng: np.random.Generator, stroke: str = "normal") -> np.ndarray:
    """The MNIST digit as an ink coverage map in [0, 1] of side x side: smooth upscaling, then grey
    erosion (thin pen) or dilation (thick marker)."""
    scale = side / 28
    big = digit.resize((side, side), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(scale / 3))
    stroke_px = MNIST_STROKE * scale
    if stroke == "thin":  # a ball-point: strokes of 3-5 px whatever the digit's size
        target = max(rng.uniform(3.0, 5.0), 0.4 * stroke_px)  # eroding further breaks MNIST's thinner strokes
        size = int(max(0, (stroke_px - target) // 2)) * 2 + 1
        if size > 1:
            big = big.filter(ImageFilter.MinFilter(size))
    elif stroke == "thick":  # a marker: strokes 1.6-2.2x as wide
        size = int(stroke_px * rng.uniform(0.6, 1.2) // 2) * 2 + 1
        if size > 1:
            big = big.filter(ImageFilter.MaxFilter(size))
    alpha = np.asarray(big, dtype=np.float32) / 255.0
    peak = alpha.max()
    alpha = np.clip(alpha / max(peak, 1e-6), 0, 1) if peak > 0 else alpha
    # pen ink is dense: the soft upscaled edge becomes a steeper but still anti-aliased edge
    return np.clip((alpha - 0.15) / 0.55, 0, 1)


def paper(width: int, height: int, colour) -> np.ndarray:
    return np.broadcast_to(np.asarray(colour, np.float32), (height, width, 3)).copy()


def rule_lines(page: np.ndarray, rng: np.random.Generator, squared: bool) -> None:
    """Thin coloured lines on the page, in place: ruled (horizontal, often a margin line) or squared."""
    height, width, _ = page.shape
    colour = np.asarray(_choice(rng, LINE_COLOURS), np.float32)
    spacing = rng.uniform(16, 34) if not squared else rng.uniform(12, 26)
    thickness = rng.uniform(1.0, 2.2)
    strength = rng.uniform(0.6, 1.0)

    def stripes(length: int, offset: float) -> np.ndarray:
        position = (np.arange(length) - offset) % spacing
        distance = np.minimum(position, spacing - position)
        return np.clip(thickness / 2 + 0.5 - distance, 0, 1) * strength

    cover = stripes(height, rng.uniform(0, spacing))[:, None] * np.ones((1, width))
    if squared:
        cover = np.maximum(cover, stripes(width, rng.uniform(0, spacing))[None, :])
    elif rng.random() < 0.5:  # the red margin line of a school notebook
        x = int(rng.uniform(0.08, 0.2) * width)
        margin = np.zeros(width)
        margin[x : x + 2] = 0.9
        red = np.asarray((220, 90, 90), np.float32)
        page *= 1 - margin[None, :, None]
        page += margin[None, :, None] * red
    page *= 1 - cover[..., None]
    page += cover[..., None] * colour


def composite(page: np.ndarray, alpha: np.ndarray, ink, top: int, left: int) -> None:
    side_h, side_w = alpha.shape
    region = page[top : top + side_h, left : left + side_w]
    a = alpha[..., None]
    region *= 1 - a
    region += a * np.asarray(ink, np.float32)


def light_falloff(page: np.ndarray, rng: np.random.Generator, strength: float, shadow: bool = False) -> np.ndarray:
    """Uneven light: a linear fall-off of `strength` in a random direction, and with `shadow` a soft dark
    ellipse (a hand's or the phone's shadow), multiplied in."""
    height, width, _ = page.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    angle = rng.uniform(0, 2 * np.pi)
    ramp = (np.cos(angle) * (xx / width - 0.5) + np.sin(angle) * (yy / height - 0.5)) + 0.5
    light = 1 - strength * np.clip(ramp, 0, 1)
    if shadow:
        cy, cx = rng.uniform(0, height), rng.uniform(0, width)
        ry, rx = rng.uniform(0.2, 0.5) * height, rng.uniform(0.2, 0.5) * width
        blob = np.exp(-(((yy - cy) / ry) ** 2 + ((xx - cx) / rx) ** 2))
        light *= 1 - rng.uniform(0.2, 0.45) * blob
    return page * light[..., None]


def noise(page: np.ndarray, rng: np.random.Generator, sigma: float) -> np.ndarray:
    return page + rng.normal(0, sigma, page.shape).astype(np.float32)


def to_image(page: np.ndarray) -> Image.Image:
    return Image.fromarray(np.clip(page, 0, 255).round().astype(np.uint8), "RGB")


def jpeg(image: Image.Image, quality: int) -> tuple:
    return encode(image, "JPEG", quality=int(quality)), "JPEG"


# --- the page: a digit written on paper --------------------------------------------------------------------


def written_page(
    digit: Image.Image,
    rng: np.random.Generator,
    *,
    size=(260, 480),
    digit_share=(0.35, 0.7),
    paper_colour=None,
    ink=None,
    stroke="normal",
    lines: Optional[str] = None,
) -> np.ndarray:
    width, height = (int(rng.integers(size[0], size[1] + 1)) for _ in range(2))
    side = int(min(width, height) * rng.uniform(*digit_share))
    page = paper(width, height, paper_colour or PAPERS[_choice(rng, list(PAPERS))])
    if lines:
        rule_lines(page, rng, squared=lines == "squared")
    alpha = ink_alpha(digit, side, rng, stroke)
    top, left = int(rng.integers(0, height - side + 1)), int(rng.integers(0, width - side + 1))
    composite(page, alpha, ink or INKS[_choice(rng, list(INKS))], top, left)
    return page


def phone(page: np.ndarray, rng: np.random.Generator, *, light=0.12, blur=(0.3, 0.9), sigma=3.0, quality=(80, 93)):
    """The ordinary defects of a phone picture, mild: some uneven light, slight blur, sensor noise, JPEG."""
    page = light_falloff(page, rng, rng.uniform(0, light))
    image = to_image(noise(page, rng, sigma)).filter(ImageFilter.GaussianBlur(rng.uniform(*blur)))
    return jpeg(image, rng.integers(quality[0], quality[1] + 1))


# --- the conditions ----------------------------------------------------------------------------------------


def clean_canvas(digit, rng):
    """A drawing exported from a canvas: black strokes on white, PNG, nothing else."""
    page = written_page(digit, rng, paper_colour=(255, 255, 255), ink=(0, 0, 0))
    return encode(to_image(page), "PNG"), "PNG"


def clean_chalkboard(digit, rng):
    """Light chalk on a dark board, a clean PNG."""
    board = _choice(rng, [(30, 45, 38), (25, 25, 28), (35, 40, 60)])
    chalk = _choice(rng, [(235, 235, 230), (245, 240, 200), (220, 230, 240)])
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
    page = written_page(digit, rng, size=(240, 420), digit_share=(0.35, 0.6), lines=_choice(rng, [None, None, "ruled"]))
    height, width, _ = page.shape
    share = rng.uniform(0.70, 0.92)
    frame_w, frame_h = int(width / share), int(height / share)
    table = np.asarray(
        _choice(rng, [(90, 60, 40), (60, 55, 50), (120, 100, 80), (40, 40, 45), (140, 120, 95)]), np.float32
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
    ink = _choice(rng, [(30, 45, 140), (25, 25, 30), (40, 40, 90)])
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
    page = written_page(digit, rng, paper_colour=_choice(rng, COLOURED_PAPERS), ink=_choice(rng, COLOURED_INKS))
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


CLEAN = {"clean_canvas": clean_canvas, "clean_chalkboard": clean_chalkboard, "clean_mnist28": clean_mnist28}
PHOTO = {
    "shadow": shadow,
    "blur": blur,
    "jpeg_30_50": jpeg_low,
    "ruled_paper": ruled_paper,
    "squared_paper": squared_paper,
    "page_on_table": page_on_table,
    "thin_pen": thin_pen,
    "thick_marker": thick_marker,
    "rotated": rotated,
    "small_digit": small_digit,
    "coloured": coloured,
}
DRAWN = {"canvas_fat_brush": canvas_fat_brush}
# Each condition draws from its own random stream, numbered by its place here: conditions added later go
# last, so the pictures of the others stay the same.
CONDITIONS: dict = {**CLEAN, **PHOTO, **DRAWN}


def phone_photo(digit: Image.Image, width: int = 4000, height: int = 3000, seed: int = 0) -> bytes:
    """A phone's JPEG of a page (4000x3000, 12 MP, about 3 MB by default): the digit, 7/15 of the height, in
    blue ink on white paper, light falling off, slightly out of focus, sensor noise, quality 90."""
    rng = np.random.default_rng(seed)
    page = np.empty((height, width, 3), np.float32)
    page[...] = (238, 236, 230)
    side = height * 7 // 15
    top, left = (height - side) // 2, (width - side) // 2
    alpha = ink_alpha(digit, side, rng)[..., None]
    region = page[top : top + side, left : left + side]
    region *= 1 - alpha
    region += alpha * np.asarray((30, 45, 140), np.float32)
    page = light_falloff(page, rng, 0.3)
    blur = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "RGB").filter(
        ImageFilter.GaussianBlur(height / 2000)
    )
    noisy = np.asarray(blur, np.float32) + rng.normal(0, 6, (height, width, 1)).astype(np.float32)
    return encode(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB"), "JPEG", quality=90)


def mnist_test_digits(root: Optional[str] = None):
    """The 10,000 MNIST test digits as (PIL image, label), read as training/data.py reads them."""
    from training.data import DEFAULT_DATA_ROOT, mnist

    return mnist(root or DEFAULT_DATA_ROOT, train=False)


def picture(condition: str, index: int, digits, seed: int = DEFAULT_SEED) -> Photo:
    """Picture `index` of `condition`: the same bytes for the same (seed, condition, index)."""
    number = list(CONDITIONS).index(condition)
    rng = np.random.default_rng([seed, number, index])
    mnist_index = int(rng.integers(len(digits)))
    digit, label = digits[mnist_index]
    data, format = CONDITIONS[condition](digit, rng)
    return Photo(condition, index, mnist_index, int(label), data, format)


def pictures(
    n: int = DEFAULT_N, conditions: Optional[Sequence[str]] = None, digits=None, seed: int = DEFAULT_SEED
) -> Iterator[Photo]:
    digits = digits if digits is not None else mnist_test_digits()
    for condition in conditions or CONDITIONS:
        for index in range(n):
            yield picture(condition, index, digits, seed)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="pictures per condition")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument("--out", type=Path, required=True, help="folder for <condition>/<index>_<label>.<ext>")
    parser.add_argument("--conditions", nargs="*", choices=list(CONDITIONS), default=None)
    args = parser.parse_args(argv)
    for photo in pictures(args.n, args.conditions, seed=args.seed):
        folder = args.out / photo.condition
        folder.mkdir(parents=True, exist_ok=True)
        extension = "jpg" if photo.format == "JPEG" else "png"
        (folder / f"{photo.index:04d}_{photo.label}.{extension}").write_bytes(photo.data)
    print(f"wrote {args.n} pictures per condition to {args.out}")


if __name__ == "__main__":
    main()
