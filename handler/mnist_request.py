"""The one type a request becomes on its way through request_pipeline.prepare_request.

A leaf module (it imports no other handler module), so every step can return it without import cycles.
"""

from dataclasses import dataclass

from input_errors import InputError


@dataclass
class MnistRequest:
    """One request: what it carries at this step (image_decoding.decode_request: a list of PIL images;
    request_pipeline.prepare_request: one (n, 1, 28, 28) float tensor), or the InputError that refuses it."""

    images: object = None
    many: bool = False  # an "instances" request, answered with {"predictions": [...]}
    error: InputError = None
