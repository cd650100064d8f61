"""Start a peer on a free 127.0.0.1 port, wait until it answers a real prediction, and stop it for sure.

    peer = PEERS["fastapi"].start(workdir)
    try:
        peer.wait_until_ready(body_path)   # a POST of the bench's body until it is answered 200
        ... peer.url ...
    finally:
        peer.stop()

Each peer runs in a session of its own with one torch/OpenMP thread per process; stop() sends SIGTERM to
the whole process group, then SIGKILL to whatever of the family outlived it by 15 s.
"""

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from torchserve_runner import REPO, free_port, serving_config
from torchserve_runner.process_tree import family, is_alive, stop_session

PREDICT_PATH = "/predictions/mnist"
# The project's worker count and batching (config/config.properties), so every peer runs the same shape.
WORKERS = serving_config().workers
BATCHING = f"{serving_config().batch_size} / {serving_config().max_batch_delay_ms} ms"


@dataclass(frozen=True)
class PeerSpec:
    name: str
    label: str  # the benchmark's setup name
    module_command: tuple  # after `python -m`; "{port}" is replaced

    def start(self, workdir: Path) -> "PeerServer":
        return PeerServer(self, workdir).start()


PEERS = {
    "fastapi": PeerSpec(
        "fastapi",
        f"FastAPI + uvicorn[standard], {WORKERS} workers, 1 forward/request",
        (
            "uvicorn",
            "bench.peers.fastapi_app:app",
            "--host",
            "127.0.0.1",
            "--port",
            "{port}",
            "--workers",
            str(WORKERS),
            "--http",
            "httptools",
            "--loop",
            "uvloop",
            "--no-access-log",
            "--log-level",
            "warning",
        ),
    ),
    "litserve": PeerSpec(
        "litserve",
        f"LitServe, {WORKERS} workers, batch {BATCHING}",
        ("bench.peers.litserve_app", "--port", "{port}"),
    ),
}


class PeerServer:
    def __init__(self, spec: PeerSpec, workdir: Path):
        self.spec = spec
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}{PREDICT_PATH}"
        self.log_file = workdir / f"{spec.name}.log"
        self.process = None

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

    def post(self, body: bytes, timeout: float = 10) -> requests.Response:
        return requests.post(self.url, data=body, headers={"Content-Type": "application/json"}, timeout=timeout)

    def wait_until_ready(self, body_path: Path, timeout: float = 120) -> dict:
        """POST the body until it is answered 200 (every worker has loaded the model by then in uvicorn;
        LitServe answers only once its inference workers run); returns that answer."""
        body = body_path.read_bytes()
        deadline = time.monotonic() + timeout
        while True:
            if self.process.poll() is not None:
                raise RuntimeError(f"peer {self.spec.name} exited ({self.process.returncode}); log:\n{self.log()}")
            try:
                response = self.post(body, timeout=5)
                if response.status_code == 200:
                    # A few more, so both workers have served before load starts.
                    for _ in range(4):
                        self.post(body)
                    return response.json()
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"peer {self.spec.name} did not answer in {timeout:g} s; log:\n{self.log()}")
            time.sleep(0.3)

    def processes(self) -> list:
        return family(self.process)

    def stop(self) -> list:
        """Stops the peer and every process it started; returns the PIDs of any still alive after it (none)."""
        if self.process is None:
            return []
        members = self.processes()
        stop_session(self.process, grace_seconds=15)
        self.process = None
        return [process.pid for process in members if is_alive(process)]


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


if __name__ == "__main__":  # by hand: start one peer and answer one body
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        from bench.run_bench import sample_images, write_bodies

        body = write_bodies(sample_images(), Path(folder))["mnist_28"]
        peer = PEERS[sys.argv[1]].start(Path(folder) / "peer")
        try:
            print(json.dumps(peer.wait_until_ready(body)))
        finally:
            peer.stop()
