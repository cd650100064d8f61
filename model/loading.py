"""The committed weights and how to load them: one place for training, evaluation, tests and benchmarks."""

from pathlib import Path

import torch

from model.mnist_cnn import MnistCNN

MODEL_DIR = Path(__file__).resolve().parent
WEIGHTS = MODEL_DIR / "mnist_cnn.pt"


def width_of(state_dict: dict) -> int:
    """The width (MnistCNN's `width`: the first convolution's output channels) these weights were trained at."""
    return state_dict["features.0.0.weight"].shape[0]


def load_model(weights_path: Path = WEIGHTS) -> MnistCNN:
    """The CNN with the state_dict at `weights_path` (weights_only), at that state_dict's width, on the CPU,
    in eval mode."""
    state_dict = torch.load(weights_path, map_location="cpu", weights_only=True)
    model = MnistCNN(width=width_of(state_dict))
    model.load_state_dict(state_dict)
    return model.eval()
