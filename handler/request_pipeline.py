"""A request's whole path before the model, in one place:

    request (TorchServe's payload dict)
      -> wire_format: its payload, its wire format (how it is answered, refusals included), then
         a Message: the encoded pictures it carries, or MNIST tensors sent as such (Open Inference FP32)
      -> image_decoding.open_pictures -> the pictures, opened (headers read, every bound checked)
      -> per picture, one at a time: decoded -> mnist_preprocessing.to_mnist_tensor -> released
      -> the MNIST tensors, stacked (n, 1, 28, 28)
    or the error that answers the request instead (its wire format words both: wire_format.answers).

wire_format knows what a request may look like (open_inference, the Open Inference Protocol's part);
image_decoding turns encoded pictures into images (bounding what they may cost first); mnist_preprocessing
turns one image into MNIST's form and knows nothing of requests; input_errors holds every answer that is
not a prediction.

prepare_request never raises: a refusal (InputError, 4xx) or anything else raised while reading the
request (a fault: InternalError, 500, logged with its traceback) answers this request alone, and the other
requests of its batch go on. The handler (mnist_handler) logs and counts the errors, and answers each
request with its own status.
"""

import logging

import torch

from image_decoding import OpenedRequest, Picture, open_pictures
from input_errors import InputError, InternalError
from mnist_preprocessing import to_mnist_tensor
from mnist_request import MnistRequest
from wire_common import Message
from wire_format import SINGLE, document_of, form_of

__all__ = ["MnistRequest", "prepare_request"]

logger = logging.getLogger(__name__)


def prepare_request(request: dict) -> MnistRequest:
    """One TorchServe request (its payload dict) -> its pictures as MNIST tensors, or the error that answers
    it, in the form its wire format answers."""
    form = SINGLE  # how a refusal is worded until the payload shows its own wire format
    try:
        document = document_of(request)
        form = form_of(document)
        message = form.read(document)
        del document  # its base64 text: each picture's bytes are released as the picture is decoded
        form = message.form  # with what the answer echoes (an Open Inference request's id and outputs)
        tensors = message.tensors if message.tensors is not None else _decoded(message)
    except InputError as error:
        # Without its traceback: the frames it holds would keep the request's pictures, and their
        # decoders' buffers, alive until the batch is answered.
        return MnistRequest(form, error=error.with_traceback(None))
    except Exception:  # a fault no check foresaw: this request's 500, never the batch's
        logger.exception("reading a request failed")
        return MnistRequest(form, error=InternalError())
    return MnistRequest(form, tensors)


def _decoded(message: Message) -> torch.Tensor:
    """The message's pictures, each decoded into MNIST's form in turn; the message lets go of them."""
    opened = open_pictures(message.pictures)
    message.pictures = []  # from here on, only the opened pictures hold their bytes
    tensors = []
    while opened.pictures:  # each picture leaves the request as it is read: nothing holds it after
        tensors.append(_prepared(opened, opened.pictures.pop(0)))
    return torch.stack(tensors)


def _prepared(opened: OpenedRequest, picture: Picture) -> torch.Tensor:
    """One picture decoded, brought into MNIST's form and released before the next is decoded."""
    image = opened.decode(picture)
    try:
        return to_mnist_tensor(image, size=picture.size)
    finally:
        image.close()
