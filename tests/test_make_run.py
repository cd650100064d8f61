"""`make run` as a user runs it: scripts/serve.sh says READY once the model is, the curl it prints answers 7
through the front door, which serves the pages, reads readiness with TorchServe's keys and answers every
request Schemathesis generates from auth_proxy/public/openapi.yaml as that document says; Ctrl-C stops the
front door, TorchServe and every worker. The script runs in a copy of the repo of its own, on free loopback
ports, so it never meets a developer's own `make run` (ports 8000-8082, the token files in the repo)."""

import collections
import json
import os
import queue
import shutil
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

import psutil
import pytest
import requests
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    ignored_auth,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from client.torchserve_api import MnistService
from tests.conftest import SERVING, SEVEN_PNG, on_path, require_tool
from torchserve_runner import REPO, free_port, frontend_of, workers_of
from torchserve_runner.process_tree import family, is_alive, kill
from torchserve_runner.server import START_ATTEMPTS, port_taken

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


PORT_NAMES = ("front_door", "inference", "management", "metrics", "grpc_inference", "grpc_management")


def served_environment(environment: dict, ports: dict, temp: Path) -> dict:
    """`environment` with serve.sh's ports set to `ports` (PORT_NAMES) and the workers' sockets in `temp`."""
    url = {name: f"http://127.0.0.1:{port}" for name, port in ports.items()}
    return {
        **environment,
        "FRONT_DOOR_PORT": str(ports["front_door"]),
        "TS_INFERENCE_ADDRESS": url["inference"],
        "TS_MANAGEMENT_ADDRESS": url["management"],
        "TS_METRICS_ADDRESS": url["metrics"],
        "TS_GRPC_INFERENCE_PORT": str(ports["grpc_inference"]),
        "TS_GRPC_MANAGEMENT_PORT": str(ports["grpc_management"]),
        "TEMP": str(temp),  # the workers' sockets, named by port number there: never another's
    }


class MakeRun:
    """scripts/serve.sh run in a working copy on free loopback ports, once it has printed what it prints when
    READY (`message`). Its TorchServe keeps token auth on; its front door admits the token in `token`."""

    def __init__(self, root: Path, model_store: Path):
        self.root = root
        self.copy = working_copy(root / "repo", model_store)
        (root / "tmp").mkdir()
        # Nothing of the caller's TorchServe or client settings, nor a proxy that curl would send the token to.
        self.environment = {
            name: value
            for name, value in os.environ.items()
            if not name.startswith(("TS_", "MNIST_")) and "proxy" not in name.lower()
        }
        # The ports were free when picked; another process may take one before TorchServe or nginx binds it
        # (the suite's own connections draw from the same range): then serve.sh ends at once, saying so, and
        # it is started again on new ones, as torchserve_runner does for its servers.
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self.ready_line = self._start()
                break
            except EOFError:
                if attempt == START_ATTEMPTS or not port_taken(self.output.tail()):
                    raise
                self.process.wait(timeout=STOP_TIMEOUT)
        self.message = self.output.until(lambda line: line.startswith("Ctrl-C stops"), 30)
        self.token = (self.copy / "front_door_token").read_text().strip()
        self.torchserve = MnistService(self.url["inference"], self.url["management"], self.copy / "key_file.json")

    def _start(self) -> str:
        """serve.sh on newly picked ports; the line it prints once READY (EOFError if it ends first)."""
        self.ports = {name: free_port() for name in PORT_NAMES}
        self.url = {name: f"http://127.0.0.1:{port}" for name, port in self.ports.items()}
        # A session of its own: its process group is what Ctrl-C in its terminal would signal.
        self.process = subprocess.Popen(
            [str(self.copy / "scripts" / "serve.sh")],
            cwd=self.root,
            env=served_environment(self.environment, self.ports, self.root / "tmp"),
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
            errors="replace",
            start_new_session=True,
        )
        self.output = Output(self.process.stdout)
        return self.output.until(lambda line: "READY on" in line, READY_TIMEOUT)[-1]


@pytest.fixture(scope="module")
def make_run(tmp_path_factory, model_store):
    """`make run`, for this module's tests; the last of them stops it with Ctrl-C."""
    require_tool("curl", on_path("curl"))
    run = MakeRun(tmp_path_factory.mktemp("make-run"), model_store)
    try:
        yield run
    finally:
        stop_for_sure(run.process, [])


def test_make_run_ends_at_once_saying_why_when_torchserve_cannot_start(tmp_path, model_store):
    """With TorchServe's inference port taken, TorchServe ends at once; serve.sh says so and exits 1 (it used
    to wait out its 120 s for a READY model that could not come, then blame the model)."""
    copy = working_copy(tmp_path / "repo", model_store)
    (tmp_path / "tmp").mkdir()
    ports = {name: free_port() for name in PORT_NAMES}
    environment = {name: value for name, value in os.environ.items() if not name.startswith(("TS_", "MNIST_"))}
    with socket.create_server(("127.0.0.1", ports["inference"])):
        ended = subprocess.run(
            [str(copy / "scripts" / "serve.sh")],
            cwd=tmp_path,
            env=served_environment(environment, ports, tmp_path / "tmp"),
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            errors="replace",
            timeout=READY_TIMEOUT,
        )
    output = ended.stdout + ended.stderr
    assert ended.returncode == 1, output[-5000:]
    assert "serve.sh: TorchServe ended before the model was READY" in output and port_taken(output), output[-5000:]


def test_make_run_says_ready_once_the_model_is_and_where_everything_is(make_run):
    front_door = make_run.url["front_door"]
    assert make_run.ready_line == (
        f"MNIST digit service READY on {front_door} (TorchServe behind it: "
        f"inference 127.0.0.1:{make_run.ports['inference']}, management 127.0.0.1:{make_run.ports['management']}, "
        f"metrics 127.0.0.1:{make_run.ports['metrics']})."
    ), make_run.output.tail()
    assert make_run.torchserve.ready_workers() >= 1, "READY printed before the model had a READY worker"
    assert f"  Draw a digit:  {front_door}/" in make_run.message
    token_file = make_run.copy / "front_door_token"
    assert f'  The API:       {front_door}/docs ("Authorize" with the token in {token_file})' in make_run.message
    assert len(make_run.token) == 43 and token_file.stat().st_mode & 0o077 == 0  # secrets.token_urlsafe(32), 0600


def test_the_printed_curl_answers_through_the_front_door(make_run):
    (token_line,) = [line.strip() for line in make_run.message if line.strip().startswith("TOKEN=")]
    (curl_line,) = [line.strip() for line in make_run.message if line.strip().startswith("curl ")]
    assert curl_line.endswith(f" {make_run.url['front_door']}/predictions/mnist"), curl_line
    # As printed, from the repo (the TOKEN line reads the token file by relative path).
    answer = subprocess.run(
        ["bash", "-c", f"set -euo pipefail\n{token_line}\n{curl_line}"],
        cwd=make_run.copy,
        env=make_run.environment,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert answer.returncode == 0, answer.stderr
    assert json.loads(answer.stdout)["digit"] == 7, answer.stdout


def test_the_front_door_serves_the_pages_and_reads_readiness_with_torchserve_s_keys(make_run):
    """TorchServe keeps its token auth on behind make run's front door: the front door holds its keys."""
    front_door = make_run.url["front_door"]
    pages = {path: requests.get(f"{front_door}{path}", timeout=30) for path in ("/", "/docs", "/openapi.yaml")}
    assert {path: page.status_code for path, page in pages.items()} == dict.fromkeys(pages, 200)
    headers = {"Authorization": f"Bearer {make_run.token}"}
    ready = requests.get(f"{front_door}/v2/models/mnist/ready", headers=headers, timeout=30)
    assert ready.status_code == 200 and ready.json() == {"name": "mnist", "ready": True}, ready.text
    # TorchServe itself still wants its own key: the front door's token is not one.
    direct = requests.post(
        f"{make_run.url['inference']}/predictions/mnist", data=SEVEN_PNG, headers=headers, timeout=30
    )
    assert direct.status_code == 400 and direct.json()["type"] == "InvalidKeyException"


# Schemathesis: every operation of the public API's contract against make run's front door.
API = schemathesis.openapi.from_path(REPO / "auth_proxy" / "public" / "openapi.yaml")
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
    response_headers_conformance,
    ignored_auth,
]
CASES = 40  # generated cases per operation, besides the document's examples and Schemathesis's coverage cases
# Statuses answered, by operation: printed when the module ends (pytest -rA shows them) for the notes.
ANSWERED = collections.defaultdict(collections.Counter)


@schemathesis.serializer("image/bmp", "image/tiff")
def picture_bytes(context, value) -> bytes:
    """Bodies of the picture types Schemathesis has no serializer for: the generated binary as it is."""
    return value if isinstance(value, bytes) else str(value).encode()


@API.parametrize()
@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_answer_of_the_front_door_conforms_to_openapi_yaml(case, make_run):
    """No 5xx, only documented statuses, each body in its documented schema and content type, and no answer
    without the token."""
    headers = {"Authorization": f"Bearer {make_run.token}"}
    answer = case.call_and_validate(base_url=make_run.url["front_door"], headers=headers, checks=CHECKS)
    ANSWERED[f"{case.operation.method.upper()} {case.operation.path}"][answer.status_code] += 1


def test_ctrl_c_stops_the_front_door_torchserve_and_every_worker(make_run):
    """The last test of the module. Once every worker has started, Ctrl-C in make run's terminal (SIGINT to
    its process group) ends everything it started, and it exits 130."""
    for operation, statuses in sorted(ANSWERED.items()):
        print(f"schemathesis {operation}: {sum(statuses.values())} cases, {dict(sorted(statuses.items()))}")
    make_run.torchserve.wait_until_ready(READY_TIMEOUT, min_workers=SERVING.workers)
    members = family(make_run.process)
    frontend_of(members)  # exactly one Java frontend, or LookupError
    assert len(workers_of(members)) >= SERVING.workers, members
    assert [member for member in members if name_of(member) == "nginx"], "no front door among its processes"
    os.killpg(make_run.process.pid, signal.SIGINT)  # Ctrl-C
    exit_code = make_run.process.wait(timeout=STOP_TIMEOUT)
    left = alive_after(members, STOP_TIMEOUT)
    assert not left, f"still running after Ctrl-C: {[(p.pid, name_of(p)) for p in left]}\n{make_run.output.tail()}"
    assert exit_code == 130, make_run.output.tail()
