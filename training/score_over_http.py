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


def score(service: MnistService, data_root: str, limit: int) -> tuple:
    """(correct, total) over the first `limit` test images."""
    test_set = mnist(data_root, train=False)
    total = min(limit, len(test_set))
    correct = 0
    for start in range(0, total, BATCH):
        images, labels = zip(*(test_set[i] for i in range(start, min(start + BATCH, total))))
        predictions = service.predict_many([encode(image) for image in images])
        correct += sum(p["digit"] == label for p, label in zip(predictions, labels))
    return correct, total


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
