"""Photo-like pictures of handwritten digits, made reproducibly from the MNIST **test** digits.

Each picture: an MNIST test digit upscaled smoothly, its stroke width changed by grey morphology when the
condition asks (thin pen, thick marker, pencil), composited as ink on paper (plain, ruled, squared, a form's
cells, a whiteboard), then the photo effects of its condition (uneven light, blur, shake, noise, JPEG, a
table around the page, perspective, dim light, glare...); or drawn on a canvas as a web page or an app
exports it. The conditions are in paper_conditions (issue #11's) and document_conditions (issue #23's),
their building blocks in drawing. Every picture is a pure function of (seed, condition, index), so a set
is the same on every machine and for every N (picture i of a condition does not depend on N).

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
from photo_evaluation import document_conditions as documents
from photo_evaluation import paper_conditions as papers
from photo_evaluation.drawing import ink_alpha, light_falloff

DEFAULT_N = 200
DEFAULT_SEED = 2026


@dataclass
class Photo:
    condition: str
    index: int  # position in its condition
    mnist_index: int  # which MNIST test digit
    label: int
    data: bytes  # the encoded file (PNG or JPEG), as a client would send it
    format: str  # "PNG" or "JPEG"


# The kinds of picture, by how evaluate_photos sums them: clean renders, phone photos, and drawings that are
# neither (a canvas or an app's window).
CLEAN = {
    "clean_canvas": papers.clean_canvas,
    "clean_chalkboard": papers.clean_chalkboard,
    "clean_mnist28": papers.clean_mnist28,
    "clean_form": documents.clean_form,
}
PHOTO = {
    "shadow": papers.shadow,
    "blur": papers.blur,
    "jpeg_30_50": papers.jpeg_low,
    "ruled_paper": papers.ruled_paper,
    "squared_paper": papers.squared_paper,
    "page_on_table": papers.page_on_table,
    "thin_pen": papers.thin_pen,
    "thick_marker": papers.thick_marker,
    "rotated": papers.rotated,
    "small_digit": papers.small_digit,
    "coloured": papers.coloured,
    "phone_orientation": papers.phone_orientation,
    "form_photo": documents.form_photo,
    "dim_angle": documents.dim_angle,
    "whiteboard": documents.whiteboard,
    "pencil": documents.pencil,
    "motion_blur": documents.motion_blur,
    "printed_label": documents.printed_label,
    "squared_shadow": documents.squared_shadow,
}
DRAWN = {"canvas_fat_brush": papers.canvas_fat_brush, "app_screenshot": documents.app_screenshot}
CONDITIONS: dict = {**CLEAN, **PHOTO, **DRAWN}
# Each condition draws from its own random stream, numbered by when it was added: a new condition takes the
# next number, so the pictures of the others stay the same.
STREAMS = (
    *("clean_canvas", "clean_chalkboard", "clean_mnist28", "shadow", "blur", "jpeg_30_50", "ruled_paper"),
    *("squared_paper", "page_on_table", "thin_pen", "thick_marker", "rotated", "small_digit", "coloured"),
    "canvas_fat_brush",
    *("clean_form", "form_photo", "dim_angle", "whiteboard", "pencil", "motion_blur", "printed_label"),
    *("app_screenshot", "squared_shadow", "phone_orientation"),
)


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
    number = STREAMS.index(condition)
    rng = np.random.default_rng([seed, number, index])
    mnist_index = int(rng.integers(len(digits)))
    digit, label = digits[mnist_index]
    data, format = CONDITIONS[condition](digit, rng)
    return Photo(condition, index, mnist_index, int(label), data, format)


def pictures(
    n: int = DEFAULT_N,
    conditions: Optional[Sequence[str]] = None,
    digits=None,
    seed: int = DEFAULT_SEED,
    first: int = 0,
) -> Iterator[Photo]:
    """Pictures `first` to `first + n - 1` of each condition (a later range is a fresh set of pictures)."""
    digits = digits if digits is not None else mnist_test_digits()
    for condition in conditions or CONDITIONS:
        for index in range(first, first + n):
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
