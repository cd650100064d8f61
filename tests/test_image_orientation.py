"""A picture is read the way up its EXIF tells viewers to show it, as Pillow's own exif_transpose turns it:
the functions, a phone photo through the preprocessing, and through a real TorchServe."""

import base64
import io
import struct

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from bench.hostile_corpus import exif_directory
from client.images import encode
from image_decoding import open_image
from image_orientation import MAX_EXIF_BYTES, ORIENTATION_TAG, orientation_of, upright
from mnist_preprocessing import to_mnist_tensor
from model.loading import load_model
from photo_evaluation.drawing import as_a_camera_stores
from tests.request_bodies import TWO_JPEG

ORIENTATIONS = range(1, 9)


def asymmetric() -> Image.Image:
    """A small RGB picture no turn or mirror leaves the same: each pixel a colour of its own place."""
    rows, columns = np.mgrid[0:24, 0:40]
    return Image.fromarray(np.dstack([rows * 10, columns * 6, (rows + columns) % 7 * 30]).astype(np.uint8), "RGB")


def camera_file(picture: Image.Image, orientation: int, format: str = "PNG", **options) -> bytes:
    """The picture's pixels as a camera stores them for this orientation, tagged, encoded."""
    pixels, exif = as_a_camera_stores(picture, orientation)
    if format == "TIFF":  # the tag is the TIFF's own
        options["tiffinfo"] = {ORIENTATION_TAG: orientation}
    else:
        options["exif"] = exif
    return encode(pixels, format, **options)


def opened_camera_file(picture: Image.Image, orientation: int, format: str = "PNG", **options) -> Image.Image:
    """camera_file, opened and decoded."""
    image = Image.open(io.BytesIO(camera_file(picture, orientation, format, **options)))
    image.load()
    return image


@pytest.mark.parametrize("format", ["PNG", "WEBP", "TIFF", "JPEG"])
@pytest.mark.parametrize("orientation", ORIENTATIONS)
def test_a_picture_is_read_upright_as_viewers_show_it(orientation, format):
    """(Pillow turns a TIFF upright itself as it decodes it, and drops its tag.)"""
    options = {"lossless": True} if format == "WEBP" else {}
    stored = opened_camera_file(asymmetric(), orientation, format, **options)
    read = np.asarray(upright(stored, orientation_of(stored)))
    if format == "JPEG":  # lossy: the pixels Pillow's own exif_transpose shows
        assert np.array_equal(read, np.asarray(ImageOps.exif_transpose(stored)))
    else:  # lossless: the very pixels the camera saw
        assert np.array_equal(read, np.asarray(asymmetric()))


def test_a_picture_without_exif_is_as_stored():
    image = Image.open(io.BytesIO(encode(asymmetric(), "PNG")))
    assert orientation_of(image) == 1 and upright(image, 1) is image


def test_xmp_orientation_counts_where_there_is_no_exif():
    """Pillow also reads tiff:Orientation from a picture's XMP, as some editors write it there."""
    xmp = b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:Description tiff:Orientation="8"/></x:xmpmeta>'
    image = Image.open(io.BytesIO(encode(asymmetric(), "JPEG", xmp=xmp)))
    assert orientation_of(image) == 8


@pytest.mark.parametrize(
    "exif",
    [
        b"not EXIF at all",
        b"II*\x00" + struct.pack("<I", 1_000_000),  # its directory past the end
        exif_directory(3, orientation=0),
        exif_directory(3, orientation=9),
        exif_directory(3, orientation=300),
    ],
    ids=["garbage", "directory-past-the-end", "zero", "nine", "300"],
)
def test_exif_that_does_not_parse_or_says_nothing_valid_is_as_stored(exif):
    image = Image.open(io.BytesIO(encode(asymmetric(), "PNG", exif=exif)))
    image.load()
    assert orientation_of(image) == 1


def test_exif_larger_than_a_jpeg_can_carry_is_not_read():
    """Pillow reads each entry of the first directory in Python: EXIF past what a JPEG's APP1 segment holds
    (no camera writes more) is taken as stored, unread, however it is tagged."""
    entries_within = (MAX_EXIF_BYTES - len(b"Exif\0\0II*\0") - 4 - 2 - 4) // 12
    for entries, orientation in ((entries_within, 6), (entries_within + 1, 1)):
        image = Image.open(io.BytesIO(encode(asymmetric(), "PNG", exif=exif_directory(entries))))
        image.load()
        assert (len(image.info["exif"]) <= MAX_EXIF_BYTES) == (orientation == 6)
        assert orientation_of(image) == orientation


def test_a_phone_photo_stored_turned_is_read_the_way_up_its_exif_says():
    """A phone stores its sensor's pixels and the tag: the 2 on paper is read as viewers show it, whichever
    of the eight ways it was stored. The same pixels without the tag are read otherwise for most of them,
    so it is the tag that turns them."""
    model, two = load_model(), Image.open(io.BytesIO(TWO_JPEG))

    def read(data: bytes) -> int:
        with torch.inference_mode():
            return int(model(to_mnist_tensor(open_image(data)).unsqueeze(0)).argmax())

    tagged = [read(camera_file(two, orientation, "JPEG", quality=90)) for orientation in ORIENTATIONS]
    untagged = [read(encode(as_a_camera_stores(two, o)[0], "JPEG", quality=90)) for o in ORIENTATIONS]
    assert tagged == [2] * 8
    assert untagged.count(2) <= 4, untagged


@pytest.mark.server
def test_through_http_phone_photos_stored_turned_are_read_upright(predict):
    pictures = [camera_file(Image.open(io.BytesIO(TWO_JPEG)), o, "JPEG", quality=90) for o in ORIENTATIONS]
    answer = predict(json={"instances": [{"base64": base64.b64encode(picture).decode()} for picture in pictures]})
    assert answer.status_code == 200, answer.text
    assert [prediction["digit"] for prediction in answer.json()["predictions"]] == [2] * 8
