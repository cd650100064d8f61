"""The training recipe's pieces that other code relies on: the held-out split and the photo augmentation."""

import hashlib
import json
import shutil
import subprocess
import sys

import numpy as np
import pytest
import torch
from PIL import Image

from torchserve_runner import REPO
from training.data import DEFAULT_DATA_ROOT, PenAndFocus
from training.train import MNIST_ONLY_DIR, held_out_indices, make_deterministic, split_training_set


def test_held_out_indices_are_the_images_an_experiment_holds_out():
    # evaluate_photos --held-out makes its pictures from these: they must be the ones the run never saw.
    _, validation = split_training_set(DEFAULT_DATA_ROOT, 600, make_deterministic(0))
    assert held_out_indices(600) == validation.indices
    assert held_out_indices(600, seed=1) != validation.indices


def test_a_quick_run_trains_on_the_first_images_the_split_leaves_and_holds_out_the_same():
    full_training, validation = split_training_set(DEFAULT_DATA_ROOT, 600, make_deterministic(0))
    quick_training, quick_validation = split_training_set(DEFAULT_DATA_ROOT, 600, make_deterministic(0), train_size=50)
    assert quick_training.indices == full_training.indices[:50]
    assert quick_validation.indices == validation.indices
    quick_only, nothing_held_out = split_training_set(DEFAULT_DATA_ROOT, 0, make_deterministic(0), train_size=50)
    assert len(quick_only) == 50 and nothing_held_out is None


def ink(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.float32)


def test_a_thick_pen_widens_the_strokes(mnist_test_set):
    digit, _ = mnist_test_set[0]
    thick = PenAndFocus(thick=1.0, blur=0.0)(digit)
    assert (ink(thick) > 127).sum() > 1.5 * (ink(digit) > 127).sum()
    assert (ink(thick) >= ink(digit)).all()  # a grey dilation only adds ink


def test_a_blurred_digit_is_brought_back_to_full_contrast(mnist_test_set):
    digit, _ = mnist_test_set[0]
    torch.manual_seed(0)
    blurred = PenAndFocus(thick=0.0, blur=1.0)(digit)
    assert ink(blurred).max() == 255  # as the handler stretches a found digit's contrast
    assert (ink(blurred) > 0).sum() > (ink(digit) > 0).sum()  # spread beyond the strokes
    assert not np.array_equal(ink(blurred), ink(digit))


def test_most_digits_are_left_as_they_are_and_draws_follow_the_seed(mnist_test_set):
    digits = [mnist_test_set[i][0] for i in range(200)]
    augment = PenAndFocus(thick=0.15, blur=0.25)

    def changed(seed: int) -> list:
        torch.manual_seed(seed)
        return [not np.array_equal(ink(augment(d)), ink(d)) for d in digits]

    first = changed(0)
    assert 0.25 < np.mean(first) < 0.55  # thick 0.15 + blur 0.25
    assert changed(0) == first


@pytest.mark.slow  # a short training run
def test_the_picture_stage_keeps_its_bases_split_and_an_experiment_never_reads_the_test_set(tmp_path):
    """`make train`'s second stage as an experiment runs it: on a base whose run held out 1,000 training images
    with seed 1 (the committed first-stage weights, given that run record), a quick run of one epoch on 1,000
    images and 2 pictures a condition. It takes that split from the record and writes its weights and record,
    no test report."""
    base_dir, tuned_dir = tmp_path / "base", tmp_path / "tuned"
    base_dir.mkdir()
    base = base_dir / "mnist_cnn.pt"
    shutil.copyfile(MNIST_ONLY_DIR / "mnist_cnn.pt", base)
    (base_dir / "training_run.json").write_text(json.dumps({"hyperparameters": {"val_size": 1000, "seed": 1}}))
    subprocess.run(
        [sys.executable, "-m", "training.picture_tuning", "--epochs", "1", "--train-size", "1000"]
        + ["--per-condition", "2", "--base", str(base), "--out-dir", str(tuned_dir)],
        cwd=REPO,
        check=True,
        capture_output=True,
    )
    run = json.loads((tuned_dir / "picture_tuning_run.json").read_text())
    assert (tuned_dir / "mnist_cnn.pt").exists() and "val_accuracy" in run["history"][-1]
    assert not (tuned_dir / "test_report.json").exists()
    assert (run["hyperparameters"]["val_size"], run["hyperparameters"]["split_seed"]) == (1000, 1)
    assert run["base_weights"]["sha256"] == hashlib.sha256(base.read_bytes()).hexdigest()
    assert sum(run["pictures"]["refused"].values()) + run["pictures"]["prepared"] == 2 * 24
