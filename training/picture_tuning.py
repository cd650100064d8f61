"""Fine-tune MNIST-trained weights on pictures as people send them, prepared by the handler itself: the second
stage of `make train` (training/EXPERIMENTS.md 7 chose the recipe on held-out digits).

Every condition of photo_evaluation.make_photos but the plain 28x28 one draws `--per-condition` pictures
of *training* digits from a random stream of its own (`--seed`, not the evaluation's), each is prepared by
request_pipeline.prepare_request as a request's body would be, and the model trains a few epochs on those
tensors beside the augmented training images. The training images are split as the base's own run split
them (its training_run.json beside the weights), so an experiment's held-out digits stay unseen here too.
The fixed schedule's last epoch is what ships: no test image is read before evaluate.py reports on it.

    python -m training.picture_tuning             # model/mnist_only/mnist_cnn.pt tuned: the served weights
    python -m training.picture_tuning --base /tmp/heldout/mnist_cnn.pt --out-dir /tmp/tuned
"""

import argparse
import concurrent.futures
import hashlib
import json
import multiprocessing
import time
from pathlib import Path

from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()  # the handler's modules import each other by bare name, as inside the .mar

import torch  # noqa: E402
from torch.utils.data import ConcatDataset, DataLoader, Subset  # noqa: E402

from model.loading import MODEL_DIR, load_model  # noqa: E402
from photo_evaluation.make_photos import CONDITIONS, picture  # noqa: E402
from request_pipeline import prepare_request  # noqa: E402
from training.data import mnist, train_transform  # noqa: E402
from training.train import (  # noqa: E402
    BLUR,
    MAX_BLUR_SIGMA,
    MNIST_ONLY_DIR,
    RUN_RECORD,
    THICK_PEN,
    make_deterministic,
    save_run,
    schedule_parser,
    split_training_set,
    train_on_schedule,
)

# The plain 28x28 digit is MNIST itself, already in the training images.
TUNING_CONDITIONS = [condition for condition in CONDITIONS if condition != "clean_mnist28"]


def parse_args() -> argparse.Namespace:
    parser = schedule_parser(__doc__, epochs=3, max_lr=0.02, out_dir=MODEL_DIR)
    parser.add_argument("--base", type=Path, default=MNIST_ONLY_DIR / "mnist_cnn.pt", help="the weights to tune")
    parser.add_argument("--per-condition", type=int, default=1000, help="pictures drawn for each condition")
    parser.add_argument("--seed", type=int, default=7, help="the pictures' random stream (the evaluation's is 2026)")
    parser.add_argument("--processes", type=int, default=2, help="processes preparing the pictures")
    return parser.parse_args()


def prepared_pictures(condition: str, count: int, digits, seed: int) -> tuple:
    """(tensors N x 1 x 28 x 28, labels N, refused) for pictures 0..count-1 of `condition` made from `digits`:
    each as the handler prepares a request's body; a picture it refuses (e.g. no digit found) is left out."""
    tensors, labels, refused = [], [], 0
    for index in range(count):
        photo = picture(condition, index, digits, seed)
        prepared = prepare_request({"body": photo.data})
        if prepared.error is not None:
            refused += 1
            continue
        tensors.append(prepared.tensors[0])
        labels.append(photo.label)
    empty = torch.empty(0, 1, 28, 28)
    return (torch.stack(tensors) if tensors else empty), torch.tensor(labels, dtype=torch.long), refused


_worker_digits = None  # each preparing process's training digits, loaded once by _load_digits


def _load_digits(data_root: str, indices: list) -> None:
    global _worker_digits
    torch.set_num_threads(1)
    _worker_digits = Subset(mnist(data_root, train=True), indices)


def _prepared_for(job: tuple) -> tuple:
    condition, count, seed = job
    return prepared_pictures(condition, count, _worker_digits, seed)


def tuning_pictures(data_root: str, indices: list, per_condition: int, seed: int, processes: int) -> tuple:
    """([(tensor 1 x 28 x 28, label)] of every condition's prepared pictures, {condition: refused}) from the
    training images at `indices`, the conditions prepared in `processes` processes. Labels are ints, as
    torchvision's MNIST gives them, so the two datasets batch together."""
    jobs = [(condition, per_condition, seed) for condition in TUNING_CONDITIONS]
    with concurrent.futures.ProcessPoolExecutor(
        processes,
        mp_context=multiprocessing.get_context("spawn"),  # not fork: this process already runs torch's threads
        initializer=_load_digits,
        initargs=(data_root, indices),
    ) as pool:
        results = list(pool.map(_prepared_for, jobs))
    tensors = torch.cat([result[0] for result in results])
    labels = torch.cat([result[1] for result in results])
    refused = {condition: result[2] for condition, result in zip(TUNING_CONDITIONS, results)}
    return list(zip(tensors, labels.tolist())), refused


def base_split(base: Path) -> tuple:
    """(val_size, seed) of the run that trained `base`, read from its training_run.json beside it: the
    split this stage must keep, or it would tune on digits that run held out."""
    record = base.parent / RUN_RECORD
    if not record.exists():
        raise SystemExit(f"{record} not found: the base weights' run record gives the training images' split")
    hyperparameters = json.loads(record.read_text())["hyperparameters"]
    return hyperparameters["val_size"], hyperparameters["seed"]


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> None:
    args = parse_args()
    torch.set_num_threads(args.threads)
    args.val_size, args.split_seed = base_split(args.base)
    generator = make_deterministic(args.split_seed)  # the split and order, as the base's run drew them
    augmentation = train_transform(THICK_PEN, BLUR, MAX_BLUR_SIGMA)  # as the base weights were trained
    train_set, val_set = split_training_set(args.data_root, args.val_size, generator, augmentation, args.train_size)
    indices = train_set.indices if isinstance(train_set, Subset) else list(range(len(train_set)))

    started = time.perf_counter()
    pictures, refused = tuning_pictures(args.data_root, indices, args.per_condition, args.seed, args.processes)
    preparing_seconds = time.perf_counter() - started
    print(f"{len(pictures):,} pictures prepared in {preparing_seconds / 60:.1f} min; refused: {refused}")

    loader = DataLoader(
        ConcatDataset([train_set, pictures]),
        batch_size=args.batch_size,
        shuffle=True,
        drop_last=True,
        generator=generator,
    )
    model = load_model(args.base)
    history = train_on_schedule(model, loader, args, val_set, pct_start=0.2)
    facts = {
        "base_weights": {"path": str(args.base), "sha256": sha256(args.base)},
        "pictures": {"conditions": TUNING_CONDITIONS, "prepared": len(pictures), "refused": refused},
        "preparing_seconds": round(preparing_seconds),
        "history": history,
    }
    save_run(model, args, val_set, "picture_tuning_run.json", facts)


if __name__ == "__main__":
    main()
