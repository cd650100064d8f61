"""The command-line client (client/predict.py, client/wait_ready.py), run as a user runs it: `python -m ...`
in a subprocess, addressed through MNIST_INFERENCE_URL, MNIST_MANAGEMENT_URL and MNIST_KEY_FILE, against a
real TorchServe; and its promise to ignore the environment's proxy, which would otherwise receive the keys."""

import os
import re
import subprocess
import sys

import pytest

from tests.conftest import IMAGES, SEVEN_PNG
from tests.loopback_http import proxied_environment, recording_proxy
from torchserve_runner import REPO, free_port

pytestmark = pytest.mark.server


def run_client(module: str, server, *args, environment=None) -> subprocess.CompletedProcess:
    """`python -m client.<module> args` from the repo root, addressed to `server` as the docs say: through
    MNIST_INFERENCE_URL, MNIST_MANAGEMENT_URL and MNIST_KEY_FILE (in `environment`, default this process's)."""
    env = {
        **(os.environ if environment is None else environment),
        "MNIST_INFERENCE_URL": server.inference_url,
        "MNIST_MANAGEMENT_URL": server.management_url,
        "MNIST_KEY_FILE": str(server.key_file),
    }
    return subprocess.run(
        [sys.executable, "-m", f"client.{module}", *map(str, args)],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )


def prediction_line(path, digit) -> str:
    """client/predict.py's line for one image: `path: digit (confidence %)`."""
    return rf"^{re.escape(str(path))}: {digit} \(\d+\.\d%\)$"


def test_predict_prints_the_digit_of_an_image_file(torchserve):
    seven = IMAGES / "seven.png"
    result = run_client("predict", torchserve, seven)
    assert result.returncode == 0, result.stderr
    assert re.fullmatch(prediction_line(seven, 7), result.stdout.strip()), result.stdout


def test_predict_expands_a_folder_to_its_images_in_name_order(torchserve, tmp_path):
    """Only files with an image suffix (any case) are sent: a folder of photos may hold other files."""
    folder = tmp_path / "photos"
    folder.mkdir()
    for name in ("b_seven.PNG", "a_seven.png"):
        (folder / name).write_bytes(SEVEN_PNG)
    (folder / "notes.txt").write_text("not an image, and not sent")
    result = run_client("predict", torchserve, folder)
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert len(lines) == 2, result.stdout
    assert re.fullmatch(prediction_line(folder / "a_seven.png", 7), lines[0]), lines
    assert re.fullmatch(prediction_line(folder / "b_seven.PNG", 7), lines[1]), lines


def test_predict_reports_each_bad_file_and_exits_1_after_answering_the_good_ones(torchserve, tmp_path):
    """A file the service refuses and one that cannot be read each get an error line naming the file and
    why; the good image is still answered, and the exit code (1) says something failed."""
    not_an_image = tmp_path / "not_an_image.png"
    not_an_image.write_bytes(b"plain text, not a PNG")
    missing = tmp_path / "missing.png"
    seven = IMAGES / "seven.png"
    result = run_client("predict", torchserve, not_an_image, seven, missing)
    assert result.returncode == 1
    assert re.fullmatch(prediction_line(seven, 7), result.stdout.strip()), result.stdout
    refused, unreadable = result.stderr.splitlines()
    assert refused.startswith(f"{not_an_image}: error: 415 from {torchserve.prediction_url}: "), refused
    assert "PNG" in refused  # the service's explanation of what it accepts comes through
    assert unreadable.startswith(f"{missing}: error: [Errno 2] No such file or directory"), unreadable


def test_wait_ready_exits_0_once_a_starting_server_has_a_ready_worker_and_1_with_none(own_server):
    """`make run` (scripts/serve.sh) waits on it from the moment TorchServe starts: nothing listens yet,
    then there is no key file, then the workers load. With the model scaled to no workers it must not
    report ready, and says why."""
    server = own_server()
    waiting = run_client("wait_ready", server, "--timeout", 180)
    assert waiting.returncode == 0, waiting.stderr
    client = server.client()
    assert client.ready_workers() >= 1

    client.scale_workers(0)
    never_ready = run_client("wait_ready", server, "--timeout", 2)
    assert never_ready.returncode == 1
    assert "model 'mnist' not READY after 2 s: 0 READY workers, 1 wanted" in never_ready.stderr


def test_wait_ready_exits_1_with_the_reason_when_nothing_listens(tmp_path):
    class Nowhere:
        inference_url = management_url = f"http://127.0.0.1:{free_port()}"
        key_file = tmp_path / "key_file.json"

    result = run_client("wait_ready", Nowhere, "--timeout", 1)
    assert result.returncode == 1
    assert "model 'mnist' not READY after 1 s" in result.stderr
    assert "Connection refused" in result.stderr


def test_client_sends_nothing_to_a_proxy_set_in_the_environment(torchserve):
    """A proxy would receive the bearer keys: the client's predictions and readiness checks go straight to
    TorchServe. The last step shows the proxy variables do route loopback requests of a client that
    honours them, so the proxy's silence is the client's doing."""
    with recording_proxy() as proxy:
        environment = proxied_environment(proxy.url)
        predicted = run_client("predict", torchserve, IMAGES / "seven.png", environment=environment)
        assert predicted.returncode == 0, predicted.stderr
        assert re.fullmatch(prediction_line(IMAGES / "seven.png", 7), predicted.stdout.strip()), predicted.stdout
        ready = run_client("wait_ready", torchserve, "--timeout", 30, environment=environment)
        assert ready.returncode == 0, ready.stderr
        assert proxy.requests == []

        honouring = f"import requests; requests.get({torchserve.inference_url + '/ping'!r}, timeout=30)"
        subprocess.run([sys.executable, "-c", honouring], env=environment, check=True, timeout=60)
        assert [request.target for request in proxy.requests] == [f"{torchserve.inference_url}/ping"]
