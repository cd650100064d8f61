"""`make run` as a user runs it: scripts/serve.sh says READY once the model is, the curl it prints answers 7
through the front door, which serves the page and /docs, and Ctrl-C stops the front door, TorchServe and
every worker. The script runs in a copy of the repo of its own, on free
loopback ports, so it never meets a developer's own `make run` (ports 8080-8082, key_file.json in the repo)."""

import json
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests

from client.torchserve_api import MnistService
from tests.conftest import SERVING, on_path, require_tool
from torchserve_runner import REPO, free_port, frontend_of, workers_of
from torchserve_runner.process_tree import family, is_alive, kill

pytestmark = [pytest.mark.server, pytest.mark.slow]

# Generous bounds that raise, never assert a speed: TorchServe's start on a busy machine, and its stop.
READY_TIMEOUT = 300
STOP_TIMEOUT = 60
SWAGGER_UI = Path("auth_proxy/public/vendor/swagger-ui")  # fetched by make setup, not tracked


def working_copy(root: Path, model_store: Path) -> Path:
    """The tracked files as the working tree has them, .venv linked, make setup's Swagger UI and the session's
    .mar in model_store/: what serve.sh needs, and where its key_file.json and logs land instead of the repo."""
    listed = subprocess.run(["git", "ls-files", "-z"], cwd=REPO, capture_output=True, check=True).stdout
    for name in filter(None, listed.decode().split("\0")):
        source = REPO / name
        if source.exists() or source.is_symlink():  # not one deleted in the working tree
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, root / name, follow_symlinks=False)  # modes too: the scripts stay executable
    (root / ".venv").symlink_to(REPO / ".venv")
    shutil.copytree(REPO / SWAGGER_UI, root / SWAGGER_UI)
    shutil.copy(model_store / "mnist.mar", root / "model_store" / "mnist.mar")
    return root


class Output:
    """The script's stdout and stderr (TorchServe's log too), drained on a thread so the pipe never fills."""

    def __init__(self, stream):
        self.lines = []
        self._queue = queue.Queue()
        self._reader = threading.Thread(target=self._read, args=(stream,), daemon=True)
        self._reader.start()

    def _read(self, stream):
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def until(self, predicate, timeout: float) -> list:
        """The lines read up to and including the first that satisfies `predicate`; raises if the output ends
        or `timeout` passes first."""
        deadline = time.monotonic() + timeout
        read = []
        while True:
            try:
                line = self._queue.get(timeout=max(deadline - time.monotonic(), 0))
            except queue.Empty:
                raise TimeoutError(f"not printed within {timeout} s; output:\n{self.tail()}") from None
            if line is None:
                raise EOFError(f"the output ended first:\n{self.tail()}")
            self.lines.append(line)
            read.append(line)
            if predicate(line):
                return read

    def tail(self) -> str:
        return "\n".join(self.lines[-60:])


def name_of(process: psutil.Process) -> str:
    try:
        return process.name()
    except psutil.NoSuchProcess:
        return "(ended)"


def stop_for_sure(process: subprocess.Popen, members: list) -> list:
    """SIGKILL to every process of the family still alive (by PID, the frontend first so it starts no new
    worker); returns them, empty when SIGINT had ended everything."""
    alive = [member for member in [*members, *family(process)] if is_alive(member)]
    alive.sort(key=lambda member: name_of(member) != "java")
    kill(alive, timeout=30)
    process.wait(timeout=30)
    return alive


def alive_after(members: list, timeout: float) -> list:
    """Those of `members` still alive (a zombie is not) once all are gone or `timeout` has passed."""
    deadline = time.monotonic() + timeout
    while (alive := [member for member in members if is_alive(member)]) and time.monotonic() < deadline:
        time.sleep(0.2)
    return alive


def test_make_run_serves_the_printed_curl_and_ctrl_c_stops_everything(tmp_path, model_store):
    """The README's promise for `make run`, end to end through the real script."""
    require_tool("curl", on_path("curl"))
    copy = working_copy(tmp_path / "repo", model_store)
    ports = {
        name: free_port()
        for name in ("front_door", "inference", "management", "metrics", "grpc_inference", "grpc_management")
    }
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    inference, front_door = url["inference"], url["front_door"]
    (tmp_path / "tmp").mkdir()
    # Nothing of the caller's TorchServe or client settings, nor a proxy that curl would send the token to.
    environment = {
        name: value
        for name, value in os.environ.items()
        if not name.startswith(("TS_", "MNIST_")) and "proxy" not in name.lower()
    }
    served = {
        **environment,
        "FRONT_DOOR_PORT": str(ports["front_door"]),
        "TS_INFERENCE_ADDRESS": inference,
        "TS_MANAGEMENT_ADDRESS": url["management"],
        "TS_METRICS_ADDRESS": url["metrics"],
        "TS_GRPC_INFERENCE_PORT": str(ports["grpc_inference"]),
        "TS_GRPC_MANAGEMENT_PORT": str(ports["grpc_management"]),
        "TEMP": str(tmp_path / "tmp"),  # the workers' sockets, named by port number there: never another's
    }
    # A session of its own: its process group is what Ctrl-C in its terminal would signal.
    process = subprocess.Popen(
        [str(copy / "scripts" / "serve.sh")],
        cwd=tmp_path,
        env=served,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        errors="replace",
        start_new_session=True,
    )
    output = Output(process.stdout)
    members = []
    try:
        ready = output.until(lambda line: "READY on" in line, READY_TIMEOUT)[-1]
        assert ready == (
            f"MNIST digit service READY on {front_door} (TorchServe behind it: "
            f"inference 127.0.0.1:{ports['inference']}, management 127.0.0.1:{ports['management']}, "
            f"metrics 127.0.0.1:{ports['metrics']})."
        ), output.tail()
        message = output.until(lambda line: line.startswith("Ctrl-C stops"), 30)
        service = MnistService(inference, url["management"], copy / "key_file.json")
        assert service.ready_workers() >= 1, "READY printed before the model had a READY worker"
        assert f"  Draw a digit:  {front_door}/" in message, message
        assert f'  The API:       {front_door}/docs ("Authorize" with the token in {copy}/front_door_token)' in message

        (token_line,) = [line.strip() for line in message if line.strip().startswith("TOKEN=")]
        (curl_line,) = [line.strip() for line in message if line.strip().startswith("curl ")]
        assert curl_line.endswith(f" {front_door}/predictions/mnist"), curl_line  # the front door, on loopback
        # As printed, from the repo (the TOKEN line reads the token file by relative path).
        answer = subprocess.run(
            ["bash", "-c", f"set -euo pipefail\n{token_line}\n{curl_line}"],
            cwd=copy,
            env=environment,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert answer.returncode == 0, answer.stderr
        assert json.loads(answer.stdout)["digit"] == 7, answer.stdout
        # The page and the API's description are served there too, and the protocol's readiness, which the
        # front door reads from the management API with TorchServe's management key.
        pages = {path: requests.get(f"{front_door}{path}", timeout=30) for path in ("/", "/docs", "/openapi.yaml")}
        assert {path: page.status_code for path, page in pages.items()} == dict.fromkeys(pages, 200)
        token = (copy / "front_door_token").read_text().strip()
        ready = requests.get(
            f"{front_door}/v2/models/mnist/ready", headers={"Authorization": f"Bearer {token}"}, timeout=30
        )
        assert ready.status_code == 200 and ready.json() == {"name": "mnist", "ready": True}, ready.text

        # Every worker started, so the family below holds all of them.
        service.wait_until_ready(READY_TIMEOUT, min_workers=SERVING.workers)
        members = family(process)
        frontend_of(members)  # exactly one Java frontend, or LookupError
        assert len(workers_of(members)) >= SERVING.workers, members

        os.killpg(process.pid, signal.SIGINT)  # Ctrl-C
        exit_code = process.wait(timeout=STOP_TIMEOUT)
        left = alive_after(members, STOP_TIMEOUT)
        assert not left, f"still running after Ctrl-C: {[(p.pid, name_of(p)) for p in left]}\n{output.tail()}"
        assert exit_code == 130, output.tail()
    finally:
        killed = stop_for_sure(process, members)
    assert not killed  # reached only when the test passed: then nothing may have needed SIGKILL
