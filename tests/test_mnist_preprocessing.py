"""The MNIST-way normalisation, on MNIST digits and on pictures made to look like real-world ones."""

import random

import numpy as np
import pytest
import torch
from PIL import Image, ImageFilter, ImageOps

from client.images import encode
from image_decoding import open_image
from input_errors import NoDigitFound
from mnist_form import DIGIT_BOX, centre_digit
from mnist_preprocessing import to_mnist_tensor
from model.loading import MODEL_DIR, load_model
from training.data import EVAL_TRANSFORM


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL_DIR / "mnist_cnn.pt")


def pixels(tensor: torch.Tensor) -> np.ndarray:
    """Back from the normalised tensor to [0, 1] intensities."""
    from mnist_cnn import MNIST_MEAN, MNIST_STD

    return (tensor.squeeze(0).numpy() * MNIST_STD) + MNIST_MEAN


def test_mnist_digits_pass_through_unchanged(mnist_test_set):
    for index in range(200):
        image, _ = mnist_test_set[index]
        assert torch.allclose(to_mnist_tensor(image), EVAL_TRANSFORM(image), atol=1e-6)


@pytest.mark.parametrize("variant", ["inverted", "rgb", "inverted-rgba", "palette"])
def test_28x28_variants_give_the_mnist_tensor(mnist_test_set, variant):
    image, _ = mnist_test_set[3]
    expected = EVAL_TRANSFORM(image)
    inverted = ImageOps.invert(image)
    picture = {
        "inverted": inverted,
        "rgb": image.convert("RGB"),
        "inverted-rgba": inverted.convert("RGBA"),
        "palette": image.convert("P"),
    }[variant]
    assert torch.allclose(to_mnist_tensor(picture), expected, atol=2e-2)


def photograph(digit: Image.Image, seed: int) -> Image.Image:
    """An MNIST digit as a phone picture of ink on paper: dark on light, larger, off-centre, tinted, JPEG."""
    rng = random.Random(seed)
    scale = rng.uniform(3, 9)
    side = round(28 * scale)
    ink = digit.resize((side, side), Image.Resampling.BICUBIC).filter(ImageFilter.GaussianBlur(scale / 4))
    width, height = side + rng.randint(20, 300), side + rng.randint(20, 300)
    paper = tuple(rng.randint(200, 250) for _ in range(3))
    canvas = Image.new("RGB", (width, height), paper)
    ink_colour = Image.new("RGB", (side, side), tuple(rng.randint(10, 70) for _ in range(3)))
    canvas.paste(ink_colour, (rng.randint(0, width - side), rng.randint(0, height - side)), ink)
    return open_image(encode(canvas, "JPEG", quality=rng.randint(60, 95)))


def test_photographed_digit_is_fitted_to_20px_and_centred_by_mass(mnist_test_set):
    tensor = to_mnist_tensor(photograph(mnist_test_set[0][0], seed=1))
    ink = pixels(tensor)
    rows = np.flatnonzero((ink > 0.25).any(axis=1))
    cols = np.flatnonzero((ink > 0.25).any(axis=0))
    assert max(rows[-1] - rows[0], cols[-1] - cols[0]) + 1 <= DIGIT_BOX
    centre_row = (ink.sum(axis=1) @ np.arange(28)) / ink.sum()
    centre_col = (ink.sum(axis=0) @ np.arange(28)) / ink.sum()
    assert abs(centre_row - 13.5) <= 1 and abs(centre_col - 13.5) <= 1
    assert ink[0].max() < 0.05 and ink[-1].max() < 0.05  # the paper became black


def test_photographed_digits_are_read_correctly(model, mnist_test_set):
    """The point of the normalisation: pictures that look nothing like MNIST are still read."""
    count = 300
    batch = torch.stack([to_mnist_tensor(photograph(mnist_test_set[i][0], seed=i)) for i in range(count)])
    labels = torch.tensor([mnist_test_set[i][1] for i in range(count)])
    with torch.inference_mode():
        accuracy = (model(batch).argmax(1) == labels).float().mean().item()
    assert accuracy >= 0.97


def test_drawing_on_a_transparent_canvas_is_read_like_ink_on_paper(mnist_test_set):
    digit, _ = mnist_test_set[0]
    big = digit.resize((140, 140), Image.Resampling.BICUBIC)
    # Black strokes whose only shape is in the alpha channel, as HTML canvases export them.
    strokes = Image.merge("RGBA", [Image.new("L", big.size, 0)] * 3 + [big])
    on_paper = Image.new("RGB", big.size, "white")
    on_paper.paste(Image.new("RGB", big.size, "black"), (0, 0), big)
    assert torch.allclose(to_mnist_tensor(strokes), to_mnist_tensor(on_paper), atol=2e-2)


def test_16_bit_scan_is_read_like_its_8_bit_version(mnist_test_set):
    digit, _ = mnist_test_set[5]
    big = digit.resize((84, 84), Image.Resampling.BILINEAR)
    scan = Image.fromarray(np.asarray(big, dtype=np.uint16) * 257)
    assert scan.mode.startswith("I;16")
    assert torch.allclose(to_mnist_tensor(scan), to_mnist_tensor(big), atol=2e-2)


def test_tiny_image_is_scaled_up():
    dot = Image.new("L", (5, 3), 0)
    dot.putpixel((2, 1), 255)
    tensor = to_mnist_tensor(dot)
    assert tensor.shape == (1, 28, 28)
    assert pixels(tensor).max() == pytest.approx(1.0, abs=1e-5)


@pytest.mark.parametrize(
    "blank",
    [
        Image.new("L", (28, 28), 0),
        Image.new("L", (200, 120), 255),
        Image.new("RGB", (64, 64), (120, 130, 110)),
        Image.new("RGBA", (64, 64), (0, 0, 0, 0)),
    ],
    ids=["black-28", "white", "flat-colour", "transparent"],
)
def test_blank_images_are_refused(blank):
    with pytest.raises(NoDigitFound, match="no digit found"):
        to_mnist_tensor(blank)


def test_a_blank_picture_is_refused_with_its_own_size_not_the_reduced_one():
    with pytest.raises(NoDigitFound, match="the 3000x2000 image has no mark"):
        to_mnist_tensor(Image.new("L", (3000, 2000), 230))


def test_centre_digit_works_on_pixels_alone():
    """image -> tensor is pure: the digit is found from the grey array, no PIL image or request needed."""
    grey = np.zeros((40, 60), dtype=np.float32)
    assert centre_digit(grey) is None  # nothing stands out: the caller words the refusal
    grey[10:30, 25:32] = 255.0
    canvas = centre_digit(grey)
    assert canvas.shape == (28, 28) and canvas.max() > 200
    assert max(np.ptp(np.flatnonzero(canvas.any(axis=1))), np.ptp(np.flatnonzero(canvas.any(axis=0)))) + 1 <= DIGIT_BOX


@pytest.mark.parametrize("mode", ["L", "RGB", "P", "1", "I;16"])
def test_very_large_pictures_are_reduced_first_and_still_read(model, mnist_test_set, mode):
    digit, label = mnist_test_set[7]
    side = 3600  # over WORKING_SIDE: reduced before any float work
    ink = ImageOps.invert(digit).resize((side // 2, side // 2), Image.Resampling.BICUBIC)
    canvas = Image.new("L", (side, side), 255)
    canvas.paste(ink, (side // 3, side // 5))
    picture = canvas.convert(mode) if mode != "I;16" else Image.fromarray(np.asarray(canvas, dtype=np.uint16) * 257)
    with torch.inference_mode():
        assert model(to_mnist_tensor(picture).unsqueeze(0)).argmax().item() == label
