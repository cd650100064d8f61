"""The container's start-up path, run here: its entrypoint script with the same arguments and config,
and the probe the HEALTHCHECK and the Kubernetes probes run."""

import signal
import time

import psutil
import pytest

from tests.conftest import run_probe
from torchserve_runner import TorchServe

pytestmark = pytest.mark.server

# As k8s/deployment.yaml sets them: token auth off inside the pod.
POD_ENV = {"TS_DISABLE_TOKEN_AUTHORIZATION": "true"}


@pytest.fixture
def read_only_store(model_store, tmp_path):
    """The image's model store: the .mar alone, not writable (root, as in CI, ignores the mode bits)."""
    store = tmp_path / "model-store"
    store.mkdir()
    (store / "mnist.mar").write_bytes((model_store / "mnist.mar").read_bytes())
    (store / "mnist.mar").chmod(0o444)
    store.chmod(0o555)
    yield store
    store.chmod(0o755)


def start_as_container(tmp_path, store, **env) -> TorchServe:
    # TorchServe is started through scripts/torchserve_foreground.sh, the image's ENTRYPOINT, every time.
    return TorchServe(tmp_path / "pod", store, extra_env={**POD_ENV, **env}).start()


def test_probe_passes_only_while_a_worker_is_ready(tmp_path, read_only_store):
    server = start_as_container(tmp_path, read_only_store)
    try:
        assert run_probe(server).returncode == 1  # at start nothing listens yet
        server.wait_until_ready(min_workers=2)
        assert run_probe(server).returncode == 0

        # No worker left: the frontend is up and /ping healthy, but nothing can predict.
        server.client().scale_workers(0)
        assert run_probe(server, "--frontend").returncode == 0
        not_ready = run_probe(server)
        assert not_ready.returncode == 1 and "no worker READY" in not_ready.stderr

        server.client().scale_workers(2)
        assert run_probe(server).returncode == 0
    finally:
        server.stop()


def test_probe_stays_ready_while_a_killed_worker_is_replaced(tmp_path, read_only_store):
    """One READY worker of two is enough: a worker restart must not take the pod (maybe the only replica)
    out of the Service. The probe is run while the describe call shows exactly one READY worker before and
    after it; a replacement that comes back faster than that is tried again."""
    server = start_as_container(tmp_path, read_only_store, TS_DEFAULT_WORKERS_PER_MODEL="2")
    try:
        server.wait_until_ready(min_workers=2)
        client = server.client()
        assert client.describe()["minWorkers"] == 2
        observed = None
        for _ in range(5):
            victim = server.workers()[0].pid
            psutil.Process(victim).kill()
            deadline = time.monotonic() + 120
            while True:
                workers = client.describe()["workers"]
                ready = sum(worker["status"] == "READY" for worker in workers)
                if ready == 1 or victim not in [worker["pid"] for worker in workers]:
                    break
                assert time.monotonic() < deadline, f"the killed worker {victim} is still listed READY"
                time.sleep(0.05)
            if ready == 1:
                result = run_probe(server)
                if client.ready_workers() == 1:  # still one of two READY: the probe saw that state
                    observed = result
                    break
            server.wait_until_ready(min_workers=2)
        assert observed is not None, "the killed worker was READY again before the probe could run, 5 times"
        assert observed.returncode == 0, observed.stderr
        server.wait_until_ready(min_workers=2)  # and the worker does come back
    finally:
        server.stop()


def test_probe_uses_the_token_when_token_auth_is_on(torchserve, tmp_path):
    assert run_probe(torchserve).returncode == 0  # key_file.json in the working directory, as in the image
    refused = run_probe(torchserve, cwd=tmp_path)  # no key file: TorchServe refuses
    assert refused.returncode == 1 and "400" in refused.stderr


def test_container_exits_non_zero_when_the_frontend_dies(tmp_path, read_only_store):
    server = start_as_container(tmp_path, read_only_store)
    try:
        server.wait_until_ready()
        server.frontend().send_signal(signal.SIGKILL)
        assert server.process.wait(timeout=60) == 1
        assert not [p for p in server.processes() if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]
    finally:
        server.stop()


def test_container_stops_cleanly_on_sigterm(tmp_path, read_only_store):
    server = start_as_container(tmp_path, read_only_store)
    try:
        server.wait_until_ready()
        family = server.processes()
        assert len(family) >= 4  # script, launcher, java, workers
        server.process.send_signal(signal.SIGTERM)  # what Kubernetes sends to the container's PID 1
        assert server.process.wait(timeout=60) == 0
        _, alive = psutil.wait_procs(family, timeout=30)
        assert not alive
    finally:
        server.stop()  # a no-op once it has stopped; ends the whole tree if an assertion failed
