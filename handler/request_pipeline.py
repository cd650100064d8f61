"""A request's whole path before the model, in one place:

    request (TorchServe's payload dict)
      -> image_decoding.decode_request -> PIL images
      -> mnist_preprocessing.to_mnist_tensor, per image -> MNIST tensors, stacked (n, 1, 28, 28)
    or, at any step, the input_errors.InputError that refuses the request.

image_decoding turns the request into images (bounding what it may cost first); mnist_preprocessing turns
one image into MNIST's form and knows nothing of requests; input_errors holds every refusal. Only
InputError is caught: anything else is a bug, left to TorchServe. The handler (mnist_handler) logs and
counts the refusals, and answers each request with its own status.
"""

from dataclasses import replace

import torch

from image_decoding import decode_request
from input_errors import InputError
from mnist_preprocessing import to_mnist_tensor
from mnist_request import MnistRequest

__all__ = ["MnistRequest", "prepare_request"]


def prepare_request(request: dict) -> MnistRequest:
    """One TorchServe request (its payload dict) -> its images as MNIST tensors, or the refusal."""
    try:
        decoded = decode_request(request)
        tensors = torch.stack([to_mnist_tensor(image) for image in decoded.images])
    except InputError as error:
        return MnistRequest(error=error)
    return replace(decoded, images=tensors)
