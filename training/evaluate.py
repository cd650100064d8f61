"""Measure the committed weights on the 10,000 MNIST test images and write the report.

The test set is read here and nowhere in training. Usage (from the repo root):

    python -m training.evaluate --data-root ../shared/mnist
"""

import argparse
import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no display on servers or CI
import matplotlib.pyplot as plt  # noqa: E402
import torch  # noqa: E402
from torch.utils.data import DataLoader  # noqa: E402

from model.loading import MODEL_DIR, WEIGHTS, load_model  # noqa: E402
from model.mnist_cnn import MnistCNN  # noqa: E402
from training.data import DEFAULT_DATA_ROOT, EVAL_TRANSFORM, mnist  # noqa: E402


@torch.inference_mode()
def confusion_matrix(model: MnistCNN, data_root: str) -> torch.Tensor:
    """10x10 counts: row = true digit, column = predicted digit."""
    counts = torch.zeros(10, 10, dtype=torch.long)
    for images, labels in DataLoader(mnist(data_root, train=False, transform=EVAL_TRANSFORM), batch_size=1000):
        predicted = model(images).argmax(1)
        counts.index_put_((labels, predicted), torch.ones_like(labels), accumulate=True)
    return counts


def plot_confusion(counts: torch.Tensor, accuracy: float, path: Path) -> None:
    figure, axes = plt.subplots(figsize=(7, 6))
    # Log scale so the few mistakes are visible next to ~1,000 correct answers per digit.
    image = axes.imshow((counts + 1).log10().numpy(), cmap="Blues")
    for true_digit in range(10):
        for predicted in range(10):
            value = counts[true_digit, predicted].item()
            if value:
                colour = "white" if true_digit == predicted else "black"
                axes.text(predicted, true_digit, str(value), ha="center", va="center", fontsize=8, color=colour)
    axes.set(
        xticks=range(10),
        yticks=range(10),
        xlabel="predicted digit",
        ylabel="true digit",
        title=f"MNIST test set: {accuracy:.2%} of 10,000 correct",
    )
    figure.colorbar(image, ax=axes, label="log10(count + 1)")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)


def markdown(report: dict) -> str:
    rows = "\n".join(
        f"| {d} | {report['per_digit'][d]['count']} | {report['per_digit'][d]['accuracy']:.2%} | "
        + " ".join(str(c) for c in report["confusion_matrix"][d])
        + " |"
        for d in range(10)
    )
    return f"""# MNIST CNN: test-set report

Weights: `{report["weights"]}`. Test accuracy on the 10,000 MNIST test images:
**{report["accuracy"]:.2%}** ({report["errors"]} errors). The test set was used only for this report,
never to choose a model (the run record beside this report gives the fixed schedule that produced the
weights: `training_run.json` for MNIST training, `picture_tuning_run.json` for tuning on pictures).

| digit | images | accuracy | confusion row (predicted 0..9) |
|---|---:|---:|---|
{rows}

![confusion matrix](confusion_matrix.png)

Regenerate with `python -m training.evaluate --weights <these weights> --out-dir <this folder>` from the repo root.
"""


def write_report(weights_path: Path, data_root: str, out_dir: Path) -> dict:
    counts = confusion_matrix(load_model(weights_path), data_root)
    per_digit_total = counts.sum(1)
    correct = counts.diag().sum().item()
    total = per_digit_total.sum().item()
    report = {
        "weights": weights_path.name,
        "test_images": total,
        "accuracy": correct / total,
        "errors": total - correct,
        "per_digit": [
            {"count": per_digit_total[d].item(), "accuracy": counts[d, d].item() / per_digit_total[d].item()}
            for d in range(10)
        ],
        "confusion_matrix": counts.tolist(),
    }
    (out_dir / "test_report.json").write_text(json.dumps(report, indent=2) + "\n")
    (out_dir / "REPORT.md").write_text(markdown(report))
    plot_confusion(counts, report["accuracy"], out_dir / "confusion_matrix.png")
    print(f"test accuracy {report['accuracy']:.4%} ({report['errors']} errors); report in {out_dir}")
    return report


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="torchvision MNIST root (env MNIST_DATA_ROOT)")
    parser.add_argument("--weights", type=Path, default=WEIGHTS)
    parser.add_argument("--out-dir", type=Path, default=MODEL_DIR)
    args = parser.parse_args()
    write_report(args.weights, args.data_root, args.out_dir)


if __name__ == "__main__":
    main()
