"""What every peer shares with the TorchServe handler: request_pipeline.prepare_request, the committed
weights (model/loading.py load_model), and the handler's JSON answer (wire_format.answers: digit +
probabilities; an InputError's JSON and status for a refusal). Each peer runs one torch thread per
process, as the handler does (MNIST_TORCH_THREADS, default 1).
"""

import torch

from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()

from model.loading import load_model  # noqa: E402
from request_pipeline import MnistRequest, prepare_request  # noqa: E402
from wire_format import answers as handler_answers  # noqa: E402

__all__ = ["MnistRequest", "answers", "load_model", "prepare"]


def prepare(body) -> MnistRequest:
    """One request body (bytes as TorchServe passes it with decode_input_request=false, or the parsed
    JSON) -> its MNIST tensors or its refusal."""
    return prepare_request({"body": body})


def answers(model, requests: list) -> list:
    """One forward pass (the eager model) over every accepted image of `requests` -> [(HTTP status, JSON-able
    answer)], one per request, the answers as the handler words them (mnist_handler.answers)."""
    accepted = [request.tensors for request in requests if request.error is None]
    probabilities = None
    if accepted:
        with torch.inference_mode():
            probabilities = torch.softmax(model(torch.cat(accepted)), dim=1)
    statuses = [200 if request.error is None else request.error.status for request in requests]
    return list(zip(statuses, handler_answers(requests, probabilities)))
