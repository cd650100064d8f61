"""TorchServe handler for the MNIST CNN.

It overrides only the three steps that differ from TorchServe's BaseHandler, which loads the model
(the archive's --model-file and state_dict weights; torch >= 2.6 loads them with weights_only=True):
- preprocess: each request -> its images as MNIST tensors, or the InputError that refuses it;
- inference: one forward pass over every valid image of the batch, softmaxed;
- postprocess: one compact JSON answer per request, with a 4xx status for refused ones.
BaseHandler's describe and explain modes are switched off: BaseHandler.handle() reads the "describe" and
"explain" headers of the batch's first request only and then answers the whole batch in that mode (one
answer for all: every other request of the batch failed with 503). Here every request gets its own
answer; an explanations request (POST /explanations/mnist or /v1/models/mnist:explain) is refused alone.
"""

import json
import logging
import os

import torch
from ts.torch_handler.base_handler import BaseHandler

from input_errors import InvalidInput
from mnist_preprocessing import PreparedRequest, prepare_request

logger = logging.getLogger(__name__)

# TorchServe loads the one class this module defines, so helper types live in mnist_preprocessing.

# One intra-op thread per worker: with TorchServe's default (one thread per core in every worker) the
# workers fight over the cores and throughput collapses; scale with workers instead (README, config/).
TORCH_THREADS = int(os.environ.get("MNIST_TORCH_THREADS", "1"))


class MnistHandler(BaseHandler):
    def initialize(self, context):
        torch.set_num_threads(TORCH_THREADS)
        try:
            super().initialize(context)
        except Exception as error:  # e.g. corrupt weights surface as "IndexError: pop from empty list"
            raise RuntimeError(
                f"the MNIST model could not be loaded from its archive ({type(error).__name__}: {error}); "
                "the .mar must hold mnist_cnn.py and the state_dict mnist_cnn.pt: rebuild it with build_mar.sh"
            ) from error

    def _is_describe(self):
        """Never: a "describe: True" header (which any client may send) gets an ordinary prediction."""
        return False

    def _is_explain(self):
        """Never: BaseHandler would explain the whole batch for its first request; preprocess refuses
        explanations request by request instead."""
        return False

    def preprocess(self, data):
        return [
            PreparedRequest(error=_no_explanations()) if self._asks_for_explanation(index) else prepare_request(request)
            for index, request in enumerate(data)
        ]

    def _asks_for_explanation(self, index: int) -> bool:
        # TorchServe's frontend sets this header on every request, after the client's own: "True" for POST
        # /explanations/mnist (or /v1/models/mnist:explain), "False" otherwise. The model has no explainer;
        # a prediction in place of an explanation would look like success to a client that asked for
        # something else, so the request is refused (400), alone.
        return self.context is not None and self.context.get_request_header(index, "explain") == "True"

    def inference(self, data, *args, **kwargs):
        accepted = [request.images for request in data if request.error is None]
        if not accepted:
            return data, None
        logits = super().inference(torch.cat(accepted))
        return data, torch.softmax(logits, dim=1)

    def postprocess(self, data):
        requests, probabilities = data
        answers = []
        next_image = 0
        for index, request in enumerate(requests):
            self.context.set_response_content_type(index, "application/json")
            if request.error is not None:
                logger.info("refused request %d: %s", index, request.error)
                self.context.set_response_status(request.error.status, request.error.reason, index)
                answers.append(json.dumps(request.error.as_json()))
                continue
            count = len(request.images)
            predictions = [_prediction(row) for row in probabilities[next_image : next_image + count]]
            next_image += count
            answers.append(json.dumps({"predictions": predictions} if request.many else predictions[0]))
        return answers


def _no_explanations() -> InvalidInput:
    return InvalidInput(
        "this model gives no explanations: send the image to /predictions/mnist for the digit and its probabilities"
    )


def _prediction(probabilities: torch.Tensor) -> dict:
    return {"digit": int(probabilities.argmax()), "probabilities": [round(p, 6) for p in probabilities.tolist()]}
