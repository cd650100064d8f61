"""The committed weights and how to load them: one place for training, evaluation, tests and benchmarks."""

from pathlib import Path

import torch

from model.mnist_cnn import MnistCNN

MODEL_DIR = Path(__file__).resolve().parent
WEIGHTS = MODEL_DIR / "mnist_cnn.pt"


def load_model(weights_path: Path = WEIGHTS) -> MnistCNN:
    """The CNN with the state_dict at `weights_path` (weights_only), on the CPU, in eval mode."""
    model = MnistCNN()
    model.load_state_dict(torch.load(weights_path, map_location="cpu", weights_only=True))
    return model.eval()
