"""Which pictures a change to the preprocessing alters, and how each is read before and after: the same
pictures (made by this tree's photo_evaluation) prepared by this tree's handler and by another checkout's,
each in a process of its own (the handler's modules import each other by bare name), then read by one model.

    git worktree add /tmp/before HEAD~1
    python -m photo_evaluation.compare_preprocessing --before /tmp/before --held-out 6000 \
        --conditions clean_form --first 6000 --n 4000

Prints a line for each picture whose prepared digit differs ("condition index, label L: read B -> A", 422
where it was refused), then how many were compared and differ, and how many of those are read right before and
after. This is how a step is judged on pictures of held-out training digits before the test digits are read.
The other checkout needs `torchserve_runner/handler_modules.py` (any commit since issue #23).
"""

# Only the standard library up here: this file also runs as the process that prepares the pictures with another
# checkout's handler (prepare_all), which must import nothing of this one.
import argparse
import pickle
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def prepare_all(tree: Path, pictures: Path, prepared: Path) -> None:
    """Prepare every picture body pickled in `pictures` with the handler of `tree`; pickle to `prepared` the
    tensors as numpy arrays, or the name of the refusal's error."""
    sys.path.insert(0, str(tree))
    from torchserve_runner.handler_modules import put_handler_modules_on_path

    put_handler_modules_on_path()
    from request_pipeline import prepare_request

    results = []
    for body in pickle.loads(pictures.read_bytes()):
        outcome = prepare_request({"body": body})
        results.append(type(outcome.error).__name__ if outcome.error is not None else outcome.tensors.numpy())
    prepared.write_bytes(pickle.dumps(results))


def prepared_by(tree: Path, pictures: Path, out: Path) -> list:
    """The pictures prepared by `tree`'s handler, in a process of its own (through the file `out`)."""
    subprocess.run([sys.executable, __file__, "--prepare", str(tree), str(pictures), str(out)], check=True)
    return pickle.loads(out.read_bytes())


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, required=True, help="the other checkout (e.g. a git worktree)")
    parser.add_argument("--after", type=Path, default=REPO, help="the checkout with the change (default: this one)")
    parser.add_argument("--conditions", nargs="*", default=None, help="default: every condition")
    parser.add_argument("--first", type=int, default=0, metavar="K", help="start at picture K of each condition")
    parser.add_argument("--n", type=int, default=200, help="pictures per condition")
    parser.add_argument(
        "--held-out", type=int, default=0, metavar="N", help="pictures of the N held-out training digits"
    )
    parser.add_argument("--weights", type=Path, default=None, help="the state_dict to read with")
    args = parser.parse_args(argv)

    import numpy as np
    import torch

    from model.loading import WEIGHTS, load_model
    from photo_evaluation.evaluate_photos import REFUSED, held_out_digits, read_digit, shown
    from photo_evaluation.make_photos import CONDITIONS, mnist_test_digits, pictures

    unknown = sorted(set(args.conditions or ()) - set(CONDITIONS))
    if unknown:
        parser.error(f"unknown conditions {unknown}; accepted: {', '.join(CONDITIONS)}")
    digits = held_out_digits(args.held_out) if args.held_out else mnist_test_digits()
    photos = list(pictures(args.n, args.conditions, digits=digits, first=args.first))
    with tempfile.TemporaryDirectory() as folder:
        bodies = Path(folder) / "pictures.pickle"
        bodies.write_bytes(pickle.dumps([photo.data for photo in photos]))
        before, after = (
            prepared_by(tree.resolve(), bodies, Path(folder) / f"{name}.pickle")
            for tree, name in ((args.before, "before"), (args.after, "after"))
        )

    model = load_model(args.weights or WEIGHTS)
    torch.set_num_threads(1)

    def read(prepared) -> int:
        return REFUSED if isinstance(prepared, str) else read_digit(model, torch.from_numpy(prepared))

    differ = right_before = right_after = 0
    for photo, one, other in zip(photos, before, after):
        if isinstance(one, str) or isinstance(other, str):  # a refusal's error name
            if isinstance(one, str) and isinstance(other, str) and one == other:
                continue
        elif np.array_equal(one, other):
            continue
        was, now = read(one), read(other)
        differ += 1
        right_before += was == photo.label
        right_after += now == photo.label
        print(f"{photo.condition} {photo.index}, label {photo.label}: read {shown(was)} -> {shown(now)}", flush=True)
    print(
        f"{len(photos)} pictures, {differ} prepared differently; of those, read right before {right_before}, "
        f"after {right_after}"
    )
    return 0


if __name__ == "__main__":
    if sys.argv[1:2] == ["--prepare"]:
        prepare_all(*map(Path, sys.argv[2:5]))
    else:
        sys.exit(main())
