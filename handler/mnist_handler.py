"""TorchServe handler for the MNIST CNN.

It overrides only the three steps that differ from TorchServe's BaseHandler, which loads the model
(the archive's --model-file and state_dict weights; torch >= 2.6 loads them with weights_only=True):
- preprocess: each request -> its images as MNIST tensors, or the RequestError that answers it instead
  (request_pipeline.prepare_request, where a request's whole path is);
- inference: one forward pass over every valid image of the batch, softmaxed;
- postprocess: one compact JSON answer per request, with a 4xx status for refused ones, each refusal
  logged at DEBUG and counted in the RequestsRefused metric (one count per request, by ErrorType).
The three are @timed as BaseHandler's own are (ts_handler_<step> metrics when the model's config sets
handler: profile: true); BaseHandler.handle still records HandlerTime, and TorchServe PredictionTime.
BaseHandler's describe and explain modes are switched off: BaseHandler.handle() reads the "describe" and
"explain" headers of the batch's first request only and then answers the whole batch in that mode (one
answer for all: every other request of the batch failed with 503). Here every request gets its own
answer; an explanations request (POST /explanations/mnist or /v1/models/mnist:explain) is refused alone.
"""

import json
import logging
import os

import onnxruntime
import torch
from ts.handler_utils.timer import timed
from ts.metrics.metric_cache_errors import MetricsCacheKeyError
from ts.metrics.metric_type_enum import MetricTypes
from ts.torch_handler.base_handler import BaseHandler

from input_errors import InvalidInput, RequestError
from mnist_cnn import ONNX_INPUT, ONNX_OUTPUT
from request_pipeline import MnistRequest, prepare_request
from wire_format import SINGLE, answers

logger = logging.getLogger(__name__)

# TorchServe loads the one class this module defines, so helper types live in the other modules.

# One intra-op thread per worker: with TorchServe's default (one thread per core in every worker) the
# workers fight over the cores and throughput collapses; scale with workers instead (docs/operating.md, config/).
# The same number sets the ONNX Runtime session's intra-op threads.
TORCH_THREADS = int(os.environ.get("MNIST_TORCH_THREADS", "1"))

# The forward pass: the committed weights exported to ONNX and quantized to int8 at build time (build_mar.sh,
# model/export_onnx.py, model/quantize_int8.py), run by ONNX Runtime: ~2x cheaper per image than the float
# graph, which is 1.3-1.6x cheaper than eager torch at batch 8-64 (bench/forward_pass.py, bench/README.md).
ONNX_FILE = "mnist_cnn.onnx"

# Refused requests, counted per error type (input_errors: InvalidInput, UnsupportedImage, ...). In
# Prometheus mode TorchServe's frontend publishes a backend metric only if its metrics config declares
# it, or with model_metrics_auto_detect=true (config.properties).
REFUSAL_METRIC = "RequestsRefused"
REFUSAL_DIMENSIONS = ["ModelName", "Level", "ErrorType"]


class MnistHandler(BaseHandler):
    def initialize(self, context):
        torch.set_num_threads(TORCH_THREADS)
        try:
            # BaseHandler loads the eager model from mnist_cnn.py and mnist_cnn.pt (so weights that do not
            # load still stop the worker here); ONNX Runtime then serves the same weights' ONNX export.
            super().initialize(context)
            self.session = onnx_session(os.path.join(context.system_properties.get("model_dir"), ONNX_FILE))
        except Exception as error:  # e.g. corrupt weights surface as "IndexError: pop from empty list"
            raise RuntimeError(
                f"the MNIST model could not be loaded from its archive ({type(error).__name__}: {error}); "
                f"the .mar must hold mnist_cnn.py, the state_dict mnist_cnn.pt and its export {ONNX_FILE}: "
                "rebuild it with build_mar.sh"
            ) from error
        self.model = None  # not used: the session runs the forward pass
        self.refusals = _refusal_counter(context.metrics)

    def _is_describe(self):
        """Never: a "describe: True" header (which any client may send) gets an ordinary prediction."""
        return False

    def _is_explain(self):
        """Never: BaseHandler would explain the whole batch for its first request; preprocess refuses
        explanations request by request instead."""
        return False

    @timed
    def preprocess(self, data):
        return [
            MnistRequest(SINGLE, error=_no_explanations())
            if self._asks_for_explanation(index)
            else prepare_request(request)
            for index, request in enumerate(data)
        ]

    def _asks_for_explanation(self, index: int) -> bool:
        # TorchServe's frontend sets this header on every request, after the client's own: "True" for POST
        # /explanations/mnist (or /v1/models/mnist:explain), "False" otherwise. The model has no explainer;
        # a prediction in place of an explanation would look like success to a client that asked for
        # something else, so the request is refused (400), alone.
        return self.context is not None and self.context.get_request_header(index, "explain") == "True"

    @timed
    def inference(self, data, *args, **kwargs):
        accepted = [request.tensors for request in data if request.error is None]
        if not accepted:
            return data, None
        return data, forward(self.session, accepted)

    @timed
    def postprocess(self, data):
        requests, probabilities = data
        for index, request in enumerate(requests):
            self.context.set_response_content_type(index, "application/json")
            if request.error is not None:
                self._refuse(index, request.error)
        return [json.dumps(answer) for answer in answers(requests, probabilities)]

    def _refuse(self, index: int, error: RequestError) -> None:
        request_id = self.context.get_request_id(index) or ""
        error_type = type(error).__name__
        logger.debug("refused %s (%d in its batch): %d %s: %s", request_id, index, error.status, error_type, error)
        self.context.set_response_status(error.status, error.reason, index)
        dimensions = {"ModelName": self.context.model_name, "Level": "Model", "ErrorType": error_type}
        self.refusals.add_or_update(1, [dimensions.get(name, "") for name in self.refusals.dimension_names], request_id)


def onnx_session(path: str) -> onnxruntime.InferenceSession:
    """The worker's one session: CPU, TORCH_THREADS intra-op threads, one inter-op thread, sequential."""
    if not os.path.isfile(path):
        raise FileNotFoundError(f"no {os.path.basename(path)} in the archive")
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = TORCH_THREADS
    options.inter_op_num_threads = 1
    options.execution_mode = onnxruntime.ExecutionMode.ORT_SEQUENTIAL
    options.graph_optimization_level = onnxruntime.GraphOptimizationLevel.ORT_ENABLE_ALL
    return onnxruntime.InferenceSession(path, sess_options=options, providers=["CPUExecutionProvider"])


def forward(session: onnxruntime.InferenceSession, images: list) -> torch.Tensor:
    """Softmax probabilities for every image of `images` (tensors of N x 1 x 28 x 28, any N), in one run of
    the session over the whole batch (the graph's batch axis is dynamic)."""
    with torch.inference_mode():
        batch = torch.cat(images).to(torch.float32).numpy()  # the graph's input is float32
        (logits,) = session.run([ONNX_OUTPUT], {ONNX_INPUT: batch})
        return torch.softmax(torch.from_numpy(logits), dim=1)


def _refusal_counter(metrics):
    """The RequestsRefused counter of the worker's metrics cache: the one its metrics YAML declares, or
    else declared here, once, with fixed dimensions (metrics.add_counter would add ModelName and Level
    only when the batch's request ids are known)."""
    try:
        return metrics.get_metric(REFUSAL_METRIC, MetricTypes.COUNTER)
    except MetricsCacheKeyError:
        return metrics.add_metric_to_cache(
            REFUSAL_METRIC, unit="Count", dimension_names=list(REFUSAL_DIMENSIONS), metric_type=MetricTypes.COUNTER
        )


def _no_explanations() -> InvalidInput:
    return InvalidInput(
        "this model gives no explanations: send the image to /predictions/mnist for the digit and its probabilities"
    )
