"""Send image files (or every image in a folder) to the running service and print digit and confidence.

python -m client.predict my_digit.png photos/
"""

import argparse
import sys
from pathlib import Path

from client.torchserve_api import KEY_FILE, MnistService, ServiceError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp"}


def image_paths(paths: list) -> list:
    found = []
    for path in map(Path, paths):
        if path.is_dir():
            found.extend(sorted(p for p in path.iterdir() if p.suffix.lower() in IMAGE_SUFFIXES))
        else:
            found.append(path)
    return found


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("paths", nargs="+", help="image files or folders of images")
    parser.add_argument("--key-file", default=KEY_FILE, help="TorchServe's key_file.json (default: repo root)")
    args = parser.parse_args(argv)

    service = MnistService(key_file=args.key_file)
    failures = 0
    for path in image_paths(args.paths):
        try:
            answer = service.predict(path.read_bytes())
        except (OSError, ServiceError) as error:
            print(f"{path}: error: {error}", file=sys.stderr)
            failures += 1
            continue
        digit = answer["digit"]
        print(f"{path}: {digit} ({answer['probabilities'][digit]:.1%})")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
