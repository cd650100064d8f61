"""The container's start-up path, run here: its entrypoint script with the same arguments and config,
and the probe the HEALTHCHECK and the Kubernetes probes run."""

import signal
import subprocess
import sys
import time
from types import SimpleNamespace

import psutil
import pytest

from tests.conftest import run_probe
from tests.loopback_http import LoopbackServer, proxied_environment, recording_proxy
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


def test_probe_sends_nothing_to_a_proxy_set_in_the_environment(torchserve):
    """urllib would hand the management key to a proxy from the environment, even for 127.0.0.1: the probe
    goes straight to TorchServe. The last step shows the same environment does route urllib's loopback
    requests through the proxy, so its silence is the probe's doing."""
    with recording_proxy() as proxy:
        environment = proxied_environment(proxy.url)
        for form in ([], ["--frontend"]):
            result = run_probe(torchserve, *form, environment=environment)
            assert result.returncode == 0, (form, result.stderr)
        assert proxy.requests == []

        ping = f"{torchserve.inference_url}/ping"
        honouring = f"import urllib.request; urllib.request.urlopen({ping!r}, timeout=30)"
        subprocess.run([sys.executable, "-I", "-c", honouring], env=environment, capture_output=True, timeout=60)
        assert [request.target for request in proxy.requests] == [ping]


@pytest.mark.parametrize("status", [301, 302, 303, 307, 308])
@pytest.mark.parametrize("form", [[], ["--frontend"]], ids=["model", "frontend"])
def test_probe_does_not_follow_a_redirect(torchserve, status, form):
    """A redirect would carry the key wherever it points. Here it points at the real, ready service, so a
    probe that followed it would pass: it must fail on the 3xx instead."""
    assert run_probe(torchserve, *form).returncode == 0  # where the redirect points, the probe passes

    def to_the_real_service(target):
        base = torchserve.inference_url if target == "/ping" else torchserve.management_url
        return status, {"Location": base + target}, b""

    with LoopbackServer(to_the_real_service) as redirector:
        # The session server's working directory (its key file), but addresses that answer with the redirect.
        redirecting = SimpleNamespace(
            management_url=redirector.url, inference_url=redirector.url, workdir=torchserve.workdir
        )
        result = run_probe(redirecting, *form)
    assert result.returncode == 1
    assert f"HTTP Error {status}" in result.stderr
    assert [request.target for request in redirector.requests] == ["/ping" if form else "/models/mnist"]


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
