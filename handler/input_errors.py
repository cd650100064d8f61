"""Every answer that is not a prediction, each mapped to its HTTP status in this one place: the ways a
request is refused (InputError, 4xx) and the one fault (InternalError, 500).

request_pipeline.prepare_request turns whatever reading a request raises into one of these, for that
request alone: one bad request in a batch fails alone. Messages say what was wrong and what is accepted.
They are bounded: a
fragment of the client's request is only ever shown through quoted(), and a whole message is cut at
MAX_MESSAGE_CHARS, so no answer can outgrow TorchServe's max_response_size (6.5 MB by default; an answer
over it makes TorchServe report "Worker died" with a 500).
"""

from http import HTTPStatus

# The image formats the service decodes, as Pillow's format IDs -> the names messages use. Image.open is
# given only these (image_decoding._open): any other format Pillow knows (EPS, which runs Ghostscript on
# the client's PostScript; ICNS/ICO, which hold whole PNGs; PSD, ...) is refused with a 415 before Pillow
# looks further than the first bytes. A JPEG with MPO frames opens as Pillow's "MPO"; only its first frame,
# itself a JPEG, is decoded.
ACCEPTED_FORMATS = {"PNG": "PNG", "JPEG": "JPEG", "GIF": "GIF", "BMP": "BMP", "TIFF": "TIFF", "WEBP": "WebP"}
ACCEPTED_FORMAT_NAMES = "/".join(ACCEPTED_FORMATS.values())

ACCEPTED_INPUT = (
    f"send a {ACCEPTED_FORMAT_NAMES} image as the raw body, as a multipart upload, or as base64 in JSON "
    '{"base64": "..."} (also "data" or "b64"), or several as {"instances": [{"base64": "..."}, ...]}'
)

# Longest message an error carries: ample for every message the service writes (the longest, five quoted
# form-field names and ACCEPTED_INPUT, is about 520 characters), and its JSON answer stays a few kB even
# if every character had to be escaped.
MAX_MESSAGE_CHARS = 1000
# Longest piece of client input (a form field name, a library's error text) quoted in a message.
MAX_QUOTED_CHARS = 40


def quoted(fragment) -> str:
    """A client-provided fragment made safe to show: repr()-quoted (control bytes become escapes such as
    \\x01) and cut to MAX_QUOTED_CHARS, with "..." when cut."""
    text = repr(fragment)
    return text if len(text) <= MAX_QUOTED_CHARS else text[: MAX_QUOTED_CHARS - 3] + "..."


class RequestError(Exception):
    """An answer other than a prediction; ``status`` is the HTTP code the client gets."""

    status = HTTPStatus.INTERNAL_SERVER_ERROR.value

    def __init__(self, message: str):
        message = str(message)
        if len(message) > MAX_MESSAGE_CHARS:
            message = message[: MAX_MESSAGE_CHARS - 3] + "..."
        super().__init__(message)

    @property
    def reason(self) -> str:
        """The status's standard phrase, which TorchServe sends with it ("Unsupported Media Type")."""
        return HTTPStatus(self.status).phrase

    def as_json(self) -> dict:
        return {"code": self.status, "type": type(self).__name__, "message": str(self)}


class InputError(RequestError):
    """A request the service refuses: the client's request is at fault (4xx)."""

    status = HTTPStatus.BAD_REQUEST.value


class InternalError(RequestError):
    """Reading the request failed in a way no check foresaw: a fault of the service, logged with its
    traceback; the request is answered 500 alone."""

    def __init__(
        self,
        message: str = "reading the picture failed inside the service; the fault is logged. "
        "The same picture in another format (PNG or JPEG) may be read",
    ):
        super().__init__(message)


class InvalidInput(InputError):
    """The request is not in an accepted shape: empty, not valid JSON/base64, missing field, corrupt image,
    or a request for something the service does not offer (explanations)."""


class UnsupportedImage(InputError):
    """The bytes are not an image in one of ACCEPTED_FORMATS."""

    status = HTTPStatus.UNSUPPORTED_MEDIA_TYPE.value


class PayloadTooLarge(InputError):
    """More than a request may cost: too many images, more pixels than the decoder may expand, a JPEG with
    too many scans, or more text/metadata than the per-image or per-request bound."""

    status = HTTPStatus.REQUEST_ENTITY_TOO_LARGE.value


class NoDigitFound(InputError):
    """A readable image with nothing on it: a blank canvas or a single flat colour."""

    status = HTTPStatus.UNPROCESSABLE_ENTITY.value
