"""CPU time of the handler's path before the model for the two ends of what it is sent: a 28x28 PNG (an
MNIST digit) and a 12 MP phone photo (4000x3000 JPEG of ~3 MB), today's preprocessing against the one before
issue #11 (photo_evaluation.baseline_preprocessing).

    python -m photo_evaluation.cost
"""

import statistics
import time

from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()

import torch  # noqa: E402

import mnist_preprocessing  # noqa: E402
from image_decoding import open_image  # noqa: E402
from photo_evaluation import baseline_preprocessing  # noqa: E402
from photo_evaluation.make_photos import encode, mnist_test_digits, phone_photo  # noqa: E402


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
    big = phone_photo(digits[1][0])
    print(f"12 MP JPEG: {len(big) / 1e6:.1f} MB")
    for name, body, repeat in (("28x28 PNG", small, 1000), ("4000x3000 JPEG", big, 10)):
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
