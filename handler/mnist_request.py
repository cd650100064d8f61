"""What a request becomes on its way to the model: request_pipeline.prepare_request's answer.

A leaf module (it imports no other handler module but the errors), so every step can return it without
import cycles.
"""

from dataclasses import dataclass
from typing import Protocol

import torch

from input_errors import RequestError


class AnswerForm(Protocol):
    """How a request is answered, as its wire format words it: wire_format.SINGLE and .PREDICTIONS, or
    open_inference.OpenInference (the Open Inference Protocol)."""

    def answer(self, probabilities: torch.Tensor) -> dict:
        """The JSON answer to the probabilities of the request's images, one (10,) row each, in order."""

    def refusal(self, error: RequestError) -> dict:
        """The JSON answer to the request's refusal (its HTTP status is the error's)."""


@dataclass
class MnistRequest:
    """One request, prepared: its pictures as one (n, 1, 28, 28) float tensor in MNIST's form, or the
    RequestError that answers it instead, and the form either is answered in."""

    form: AnswerForm
    tensors: torch.Tensor = None
    error: RequestError = None
