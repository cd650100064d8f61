#!/usr/bin/env bash
# Build model_store/mnist.mar from the committed weights, the model module and the handler, with the
# weights exported to ONNX (model/export_onnx.py) and quantized to int8 (model/quantize_int8.py), the graph
# the handler serves with ONNX Runtime. PRECISION=float packs the float export instead (for A/B runs).
# Idempotent: the archive is rebuilt and replaced on every run.
set -euo pipefail

# EXPORT_DIR (default: model_store/ in the repo) is taken relative to where the script is called from.
EXPORT_DIR=$(realpath -m "${EXPORT_DIR:-$(dirname "$0")/model_store}")
cd "$(dirname "$0")"
MODEL_NAME=mnist
MODEL_VERSION=1.0
PRECISION=${PRECISION:-int8}
[[ $PRECISION == int8 || $PRECISION == float ]] || { echo "build_mar.sh: PRECISION must be int8 (default) or float, not '$PRECISION'" >&2; exit 1; }

MODEL_FILE=model/mnist_cnn.py
WEIGHTS=model/mnist_cnn.pt
HANDLER=handler/mnist_handler.py
# Every other module of handler/, which the handler imports by bare name: TorchServe unpacks them flat,
# beside the handler and the model file (a new module needs no edit here).
EXTRA_FILES=()
shopt -s nullglob
for module in handler/*.py; do
    [[ $module == "$HANDLER" ]] || EXTRA_FILES+=("$module")
done

CALIBRATION=model/calibration_digits.npz

for piece in "$MODEL_FILE" "$WEIGHTS" "$HANDLER" "$CALIBRATION"; do
    [[ -f $piece ]] || { echo "build_mar.sh: missing $piece (run from a complete checkout; weights come from 'make train')" >&2; exit 1; }
done
(( ${#EXTRA_FILES[@]} )) || { echo "build_mar.sh: no handler modules beside $HANDLER in handler/" >&2; exit 1; }

# Inside the repo's virtualenv when there is one (make setup), else whatever is on PATH (the Docker build).
ARCHIVER=.venv/bin/torch-model-archiver
[[ -x $ARCHIVER ]] || ARCHIVER=$(command -v torch-model-archiver) || {
    echo "build_mar.sh: torch-model-archiver not found; run 'make setup' or 'pip install torch-model-archiver==0.12.0'" >&2
    exit 1
}

# The ONNX export and quantization run on the archiver's Python: torch and onnxruntime
# (requirements/serving.txt) with onnx and onnxscript (requirements/archiver.txt).
PYTHON=$(dirname "$ARCHIVER")/python
[[ -x $PYTHON ]] || { echo "build_mar.sh: no python beside $ARCHIVER for the ONNX export" >&2; exit 1; }
ONNX_DIR=$(mktemp -d)
trap 'rm -rf "$ONNX_DIR"' EXIT
FLOAT_ONNX=$ONNX_DIR/float/mnist_cnn.onnx
"$PYTHON" -m model.export_onnx "$FLOAT_ONNX" --weights "$WEIGHTS" >/dev/null || {
    echo "build_mar.sh: exporting $WEIGHTS to ONNX failed (model/export_onnx.py; it needs torch, onnx and onnxscript)" >&2
    exit 1
}
# The archive holds one graph, mnist_cnn.onnx, whichever its precision: the name the handler loads.
SERVED_ONNX=$FLOAT_ONNX
if [[ $PRECISION == int8 ]]; then
    SERVED_ONNX=$ONNX_DIR/int8/mnist_cnn.onnx
    "$PYTHON" -m model.quantize_int8 "$FLOAT_ONNX" "$SERVED_ONNX" >/dev/null || {
        echo "build_mar.sh: quantizing the ONNX export to int8 failed (model/quantize_int8.py, calibrated on $CALIBRATION)" >&2
        exit 1
    }
fi
EXTRA_FILES+=("$SERVED_ONNX")

mkdir -p "$EXPORT_DIR"
"$ARCHIVER" \
    --model-name "$MODEL_NAME" \
    --version "$MODEL_VERSION" \
    --model-file "$MODEL_FILE" \
    --serialized-file "$WEIGHTS" \
    --handler "$HANDLER" \
    --extra-files "$(IFS=,; echo "${EXTRA_FILES[*]}")" \
    --export-path "$EXPORT_DIR" \
    --force
echo "built $EXPORT_DIR/$MODEL_NAME.mar ($PRECISION)"
