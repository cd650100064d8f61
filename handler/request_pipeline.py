"""A request's whole path before the model, in one place:

    request (TorchServe's payload dict)
      -> wire_format.pictures_of -> the encoded pictures it carries
      -> image_decoding.open_request -> the pictures, opened (headers read, every bound checked)
      -> per picture, one at a time: decoded -> mnist_preprocessing.to_mnist_tensor -> released
      -> the MNIST tensors, stacked (n, 1, 28, 28)
    or the error that answers the request instead (wire_format.answers words both).

wire_format knows what a request may look like; image_decoding turns encoded pictures into images
(bounding what they may cost first); mnist_preprocessing turns one image into MNIST's form and knows
nothing of requests; input_errors holds every answer that is not a prediction.

prepare_request never raises: a refusal (InputError, 4xx) or anything else raised while reading the
request (a fault: InternalError, 500, logged with its traceback) answers this request alone, and the other
requests of its batch go on. The handler (mnist_handler) logs and counts the errors, and answers each
request with its own status.
"""

import logging

import torch

from image_decoding import OpenedRequest, Picture, open_request
from input_errors import InputError, InternalError
from mnist_preprocessing import to_mnist_tensor
from mnist_request import MnistRequest

__all__ = ["MnistRequest", "prepare_request"]

logger = logging.getLogger(__name__)


def prepare_request(request: dict) -> MnistRequest:
    """One TorchServe request (its payload dict) -> its pictures as MNIST tensors, or the error that answers it."""
    try:
        opened = open_request(request)
        tensors = []
        while opened.pictures:  # each picture leaves the request as it is read: nothing holds it after
            tensors.append(_prepared(opened, opened.pictures.pop(0)))
        many = opened.many
    except InputError as error:
        # Without its traceback: the frames it holds would keep the request's pictures, and their
        # decoders' buffers, alive until the batch is answered.
        return MnistRequest(error=error.with_traceback(None))
    except Exception:  # a fault no check foresaw: this request's 500, never the batch's
        logger.exception("reading a request failed")
        return MnistRequest(error=InternalError())
    return MnistRequest(torch.stack(tensors), many=many)


def _prepared(opened: OpenedRequest, picture: Picture) -> torch.Tensor:
    """One picture decoded, brought into MNIST's form and released before the next is decoded."""
    image = opened.decode(picture)
    try:
        return to_mnist_tensor(image, size=picture.size)
    finally:
        image.close()
