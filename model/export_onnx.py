"""The committed weights as an ONNX graph, for ONNX Runtime: what bench/forward_pass.py measures.

Usage (from the repo root; needs torch, onnx and onnxscript: requirements/serving.txt and archiver.txt):

    python -m model.export_onnx OUT.onnx [--weights model/mnist_cnn.pt]

The graph takes ``images`` (N, 1, 28, 28) float32, already normalised as the handler's preprocessing
does, for any N, and gives ``logits`` (N, 10): the eager model's forward pass, nothing more (softmax
stays with the caller, as in the eager path).
"""

import argparse
import logging
import warnings
from pathlib import Path

import torch

from model.loading import WEIGHTS, load_model
from model.mnist_cnn import ONNX_INPUT, ONNX_OUTPUT

# ONNX Runtime 1.32 runs opsets up to 23; 20 is torch 2.14's default and what its exporter's
# operator library is written for (a lower one would need a version conversion).
OPSET = 20


def export_onnx(out_path: Path, weights_path: Path = WEIGHTS) -> Path:
    """Write the model with the state_dict at `weights_path` to `out_path` (one self-contained file)."""
    model = load_model(weights_path)
    example = torch.zeros(2, 1, 28, 28)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.export's notes on the traced graph, not about this model
        logging.getLogger("torch.onnx").setLevel(logging.ERROR)
        program = torch.onnx.export(
            model,
            (example,),
            input_names=[ONNX_INPUT],
            output_names=[ONNX_OUTPUT],
            opset_version=OPSET,
            dynamic_shapes=({0: torch.export.Dim("batch")},),
            dynamo=True,
            verbose=False,
        )
    # The exporter notes each node's Python stack trace, absolute paths and line numbers included: left in,
    # the graph would change with where the repository is checked out and with edits that move no weight.
    for node in program.model.graph:
        node.metadata_props.pop("pkg.torch.onnx.stack_trace", None)
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    # One file: the weights (~0.8 MB) inside the graph, not beside it as external data.
    program.save(str(out_path), external_data=False)
    return out_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("out", type=Path, help="the .onnx file to write")
    parser.add_argument("--weights", type=Path, default=WEIGHTS, help="the state_dict (default: the committed one)")
    args = parser.parse_args()
    print(f"exported {args.weights} to {export_onnx(args.out, args.weights)}")


if __name__ == "__main__":
    main()
