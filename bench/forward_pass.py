"""The forward pass alone, in process: eager torch against ONNX Runtime, float and int8 (the served graph).

    python -m bench.forward_pass                  # ~1-2 min on 2 cores
    python -m bench.forward_pass --rounds 21 --json /tmp/forward.json
    python -m bench.forward_pass --onnx model_store_unpacked/mnist_cnn.onnx   # a given float export

The committed state_dict (model/loading.py) is exported to ONNX in a temporary directory
(model/export_onnx.py: dynamic batch axis, opset 20) and, unless --no-quant, quantized to int8 as
build_mar.sh does (model/quantize_int8.py: static QDQ, per-channel int8 weights, uint8 activations
calibrated on the 1,000 committed TRAINING digits).
As in a worker: one torch thread (torch.set_num_threads(1), inference_mode); ONNX Runtime in the handler's
own session (mnist_handler.onnx_session: CPU, one intra-op and one inter-op thread, sequential).

Correctness: the 10,000 MNIST test images (EVAL_TRANSFORM, as training/evaluate.py reads them) through
every variant: accuracy, the images whose predicted digit differs from eager torch's, and the largest
softmax difference; and whether int8 meets issue #12's rule for serving it (>= 99.70 % and at most 0.02
points below float). Speed: microseconds per image at batch 1, 8, 32 and 64 on real test images, in
alternating rounds (torch, onnx, int8, then the next round, the order rotated each round) so a
machine that gets busier during the run favours no variant; medians over rounds, the spread of the
rounds (interquartile range), and each variant's speed-up over torch paired within the same round; in
wall-clock time and in the process's CPU time (one thread each: the work itself, less disturbed by
other processes on the cores).
"""

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from torch.utils.data import DataLoader

from model.export_onnx import export_onnx
from model.loading import WEIGHTS, load_model
from model.mnist_cnn import ONNX_INPUT, ONNX_OUTPUT
from model.quantize_int8 import quantize_int8
from torchserve_runner.handler_modules import put_handler_modules_on_path
from training.data import DEFAULT_DATA_ROOT, EVAL_TRANSFORM, mnist

BATCHES = (1, 8, 32, 64)
# The project's accuracy floor, and how far a quantized model may fall below the float one.
ACCURACY_FLOOR = 0.9970
MAX_ACCURACY_LOSS = 0.0002  # 0.02 points


def mnist_test_images(root: str) -> tuple:
    dataset = mnist(root, train=False, transform=EVAL_TRANSFORM)
    images, labels = next(iter(DataLoader(dataset, batch_size=len(dataset))))
    return images.contiguous(), labels


def make_runners(model, sessions: dict) -> dict:
    """{name: f(batch as torch tensor, same batch as numpy) -> logits}; the inputs are converted
    once, beforehand, so the timing is the forward pass alone."""

    def eager(images, _):
        with torch.inference_mode():
            return model(images)

    runners = {"torch": eager}
    for name, session in sessions.items():
        runners[name] = lambda _, array, session=session: session.run([ONNX_OUTPUT], {ONNX_INPUT: array})[0]
    return runners


def all_logits(run, images: torch.Tensor, batch: int = 1000) -> np.ndarray:
    parts = []
    for start in range(0, len(images), batch):
        chunk = images[start : start + batch]
        logits = run(chunk, chunk.numpy())
        parts.append(logits.numpy() if isinstance(logits, torch.Tensor) else logits)
    return np.concatenate(parts)


def softmax(logits: np.ndarray) -> np.ndarray:
    return torch.softmax(torch.from_numpy(logits), dim=1).numpy()


def correctness(runners: dict, images: torch.Tensor, labels: torch.Tensor) -> dict:
    reference = all_logits(runners["torch"], images)
    reference_probabilities, reference_predictions = softmax(reference), reference.argmax(1)
    labels = labels.numpy()
    report = {}
    for name, run in runners.items():
        logits = reference if name == "torch" else all_logits(run, images)
        predictions = logits.argmax(1)
        differ = np.flatnonzero(predictions != reference_predictions)
        report[name] = {
            "accuracy": float((predictions == labels).mean()),
            "errors": int((predictions != labels).sum()),
            "differences": [
                {
                    "index": int(i),
                    "label": int(labels[i]),
                    "torch": int(reference_predictions[i]),
                    name: int(predictions[i]),
                }
                for i in differ
            ],
            "max_abs_softmax_diff": float(np.abs(softmax(logits) - reference_probabilities).max()),
            "max_abs_logit_diff": float(np.abs(logits - reference).max()),
        }
    return report


def timing(runners: dict, images: torch.Tensor, batches, rounds: int, images_per_sample: int) -> tuple:
    """({batch: {name: [wall-clock µs per image, one per round]}}, the same in this process's CPU time),
    the variants alternating within every round. Both run on one thread, so CPU time is the work done,
    less sensitive than the wall clock to other processes taking the cores (not to their cache use)."""
    names = list(runners)
    inputs = {}
    for batch in batches:
        count = max(1, images_per_sample // batch)
        chunks = [images[(i * batch) % (len(images) - batch) :][:batch].contiguous() for i in range(count)]
        inputs[batch] = [(chunk, chunk.numpy()) for chunk in chunks]
    for batch, chunks in inputs.items():  # warm-up: first calls allocate, page in, pick kernels
        for run in runners.values():
            for chunk, array in chunks[:5]:
                run(chunk, array)
    samples = {batch: {name: [] for name in names} for batch in batches}
    cpu = {batch: {name: [] for name in names} for batch in batches}
    for round_ in range(rounds):
        order = names[round_ % len(names) :] + names[: round_ % len(names)]
        for batch in batches:
            for name in order:
                run = runners[name]
                start, start_cpu = time.perf_counter(), time.process_time()
                for chunk, array in inputs[batch]:
                    run(chunk, array)
                elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
                samples[batch][name].append(elapsed / (len(inputs[batch]) * batch) * 1e6)
                cpu[batch][name].append(elapsed_cpu / (len(inputs[batch]) * batch) * 1e6)
        print(
            f"round {round_ + 1}/{rounds}: "
            + "  ".join(
                f"b{batch} " + "/".join(f"{samples[batch][name][-1]:.0f}" for name in names) for batch in batches
            )
            + " µs per image",
            flush=True,
        )
    return samples, cpu


def summarise(samples: dict) -> dict:
    summary = {}
    for batch, by_name in samples.items():
        summary[batch] = {}
        for name, values in by_name.items():
            quartiles = statistics.quantiles(values, n=4) if len(values) >= 2 else [values[0]] * 3
            paired = [t / v for t, v in zip(by_name["torch"], values)]
            summary[batch][name] = {
                "median_us": statistics.median(values),
                "min_us": min(values),
                "max_us": max(values),
                "iqr_pct": 100 * (quartiles[2] - quartiles[0]) / statistics.median(values),
                "speedup_median": statistics.median(paired),
                "speedup_min": min(paired),
                "speedup_max": max(paired),
            }
    return summary


def markdown(summary: dict, cpu_summary: dict, checks: dict, rounds: int) -> str:
    names = list(next(iter(summary.values())))
    lines = [
        f"µs per image, median of {rounds} alternating rounds (IQR as % of the median; speed-up over torch "
        "paired within each round: median, min-max)",
        "",
        *table(summary, names),
        "",
        "the same in CPU time (this process's; less sensitive to other load)",
        "",
        *table(cpu_summary, names),
    ]
    lines += [
        "",
        "10,000 test images | accuracy | errors | predictions differing from torch | max abs softmax diff",
        "---|---:|---:|---:|---:",
    ]
    for name, c in checks.items():
        lines.append(
            f"{name} | {c['accuracy']:.2%} | {c['errors']} | {len(c['differences'])} | {c['max_abs_softmax_diff']:.2e}"
        )
    for name, c in checks.items():
        if c["differences"]:
            shown = ", ".join(
                f"#{d['index']} (label {d['label']}: torch {d['torch']}, {name} {d[name]})"
                for d in c["differences"][:20]
            )
            lines.append(f"\n{name} differs from torch on: {shown}" + (" ..." if len(c["differences"]) > 20 else ""))
    return "\n".join(lines)


def table(summary: dict, names: list) -> list:
    lines = [
        "| batch | " + " | ".join(names) + " |",
        "|---:|" + "---:|" * len(names),
    ]
    for batch, by_name in summary.items():
        cells = []
        for name in names:
            s = by_name[name]
            cell = f"{s['median_us']:.0f} (IQR {s['iqr_pct']:.0f} %)"
            if name != "torch":
                cell += f", {s['speedup_median']:.2f}x ({s['speedup_min']:.2f}-{s['speedup_max']:.2f})"
            cells.append(cell)
        lines.append(f"| {batch} | " + " | ".join(cells) + " |")
    return lines


def quantization_verdicts(checks: dict) -> dict:
    base = checks["onnx-fp32"]["accuracy"]
    return {
        name: c["accuracy"] >= ACCURACY_FLOOR and c["accuracy"] >= base - MAX_ACCURACY_LOSS - 1e-12
        for name, c in checks.items()
        if name == "onnx-int8"
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="torchvision MNIST root (env MNIST_DATA_ROOT)")
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--onnx", type=Path, help="time this float .onnx instead of exporting the weights")
    parser.add_argument("--no-quant", action="store_true", help="float only: no int8 graph")
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--images-per-sample", type=int, default=512, help="images per variant, batch size and round")
    parser.add_argument("--batches", type=int, nargs="+", default=list(BATCHES))
    parser.add_argument("--json", type=Path, help="also write every sample and check here")
    args = parser.parse_args()

    torch.set_num_threads(1)
    put_handler_modules_on_path()
    from mnist_handler import onnx_session  # the worker's own session: CPU, one thread, sequential

    model = load_model(args.weights)
    test_images, test_labels = mnist_test_images(args.data_root)
    with tempfile.TemporaryDirectory(prefix="forward_pass_") as folder:
        folder = Path(folder)
        fp32 = args.onnx or export_onnx(folder / "mnist_cnn.onnx", args.weights)
        paths = {"onnx-fp32": fp32}
        if not args.no_quant:
            paths["onnx-int8"] = quantize_int8(fp32, folder / "int8.onnx")
        sessions = {name: onnx_session(str(path)) for name, path in paths.items()}
        runners = make_runners(model, sessions)
        checks = correctness(runners, test_images, test_labels)
        samples, cpu_samples = timing(runners, test_images, args.batches, args.rounds, args.images_per_sample)
    summary, cpu_summary = summarise(samples), summarise(cpu_samples)
    verdicts = quantization_verdicts(checks)
    print()
    print(markdown(summary, cpu_summary, checks, args.rounds))
    for name, kept in verdicts.items():
        print(
            f"{name}: {'may be kept' if kept else 'NOT kept'} (accuracy {checks[name]['accuracy']:.2%} against "
            f"float {checks['onnx-fp32']['accuracy']:.2%}; floor {ACCURACY_FLOOR:.2%}, at most 0.02 points below)"
        )
    if args.json:
        import onnxruntime

        args.json.write_text(
            json.dumps(
                {
                    "torch": torch.__version__,
                    "onnxruntime": onnxruntime.__version__,
                    "rounds": args.rounds,
                    "samples_us_per_image": {str(b): v for b, v in samples.items()},
                    "summary": {str(b): v for b, v in summary.items()},
                    "cpu_samples_us_per_image": {str(b): v for b, v in cpu_samples.items()},
                    "cpu_summary": {str(b): v for b, v in cpu_summary.items()},
                    "checks": checks,
                    "int8_may_be_kept": verdicts,
                },
                indent=1,
            )
            + "\n"
        )


if __name__ == "__main__":
    main()
