"""Wait until the running service's model has READY workers; exit 1 with the reason if it never does."""

import argparse
import sys

from client.torchserve_api import MnistService


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--timeout", type=float, default=120)
    parser.add_argument("--min-workers", type=int, default=1)
    args = parser.parse_args()
    try:
        MnistService().wait_until_ready(args.timeout, args.min_workers)
    except TimeoutError as error:
        print(error, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
