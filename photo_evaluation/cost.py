"""CPU time of the handler's path before the model for the two ends of what it is sent: a 28x28 PNG (an
MNIST digit) and a 12 MP phone photo (4000x3000 JPEG of ~3 MB), today's preprocessing against the one before
issue #11 (photo_evaluation.baseline_preprocessing).

    python -m photo_evaluation.cost
"""

import statistics
import time

from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image, ImageFilter  # noqa: E402

import mnist_preprocessing  # noqa: E402
from image_decoding import open_image  # noqa: E402
from photo_evaluation import baseline_preprocessing  # noqa: E402
from photo_evaluation.make_photos import encode, ink_alpha, light_falloff, mnist_test_digits  # noqa: E402


def photo_12mp(digit: Image.Image, seed: int = 0) -> bytes:
    """A 4000x3000 JPEG of about 3 MB: the digit (1400 px) in blue ink on white paper, light falling off,
    slightly out of focus, sensor noise."""
    rng = np.random.default_rng(seed)
    height, width = 3000, 4000
    page = np.empty((height, width, 3), np.float32)
    page[...] = (238, 236, 230)
    alpha = ink_alpha(digit, 1400, rng)[..., None]
    region = page[800:2200, 1300:2700]
    region *= 1 - alpha
    region += alpha * np.asarray((30, 45, 140), np.float32)
    page = light_falloff(page, rng, 0.3)
    image = Image.fromarray(np.clip(page, 0, 255).astype(np.uint8), "RGB").filter(ImageFilter.GaussianBlur(1.5))
    noisy = np.asarray(image, np.float32) + rng.normal(0, 6, (height, width, 1)).astype(np.float32)  # sensor noise
    return encode(Image.fromarray(np.clip(noisy, 0, 255).astype(np.uint8), "RGB"), "JPEG", quality=90)


def cpu_ms(function, repeat: int, rounds: int = 5) -> float:
    """CPU milliseconds per call: the median over `rounds` of the mean of `repeat` calls."""
    function()
    times = []
    for _ in range(rounds):
        start = time.process_time()
        for _ in range(repeat):
            function()
        times.append((time.process_time() - start) / repeat)
    return 1000 * statistics.median(times)


def main() -> None:
    torch.set_num_threads(1)
    digits = mnist_test_digits()
    small = encode(digits[0][0], "PNG")
    big = photo_12mp(digits[1][0])
    print(f"12 MP JPEG: {len(big) / 1e6:.1f} MB")
    for name, body, repeat in (("28x28 PNG", small, 1000), ("4000x3000 JPEG", big, 2)):
        decode_ms = cpu_ms(lambda: open_image(body), repeat)
        image = open_image(body)
        for which, function in (
            ("before #11", baseline_preprocessing.to_mnist_tensor),
            ("now", mnist_preprocessing.to_mnist_tensor),
        ):
            print(
                f"{name}: decoding {decode_ms:.3f} ms, preprocessing ({which}) "
                f"{cpu_ms(lambda: function(image), repeat):.3f} ms CPU"
            )


if __name__ == "__main__":
    main()
