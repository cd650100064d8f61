"""The building blocks of the evaluation's pictures: a digit as ink, paper, printed lines, light, noise, blur,
perspective and the file a phone or a program writes. Each is a function of its arguments and a numpy random
generator, so a picture made of them is the same on every machine.
"""

from typing import Optional, Sequence

import numpy as np
from PIL import ExifTags, Image, ImageDraw, ImageFilter, ImageFont
from scipy import ndimage

from client.images import encode

MNIST_STROKE = 2.7  # typical MNIST stroke width, in its 28 px pixels


PAPERS = {"white": (245, 244, 240), "grey-white": (228, 228, 222), "cream": (240, 232, 210)}
COLOURED_PAPERS = [(250, 235, 130), (250, 200, 210), (190, 220, 245), (200, 240, 200), (255, 215, 160)]
INKS = {"black": (25, 25, 30), "blue": (30, 45, 140), "dark-grey": (60, 60, 64)}
COLOURED_INKS = [(30, 60, 190), (190, 30, 40), (20, 120, 50), (110, 30, 140), (20, 20, 20)]
LINE_COLOURS = [(120, 160, 220), (230, 120, 120), (150, 150, 150), (120, 190, 150), (170, 130, 200)]


def choice(rng: np.random.Generator, items: Sequence):
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
    colour = np.asarray(choice(rng, LINE_COLOURS), np.float32)
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


def jpeg(image: Image.Image, quality: int, **options) -> tuple:
    return encode(image, "JPEG", quality=int(quality), **options), "JPEG"


# How a camera stores its pixels for each EXIF Orientation (1-8): the turn or mirror that undoes what a viewer
# does to show them upright.
CAMERA_STORES = {
    1: None,
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_90,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_270,
}


def as_a_camera_stores(image: Image.Image, orientation: int) -> tuple:
    """(pixels, EXIF bytes) of an upright picture as a camera stores it for this orientation."""
    turn = CAMERA_STORES[orientation]
    exif = Image.Exif()
    exif[ExifTags.Base.Orientation] = orientation
    return (image if turn is None else image.transpose(turn)), exif.tobytes()


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
    inset: float = 0.0,
) -> np.ndarray:
    width, height = (int(rng.integers(size[0], size[1] + 1)) for _ in range(2))
    side = int(min(width, height) * rng.uniform(*digit_share))
    page = paper(width, height, paper_colour or PAPERS[choice(rng, list(PAPERS))])
    if lines:
        rule_lines(page, rng, squared=lines == "squared")
    alpha = ink_alpha(digit, side, rng, stroke)
    # The digit's square kept `inset` of the page's side from its edges (a photo cropped inside the page).
    keep_y, keep_x = int(inset * height), int(inset * width)
    top = int(rng.integers(keep_y, max(keep_y, height - side - keep_y) + 1))
    left = int(rng.integers(keep_x, max(keep_x, width - side - keep_x) + 1))
    composite(page, alpha, ink or INKS[choice(rng, list(INKS))], top, left)
    return page


def phone(
    page: np.ndarray,
    rng: np.random.Generator,
    *,
    light=0.12,
    blur=(0.3, 0.9),
    sigma=3.0,
    quality=(80, 93),
    orientation: Optional[int] = None,
):
    """The ordinary defects of a phone picture, mild: some uneven light, slight blur, sensor noise, JPEG; with
    an `orientation`, stored as a camera stores it for that EXIF Orientation, and tagged so."""
    page = light_falloff(page, rng, rng.uniform(0, light))
    image = to_image(noise(page, rng, sigma)).filter(ImageFilter.GaussianBlur(rng.uniform(*blur)))
    quality = rng.integers(quality[0], quality[1] + 1)
    if orientation is None:
        return jpeg(image, quality)
    pixels, exif = as_a_camera_stores(image, orientation)
    return jpeg(pixels, quality, exif=exif)


# --- printed matter, light and lenses ----------------------------------------------------------------------

PRINTED_LINE_COLOURS = [(20, 20, 25), (70, 70, 78), (40, 70, 150), (110, 150, 205), (190, 90, 90)]


def printed_line(cover: np.ndarray, at: float, start: int, stop: int, weight: float, horizontal: bool) -> None:
    """A straight printed line `weight` px thick, centred on row (or column) `at`, from `start` to `stop`,
    anti-aliased across its width, drawn into a coverage map in place."""
    length = cover.shape[0] if horizontal else cover.shape[1]
    across = np.clip(weight / 2 + 0.5 - np.abs(np.arange(length) - at), 0, 1)
    rows = np.flatnonzero(across)
    if horizontal:
        cover[rows, start:stop] = np.maximum(cover[rows, start:stop], across[rows, None])
    else:
        cover[start:stop, rows] = np.maximum(cover[start:stop, rows], across[None, rows])


def printed_text(page: np.ndarray, text: str, height: float, top: int, left: int, colour) -> tuple:
    """`text` printed in Pillow's own sans-serif font, its capitals about `height` px tall, onto the page in
    place at (top, left); returns the printed text's box (top, bottom, left, right)."""
    font = ImageFont.load_default(size=max(6, round(height * 1.4)))
    box = font.getbbox(text)
    mask = Image.new("L", (box[2] + 2, box[3] + 2), 0)
    ImageDraw.Draw(mask).text((0, 0), text, fill=255, font=font)
    alpha = np.asarray(mask, np.float32)[box[1] :, box[0] :] / 255.0
    alpha = alpha[: page.shape[0] - top, : page.shape[1] - left]
    composite(page, alpha, colour, top, left)
    return top, top + alpha.shape[0], left, left + alpha.shape[1]


def perspective_coefficients(source, target) -> list:
    """The 8 coefficients of PIL's PERSPECTIVE transform that take each `target` corner (where it lands in the
    output) back to its `source` corner (where it is in the input), corners as (x, y)."""
    rows, values = [], []
    for (x, y), (u, v) in zip(target, source):
        rows.append([x, y, 1, 0, 0, 0, -u * x, -u * y])
        rows.append([0, 0, 0, x, y, 1, -v * x, -v * y])
        values += [u, v]
    return list(np.linalg.solve(np.asarray(rows, np.float64), np.asarray(values, np.float64)))


def seen_at_an_angle(page: np.ndarray, rng: np.random.Generator, background, frame, edges_in_view: bool):
    """The page as a hand-held phone sees it: a perspective (its far side 65-90 % as long as the near one,
    the far side at the top most often), turned by up to 10 degrees, on a background of `frame` (width,
    height); with `edges_in_view` the whole page shows on the background, otherwise the picture is inside
    the page."""
    height, width, _ = page.shape
    out_w, out_h = frame
    far = rng.uniform(0.65, 0.9)
    depth = rng.uniform(0.7, 0.9)  # the page's height foreshortened
    fill = rng.uniform(0.6, 0.85) if edges_in_view else rng.uniform(1.25, 1.4)
    # The far side on top, or on another side: the shape turned by quarter turns, its corners renamed so
    # that the page itself stays upright (and keeps its proportions).
    quarters = int(rng.choice(4, p=[0.55, 0.15, 0.15, 0.15]))
    page_w, page_h = (width, height) if quarters % 2 == 0 else (height, width)
    span_w, span_h = (out_w, out_h) if quarters % 2 == 0 else (out_h, out_w)
    scale = fill * min(span_w / page_w, span_h / (page_h * depth))
    half_w, half_h = scale * page_w / 2, scale * page_h * depth / 2
    quad = np.array([[-far * half_w, -half_h], [far * half_w, -half_h], [half_w, half_h], [-half_w, half_h]])
    turn = np.deg2rad(rng.uniform(-10, 10)) + np.pi / 2 * quarters
    rotation = np.array([[np.cos(turn), -np.sin(turn)], [np.sin(turn), np.cos(turn)]])
    centre = np.array([out_w / 2, out_h / 2]) + rng.uniform(-0.06, 0.06, 2) * (out_w, out_h)
    target = np.roll(quad @ rotation.T + centre, quarters, axis=0)
    source = [(0, 0), (width, 0), (width, height), (0, height)]
    sheet = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "RGB").convert("RGBA")
    warped = sheet.transform(
        (out_w, out_h), Image.Transform.PERSPECTIVE, perspective_coefficients(source, target), Image.Resampling.BICUBIC
    )
    scene = to_image(noise(paper(out_w, out_h, background), rng, 5.0)).filter(ImageFilter.GaussianBlur(1.2))
    scene.paste(warped, (0, 0), warped)
    return np.asarray(scene, np.float32)


def dim_sensor(page: np.ndarray, rng: np.random.Generator, exposure: float) -> np.ndarray:
    """A small phone sensor in a dim room: the scene at `exposure` of full light, then shot noise (growing
    with the light), read noise and colour noise as a high gain shows them."""
    light = page * exposure
    shot = rng.normal(0, 1, light.shape).astype(np.float32) * np.sqrt(np.maximum(light, 0) * rng.uniform(0.6, 1.2))
    read = rng.normal(0, rng.uniform(2.0, 4.0), light.shape[:2] + (1,)).astype(np.float32)
    return light + shot + read


def motion_blurred(image: Image.Image, length: float, angle: float) -> Image.Image:
    """The picture smeared along a straight line of `length` px at `angle` (radians): a shaken phone."""
    size = int(np.ceil(length)) | 1
    kernel = Image.new("L", (size, size), 0)
    half = (size - 1) / 2
    dx, dy = np.cos(angle) * half, np.sin(angle) * half
    ImageDraw.Draw(kernel).line([(half - dx, half - dy), (half + dx, half + dy)], fill=255, width=1)
    weights = np.asarray(kernel, np.float32)
    weights /= weights.sum()
    values = np.asarray(image, np.float32)
    smeared = np.stack([ndimage.convolve(values[..., c], weights, mode="nearest") for c in range(3)], axis=-1)
    return to_image(smeared)


def glare(page: np.ndarray, rng: np.random.Generator, centre, radius: float, strength: float) -> np.ndarray:
    """A lamp's reflection on a glossy surface: a soft patch of added light, up to `strength` of the way to
    white, that washes out what is under it (the board goes white, the ink pale but still there)."""
    height, width, _ = page.shape
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    stretch = rng.uniform(0.5, 2.0)
    shine = strength * np.exp(-(((yy - centre[0]) / (radius / stretch)) ** 2 + ((xx - centre[1]) / radius) ** 2))
    shine = shine[..., None]
    return page + (255.0 - page) * shine
