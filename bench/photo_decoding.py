"""What a phone photo costs a worker before the model, with the reduced JPEG decoding (issue #24) and without
it: CPU milliseconds to decode and to preprocess a 1 MP and a 12 MP phone JPEG, one torch thread, as a
worker runs; and whether the digits read are the same over held-out phone photos. In process, no server.

    python -m bench.photo_decoding      # ~1 minute: writes bench/results/photo_decoding.md and prints it

"Without" is Pillow decoding the whole file, as the handler did before: the same bytes, the same
preprocessing (which then box-reduces the full picture itself).
"""

import io

from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()

import torch  # noqa: E402
from PIL import Image  # noqa: E402

from bench import RESULTS  # noqa: E402
from image_decoding import open_image  # noqa: E402
from mnist_preprocessing import to_mnist_tensor  # noqa: E402
from model.loading import load_model  # noqa: E402
from photo_evaluation import cost as photo_cost  # noqa: E402
from photo_evaluation.make_photos import phone_photo  # noqa: E402
from training.data import DEFAULT_DATA_ROOT, mnist  # noqa: E402

SIZES = {"1 MP (1152x864)": (1152, 864), "12 MP (4000x3000)": (4000, 3000)}
# 12 MP photos of MNIST test digits for the agreement check (a report: nothing is chosen by it).
AGREEMENT_PHOTOS = 40
ROUNDS = 7


def pillow_decode(data: bytes, scale: int = 1) -> Image.Image:
    """The JPEG decoded by Pillow: whole (scale 1), as it does unless told otherwise, or at 1/scale as grey,
    libjpeg's DCT scaling, every coefficient still entropy-decoded."""
    image = Image.open(io.BytesIO(data))
    if scale > 1:
        image.draft("L", (image.width // scale, image.height // scale))
    image.load()
    return image


def cpu_ms(function) -> float:
    """The median CPU milliseconds of one call over ROUNDS calls (after one not counted)."""
    return photo_cost.cpu_ms(function, repeat=1, rounds=ROUNDS)


def costs(data: bytes) -> dict:
    """{"reduced"|"full": (decode ms, preprocess ms)} for one JPEG."""
    size = Image.open(io.BytesIO(data)).size
    out = {}
    for name, decode in (("reduced", open_image), ("full", pillow_decode)):
        image = decode(data)
        out[name] = (cpu_ms(lambda: decode(data)), cpu_ms(lambda: to_mnist_tensor(image, size=size)))
    return out


def read(model, image: Image.Image) -> int:
    """The digit the committed weights read in one decoded picture."""
    with torch.no_grad():
        return int(model(to_mnist_tensor(image).unsqueeze(0)).argmax())


def agreement(count: int) -> tuple:
    """(photos whose digit is the same read both ways, photos, right reduced, right full) over `count` 12 MP
    photos of MNIST test digits."""
    digits, model = mnist(DEFAULT_DATA_ROOT, train=False), load_model().eval()
    same = right_reduced = right_full = 0
    for index in range(count):
        digit, label = digits[index]
        data = phone_photo(digit, seed=index)
        reduced_read, full_read = (read(model, decode(data)) for decode in (open_image, pillow_decode))
        same += reduced_read == full_read
        right_reduced += reduced_read == label
        right_full += full_read == label
    return same, count, right_reduced, right_full


def main() -> None:
    torch.set_num_threads(1)
    digit, _ = mnist(DEFAULT_DATA_ROOT, train=False)[0]
    lines = [
        "# Phone photos before the model: reduced JPEG decoding (`python -m bench.photo_decoding`)",
        "",
        "CPU ms per photo, median of 7, one torch thread (a worker's). *Reduced*: the handler's decoding at the",
        "DCT scale that leaves the preprocessing's working size (1/2-1/8); *full*: the whole file decoded.",
        "",
        "| photo | JPEG | decode reduced | decode full | preprocess reduced | preprocess full "
        "| total reduced | total full |",
        "|---|---|---|---|---|---|---|---|",
    ]
    floors = []
    for name, (width, height) in SIZES.items():
        data = phone_photo(digit, width, height)
        floors.append(f"{name}: {cpu_ms(lambda: pillow_decode(data, 8)):.1f} ms")
        measured = costs(data)
        (decode_r, pre_r), (decode_f, pre_f) = measured["reduced"], measured["full"]
        lines.append(
            f"| {name} | {len(data) / 1e6:.1f} MB | {decode_r:.1f} | {decode_f:.1f} | {pre_r:.1f} | {pre_f:.1f} "
            f"| **{decode_r + pre_r:.1f}** | {decode_f + pre_f:.1f} |"
        )
    same, count, right_reduced, right_full = agreement(AGREEMENT_PHOTOS)
    lines += [
        "",
        f"Decoding at 1/8 scale, grey, the least libjpeg can do: {'; '.join(floors)}. Every coefficient is still",
        "entropy-decoded at any scale (DCT scaling saves the inverse transform and the colour conversion), so",
        "that is the floor of a JPEG's decode: it grows with the file's compressed size, not its pixels.",
        "",
        f"The same digit read both ways on {same} of {count} 12 MP photos of MNIST test digits; right:"
        f" {right_reduced} reduced, {right_full} full.",
    ]
    text = "\n".join(lines) + "\n"
    (RESULTS / "photo_decoding.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
