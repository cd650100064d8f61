"""The ONNX export build_mar.sh packs is the committed model, and the handler serves it unchanged."""

import base64
import json
import zipfile

import numpy as np
import onnxruntime
import torch
from torch.utils.data import DataLoader

from client.images import encode
from model.loading import load_model
from tests.test_mnist_handler import handle_batch, handler  # noqa: F401 (handler: the fixture)
from training.data import DEFAULT_DATA_ROOT, EVAL_TRANSFORM, mnist

ONNX_FILE = "mnist_cnn.onnx"


def mnist_test_tensors():
    images, labels = next(iter(DataLoader(mnist(DEFAULT_DATA_ROOT, train=False, transform=EVAL_TRANSFORM), batch_size=10_000)))
    return images, labels


def eager_probabilities(images: torch.Tensor) -> torch.Tensor:
    model = load_model()
    with torch.inference_mode():
        return torch.cat([torch.softmax(model(images[i : i + 1000]), dim=1) for i in range(0, len(images), 1000)])


def test_the_archives_onnx_predicts_as_the_committed_state_dict(model_store, tmp_path):
    with zipfile.ZipFile(model_store / "mnist.mar") as archive:
        archive.extract(ONNX_FILE, tmp_path)
    session = onnxruntime.InferenceSession(str(tmp_path / ONNX_FILE), providers=["CPUExecutionProvider"])
    images, _ = mnist_test_tensors()
    expected = eager_probabilities(images).numpy()
    # Any batch size: the graph's batch axis is dynamic.
    for size in (1, 3, 64):
        (logits,) = session.run(["logits"], {"images": images[:size].numpy()})
        assert logits.shape == (size, 10)
    logits = np.concatenate([session.run(["logits"], {"images": images[i : i + 1000].numpy()})[0] for i in range(0, 10_000, 1000)])
    probabilities = torch.softmax(torch.from_numpy(logits), dim=1).numpy()
    assert np.array_equal(probabilities.argmax(1), expected.argmax(1))
    assert np.abs(probabilities - expected).max() < 1e-5


def test_the_handler_serves_every_test_digit_as_the_model_does(handler, mnist_test_set):  # noqa: F811
    """Through the served path (decoding, preprocessing, ONNX Runtime, postprocess), single-image and
    multi-image requests in one batch: the same digit as the eager model on EVAL_TRANSFORM's tensors."""
    assert isinstance(handler[0].session, onnxruntime.InferenceSession) and handler[0].model is None
    images, _ = mnist_test_tensors()
    expected = eager_probabilities(images)
    pngs = [encode(image) for image, _ in mnist_test_set]
    served = []
    for start in range(0, len(pngs), 40):  # a batch: 8 one-image requests and one of 32 instances
        singles, many = pngs[start : start + 8], pngs[start + 8 : start + 40]
        requests = [{"body": png} for png in singles]
        instances = [{"base64": base64.b64encode(png).decode()} for png in many]
        requests.append({"body": json.dumps({"instances": instances}).encode()})
        results = handle_batch(handler, requests)
        assert all(status == 200 for status, _ in results)
        served += [answer for _, answer in results[:-1]] + results[-1][1]["predictions"]
    assert len(served) == 10_000
    assert [answer["digit"] for answer in served] == expected.argmax(1).tolist()
    probabilities = torch.tensor([answer["probabilities"] for answer in served])
    assert (probabilities - expected).abs().max() < 1e-4  # rounded to 6 places, and preprocessing's 1e-6
