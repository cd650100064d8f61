"""Start a peer on a free 127.0.0.1 port, wait until it answers a real prediction, and stop it for sure.

    peer = PEERS["fastapi"].start(workdir)
    try:
        peer.wait_until_ready()   # a POST of the bench's digit until it is answered 200
        ... peer.prediction_url, peer.inference_headers("application/json") ...
    finally:
        peer.stop()

The same interface as torchserve_runner.TorchServe's, so the benchmark drives either alike.

Each peer runs in a session of its own with one torch/OpenMP thread per process; stop() sends SIGTERM to
the whole process group, then SIGKILL to whatever of the family outlived it by 15 s.
"""

import json
import os
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from bench import SERVING
from bench.payloads import json_bodies
from client.torchserve_api import MODEL_NAME
from torchserve_runner import REPO, free_port
from torchserve_runner.process_tree import family, stop_session
from torchserve_runner.server import START_ATTEMPTS, port_taken


@dataclass(frozen=True)
class PeerSpec:
    name: str
    label: str  # the benchmark's setup name
    module_command: tuple  # after `python -m`; "{port}" is replaced

    def start(self, workdir: Path) -> "PeerServer":
        return PeerServer(self, workdir).start()


def uvicorn_command(app: str) -> tuple:
    """uvicorn with its standard extras (httptools, uvloop): FastAPI's best documented setup."""
    return (
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        "{port}",
        "--workers",
        str(SERVING.workers),
        "--http",
        "httptools",
        "--loop",
        "uvloop",
        "--no-access-log",
        "--log-level",
        "warning",
    )


PEERS = {
    "fastapi": PeerSpec(
        "fastapi",
        f"FastAPI + uvicorn[standard], {SERVING.workers} workers, 1 forward/request",
        uvicorn_command("bench.peers.fastapi_app:app"),
    ),
    "litserve": PeerSpec(
        "litserve",
        f"LitServe, {SERVING.workers} workers, batch {SERVING.batch_size} / {SERVING.max_batch_delay_ms} ms",
        ("bench.peers.litserve_app", "--port", "{port}"),
    ),
    "seed": PeerSpec(
        "seed",
        f"the seed's design: FastAPI + uvicorn[standard], {SERVING.workers} workers, grey + resize to 28x28",
        uvicorn_command("bench.peers.seed_app:app"),
    ),
}


class PeerServer:
    def __init__(self, spec: PeerSpec, workdir: Path):
        self.spec = spec
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.log_file = workdir / f"{spec.name}.log"
        self.process = None

    @property
    def prediction_url(self) -> str:
        return f"http://127.0.0.1:{self.port}/predictions/{MODEL_NAME}"

    def command(self) -> list:
        return [sys.executable, "-m", *(part.replace("{port}", str(self.port)) for part in self.spec.module_command)]

    def start(self) -> "PeerServer":
        env = {**os.environ, "PYTHONPATH": str(REPO), "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(
                self.command(), cwd=self.workdir, env=env, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
            )
        return self

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-20_000:]

    def inference_headers(self, content_type: str = None) -> dict:
        """No token: a peer has no auth. The Content-Type when given."""
        return {"Content-Type": content_type} if content_type else {}

    def wait_until_ready(self, timeout: float = 120) -> None:
        """POST the bench's digit until it is answered 200 (every worker has loaded the model by then in
        uvicorn; LitServe answers only once its inference workers run), then a few more, so both workers
        have served before load starts. Its port was free when picked: if another process took it before
        the peer bound it, the peer exits and is started again on a new one (START_ATTEMPTS in all)."""
        body = json_bodies()["mnist_28"]
        deadline = time.monotonic() + timeout
        attempts = 1
        while True:
            if self.process.poll() is not None:
                if port_taken(self.log()) and attempts < START_ATTEMPTS:
                    attempts += 1
                    self.port = free_port()
                    self.start()
                    continue
                raise RuntimeError(f"peer {self.spec.name} exited ({self.process.returncode}); log:\n{self.log()}")
            try:
                if self._post(body, timeout=5).status_code == 200:
                    for _ in range(4):
                        self._post(body)
                    return
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"peer {self.spec.name} did not answer in {timeout:g} s; log:\n{self.log()}")
            time.sleep(0.3)

    def _post(self, body: bytes, timeout: float = 10) -> requests.Response:
        headers = self.inference_headers("application/json")
        return requests.post(self.prediction_url, data=body, headers=headers, timeout=timeout)

    def processes(self) -> list:
        return family(self.process)

    def stop(self) -> list:
        """Stops the peer and every process it started; returns the PIDs still alive after it (none)."""
        if self.process is None:
            return []
        left = stop_session(self.process, grace_seconds=15)
        self.process = None
        return left


def answer_matches(answer: dict, reference: dict, tolerance: float = 1e-5) -> bool:
    """Same digit and the same probabilities (to the handler's 6 decimals, give or take one rounding step)."""
    try:
        return (
            answer["digit"] == reference["digit"]
            and len(answer["probabilities"]) == len(reference["probabilities"])
            and all(abs(a - b) <= tolerance for a, b in zip(answer["probabilities"], reference["probabilities"]))
        )
    except (KeyError, TypeError):
        return False


if __name__ == "__main__":  # by hand: start one peer and answer the bench's digit
    with tempfile.TemporaryDirectory() as folder:
        peer = PEERS[sys.argv[1]].start(Path(folder))
        try:
            peer.wait_until_ready()
            print(json.dumps(peer._post(json_bodies()["mnist_28"]).json()))
        finally:
            peer.stop()
