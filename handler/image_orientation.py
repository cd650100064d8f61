"""Which way up a picture is meant to be seen: a camera stores its sensor's pixels as they came and writes
in the EXIF Orientation tag how a viewer turns or mirrors them upright. A phone held upright writes its
landscape pixels and "turn a quarter right"; every viewer shows the picture turned, so that is the picture
its sender saw, and the digit they mean.
"""

import warnings

from PIL import ExifTags, Image

ORIENTATION_TAG = ExifTags.Base.Orientation  # EXIF and TIFF tag 274: 1-8, 1 meaning upright as stored
# What a viewer does to the stored pixels for each value of the tag (EXIF 2.32, 4.6.4 A, "Orientation").
_TO_UPRIGHT = {
    2: Image.Transpose.FLIP_LEFT_RIGHT,
    3: Image.Transpose.ROTATE_180,
    4: Image.Transpose.FLIP_TOP_BOTTOM,
    5: Image.Transpose.TRANSPOSE,
    6: Image.Transpose.ROTATE_270,
    7: Image.Transpose.TRANSVERSE,
    8: Image.Transpose.ROTATE_90,
}
# Cameras write EXIF into a JPEG's APP1 segment, which holds at most 65,533 bytes with its "Exif" header; PNG
# and WebP exporters copy it. Pillow reads every entry of its first directory in Python, tenths of a CPU-second
# for the 786 KB a PNG may carry: larger EXIF is not read, and the picture is taken as stored.
MAX_EXIF_BYTES = 65533


def orientation_of(image: Image.Image) -> int:
    """The picture's EXIF Orientation (Pillow reads it from the file's EXIF, or its XMP where that has
    one); 1, as stored, where it has none, a value outside 1-8, or EXIF that does not parse: viewers show
    such a picture as stored too. EXIF over MAX_EXIF_BYTES is not read."""
    if _exif_bytes(image) > MAX_EXIF_BYTES:
        return 1
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # Pillow warns of each corrupt entry it skips
            orientation = image.getexif().get(ORIENTATION_TAG, 1)
    except Exception:  # Pillow's EXIF reader raises many types on malformed bytes (SyntaxError, struct.error...)
        return 1
    return orientation if isinstance(orientation, int) and orientation in _TO_UPRIGHT else 1


def upright(image: Image.Image, orientation: int) -> Image.Image:
    """The image turned or mirrored as a viewer shows a picture of this orientation (a copy; the image
    itself for 1)."""
    transpose = _TO_UPRIGHT.get(orientation)
    return image if transpose is None else image.transpose(transpose)


def _exif_bytes(image: Image.Image) -> int:
    """The size of the EXIF Pillow would read: the file's own, or ImageMagick's hex copy in PNG text."""
    return max(len(image.info.get("exif") or b""), len(image.info.get("Raw profile type exif") or "") // 2)
