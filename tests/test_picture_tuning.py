"""The second training stage's pictures (training/picture_tuning.py): made from the digits it is given, prepared
as the handler prepares a request, refusals left out and counted."""

import json

import pytest
import torch
from PIL import Image

from model.loading import load_model
from photo_evaluation.make_photos import CONDITIONS, picture
from request_pipeline import prepare_request
from training.picture_tuning import TUNING_CONDITIONS, base_split, prepared_pictures
from training.train import MNIST_ONLY_DIR


def test_every_condition_but_the_plain_28x28_digit_is_tuned_on():
    assert set(TUNING_CONDITIONS) == set(CONDITIONS) - {"clean_mnist28"}


def test_pictures_are_the_handlers_tensors_with_their_digits_labels(mnist_test_set):
    digits = [mnist_test_set[i] for i in range(50)]
    tensors, labels, refused = prepared_pictures("clean_form", 8, digits, seed=7)
    photos = [picture("clean_form", index, digits, seed=7) for index in range(8)]
    assert refused == 0 and tensors.shape == (8, 1, 28, 28)
    assert labels.tolist() == [photo.label for photo in photos]
    assert torch.equal(tensors[3], prepare_request({"body": photos[3].data}).tensors[0])
    with torch.inference_mode():  # the MNIST-only weights read them: digits, not noise
        read = load_model(MNIST_ONLY_DIR / "mnist_cnn.pt")(tensors).argmax(1)
    assert (read == labels).sum().item() >= 7


def test_a_picture_the_handler_refuses_is_left_out_and_counted():
    blank = [(Image.new("L", (28, 28)), 3)]
    tensors, labels, refused = prepared_pictures("clean_canvas", 4, blank, seed=7)
    assert refused == 4 and tensors.shape == (0, 1, 28, 28) and labels.shape == (0,)


def test_the_split_is_the_base_runs_own():
    assert base_split(MNIST_ONLY_DIR / "mnist_cnn.pt") == (0, 0)  # the shipped base trained on all 60,000


def test_a_base_without_its_run_record_is_refused_with_the_reason(tmp_path):
    (tmp_path / "mnist_cnn.pt").write_bytes(b"")
    with pytest.raises(SystemExit, match="training_run.json not found"):
        base_split(tmp_path / "mnist_cnn.pt")
    (tmp_path / "training_run.json").write_text(json.dumps({"hyperparameters": {"val_size": 6000, "seed": 1}}))
    assert base_split(tmp_path / "mnist_cnn.pt") == (6000, 1)
