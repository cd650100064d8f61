"""Every way a request can be refused, each mapped to its HTTP status in this one place.

The handler catches only these, per request: one bad request in a batch fails alone, and anything else
(a bug) is left to TorchServe. Messages say what was wrong and what is accepted.
"""

ACCEPTED_INPUT = (
    'send a PNG/JPEG/GIF/BMP/TIFF/WebP image as the raw body, as a multipart upload, or as base64 in JSON '
    '{"base64": "..."} (also "data" or "b64"), or several as {"instances": [{"base64": "..."}, ...]}'
)


class InputError(Exception):
    """A request the service refuses; ``status`` is the HTTP code the client gets."""

    status = 400
    reason = "Bad Request"

    def as_json(self) -> dict:
        return {"code": self.status, "type": type(self).__name__, "message": str(self)}


class InvalidInput(InputError):
    """The request is not in an accepted shape: empty, not valid JSON/base64, missing field, corrupt image."""


class UnsupportedImage(InputError):
    """The bytes decode, but not to an image PIL can read."""

    status = 415
    reason = "Unsupported Media Type"


class PayloadTooLarge(InputError):
    """Too many images in one request, or an image with more pixels than the decoder is allowed to expand."""

    status = 413
    reason = "Payload Too Large"


class NoDigitFound(InputError):
    """A readable image with nothing on it: a blank canvas or a single flat colour."""

    status = 422
    reason = "Unprocessable Entity"
