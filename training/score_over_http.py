"""Score the running service on the MNIST test set over HTTP and print its accuracy.

Each test image is sent as a PNG, 64 per request, exactly as a client would send it.

    python -m training.score_over_http --data-root ../shared/mnist [--limit 1000]
"""

import argparse
import sys

from client.images import encode
from client.torchserve_api import KEY_FILE, MnistService
from training.data import DEFAULT_DATA_ROOT, mnist

BATCH = 64  # the handler's per-request limit


def served_digits(service: MnistService, data_root: str, limit: int) -> list:
    """(served digit, label) for each of the first `limit` test images, in order."""
    test_set = mnist(data_root, train=False)
    answers = []
    for start in range(0, min(limit, len(test_set)), BATCH):
        images, labels = zip(*(test_set[i] for i in range(start, min(start + BATCH, limit))))
        predictions = service.predict_many([encode(image) for image in images])
        answers += [(prediction["digit"], label) for prediction, label in zip(predictions, labels)]
    return answers


def score(service: MnistService, data_root: str, limit: int) -> tuple:
    """(correct, total) over the first `limit` test images."""
    answers = served_digits(service, data_root, limit)
    return sum(digit == label for digit, label in answers), len(answers)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="torchvision MNIST root (env MNIST_DATA_ROOT)")
    parser.add_argument("--limit", type=int, default=10_000, help="score only the first N test images")
    parser.add_argument("--key-file", default=KEY_FILE)
    args = parser.parse_args()
    correct, total = score(MnistService(key_file=args.key_file), args.data_root, args.limit)
    print(f"accuracy over HTTP: {correct / total:.2%} ({correct}/{total} MNIST test images)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
