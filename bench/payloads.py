"""What the benchmarks send: one MNIST test digit, as a 28x28 PNG and as a 280x280 photo-like picture, or
as phone photos of a page (1 MP and 12 MP JPEGs, made on demand: the 12 MP one takes seconds), and the JSON
bodies built from them (hey reads them from files with -D)."""

import base64
import functools
import json
from pathlib import Path

from PIL import Image, ImageOps

from client.images import encode
from photo_evaluation.make_photos import phone_photo
from training.data import DEFAULT_DATA_ROOT, mnist

BATCHED_COUNTS = (8, 32, 64)  # images in the `instances` bodies
PHONE_PHOTOS = {"phone_1mp": (1152, 864), "phone_12mp": (4000, 3000)}  # width, height


@functools.cache
def sample_digit() -> tuple:
    """The first MNIST test digit, (PIL image, label): what every payload of the bench shows."""
    return mnist(DEFAULT_DATA_ROOT, train=False)[0]


def sample_images() -> dict:
    """The payloads: an MNIST 28x28 PNG, and the same digit as a 280x280 RGB picture, dark on white."""
    digit, _ = sample_digit()
    photo = ImageOps.invert(digit).resize((280, 280), Image.Resampling.BICUBIC).convert("RGB")
    return {"mnist_28": encode(digit), "photo_280": encode(photo)}


def phone_photos() -> dict:
    """The digit in phone photos of a page, {name: JPEG bytes}, PHONE_PHOTOS' sizes
    (photo_evaluation.make_photos.phone_photo)."""
    digit, _ = sample_digit()
    return {name: phone_photo(digit, width, height) for name, (width, height) in PHONE_PHOTOS.items()}


def write_phone_bodies(folder: Path) -> dict:
    """phone_photos() as JSON {"base64": ...} bodies written into `folder`, for hey's -D: {name: path}."""
    paths = {}
    for name, data in phone_photos().items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_text(json.dumps({"base64": base64.b64encode(data).decode()}))
    return paths


def json_bodies() -> dict:
    """The JSON request bodies, {name: bytes}: `mnist_28` and `photo_280` as {"base64": ...};
    `instances_8`, `instances_32`, `instances_64`: that many 28x28 PNGs in one request."""
    b64 = {name: base64.b64encode(data).decode() for name, data in sample_images().items()}
    bodies = {name: {"base64": text} for name, text in b64.items()}
    for count in BATCHED_COUNTS:
        bodies[f"instances_{count}"] = {"instances": [{"base64": b64["mnist_28"]}] * count}
    return {name: json.dumps(body).encode() for name, body in bodies.items()}


def write_bodies(folder: Path) -> dict:
    """json_bodies() written into `folder`, for hey's -D: {name: path}."""
    paths = {}
    for name, body in json_bodies().items():
        paths[name] = folder / f"{name}.json"
        paths[name].write_bytes(body)
    return paths
