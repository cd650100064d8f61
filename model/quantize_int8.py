"""The float ONNX export quantized to int8: the graph the workers serve (build_mar.sh).

Usage (from the repo root; needs onnxruntime and onnx: requirements/serving.txt and archiver.txt):

    python -m model.quantize_int8 FLOAT.onnx OUT.onnx

ONNX Runtime's static quantization: int8 weights per output channel, uint8 activations whose ranges are
calibrated once, here, on 1,000 MNIST *training* digits committed beside the weights
(calibration_digits.npz, written by `python -m training.calibration_digits`), so the archive is rebuilt
from the repository alone, the same every time. QDQ format: ONNX Runtime fuses each
quantize/dequantize pair around a convolution into an integer kernel, ~2x cheaper per image than the
float graph on this CPU (bench/forward_pass.py).
"""

import argparse
import tempfile
from pathlib import Path

import numpy as np

from model.mnist_cnn import ONNX_INPUT, normalised

CALIBRATION_DIGITS = Path(__file__).resolve().parent / "calibration_digits.npz"
CALIBRATION_BATCH = 100


def calibration_images(path: Path = CALIBRATION_DIGITS) -> np.ndarray:
    """The committed uint8 digits (N, 28, 28) as the model's input: (N, 1, 28, 28) float32, normalised as in
    training and serving."""
    with np.load(path) as archive:
        digits = archive["digits"]
    return normalised(digits.astype(np.float32)).astype(np.float32)[:, None]


def quantize_int8(float_path: Path, out_path: Path) -> Path:
    """Write the int8 version of the float graph at `float_path` to `out_path`, calibrated on the committed
    calibration digits."""
    from onnxruntime.quantization import (
        CalibrationDataReader,
        CalibrationMethod,
        QuantFormat,
        QuantType,
        quantize_static,
    )
    from onnxruntime.quantization.shape_inference import quant_pre_process

    images = calibration_images()

    class Batches(CalibrationDataReader):
        def __init__(self):
            self.batches = (
                images[start : start + CALIBRATION_BATCH] for start in range(0, len(images), CALIBRATION_BATCH)
            )

        def get_next(self):
            batch = next(self.batches, None)
            return None if batch is None else {ONNX_INPUT: batch}

    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="quantize_int8_") as folder:
        # Shape inference and graph clean-up first, as onnxruntime.quantization recommends.
        prepared = Path(folder) / "prepared.onnx"
        quant_pre_process(str(float_path), str(prepared))
        quantize_static(
            str(prepared),
            str(out_path),
            Batches(),
            quant_format=QuantFormat.QDQ,
            per_channel=True,
            activation_type=QuantType.QUInt8,
            weight_type=QuantType.QInt8,
            calibrate_method=CalibrationMethod.MinMax,
            # The logits stay float: quantized to 256 levels they would round close probabilities to the
            # same value (ties between digits) for no measurable gain in speed.
            extra_options={"OpTypesToExcludeOutputQuantization": ["Gemm"]},
        )
    return out_path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("float_onnx", type=Path, help="the float export (model/export_onnx.py)")
    parser.add_argument("out", type=Path, help="the int8 .onnx file to write")
    args = parser.parse_args()
    print(f"quantized {args.float_onnx} to {quantize_int8(args.float_onnx, args.out)}")


if __name__ == "__main__":
    main()
