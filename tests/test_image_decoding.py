"""Every accepted request form and every refused one, without TorchServe."""

import base64
import io
import json
import math

import numpy as np
import pytest
from PIL import Image

import request_pipeline
from bench.hostile_corpus import instances
from client.images import encode
from image_decoding import (
    MAX_DECODING_MEMORY,
    MAX_METADATA_PER_REQUEST,
    MAX_PIXELS,
    MAX_SAMPLE_BYTES,
    MAX_TEXT_CHUNK,
    MAX_TEXT_PER_IMAGE,
    open_request,
)
from input_errors import (
    ACCEPTED_FORMATS,
    MAX_MESSAGE_CHARS,
    MAX_QUOTED_CHARS,
    InvalidInput,
    PayloadTooLarge,
    UnsupportedImage,
    quoted,
)
from mnist_preprocessing import to_mnist_tensor
from request_pipeline import prepare_request
from tests.conftest import IMAGES, SEVEN_PNG
from tests.hostile_images import SEVEN, png_with_text
from wire_format import MAX_INSTANCES, PREDICTIONS, SINGLE, read_request

SEVEN_B64 = base64.b64encode(SEVEN_PNG).decode()


def decode_request(request: dict) -> list:
    """Every picture of the request, opened and decoded (the pipeline decodes them one at a time)."""
    opened = open_request(request)
    return [opened.decode(picture) for picture in opened.pictures]


def one_image(request: dict) -> Image.Image:
    assert read_request(request).form is SINGLE
    opened = open_request(request)
    assert len(opened.pictures) == 1
    return opened.decode(opened.pictures[0])


def same_pixels(image: Image.Image, reference: bytes = SEVEN_PNG) -> bool:
    return image.tobytes() == Image.open(io.BytesIO(reference)).tobytes()


def json_body(document) -> dict:
    return {"body": json.dumps(document).encode()}


@pytest.mark.parametrize(
    "request_",
    [
        pytest.param({"body": SEVEN_PNG}, id="raw-png-body"),
        pytest.param({"body": bytearray(SEVEN_PNG)}, id="raw-bytearray-body"),
        pytest.param({"file": SEVEN_PNG}, id="multipart-any-field-name"),
        pytest.param({"data": SEVEN_PNG}, id="multipart-data-field"),
        pytest.param(json_body({"base64": SEVEN_B64}), id="json-base64"),
        pytest.param(json_body({"data": SEVEN_B64}), id="json-data"),
        pytest.param(json_body({"b64": SEVEN_B64}), id="json-b64"),
        pytest.param(json_body({"base64": "data:image/png;base64," + SEVEN_B64}), id="data-uri"),
        pytest.param(
            json_body({"base64": "\n".join(SEVEN_B64[i : i + 60] for i in range(0, len(SEVEN_B64), 60))}),
            id="wrapped-lines",
        ),
        pytest.param(
            json_body({"base64": base64.urlsafe_b64encode(SEVEN_PNG).decode().rstrip("=")}), id="urlsafe-no-padding"
        ),
        pytest.param(json_body(SEVEN_B64), id="json-string"),
        pytest.param({"body": SEVEN_B64.encode()}, id="plain-base64-body"),
        pytest.param({"body": ("data:image/png;base64," + SEVEN_B64).encode()}, id="data-uri-body"),
        pytest.param({"body": {"base64": SEVEN_B64}}, id="already-parsed-json"),
        pytest.param({"body": SEVEN_B64}, id="already-decoded-text"),
    ],
)
def test_accepted_single_image_forms(request_):
    assert same_pixels(one_image(request_))


def test_instances_come_back_in_order():
    other = encode(Image.new("L", (5, 3), 9))
    request = json_body({"instances": [{"base64": SEVEN_B64}, base64.b64encode(other).decode(), {"b64": SEVEN_B64}]})
    assert read_request(request).form is PREDICTIONS
    opened = open_request(request)
    assert [opened.decode(picture).size for picture in opened.pictures] == [(28, 28), (5, 3), (28, 28)]


@pytest.mark.parametrize("format", ["JPEG", "GIF", "BMP", "TIFF", "WEBP"])
def test_other_image_formats_as_raw_bodies(format):
    image = Image.open(IMAGES / "seven.png")
    assert one_image({"body": encode(image, format)}).size == (28, 28)


def test_gif_first_frame_of_an_animation():
    frames = [Image.new("L", (16, 16), shade) for shade in (10, 200)]
    data = encode(frames[0], "GIF", save_all=True, append_images=frames[1:])
    assert one_image({"body": data}).size == (16, 16)


BAD_REQUESTS = [
    ({"body": b""}, InvalidInput, "empty"),
    ({"body": b"   \n"}, InvalidInput, "empty"),
    (json_body({"base64": "not base64 at all!"}), InvalidInput, "base64"),
    (json_body({"base64": "QUJD"}), UnsupportedImage, "not an image"),
    (json_body({"base64": ""}), InvalidInput, "empty"),
    (json_body({"base64": "é"}), InvalidInput, "non-ASCII"),
    (json_body({"image": SEVEN_B64}), InvalidInput, '"base64"'),
    (json_body({"base64": 42}), InvalidInput, "no base64 string"),
    (json_body([1, 2]), InvalidInput, "no base64 string"),
    (json_body({"instances": []}), InvalidInput, "non-empty list"),
    (json_body({"instances": "abc"}), InvalidInput, "non-empty list"),
    (json_body({"instances": [{"base64": SEVEN_B64}, {"nope": 1}]}), InvalidInput, "instances[1]"),
    (json_body({"instances": [SEVEN_B64] * (MAX_INSTANCES + 1)}), PayloadTooLarge, f"at most {MAX_INSTANCES}"),
    ({"body": b'{"base64": '}, InvalidInput, "does not parse"),
    ({"body": b"[" * 4_000 + b"]" * 4_000}, InvalidInput, "does not parse"),  # deeper than Python recurses
    ({"body": b"[" * 100_000 + b"]" * 100_000}, PayloadTooLarge, "opening brackets"),  # counted before parsing
    ({"body": b"\x00\x01\x02 hello"}, UnsupportedImage, "not an image"),
    ({"body": SEVEN_PNG[: len(SEVEN_PNG) // 2]}, InvalidInput, "truncated or corrupt"),
    ({"body": SEVEN_PNG[:40]}, UnsupportedImage, "not an image"),
    ({"first": SEVEN_PNG, "second": SEVEN_PNG}, InvalidInput, "form fields: 'first', 'second'"),
    ({}, InvalidInput, "Content-Type: image/png"),
]


@pytest.mark.parametrize("request_, error_type, words", BAD_REQUESTS, ids=lambda value: None)
def test_refused_requests_say_what_is_wrong(request_, error_type, words):
    with pytest.raises(error_type) as refused:
        decode_request(request_)
    assert words in str(refused.value)
    assert refused.value.as_json()["code"] == error_type.status


def test_pixel_bomb_is_refused_from_the_header():
    side = int(MAX_PIXELS**0.5) + 1
    bomb = encode(Image.new("1", (side, side)))  # a few kB that would expand to side*side pixels
    assert len(bomb) < 100_000
    with pytest.raises(PayloadTooLarge, match="pixels are accepted"):
        decode_request({"body": bomb})


def test_pixel_budget_is_per_request_not_per_image():
    """Many large images would each pass the per-image limit, but decoding them all is one slow request."""
    side = 3000  # 9 Mpx each: one is fine, two are over the 16.7 Mpx budget
    big = base64.b64encode(encode(Image.new("1", (side, side)))).decode()
    assert len(decode_request(json_body({"instances": [big]}))) == 1
    with pytest.raises(PayloadTooLarge, match="pixels in one request"):
        decode_request(json_body({"instances": [big, big]}))


# --- What decoding a picture costs: pixel data, memory, reduced JPEG decoding -----------------------------


def test_a_large_jpeg_is_decoded_at_a_reduced_scale_that_divides_the_preprocessings_own():
    """4000x3000 is reduced 4 times by the preprocessing: libjpeg decodes it at 1/4 scale, as grey. 3000x2000
    is reduced 3 times: no DCT scale divides 3, so it is decoded whole. The picture keeps its size as sent."""
    for size, decoded_size, mode in (
        ((4000, 3000), (1000, 750), "L"),
        ((3000, 2000), (3000, 2000), "RGB"),
        ((6000, 1500), (3000, 750), "L"),
        ((900, 600), (900, 600), "RGB"),
    ):
        opened = open_request({"body": encode(Image.new("RGB", size, (200, 190, 180)), "JPEG")})
        (picture,) = opened.pictures
        image = opened.decode(picture)
        assert (picture.size, image.size, image.mode) == (size, decoded_size, mode)


def test_a_refusal_names_the_size_sent_not_the_size_decoded():
    prepared = prepare_request({"body": encode(Image.new("RGB", (4000, 3000), (200, 190, 180)), "JPEG")})
    assert prepared.error.status == 422 and "the 4000x3000 image" in str(prepared.error)


@pytest.mark.parametrize(
    "image, bits",
    [
        (Image.new("RGB", (2900, 2900)), 24),
        (Image.new("RGBA", (2520, 2520)), 32),
        (Image.new("LA", (2520, 2520)), 32),  # PIL holds grey and alpha in 4 bytes a pixel, and reduces them as RGBA
    ],
    ids=["rgb", "rgba", "grey-alpha"],
)
def test_lossless_pictures_are_accepted_up_to_their_pixel_data_bound(image, bits):
    with pytest.raises(PayloadTooLarge, match=f"MiB of pixel data \\({bits} bits a pixel\\)"):
        open_request({"body": encode(image)})
    smaller = image.resize((image.width - 30, image.height - 30))
    assert math.ceil(smaller.width * smaller.height * bits / 8) <= MAX_SAMPLE_BYTES
    open_request({"body": encode(smaller)})


def test_sixteen_bit_channels_count_twice_and_a_transparent_palette_counts_as_rgba():
    grey16 = Image.fromarray(np.zeros((3700, 3700), dtype=np.uint16))
    with pytest.raises(PayloadTooLarge, match="16 bits a pixel"):
        open_request({"body": encode(grey16)})
    open_request({"body": encode(Image.new("L", (3700, 3700)))})
    palette = Image.new("L", (2600, 2600)).quantize(4)
    open_request({"body": encode(palette)})
    with pytest.raises(PayloadTooLarge, match="32 bits a pixel"):
        open_request({"body": encode(palette, transparency=0)})


def test_what_decoding_holds_is_bounded_before_the_decoder_allocates_it():
    """WebP's decoder allocates two RGBA canvases when the file is opened, a progressive JPEG's decoder
    buffers all its coefficients: both are refused from their headers."""
    with pytest.raises(
        PayloadTooLarge, match="canvases its decoder allocates when opened"
    ):  # 12 bytes a pixel: before opening
        open_request({"body": encode(Image.new("RGB", (2400, 2400)), "WEBP", quality=50)})
    with pytest.raises(PayloadTooLarge, match="image and the decoder's buffers"):  # with the image's 4: once opened
        open_request({"body": encode(Image.new("RGB", (2100, 2100)), "WEBP", quality=50)})
    open_request({"body": encode(Image.new("RGB", (2000, 2000)), "WEBP", quality=50)})
    # Every picture of a request is opened before the first is read: their canvases add up.
    webp = base64.b64encode(encode(Image.new("RGB", (600, 600)), "WEBP", quality=50)).decode()
    open_request(json_body({"instances": [webp] * 15}))
    with pytest.raises(PayloadTooLarge, match="with the request's other pictures'"):
        open_request(json_body({"instances": [webp] * 16}))
    cmyk = encode(Image.new("CMYK", (3000, 3000)), "JPEG", progressive=True)
    with pytest.raises(PayloadTooLarge, match=f"at most {MAX_DECODING_MEMORY // 2**20} MiB"):
        open_request({"body": cmyk})


def test_a_requests_pictures_are_decoded_one_at_a_time(monkeypatch):
    """Each picture is released before the next is decoded: a request holds one decoded picture."""
    seen = []

    def read(image, size=None):
        for earlier in seen:
            with pytest.raises(ValueError, match="closed image"):
                earlier.getbbox()
        seen.append(image)
        return to_mnist_tensor(image, size)

    monkeypatch.setattr(request_pipeline, "to_mnist_tensor", read)
    prepared = prepare_request(json_body({"instances": [SEVEN_B64] * 3}))
    assert prepared.error is None and prepared.tensors.shape == (3, 1, 28, 28) and len(seen) == 3


# --- PNG text and metadata (finding 2) --------------------------------------------------------------------


def test_ordinary_png_text_is_accepted():
    """An XMP packet or a comment of a few kB, as editors write them."""
    image = one_image({"body": png_with_text(chunks=3, chunk_size=20_000)})
    assert same_pixels(image.convert("L"), encode(SEVEN))


@pytest.mark.parametrize("after_pixels", [False, True], ids=["before-pixels", "after-pixels"])
def test_a_text_chunk_over_the_chunk_bound_is_refused(after_pixels):
    with pytest.raises(PayloadTooLarge, match="per text chunk"):
        decode_request({"body": png_with_text(chunks=1, chunk_size=MAX_TEXT_CHUNK + 1, after_pixels=after_pixels)})


def test_text_chunks_over_the_image_bound_are_refused():
    chunks = MAX_TEXT_PER_IMAGE // (MAX_TEXT_CHUNK // 2) + 1
    with pytest.raises(PayloadTooLarge, match="per image"):
        decode_request({"body": png_with_text(chunks=chunks, chunk_size=MAX_TEXT_CHUNK // 2)})


def test_text_of_a_request_is_bounded_in_all():
    png = png_with_text(chunks=1, chunk_size=MAX_TEXT_CHUNK // 2)
    fit = MAX_METADATA_PER_REQUEST // (MAX_TEXT_CHUNK // 2) - 1
    assert len(decode_request({"body": instances([png] * fit)})) == fit
    with pytest.raises(PayloadTooLarge, match="per request"):
        decode_request({"body": instances([png] * (fit + 2))})


# --- Error messages (finding 3) ---------------------------------------------------------------------------


def test_messages_are_cut_to_their_bound():
    assert len(str(InvalidInput("x" * 10 * MAX_MESSAGE_CHARS))) == MAX_MESSAGE_CHARS
    assert str(InvalidInput("short")) == "short"


def test_quoted_fragments_are_escaped_and_cut():
    assert quoted("first") == "'first'"
    fragment = quoted("\x01\n\x7f" * 1000)
    assert fragment.isprintable() and len(fragment) == MAX_QUOTED_CHARS and fragment.endswith("...")
    assert quoted(b"\xff" * 1000).startswith("b'\\xff")


def test_many_form_fields_are_counted_not_listed():
    with pytest.raises(InvalidInput) as refused:
        decode_request({f"field{i}": b"1" for i in range(1000)})
    assert "1,000 form fields" in str(refused.value) and "and 995 more" in str(refused.value)


# The requests whose refusals are the longest the service writes: the most client text each can quote.
LONGEST_REFUSALS = [
    {f"field {index} " + "\x01" * 200: b"x" for index in range(10_000)},  # form fields, long names
    {"body": b'{"base64": "' + "\u00e9".encode() * 10_000},  # JSON that does not parse: its error quoted
    {"body": json.dumps({"instances": [{"b64": 7}] * MAX_INSTANCES}).encode()},
    {"body": json.dumps({"instances": [SEVEN_B64] * (MAX_INSTANCES + 1)}).encode()},
    {"body": b"not base64 " * 10_000},
    {"body": encode(Image.new("L", (40, 40), 255))},  # blank: no digit
    {"body": SEVEN_PNG[:200]},  # truncated
]


def test_the_longest_messages_are_not_cut():
    """Every message the service writes, with as much client text as it quotes, fits MAX_MESSAGE_CHARS
    whole: only a message over the bound is cut (to MAX_MESSAGE_CHARS, ending in "...")."""
    requests = LONGEST_REFUSALS + [request for request, _, _ in BAD_REQUESTS]
    messages = [str(prepare_request(request).error) for request in requests]
    longest = max(messages, key=len)
    assert len(longest) < MAX_MESSAGE_CHARS, longest
    assert len(longest) > 500  # the form-fields message quoting five long names: the real worst case


# --- Accepted formats (finding 10) ------------------------------------------------------------------------


def test_accepted_formats_are_pillow_formats_named_in_the_refusal():
    Image.init()
    assert set(ACCEPTED_FORMATS) <= set(Image.OPEN)
    refusal = str(prepare_request({"body": encode(SEVEN.convert("RGB"), "PCX")}).error)
    assert all(name in refusal for name in ("PNG", "JPEG", "GIF", "BMP", "TIFF", "WebP")), refusal


OTHER_FORMATS = ["ICO", "ICNS", "PCX", "PPM", "TGA", "SGI", "DDS", "QOI", "MSP", "JPEG2000", "SPIDER", "PDF"]


@pytest.mark.parametrize("format", OTHER_FORMATS)
def test_formats_pillow_reads_but_the_service_does_not_accept_are_refused(format):
    image = SEVEN.convert("1" if format == "MSP" else "RGB")
    data = encode(image, format)  # the pinned Pillow writes every one of them
    if format != "PDF":  # Pillow writes PDF but does not read it
        assert Image.open(io.BytesIO(data)).format == format  # Pillow alone would open it
    with pytest.raises(UnsupportedImage, match="PNG/JPEG/GIF/BMP/TIFF/WebP"):
        decode_request({"body": data})
    assert UnsupportedImage.status == 415
