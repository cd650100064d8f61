"""Train the MNIST CNN on the 60,000 training images with a fixed schedule, then evaluate it once: the first
stage of `make train` (training/picture_tuning.py is the second).

The weights are those of the last epoch: no model selection happens, so the test accuracy that
evaluate.py reports afterwards is an honest estimate.
Recipe changes are judged with --val-size, which holds out part of the *training* images and reports
accuracy on them after every epoch. Usage (from the repo root):

    python -m training.train                  # the shipped run (model/mnist_only/): all 60,000 images, the report
    python -m training.train --val-size 6000 --out-dir /tmp/experiment   # an experiment: no test images read
"""

import argparse
import json
import platform
import random
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import DataLoader, Subset
from tqdm import tqdm

from model.loading import MODEL_DIR
from model.mnist_cnn import WIDTH, MnistCNN
from training import evaluate
from training.data import DEFAULT_DATA_ROOT, EVAL_TRANSFORM, TRAIN_TRANSFORM, mnist, train_transform

# The shipped recipe's photo augmentation (PenAndFocus): shares of digits given a marker's width or blurred,
# and the largest blur in 28 px pixels.
THICK_PEN, BLUR, MAX_BLUR_SIGMA = 0.05, 0.10, 2.0
# This stage's weights and report; the served ones in model/ are tuned from them (training/picture_tuning.py).
MNIST_ONLY_DIR = MODEL_DIR / "mnist_only"
# This stage's run record beside its weights; the picture stage reads a base's split from it.
RUN_RECORD = "training_run.json"


def schedule_parser(description: str, epochs: int, max_lr: float, out_dir: Path) -> argparse.ArgumentParser:
    """The arguments of a stage's schedule (train_on_schedule) and run (save_run), with its defaults."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--data-root", default=DEFAULT_DATA_ROOT, help="torchvision MNIST root (env MNIST_DATA_ROOT)")
    parser.add_argument("--epochs", type=int, default=epochs)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--max-lr", type=float, default=max_lr, help="peak of the one-cycle learning rate")
    parser.add_argument("--weight-decay", type=float, default=5e-4)
    parser.add_argument("--label-smoothing", type=float, default=0.1)
    parser.add_argument("--threads", type=int, default=torch.get_num_threads())
    parser.add_argument("--out-dir", type=Path, default=out_dir)
    parser.add_argument(
        "--train-size", type=int, help="train on only this many of the images the split leaves (a quick run)"
    )
    return parser


def parse_args() -> argparse.Namespace:
    parser = schedule_parser(__doc__, epochs=32, max_lr=0.1, out_dir=MNIST_ONLY_DIR)
    parser.add_argument("--val-size", type=int, default=0, help="hold out this many training images (experiments)")
    parser.add_argument("--width", type=int, default=WIDTH, help="the first block's channels (MnistCNN's width)")
    # Photos (issue #11): a few digits drawn with a marker or out of focus, as the handler passes them on
    # (training/EXPERIMENTS.md, experiment 5f); 0 and 0 train on MNIST's own pen only.
    parser.add_argument(
        "--thick-pen", type=float, default=THICK_PEN, help="share of digits given a marker's width (PenAndFocus)"
    )
    parser.add_argument(
        "--blur", type=float, default=BLUR, help="share of digits blurred as out of focus (PenAndFocus)"
    )
    parser.add_argument("--max-blur-sigma", type=float, default=MAX_BLUR_SIGMA, help="largest blur, in 28 px pixels")
    parser.add_argument("--seed", type=int, default=0)
    return parser.parse_args()


def make_deterministic(seed: int) -> torch.Generator:
    random.seed(seed)
    torch.manual_seed(seed)
    torch.use_deterministic_algorithms(True)
    return torch.Generator().manual_seed(seed)


def split_training_set(
    data_root: str, val_size: int, generator: torch.Generator, transform=TRAIN_TRANSFORM, train_size: int | None = None
):
    """(augmented training subset, un-augmented validation subset or None) from the 60,000 training images:
    the first val_size of a random order held out, the rest (or its first train_size) trained on."""
    augmented = mnist(data_root, train=True, transform=transform)
    if not val_size and train_size is None:
        return augmented, None
    order = torch.randperm(len(augmented), generator=generator).tolist()
    validation = None
    if val_size:  # held out un-augmented, as it is read
        validation = Subset(mnist(data_root, train=True, transform=EVAL_TRANSFORM), order[:val_size])
    return Subset(augmented, order[val_size:][:train_size]), validation


def held_out_indices(val_size: int, seed: int = 0, count: int = 60_000) -> list:
    """The training images a run with `--val-size val_size --seed seed` holds out: split_training_set's
    first draw from that run's generator (for judging a recipe on them elsewhere, e.g. as photos)."""
    return torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()[:val_size]


@torch.no_grad()
def accuracy(model, dataset) -> float:
    model.eval()
    correct = sum((model(images).argmax(1) == labels).sum().item() for images, labels in DataLoader(dataset, 1000))
    return correct / len(dataset)


def train_one_epoch(model, loader, loss_fn, optimizer, scheduler, description: str) -> dict:
    model.train()
    seen = correct = 0
    loss_sum = 0.0
    progress = tqdm(loader, desc=description, unit="batch", leave=False)
    for images, labels in progress:
        logits = model(images)
        loss = loss_fn(logits, labels)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        scheduler.step()
        seen += labels.numel()
        correct += (logits.argmax(1) == labels).sum().item()
        loss_sum += loss.item() * labels.numel()
        progress.set_postfix(loss=f"{loss_sum / seen:.4f}", acc=f"{correct / seen:.4f}")
    return {"loss": loss_sum / seen, "train_accuracy": correct / seen}


def train_on_schedule(model, loader, args, val_set, pct_start: float = 0.3) -> list:
    """The fixed schedule both stages follow: args.epochs of one-cycle SGD (Nesterov momentum, peak
    args.max_lr) with label smoothing; each epoch's figures, with accuracy on val_set when one is held out."""
    loss_fn = nn.CrossEntropyLoss(label_smoothing=args.label_smoothing)
    optimizer = torch.optim.SGD(
        model.parameters(), lr=args.max_lr, momentum=0.9, nesterov=True, weight_decay=args.weight_decay
    )
    scheduler = torch.optim.lr_scheduler.OneCycleLR(
        optimizer, max_lr=args.max_lr, epochs=args.epochs, steps_per_epoch=len(loader), pct_start=pct_start
    )
    history = []
    for epoch in range(1, args.epochs + 1):
        epoch_started = time.perf_counter()
        stats = train_one_epoch(model, loader, loss_fn, optimizer, scheduler, f"epoch {epoch}/{args.epochs}")
        stats.update(epoch=epoch, seconds=round(time.perf_counter() - epoch_started, 1))
        if val_set is not None:
            stats.update(val_accuracy=accuracy(model, val_set))
        history.append(stats)
        print(json.dumps(stats))
    return history


def save_run(model, args, val_set, record: str, facts: dict) -> None:
    """Into args.out_dir: the last epoch's weights, the run's record (`facts`, the arguments, the machine and
    the versions) and, unless a validation split was held out, the test report."""
    args.out_dir.mkdir(parents=True, exist_ok=True)
    weights_path = args.out_dir / "mnist_cnn.pt"
    torch.save(model.state_dict(), weights_path)
    run = {
        "hyperparameters": {k: str(v) if isinstance(v, Path) else v for k, v in vars(args).items()},
        **facts,
        "machine": {"cpu_threads": args.threads, "platform": platform.platform()},
        "versions": {"torch": torch.__version__, "python": platform.python_version()},
    }
    (args.out_dir / record).write_text(json.dumps(run, indent=2) + "\n")
    print(f"wrote {weights_path} and {record}")
    if val_set is None:  # experiments on a validation split never look at the test set
        evaluate.write_report(weights_path, args.data_root, args.out_dir)


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    generator = make_deterministic(args.seed)
    transform = train_transform(args.thick_pen, args.blur, args.max_blur_sigma)
    train_set, val_set = split_training_set(args.data_root, args.val_size, generator, transform, args.train_size)
    loader = DataLoader(
        train_set,
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        generator=generator,
    )
    started = time.perf_counter()
    model = MnistCNN(width=args.width)
    history = train_on_schedule(model, loader, args, val_set)
    training_seconds = time.perf_counter() - started
    facts = {"parameters": sum(p.numel() for p in model.parameters()), "training_seconds": round(training_seconds)}
    save_run(model, args, val_set, RUN_RECORD, {**facts, "history": history})


if __name__ == "__main__":
    main()
