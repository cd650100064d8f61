"""The metadata a picture carries (PNG text and iCCP, EXIF, ICC profiles, XMP, comments), in every format
that carries it, costs no more than the bounds of handler/image_decoding.py and image_structure.py: up to
its bound a picture is read as its digit, over it the request is refused with 413 saying what was too
large, and what is inflated from a few bytes is refused before it is inflated (docs/security.md, finding 2).

The bound of each carrier: PNG text 256 KiB per compressed chunk inflated and 512 KiB per picture
(Pillow's MAX_TEXT_CHUNK and MAX_TEXT_MEMORY); PNG iCCP 256 KiB inflated; TIFF tags 256 KiB each; GIF
comments the extension blocks before the image; and every picture's image.info (EXIF, ICC, XMP, text,
comments) 2 MiB per request, counted from the file before Pillow opens it and again as Pillow holds it;
a PNG's text, ICC profile and EXIF together 768 KiB inflated. Payloads are written by
Pillow where it can (icc_profile=, exif=, xmp=, comment=, PngInfo, tiffinfo=), by hand where it cannot (a
JPEG's EXIF over many APP1 segments, PNG chunks Pillow would not write).
"""

import tracemalloc
import zlib

import pytest
import torch
from PIL import PngImagePlugin

from bench.hostile_corpus import MAX_BODY, instances, png_chunk
from client.images import encode
from image_decoding import MAX_METADATA_PER_REQUEST, MAX_TEXT_CHUNK, MAX_TEXT_PER_IMAGE, open_request
from image_structure import MAX_GIF_BLOCKS, MAX_PNG_METADATA, MAX_TIFF_TAG_BYTES
from input_errors import PayloadTooLarge
from model.loading import MODEL_DIR, load_model
from request_pipeline import prepare_request
from tests.hostile_images import SEVEN

# The most a JPEG marker segment holds after its marker and length.
MAX_SEGMENT_BODY = 65533
EXIF_HEADER = b"Exif\x00\x00"
XMP_HEADER = b"http://ns.adobe.com/xap/1.0/\x00"
EXTENDED_XMP_HEADER = b"http://ns.adobe.com/xmp/extension/\x00" + b"0" * 32 + bytes(8)  # GUID, full size, offset
# What the docs say a request's metadata peaks at: the per-request bound and one more picture's text.
PROMISED_METADATA_PEAK = MAX_METADATA_PER_REQUEST + MAX_TEXT_PER_IMAGE
# An image.info entry costs a little over its length (a bytes object's header, the format's other fields):
# pictures that must fit the request bound leave this much room each.
INFO_OVERHEAD = 512


@pytest.fixture(scope="module")
def model():
    return load_model(MODEL_DIR / "mnist_cnn.pt")


def digits_read(model, request: dict) -> list:
    """The digit of every picture of the request, through prepare_request and the committed model."""
    prepared = prepare_request(request)
    assert prepared.error is None, prepared.error
    with torch.inference_mode():
        return model(prepared.tensors).argmax(dim=1).tolist()


def refused_with_peak(body: bytes) -> tuple:
    """(the refusal, the most Python memory refusing it held): tracemalloc sees every bytes, str and zlib
    buffer Pillow and the handler allocate; the body itself is made before tracing starts."""
    tracemalloc.start()
    try:
        error = prepare_request({"body": body}).error
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    return error, peak


# --- payload builders -------------------------------------------------------------------------------------


def png_with_text(method: str, size: int, keys=("Comment", "Description"), icc_profile=b"", **options) -> bytes:
    """The seven as a PNG carrying `size` characters of text shared evenly by one chunk per key, written by
    Pillow's PngInfo.<method> (add_text, add_itxt; zip=True compresses them), and an ICC profile if given."""
    info = PngImagePlugin.PngInfo()
    for index, key in enumerate(keys):
        getattr(info, method)(key, "x" * (size // len(keys) + (index < size % len(keys))), **options)
    return encode(SEVEN, pnginfo=info, icc_profile=icc_profile)


def png_at_every_text_bound() -> bytes:
    """The seven as a PNG with all the text and ICC profile a picture may carry: two compressed text chunks
    of MAX_TEXT_CHUNK (MAX_TEXT_PER_IMAGE in all) and an ICC profile of MAX_TEXT_CHUNK."""
    return png_with_text("add_text", MAX_TEXT_PER_IMAGE, icc_profile=bytes(MAX_TEXT_CHUNK), zip=True)


def png_with_chunks(chunks: list) -> bytes:
    """The seven as a PNG with `chunks` (made by bench.hostile_corpus.png_chunk) before its pixel data."""
    seven = encode(SEVEN)
    at = seven.index(b"IDAT") - 4
    return seven[:at] + b"".join(chunks) + seven[at:]


def marker_segments(marker: int, header: bytes, payload: bytes) -> bytes:
    """`payload` cut into JPEG marker segments (0xFF `marker`) as large as a segment holds, each starting
    with `header`: how cameras split an ICC profile over APP2 and how Pillow joins APP1 EXIF segments."""
    step = MAX_SEGMENT_BODY - len(header)
    return b"".join(
        bytes((0xFF, marker)) + (2 + len(header) + len(piece)).to_bytes(2, "big") + header + piece
        for piece in (payload[i : i + step] for i in range(0, len(payload), step))
    )


def jpeg_with(segments: bytes) -> bytes:
    """The seven as a JPEG with `segments` right after its start-of-image marker."""
    jpeg = encode(SEVEN, "JPEG", quality=95)
    return jpeg[:2] + segments + jpeg[2:]


def jpeg_with_exif(size: int) -> bytes:
    """EXIF of `size` bytes over as many APP1 segments as it takes (Pillow reads them as one EXIF block)."""
    return jpeg_with(marker_segments(0xE1, EXIF_HEADER, bytes(size)))


# --- one picture, each carrier at and over its bound ---------------------------------------------------------

# carrier: (picture with `size` bytes of it, the most accepted, the least refused, words of the refusal)
CARRIERS = {
    "png-iCCP": (lambda n: encode(SEVEN, icc_profile=bytes(n)), MAX_TEXT_CHUNK, MAX_TEXT_CHUNK + 1, "per text chunk"),
    "png-compressed-iTXt-xmp": (
        lambda n: png_with_text("add_itxt", n, keys=["XML:com.adobe.xmp"], zip=True),
        MAX_TEXT_CHUNK,
        MAX_TEXT_CHUNK + 1,
        "per text chunk",
    ),
    "png-iTXt-xmp-and-description": (
        lambda n: png_with_text("add_itxt", n, keys=["XML:com.adobe.xmp", "Description"]),
        MAX_TEXT_PER_IMAGE,
        MAX_TEXT_PER_IMAGE + 1,
        f"{MAX_TEXT_PER_IMAGE:,} per image",
    ),
    "png-tEXt": (
        lambda n: png_with_text("add_text", n),
        MAX_TEXT_PER_IMAGE,
        MAX_TEXT_PER_IMAGE + 1,
        f"{MAX_TEXT_PER_IMAGE:,} per image",
    ),
    "png-eXIf": (  # Pillow writes the EXIF without its header: the chunk holds n bytes
        lambda n: encode(SEVEN, exif=EXIF_HEADER + bytes(n)),
        MAX_PNG_METADATA,
        MAX_PNG_METADATA + 1,
        "inflated",
    ),
    "jpeg-exif-over-app1-segments": (
        jpeg_with_exif,
        MAX_METADATA_PER_REQUEST - INFO_OVERHEAD,
        MAX_METADATA_PER_REQUEST + 1,
        "text and metadata",
    ),
    "jpeg-icc-over-app2-segments": (
        lambda n: encode(SEVEN, "JPEG", quality=95, icc_profile=bytes(n)),
        MAX_METADATA_PER_REQUEST - INFO_OVERHEAD,
        MAX_METADATA_PER_REQUEST + 1,
        "text and metadata",
    ),
    **{
        f"webp-{key}": (
            lambda n, key=key: encode(SEVEN, "WEBP", lossless=True, **{key: bytes(n)}),
            MAX_METADATA_PER_REQUEST - INFO_OVERHEAD,
            MAX_METADATA_PER_REQUEST + 1,
            "text and metadata",
        )
        for key in ("icc_profile", "exif", "xmp")
    },
    "tiff-icc-tag": (
        lambda n: encode(SEVEN, "TIFF", icc_profile=bytes(n)),
        MAX_TIFF_TAG_BYTES,
        MAX_TIFF_TAG_BYTES + 1,
        "tag 34675 holds",
    ),
    "tiff-xmp-tag": (
        lambda n: encode(SEVEN, "TIFF", tiffinfo={700: bytes(n)}),
        MAX_TIFF_TAG_BYTES,
        MAX_TIFF_TAG_BYTES + 1,
        "tag 700 holds",
    ),
    # A comment in sub-blocks of 255 bytes and a terminator: MAX_GIF_BLOCKS blocks in all at the bound.
    "gif-comment": (
        lambda n: encode(SEVEN, "GIF", comment=bytes(n)),
        (MAX_GIF_BLOCKS - 1) * 255,
        (MAX_GIF_BLOCKS - 1) * 255 + 1,
        "extension blocks",
    ),
}


@pytest.mark.parametrize("carrier", CARRIERS)
def test_metadata_up_to_its_bound_is_accepted_and_the_digit_read(model, carrier):
    make, most_accepted, _, _ = CARRIERS[carrier]
    assert digits_read(model, {"body": make(most_accepted)}) == [7]


@pytest.mark.parametrize("carrier", CARRIERS)
def test_metadata_over_its_bound_is_refused_with_413_saying_what(carrier):
    make, _, least_refused, words = CARRIERS[carrier]
    error = prepare_request({"body": make(least_refused)}).error
    assert isinstance(error, PayloadTooLarge) and error.status == 413, error
    assert words in str(error), str(error)


# carrier: a picture holding 16 MiB of it once inflated, or 4 MiB as sent
FAR_OVER = {
    "png-iCCP-inflating-to-16MiB": lambda: encode(SEVEN, icc_profile=bytes(16 * 2**20)),
    "png-compressed-iTXt-inflating-to-16MiB": lambda: png_with_text(
        "add_itxt", 16 * 2**20, keys=["XML:com.adobe.xmp"], zip=True
    ),
    "png-zTXt-inflating-to-16MiB": lambda: png_with_text("add_text", 16 * 2**20, keys=["Comment"], zip=True),
    "tiff-icc-tag-of-4MiB": lambda: encode(SEVEN, "TIFF", icc_profile=bytes(4 * 2**20)),
    "tiff-xmp-tag-of-4MiB": lambda: encode(SEVEN, "TIFF", tiffinfo={700: bytes(4 * 2**20)}),
    "gif-comment-of-4MiB": lambda: encode(SEVEN, "GIF", comment=bytes(4 * 2**20)),
}


@pytest.mark.parametrize("carrier", FAR_OVER)
def test_metadata_far_over_its_bound_is_refused_before_it_is_inflated_or_held(carrier):
    """Pillow stops inflating a chunk at MAX_TEXT_CHUNK, and image_structure refuses a TIFF tag or a GIF's
    blocks before Pillow reads them: refusing holds a small part of what accepting would."""
    error, peak = refused_with_peak(FAR_OVER[carrier]())
    assert isinstance(error, PayloadTooLarge), error
    assert peak < 4 * MAX_TEXT_CHUNK, f"{peak:,} bytes held while refusing"


# --- a request of many pictures -------------------------------------------------------------------------------

# A size that fits 32.5 times in the request bound and in one JPEG segment: 32 pictures fit, 33 do not.
ONE_SEGMENT = MAX_METADATA_PER_REQUEST * 2 // 65

# carrier: (a picture with that carrier up to or just under its own bound, the metadata bytes it carries)
EACH_WITHIN_ITS_BOUND = {
    "png-text-and-iCCP-at-their-bounds": (png_at_every_text_bound, MAX_TEXT_PER_IMAGE + MAX_TEXT_CHUNK),
    "png-iCCP-just-under-its-bound": (
        lambda: encode(SEVEN, icc_profile=bytes(MAX_TEXT_CHUNK - INFO_OVERHEAD)),
        MAX_TEXT_CHUNK - INFO_OVERHEAD,
    ),
    "tiff-icc-just-under-the-tag-bound": (
        lambda: encode(SEVEN, "TIFF", icc_profile=bytes(MAX_TIFF_TAG_BYTES - INFO_OVERHEAD)),
        MAX_TIFF_TAG_BYTES - INFO_OVERHEAD,
    ),
    "gif-comment-at-the-block-bound": (
        lambda: encode(SEVEN, "GIF", comment=bytes((MAX_GIF_BLOCKS - 1) * 255)),
        (MAX_GIF_BLOCKS - 1) * 255,
    ),
    "png-eXIf": (lambda: encode(SEVEN, exif=EXIF_HEADER + bytes(ONE_SEGMENT)), ONE_SEGMENT),
    "jpeg-exif": (lambda: encode(SEVEN, "JPEG", quality=95, exif=EXIF_HEADER + bytes(ONE_SEGMENT)), ONE_SEGMENT),
    "jpeg-icc": (lambda: encode(SEVEN, "JPEG", quality=95, icc_profile=bytes(ONE_SEGMENT)), ONE_SEGMENT),
    "webp-xmp": (lambda: encode(SEVEN, "WEBP", lossless=True, xmp=bytes(ONE_SEGMENT)), ONE_SEGMENT),
}


@pytest.mark.parametrize("carrier", EACH_WITHIN_ITS_BOUND)
def test_pictures_each_within_their_own_bound_are_held_to_the_request_bound(model, carrier):
    """Each within its own bound, 64 pictures could still hold tens of MiB (48 MiB of inflated PNG text and
    ICC profiles): the request bound refuses the one picture too many as it is opened, before any is decoded."""
    make, carried = EACH_WITHIN_ITS_BOUND[carrier]
    picture = make()
    fit = MAX_METADATA_PER_REQUEST // carried
    assert 2 <= fit and fit * (carried + INFO_OVERHEAD) <= MAX_METADATA_PER_REQUEST  # the payload's own margin
    assert digits_read(model, {"body": instances([picture] * fit)}) == [7] * fit
    with pytest.raises(PayloadTooLarge, match=f"at most {MAX_METADATA_PER_REQUEST:,} are accepted per request"):
        open_request({"body": instances([picture] * (fit + 1))})  # opens the pictures, decodes none


# --- gaps: bounds the docs promise that the handler does not enforce (docs/security.md, finding 2) ---------


# chunk: (its type, what precedes the inflated bytes): each is inflated to MAX_TEXT_CHUNK bytes by Pillow,
# which then keeps no text of it.
INFLATED_THEN_DROPPED = {
    "repeated-iCCP": (b"iCCP", b"icc\x00\x00"),  # only the last iCCP is kept; every one is inflated
    "zTXt-without-keyword": (b"zTXt", b"\x00\x00"),  # dropped: no keyword
    "iTXt-not-UTF-8": (b"iTXt", b"Comment\x00\x01\x00\x00\x00"),  # dropped: its text is not UTF-8
}


@pytest.mark.parametrize("chunk", INFLATED_THEN_DROPPED)
def test_png_chunks_pillow_inflates_but_does_not_keep_count_towards_the_picture_bound(chunk):
    """Four chunks inflating 1 MiB in all: more than a picture's text and ICC profile may inflate together."""
    kind, head = INFLATED_THEN_DROPPED[chunk]
    inflating = png_chunk(kind, head + zlib.compress(b"\xff" * MAX_TEXT_CHUNK, 9))
    error = prepare_request({"body": png_with_chunks([inflating] * 4)}).error
    assert isinstance(error, PayloadTooLarge) and "inflated" in str(error), error


@pytest.mark.parametrize(
    "marker, header",
    [(0xE1, XMP_HEADER), (0xE1, EXTENDED_XMP_HEADER), (0xFE, b"")],
    ids=["xmp-packets", "extended-xmp", "comments"],
)
def test_jpeg_segments_pillow_keeps_count_towards_the_request_bound(marker, header):
    body = jpeg_with(marker_segments(marker, header, b"x" * 2 * MAX_METADATA_PER_REQUEST))
    error = prepare_request({"body": body}).error
    assert isinstance(error, PayloadTooLarge) and "per request" in str(error), error


# carrier: a picture carrying 7 MB of it (a body just under the 8 MiB request cap)
HELD_BEFORE_REFUSED = {
    "jpeg-exif-over-app1-segments": lambda: jpeg_with_exif(7_000_000),
    "jpeg-icc-over-app2-segments": lambda: encode(SEVEN, "JPEG", quality=95, icc_profile=bytes(7_000_000)),
    "webp-exif": lambda: encode(SEVEN, "WEBP", lossless=True, exif=bytes(7_000_000)),
    "png-eXIf": lambda: encode(SEVEN, exif=EXIF_HEADER + bytes(7_000_000)),
}


@pytest.mark.parametrize("carrier", HELD_BEFORE_REFUSED)
def test_metadata_over_the_request_bound_is_refused_before_it_is_held(carrier):
    body = HELD_BEFORE_REFUSED[carrier]()
    assert len(body) < MAX_BODY
    error, peak = refused_with_peak(body)
    assert isinstance(error, PayloadTooLarge), error
    assert peak < PROMISED_METADATA_PEAK, f"{peak:,} bytes held while refusing"
