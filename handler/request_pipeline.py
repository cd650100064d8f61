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

A request's pictures are read within REQUEST_CPU_SECONDS of its worker's CPU: past it, the request is refused
before its next picture, whatever made its pictures costly.

prepare_request never raises: a refusal (InputError, 4xx) or anything else raised while reading the
request (a fault: InternalError, 500, logged with its traceback) answers this request alone, and the other
requests of its batch go on. The handler (mnist_handler) logs and counts the errors, and answers each
request with its own status.
"""

import logging
import time

import torch

from image_decoding import OpenedRequest, Picture, open_pictures
from input_errors import InputError, InternalError, PayloadTooLarge
from mnist_preprocessing import to_mnist_tensor
from mnist_request import MnistRequest
from wire_common import Message
from wire_format import SINGLE, document_of, form_of

__all__ = ["MnistRequest", "prepare_request"]

logger = logging.getLogger(__name__)

# What reading one request may cost, in CPU seconds of its worker's thread, checked before each picture after
# the first. A worker reads up to batchSize (8) requests in a row, and TorchServe restarts it, failing all of
# them, once a batch runs past responseTimeout (30 s, config/config.properties): 8 x (1 s + the last picture's
# at most ~0.35 s, a 4096-px progressive JPEG of fine detail) is ~11 CPU-s, ~22 s on the pod's one CPU shared
# by two workers. Less would refuse honest requests on a busy machine: 32 pictures just within the metadata
# bound took 0.55 CPU-s there. Before, 64 of the costliest pictures (~0.1 CPU-s each) took 6 s a request.
REQUEST_CPU_SECONDS = 1.0


def prepare_request(request: dict) -> MnistRequest:
    """One TorchServe request (its payload dict) -> its pictures as MNIST tensors, or the error that answers
    it, in the form its wire format answers."""
    started = time.thread_time()
    form = SINGLE  # how a refusal is worded until the payload shows its own wire format
    try:
        document = document_of(request)
        form = form_of(document)
        message = form.read(document)
        del document  # its base64 text: each picture's bytes are released as the picture is decoded
        form = message.form  # with what the answer echoes (an Open Inference request's id and outputs)
        tensors = message.tensors if message.tensors is not None else _decoded(message, started)
    except InputError as error:
        # Without its traceback: the frames it holds would keep the request's pictures, and their
        # decoders' buffers, alive until the batch is answered.
        return MnistRequest(form, error=error.with_traceback(None))
    except Exception:  # a fault no check foresaw: this request's 500, never the batch's
        logger.exception("reading a request failed")
        return MnistRequest(form, error=InternalError())
    return MnistRequest(form, tensors)


def _decoded(message: Message, started: float) -> torch.Tensor:
    """The message's pictures, each decoded into MNIST's form in turn; the message lets go of them. Refused
    once the request has cost REQUEST_CPU_SECONDS since `started` (time.thread_time) and pictures remain."""
    opened = open_pictures(message.pictures)
    message.pictures = []  # from here on, only the opened pictures hold their bytes
    count = len(opened.pictures)
    tensors = []
    while opened.pictures:  # each picture leaves the request as it is read: nothing holds it after
        if tensors and time.thread_time() - started > REQUEST_CPU_SECONDS:
            raise PayloadTooLarge(
                f"reading this request's pictures took over {REQUEST_CPU_SECONDS:g} CPU-s after {len(tensors)} "
                f"of its {count}; send the others in further requests (a photo of a digit costs 0.01-0.1 CPU-s, "
                "by its size, so 10-100 fit in one; MNIST 28x28 images cost next to nothing)"
            )
        tensors.append(_prepared(opened, opened.pictures.pop(0)))
    return torch.stack(tensors)


def _prepared(opened: OpenedRequest, picture: Picture) -> torch.Tensor:
    """One picture decoded, brought into MNIST's form and released before the next is decoded."""
    image = opened.decode(picture)
    try:
        return to_mnist_tensor(image, size=picture.size)
    finally:
        image.close()
