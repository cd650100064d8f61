"""What a request becomes on its way to the model: request_pipeline.prepare_request's answer.

A leaf module (it imports no other handler module but the errors), so every step can return it without
import cycles.
"""

from dataclasses import dataclass

import torch

from input_errors import RequestError


@dataclass
class MnistRequest:
    """One request, prepared: its pictures as one (n, 1, 28, 28) float tensor in MNIST's form, or the
    RequestError that answers it instead."""

    tensors: torch.Tensor = None
    many: bool = False  # an "instances" request, answered with {"predictions": [...]}
    error: RequestError = None
