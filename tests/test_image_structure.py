"""handler/image_structure.py: each format's structure is walked and bounded before any decoder sees it.
The payloads come from bench/hostile_corpus.py, the adversarial corpus's own generators."""

import io

import numpy as np
import pytest
from PIL import Image

from bench.hostile_corpus import (
    gif_with_extension_blocks,
    jpeg_segments,
    jpeg_tiles_in_tiff,
    jpeg_with_comments,
    png_file,
    progressive_jpeg_with_scans,
    rle8_bmp,
    tiff_with_many_strips,
    tiff_with_many_tags,
)
from client.images import encode
from image_structure import (
    MAX_GIF_BLOCKS,
    MAX_JPEG_COEFFICIENT_VISITS,
    MAX_JPEG_SCANS,
    MAX_JPEG_SEGMENTS,
    MAX_PNG_CHUNKS,
    MAX_TIFF_TAGS,
    gif_blocks_before_image,
    inspect,
    jpeg_structure,
    png_chunk_count,
    webp_size,
)
from input_errors import InvalidInput, PayloadTooLarge, UnsupportedImage
from tests.hostile_images import SEVEN

SEVEN_ARRAY = np.asarray(SEVEN)

# --- JPEG ---------------------------------------------------------------------------------------------------


def test_scans_of_baseline_and_progressive_jpegs_are_counted():
    assert jpeg_structure(encode(SEVEN, "JPEG")).scans == 1
    progressive = encode(SEVEN.convert("RGB"), "JPEG", progressive=True)
    assert jpeg_structure(progressive).scans == sum(marker == 0xDA for marker, _ in jpeg_segments(progressive)) == 10


def test_a_progressive_jpegs_work_is_its_blocks_times_each_scans_spectral_band():
    """libjpeg's standard grey script: DC, AC 1-5, AC 6-63, AC 1-63 refined, DC refined, AC 1-63 refined:
    191 coefficients for each of the 64 blocks of a 64x64 picture; buffered at 2 bytes a coefficient."""
    found = jpeg_structure(encode(Image.new("L", (64, 64), 90), "JPEG", progressive=True))
    assert (found.progressive, found.scans, found.coefficient_visits, found.coefficient_bytes) == (
        True,
        6,
        64 * 191,
        64 * 64 * 2,
    )
    baseline = jpeg_structure(encode(Image.new("L", (64, 64), 90), "JPEG"))
    assert (baseline.progressive, baseline.coefficient_visits, baseline.coefficient_bytes) == (False, 0, 0)


def test_markers_inside_segments_and_after_the_end_are_not_counted():
    """An EXIF thumbnail is a whole JPEG inside APP1, and a comment may hold any bytes: skipped by their
    length. Bytes after EOI are never read by libjpeg."""
    many_scans = progressive_jpeg_with_scans(64, MAX_JPEG_SCANS)
    photo = encode(SEVEN.convert("RGB"), "JPEG")
    # APP1 holding a JPEG thumbnail with 38 scans, and a COM segment of SOS markers.
    app1 = b"\xff\xe1" + (2 + 6 + len(many_scans)).to_bytes(2, "big") + b"Exif\x00\x00" + many_scans
    comment = b"\xff\xda" * 100
    com = b"\xff\xfe" + (2 + len(comment)).to_bytes(2, "big") + comment
    dressed = photo[:2] + app1 + com + photo[2:] + many_scans
    assert jpeg_structure(many_scans).scans > MAX_JPEG_SCANS
    assert jpeg_structure(dressed).scans == 1
    inspect(dressed)


def test_a_jpeg_with_too_many_scans_is_refused_before_decoding():
    bomb = progressive_jpeg_with_scans(64, MAX_JPEG_SCANS)
    direct = Image.open(io.BytesIO(bomb))
    direct.load()  # a JPEG libjpeg decodes in full: only the scan bound refuses it
    with pytest.raises(PayloadTooLarge, match=f"at most {MAX_JPEG_SCANS} scans are accepted"):
        inspect(bomb)
    inspect(progressive_jpeg_with_scans(64, MAX_JPEG_SCANS - 10))


def test_scans_within_the_count_are_refused_when_they_walk_too_many_coefficients():
    """Eight full refinement scans of a 4096x4096 grey picture: 14 scans in all, 17 million coefficients
    each; at 1024x1024 the same script walks 16 times fewer."""
    heavy = progressive_jpeg_with_scans(4096, 8)
    assert jpeg_structure(heavy).scans < MAX_JPEG_SCANS
    with pytest.raises(PayloadTooLarge, match="walk more than"):
        inspect(heavy)
    light = progressive_jpeg_with_scans(1024, 8)
    assert jpeg_structure(light).coefficient_visits < MAX_JPEG_COEFFICIENT_VISITS
    inspect(light)


def test_a_jpeg_of_a_million_comments_is_refused_after_counting_past_the_bound():
    assert jpeg_structure(jpeg_with_comments(1_000_000)).segments == MAX_JPEG_SEGMENTS + 1  # stopped there
    with pytest.raises(PayloadTooLarge, match="marker segments"):
        inspect(jpeg_with_comments(MAX_JPEG_SEGMENTS))
    inspect(jpeg_with_comments(MAX_JPEG_SEGMENTS - 10))


# --- PNG, GIF, BMP, WebP -----------------------------------------------------------------------------------


def test_a_png_of_too_many_chunks_is_refused():
    ordinary = png_file(SEVEN_ARRAY, 0, 8)
    assert png_chunk_count(ordinary) == 3  # IHDR, IDAT, IEND
    assert png_chunk_count(png_file(SEVEN_ARRAY, 0, 8, empty_idats=600_000)) == MAX_PNG_CHUNKS + 1  # stopped
    inspect(png_file(SEVEN_ARRAY, 0, 8, empty_idats=MAX_PNG_CHUNKS - 3))
    with pytest.raises(PayloadTooLarge, match="chunks"):
        inspect(png_file(SEVEN_ARRAY, 0, 8, empty_idats=MAX_PNG_CHUNKS - 2))


def test_a_gif_of_too_many_extension_blocks_is_refused():
    assert gif_blocks_before_image(encode(SEVEN, "GIF")) < 10
    inspect(gif_with_extension_blocks(MAX_GIF_BLOCKS - 10))
    with pytest.raises(PayloadTooLarge, match="extension blocks"):
        inspect(gif_with_extension_blocks(MAX_GIF_BLOCKS))


def test_run_length_bmps_are_refused_and_uncompressed_ones_pass():
    with pytest.raises(UnsupportedImage, match="RLE8"):
        inspect(rle8_bmp(16, 16))
    inspect(encode(SEVEN, "BMP"))


@pytest.mark.parametrize(
    "options",
    [{"lossless": True}, {"quality": 80}, {"quality": 80, "exif": b"Exif\x00\x00"}],
    ids=["lossless", "lossy", "extended"],
)
def test_a_webps_canvas_size_is_read_from_its_first_chunk(options):
    data = encode(Image.new("RGB", (123, 45), (9, 9, 9)), "WEBP", **options)
    assert webp_size(data) == (123, 45)
    assert inspect(data).open_bytes == 12 * 123 * 45


# --- TIFF --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "options",
    [
        {},
        {"compression": "tiff_lzw"},
        {"compression": "tiff_adobe_deflate", "tile": (16, 16)},
        {"compression": "packbits"},
        {"compression": "group4"},
    ],
    ids=["uncompressed", "lzw", "tiled-deflate", "packbits", "group4"],
)
def test_ordinary_tiffs_pass(options):
    image = SEVEN.convert("1") if options.get("compression") == "group4" else SEVEN
    inspect(encode(image, "TIFF", **options))


def test_a_tiff_listing_more_strips_than_its_size_needs_is_refused():
    inspect(tiff_with_many_strips(2))  # 1x2 pixels, one row a strip: two strips
    with pytest.raises(InvalidInput, match="lists 1,000 strips where its 1x2 pixels need 2"):
        inspect(tiff_with_many_strips(1_000))
    with pytest.raises(PayloadTooLarge, match="bytes; at most"):  # the strip list alone is over the tag bound
        inspect(tiff_with_many_strips(1_000_000))


def test_a_tiff_of_too_many_tags_is_refused():
    inspect(tiff_with_many_tags(MAX_TIFF_TAGS - 20))
    with pytest.raises(PayloadTooLarge, match="tags"):
        inspect(tiff_with_many_tags(MAX_TIFF_TAGS))


def test_jpeg_inside_tiff_and_bigtiff_are_refused():
    with pytest.raises(UnsupportedImage, match="compressed with JPEG"):
        inspect(jpeg_tiles_in_tiff(progressive_jpeg_with_scans(16, 90)))
    with pytest.raises(UnsupportedImage, match="BigTIFF"):
        inspect(b"II+\x00" + bytes(12))


def test_bytes_of_no_accepted_format_pass_untouched():
    assert inspect(b"\x00\x01 hello") == inspect(b"")
