"""Every accepted request form and every refused one, without TorchServe."""

import base64
import io
import json

import pytest
from PIL import Image

from image_decoding import MAX_INSTANCES, MAX_PIXELS, decode_request
from input_errors import InvalidInput, PayloadTooLarge, UnsupportedImage
from tests.conftest import IMAGES, SEVEN_PNG, encode

SEVEN_B64 = base64.b64encode(SEVEN_PNG).decode()


def one_image(request: dict) -> Image.Image:
    decoded = decode_request(request)
    assert not decoded.many and len(decoded.images) == 1
    return decoded.images[0]


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
        pytest.param(json_body({"base64": "\n".join(SEVEN_B64[i : i + 60] for i in range(0, len(SEVEN_B64), 60))}), id="wrapped-lines"),
        pytest.param(json_body({"base64": base64.urlsafe_b64encode(SEVEN_PNG).decode().rstrip("=")}), id="urlsafe-no-padding"),
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
    decoded = decode_request(json_body({"instances": [{"base64": SEVEN_B64}, base64.b64encode(other).decode(), {"b64": SEVEN_B64}]}))
    assert decoded.many
    assert [image.size for image in decoded.images] == [(28, 28), (5, 3), (28, 28)]


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
    ({"body": b"[" * 100_000 + b"]" * 100_000}, InvalidInput, "does not parse"),
    ({"body": b"\x00\x01\x02 hello"}, UnsupportedImage, "not an image"),
    ({"body": SEVEN_PNG[: len(SEVEN_PNG) // 2]}, InvalidInput, "truncated or corrupt"),
    ({"body": SEVEN_PNG[:40]}, UnsupportedImage, "not an image"),
    ({"first": SEVEN_PNG, "second": SEVEN_PNG}, InvalidInput, "form fields: first, second"),
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


def test_status_codes_are_4xx():
    for _, error_type, _ in BAD_REQUESTS:
        assert 400 <= error_type.status < 500


def test_pixel_budget_is_per_request_not_per_image():
    """Many large images would each pass the per-image limit, but decoding them all is one slow request."""
    side = 3000  # 9 Mpx each: one is fine, two are over the 16.7 Mpx budget
    big = base64.b64encode(encode(Image.new("1", (side, side)))).decode()
    assert len(decode_request(json_body({"instances": [big]})).images) == 1
    with pytest.raises(PayloadTooLarge, match="pixels in one request"):
        decode_request(json_body({"instances": [big, big]}))
