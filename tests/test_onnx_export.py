"""The graphs build_mar.sh makes: the float export is the committed model; the int8 graph the archive serves
keeps its predictions and accuracy (issue #12's rule), but for test images listed here; the handler serves
that graph unchanged."""

import base64
import json

import numpy as np
import onnxruntime
import pytest
import torch
from torch.utils.data import DataLoader

from client.images import encode
from model.loading import load_model
from model.mnist_cnn import ONNX_INPUT, ONNX_OUTPUT
from tests.test_mnist_handler import handle_batch, handler  # noqa: F401 (handler: the fixture)
from torchserve_runner import built_model_store, served_graph
from training.data import DEFAULT_DATA_ROOT, EVAL_TRANSFORM, mnist

# The test images the int8 graph reads otherwise than the float model, index -> (label, float's digit, int8's
# digit). Retrained weights may add a digit the float model itself is unsure of; it is then looked at and
# listed here, and any other image changing its digit fails the test. The committed weights have one, a near
# tie in the float model too (7 at 0.377, 2 at 0.371: docs/model.md), which int8 reads right.
INT8_DIFFERENCES = {659: (2, 7, 2)}
ACCURACY_FLOOR = 0.9970
MAX_ACCURACY_LOSS = 0.0002  # int8 at most 0.02 points below float


@pytest.fixture(scope="module")
def test_tensors():
    images, labels = next(
        iter(DataLoader(mnist(DEFAULT_DATA_ROOT, train=False, transform=EVAL_TRANSFORM), batch_size=10_000))
    )
    return images, labels


@pytest.fixture(scope="module")
def eager_probabilities(test_tensors) -> torch.Tensor:
    model, images = load_model(), test_tensors[0]
    with torch.inference_mode():
        return torch.cat([torch.softmax(model(images[i : i + 1000]), dim=1) for i in range(0, len(images), 1000)])


def graph_probabilities(session: onnxruntime.InferenceSession, images: torch.Tensor) -> torch.Tensor:
    logits = [
        session.run([ONNX_OUTPUT], {ONNX_INPUT: images[i : i + 1000].numpy()})[0] for i in range(0, len(images), 1000)
    ]
    return torch.softmax(torch.from_numpy(np.concatenate(logits)), dim=1)


def archive_session(model_store, folder) -> onnxruntime.InferenceSession:
    return onnxruntime.InferenceSession(str(served_graph(model_store, folder)), providers=["CPUExecutionProvider"])


@pytest.mark.slow  # builds a float archive
def test_the_float_archives_graph_predicts_as_the_committed_state_dict(tmp_path, test_tensors, eager_probabilities):
    """PRECISION=float (the A/B runs' archive): the export alone, the eager model's digits on all 10,000."""
    session = archive_session(built_model_store(tmp_path / "float_store", precision="float"), tmp_path)
    images = test_tensors[0]
    for size in (1, 3, 64):  # any batch size: the graph's batch axis is dynamic
        (logits,) = session.run([ONNX_OUTPUT], {ONNX_INPUT: images[:size].numpy()})
        assert logits.shape == (size, 10)
    probabilities = graph_probabilities(session, images)
    assert torch.equal(probabilities.argmax(1), eager_probabilities.argmax(1))
    assert (probabilities - eager_probabilities).abs().max() < 1e-5


def test_the_archives_int8_graph_keeps_the_models_digits_and_accuracy(
    model_store, tmp_path, test_tensors, eager_probabilities
):
    session = archive_session(model_store, tmp_path)
    images, labels = test_tensors
    assert session.run([ONNX_OUTPUT], {ONNX_INPUT: images[:3].numpy()})[0].shape == (3, 10)
    int8, eager = graph_probabilities(session, images).argmax(1), eager_probabilities.argmax(1)
    differences = {
        int(i): (int(labels[i]), int(eager[i]), int(int8[i])) for i in torch.nonzero(int8 != eager).flatten()
    }
    assert set(differences) <= set(INT8_DIFFERENCES), differences
    assert all(INT8_DIFFERENCES[index] == found for index, found in differences.items())
    accuracy, float_accuracy = (int8 == labels).double().mean().item(), (eager == labels).double().mean().item()
    assert accuracy >= ACCURACY_FLOOR and accuracy >= float_accuracy - MAX_ACCURACY_LOSS - 1e-12


@pytest.mark.slow  # all 10,000 test images
def test_the_handler_serves_every_test_digit_as_the_archives_graph_does(handler, mnist_test_set, test_tensors):  # noqa: F811
    """Through the served path (decoding, preprocessing, ONNX Runtime, postprocess), single-image and
    multi-image requests in one batch: the same digit as the archive's graph on EVAL_TRANSFORM's tensors."""
    assert isinstance(handler[0].session, onnxruntime.InferenceSession) and handler[0].model is None
    expected = graph_probabilities(handler[0].session, test_tensors[0])
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
