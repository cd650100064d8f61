"""How well the handler reads photo-like pictures: every picture of photo_evaluation.make_photos through the
handler's own path in process (request_pipeline.prepare_request with {"body": <file bytes>}, then the
committed model), accuracy by condition, overall, clean vs photo, and the CPU time of preprocessing.

    python -m photo_evaluation.evaluate_photos            # N=200 per condition
    python -m photo_evaluation.evaluate_photos --n 20 --out /tmp/results
    python -m photo_evaluation.evaluate_photos --held-out 6000 --weights /tmp/heldout_model/mnist_cnn.pt \
        --conditions clean_form form_photo --first 1000 --n 2000    # fresh pictures to choose on
    git show 2a9ad11^:model/mnist_cnn.pt > /tmp/weights_before_11.pt
    python -m photo_evaluation.evaluate_photos --baseline --weights /tmp/weights_before_11.pt \
        --out photo_evaluation/results/baseline           # the preprocessing and weights before issue #11

Writes <out>/accuracy.md (the table) and <out>/failures.png (a contact sheet of failed pictures, each with
its true and predicted label; "422" where the picture was refused as holding no digit).
"""

import argparse
import io
import statistics
import time
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Sequence

from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()  # the handler's modules import each other by bare name, as inside the .mar

import torch  # noqa: E402
from PIL import Image, ImageDraw  # noqa: E402

from model.loading import WEIGHTS, load_model  # noqa: E402
from photo_evaluation.make_photos import (  # noqa: E402
    CLEAN,
    CONDITIONS,
    DEFAULT_N,
    DEFAULT_SEED,
    PHOTO,
    Photo,
    mnist_test_digits,
    pictures,
)  # noqa: E402
from request_pipeline import prepare_request  # noqa: E402

RESULTS = Path(__file__).resolve().parent / "results"
REFUSED = -1  # prediction recorded for a picture the handler refused (an InputError, e.g. 422 NoDigitFound)


@dataclass
class Outcome:
    photo: Photo
    predicted: int
    cpu_seconds: float  # prepare_request's CPU time (decoding + preprocessing)
    refusal: Optional[str] = None

    @property
    def right(self) -> bool:
        return self.predicted == self.photo.label


def read_digit(model, tensors) -> int:
    """The digit the model reads in one prepared picture (`prepare_request`'s tensors)."""
    with torch.inference_mode():
        return int(model(tensors).argmax(1)[0])


def shown(predicted: int) -> str:
    """A prediction as the reports show it: the digit, or 422 for a refused picture."""
    return "422" if predicted == REFUSED else str(predicted)


def run(photos, model=None) -> List[Outcome]:
    model = model if model is not None else load_model()
    outcomes = []
    for photo in photos:
        start = time.process_time()
        prepared = prepare_request({"body": photo.data})
        cpu = time.process_time() - start
        if prepared.error is not None:
            outcomes.append(Outcome(photo, REFUSED, cpu, type(prepared.error).__name__))
            continue
        outcomes.append(Outcome(photo, read_digit(model, prepared.tensors), cpu))
    return outcomes


TOTALS = ("clean (all)", "photo (all)", "overall")


def groups_of(condition: str) -> list:
    """The rows a picture of `condition` counts in: its own, its kind's (clean forms, photos; a drawing
    such as canvas_fat_brush is neither) and the overall one."""
    kind = "clean (all)" if condition in CLEAN else "photo (all)" if condition in PHOTO else None
    return [condition, *([kind] if kind else []), "overall"]


def summary(outcomes: Sequence[Outcome]) -> dict:
    """{group: (right, total, median and worst preprocessing CPU ms)} by condition, then clean, photo,
    overall."""
    groups = defaultdict(list)
    for outcome in outcomes:
        for group in groups_of(outcome.photo.condition):
            groups[group].append(outcome)
    order = [c for c in CONDITIONS if c in groups] + [g for g in TOTALS if g in groups]
    return {
        group: (
            sum(o.right for o in groups[group]),
            len(groups[group]),
            1000 * statistics.median(o.cpu_seconds for o in groups[group]),
            1000 * max(o.cpu_seconds for o in groups[group]),
        )
        for group in order
    }


def table(outcomes: Sequence[Outcome], title: str = "") -> str:
    lines = [f"### {title}", ""] if title else []
    lines += [
        "| condition | right / pictures | accuracy | refused (422) | CPU ms / picture: median | worst |",
        "|---|---:|---:|---:|---:|---:|",
    ]
    refused = defaultdict(int)
    for o in outcomes:
        if o.refusal:
            for group in groups_of(o.photo.condition):
                refused[group] += 1
    for group, (right, total, median_ms, worst_ms) in summary(outcomes).items():
        name = f"**{group}**" if group in TOTALS else group
        lines.append(
            f"| {name} | {right} / {total} | {100 * right / total:.1f} % | {refused[group]} | {median_ms:.1f} | "
            f"{worst_ms:.1f} |"
        )
    return "\n".join(lines) + "\n"


def contact_sheet(
    failures: Sequence[Outcome], path: Path, cell: int = 120, columns: int = 10, limit: int = 300
) -> None:
    failures = list(failures)[:limit]
    rows = max(1, -(-len(failures) // columns))
    sheet = Image.new("RGB", (columns * cell, rows * (cell + 14)), "white")
    draw = ImageDraw.Draw(sheet)
    for k, outcome in enumerate(failures):
        picture = Image.open(io.BytesIO(outcome.photo.data)).convert("RGBA")  # a transparent canvas shows on white
        picture = Image.alpha_composite(Image.new("RGBA", picture.size, "white"), picture).convert("RGB")
        picture.thumbnail((cell - 4, cell - 4))
        x, y = (k % columns) * cell, (k // columns) * (cell + 14)
        sheet.paste(picture, (x + 2, y + 2))
        said = f"{outcome.photo.condition[:11]} {outcome.photo.label}->{shown(outcome.predicted)}"
        draw.text((x + 2, y + cell), said, fill=(200, 0, 0))
    if not failures:
        draw.text((4, 4), "no failures", fill=(0, 0, 0))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)


def held_out_digits(count: int):
    """The training digits a recipe experiment with --val-size `count` never trained on, as (image, label)."""
    from torch.utils.data import Subset

    from training.data import DEFAULT_DATA_ROOT, mnist
    from training.train import held_out_indices

    return Subset(mnist(DEFAULT_DATA_ROOT, train=True), held_out_indices(count))


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=DEFAULT_N, help="pictures per condition")
    parser.add_argument("--seed", type=int, default=DEFAULT_SEED)
    parser.add_argument(
        "--first",
        type=int,
        default=0,
        metavar="K",
        help="start at picture K of each condition: pictures a set of choices was not made on",
    )
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--conditions", nargs="*", choices=list(CONDITIONS), default=None)
    parser.add_argument("--title", default="", help="heading of the table in accuracy.md")
    parser.add_argument("--baseline", action="store_true", help="measure the preprocessing before issue #11")
    parser.add_argument(
        "--weights", type=Path, default=WEIGHTS, help="the state_dict to read with (a recipe experiment's)"
    )
    parser.add_argument(
        "--held-out",
        type=int,
        default=0,
        metavar="N",
        help="make the pictures from the N training images `training.train --val-size N` holds out "
        "instead of the test digits: judges a recipe without reading the test set",
    )
    args = parser.parse_args(argv)
    if args.baseline:
        import request_pipeline
        from photo_evaluation import baseline_preprocessing

        request_pipeline.to_mnist_tensor = baseline_preprocessing.to_mnist_tensor

    torch.set_num_threads(1)
    digits = held_out_digits(args.held_out) if args.held_out else mnist_test_digits()
    photos = pictures(args.n, args.conditions, digits=digits, seed=args.seed, first=args.first)
    outcomes = run(photos, load_model(args.weights))
    which = "preprocessing before issue #11" if args.baseline else "handler/mnist_preprocessing.py"
    source = f", {args.held_out} held-out training digits" if args.held_out else ""
    source += f", pictures {args.first}-{args.first + args.n - 1}" if args.first else ""
    text = table(
        outcomes, args.title or f"Photo evaluation ({which}), N={args.n} per condition, seed {args.seed}{source}"
    )
    print(text)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "accuracy.md").write_text(text)
    contact_sheet([o for o in outcomes if not o.right], args.out / "failures.png")
    print(f"wrote {args.out / 'accuracy.md'} and {args.out / 'failures.png'}")


if __name__ == "__main__":
    main()
