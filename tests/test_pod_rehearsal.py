"""The pod rehearsal: both images built from this repo by a real container engine (podman), and the pod
started as `kubectl kustomize k8s/` renders it (tests/kube_pod.py), then used through the auth proxy's
port as the NodePort would reach it. Skipped, with the reason, where podman cannot run (not root, not
installed). What only a real cluster shows (scheduling, Service routing, HPA, PDB) is not rehearsed here.
"""

import concurrent.futures
import re
import subprocess
import threading
import time

import psutil
import pytest
import yaml

from tests import container_engine
from tests.conftest import SEVEN_PNG
from tests.kube_pod import KubePod
from tests.request_bodies import B64_SEVEN, BAD_BODIES, INPUT_FORMS
from torchserve_runner import REPO, frontend_of, workers_of
from torchserve_runner.process_tree import peak_rss_bytes

pytestmark = [
    pytest.mark.container,
    pytest.mark.slow,
    pytest.mark.skipif(bool(reason := container_engine.unavailable_reason()), reason=reason or ""),
]

PROXY_PORT = 8000
MANAGEMENT_PORT = 8081
SECRET = "mnist-inference-token"


@pytest.fixture(scope="session")
def images(tmp_path_factory):
    KubePod.remove_leftovers()
    seconds = container_engine.build_images(tmp_path_factory.mktemp("images") / "build.log")
    sizes = container_engine.podman("images", "--format", "{{.Repository}}:{{.Tag}} {{.Size}}", "--filter", "reference=mnist-*").stdout
    print(f"\nimages built in {seconds:.0f} s:\n{sizes}")


@pytest.fixture(scope="session")
def resources() -> dict:
    rendered = subprocess.run([str(REPO / ".venv" / "bin" / "kubectl"), "kustomize", str(REPO / "k8s")],
                              capture_output=True, text=True, check=True).stdout
    return {(doc["kind"], doc["metadata"]["name"]): doc for doc in yaml.safe_load_all(rendered)}


def new_token() -> str:
    """A token made exactly as scripts/deploy_minikube.sh makes it: its own new_token function."""
    script = REPO / "scripts" / "deploy_minikube.sh"
    command = f'eval "$(sed -n "/^new_token()/,/^}}/p" {script})"; new_token'
    return subprocess.run(["bash", "-c", command], capture_output=True, text=True, check=True).stdout.strip()


class RunningPod:
    def __init__(self, pod: KubePod, token: str):
        self.pod = pod
        self.token = token
        self.probes_at_start = {}
        self.seconds_to_ready = None

    def predict(self, token=None, **body):
        headers = {"Authorization": f"Bearer {token or self.token}", **body.pop("headers", {})}
        return self.pod.request("POST", PROXY_PORT, "/predictions/mnist", headers=headers, **body)


def start_pod(resources, workdir) -> RunningPod:
    token = new_token()
    running = RunningPod(KubePod(resources, workdir, secrets={SECRET: {"token": token}}).start(), token)
    try:
        # Right after start nothing can predict yet: the probes the kubelet runs must say so.
        running.probes_at_start = {kind: running.pod.probe("torchserve", kind) for kind in ("startupProbe", "readinessProbe")}
        started = time.monotonic()
        running.pod.wait_until("torchserve", "startupProbe", timeout=300)
        running.seconds_to_ready = time.monotonic() - started
        running.pod.wait_until("auth-proxy", "readinessProbe", timeout=60)
    except BaseException:
        running.pod.remove()
        raise
    return running


@pytest.fixture(scope="module")
def pod(images, resources, tmp_path_factory):
    running = start_pod(resources, tmp_path_factory.mktemp("pod"))
    print(f"\ncold start to a READY worker in the container: {running.seconds_to_ready:.1f} s")
    try:
        yield running
    finally:
        running.pod.remove()


def test_the_image_runs_our_stack_with_the_test_pins(pod):
    pins = dict(re.findall(r"^([\w-]+)==([\w.]+)", (REPO / "requirements" / "serving.txt").read_text(), re.MULTILINE))
    script = "import importlib.metadata as m, sys; print(sys.version.split()[0]); [print(p, m.version(p)) for p in sys.argv[1:]]"
    answer = pod.pod.exec("torchserve", "python3", "-c", script, *pins)
    assert answer.returncode == 0, answer.stderr
    python, *installed = answer.stdout.splitlines()
    assert python.startswith("3.11.")
    for line in installed:
        name, version = line.split()
        assert version.split("+")[0] == pins[name], line  # "+cpu": PyTorch's CPU build of the same version
    java = pod.pod.exec("torchserve", "java", "-version")
    assert re.search(r'version "17\.', java.stderr), java.stderr
    # Nothing to build with, and no pip cache, in the final image.
    for path in ("/usr/bin/gcc", "/usr/bin/cc", "/root/.cache/pip", "/home/model-server/.cache/pip"):
        assert pod.pod.exec("torchserve", "test", "-e", path).returncode == 1, path


@pytest.mark.parametrize("container, user", [("torchserve", "1000"), ("auth-proxy", "101")])
def test_each_container_runs_with_its_security_context(pod, container, user):
    status = pod.pod.exec(container, "cat", "/proc/1/status").stdout
    assert re.search(rf"^Uid:\s+{user}\s", status, re.MULTILINE)
    assert re.search(r"^CapEff:\s+0+$", status, re.MULTILINE)  # every capability dropped
    assert re.search(r"^NoNewPrivs:\s+1$", status, re.MULTILINE)
    refused = pod.pod.exec(container, "touch", "/etc/written-by-the-test")
    assert refused.returncode != 0 and "Read-only file system" in refused.stderr
    assert pod.pod.exec(container, "touch", "/tmp/written-by-the-test").returncode == 0  # its emptyDir


@pytest.mark.parametrize("body", INPUT_FORMS)
def test_every_input_form_through_the_proxy(pod, body):
    answer = pod.predict(**dict(body))
    assert answer.status_code == 200, answer.text
    assert answer.json()["digit"] == 7


@pytest.mark.parametrize("body, status, words", BAD_BODIES)
def test_bad_input_through_the_proxy(pod, body, status, words):
    answer = pod.predict(**dict(body))
    assert answer.status_code == status, answer.text
    assert answer.json()["code"] == status and words in answer.json()["message"]


@pytest.mark.parametrize(
    "authorization",
    [None, "Bearer wrong", "bearer {token}", "Bearer {upper}", "Bearer {token}x", "Bearer {short}", "{token}"],
    ids=["none", "wrong", "scheme-lower-case", "token-upper-case", "longer", "shorter", "no-scheme"],
)
def test_only_the_exact_token_is_admitted(pod, authorization):
    headers = {}
    if authorization:
        headers["Authorization"] = authorization.format(token=pod.token, upper=pod.token.upper(), short=pod.token[:-1])
    answer = pod.pod.request("POST", PROXY_PORT, "/predictions/mnist", data=SEVEN_PNG, headers=headers)
    assert answer.status_code == 401
    assert answer.json()["code"] == 401 and "Authorization: Bearer" in answer.json()["message"]
    assert len(pod.token) == 43  # secrets.token_urlsafe(32): longer than nginx's default map bucket allowed
    assert pod.predict(data=SEVEN_PNG).status_code == 200


def test_a_get_is_refused_with_the_json_error_shape(pod):
    answer = pod.pod.request("GET", PROXY_PORT, "/predictions/mnist", headers={"Authorization": f"Bearer {pod.token}"})
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert answer.json()["code"] == 405


def test_memory_of_frontend_and_workers_under_load_fits_the_limit(pod, resources):
    """Peak memory (VmHWM) of the frontend and each worker after single images and 64-image batches."""
    batch = {"json": {"instances": [{"base64": B64_SEVEN}] * 64}}
    with concurrent.futures.ThreadPoolExecutor(8) as load:
        answers = list(load.map(lambda i: pod.predict(**(dict(batch) if i % 4 == 0 else {"data": SEVEN_PNG})).status_code, range(400)))
    assert answers == [200] * 400
    family = psutil.Process(pod.pod.host_pid("torchserve")).children(recursive=True)
    frontend = frontend_of(family)
    workers = workers_of(family)
    assert len(workers) == 2
    assert {"-Xmx256m", "-XX:MaxDirectMemorySize=256m"} <= set(frontend.cmdline())  # config.properties' vmargs
    peaks = {"frontend": peak_rss_bytes(frontend.pid) / 2**20,
             **{f"worker {i + 1}": peak_rss_bytes(w.pid) / 2**20 for i, w in enumerate(workers)}}
    print("\npeak RSS in the image after 400 requests (a quarter of them 64-image batches): "
          + ", ".join(f"{name} {mib:.0f} MiB" for name, mib in peaks.items()))
    limit = pod.pod.containers["torchserve"]["resources"]["limits"]["memory"]
    assert sum(peaks.values()) < int(limit.removesuffix("Mi").removesuffix("Gi")) * (1024 if limit.endswith("Gi") else 1)


def test_the_image_healthcheck_passes(pod):
    result = container_engine.podman("healthcheck", "run", pod.pod.container_id("torchserve"), check=False)
    assert result.returncode == 0, result.stdout + result.stderr


def test_probes_failed_at_start_and_follow_the_ready_workers(pod):
    # Last on this pod: TorchServe 0.12 in the container leaves one worker process behind when it scales to 0.
    assert pod.probes_at_start == {"startupProbe": False, "readinessProbe": False}
    for container, kind in [("torchserve", "readinessProbe"), ("torchserve", "livenessProbe"), ("auth-proxy", "readinessProbe")]:
        assert pod.pod.probe(container, kind), (container, kind)
    try:
        scale(pod, 0)
        assert probe_turns(pod, "readinessProbe", False)  # nothing can predict
        assert pod.pod.probe("torchserve", "livenessProbe")  # but the frontend is alive: no restart
        scale(pod, 1)
        assert probe_turns(pod, "readinessProbe", True)  # one READY worker is enough
    finally:
        scale(pod, 2)
        assert probe_turns(pod, "readinessProbe", True)


def scale(pod, workers: int) -> None:
    # Asynchronous: TorchServe 0.12 may answer a synchronous scale-down with a 500 although it scaled.
    answer = pod.pod.request("PUT", MANAGEMENT_PORT, f"/models/mnist?min_worker={workers}&max_worker={workers}")
    assert answer.status_code == 202, answer.text


def probe_turns(pod, kind: str, passing: bool, attempts: int = 60) -> bool:
    """Whether the torchserve container's probe comes to `passing` within `attempts` runs a second apart."""
    for _ in range(attempts):
        if pod.pod.probe("torchserve", kind) == passing:
            return True
        time.sleep(1)
    return False


def test_sigterm_under_load_drains_requests_in_flight_and_exits_zero(images, resources, tmp_path):
    """As a rolling update deletes a pod: the Service stops sending new requests, the requests in flight
    (here 64-image batches that take a while) are answered, and both containers exit 0."""
    running = start_pod(resources, tmp_path)
    routed = threading.Event()
    routed.set()
    batch = {"json": {"instances": [{"base64": B64_SEVEN}] * 64}}

    def client():
        statuses = []
        while routed.is_set():
            statuses.append(running.predict(**batch).status_code)
        return statuses

    try:
        with concurrent.futures.ThreadPoolExecutor(4) as clients:
            results = [clients.submit(client) for _ in range(4)]
            time.sleep(2)  # load is under way
            routed.clear()  # the endpoint leaves the Service; requests in flight go on
            exit_codes = running.pod.terminate()
            statuses = [status for result in results for status in result.result()]
        assert statuses and set(statuses) == {200}
        print(f"\ndrain: {len(statuses)} 64-image requests from 4 clients, all 200, the 4 in flight at the "
              f"termination included; exit codes {exit_codes}")
        assert exit_codes == {"torchserve": 0, "auth-proxy": 0}, {name: running.pod.logs(name) for name in exit_codes}
    finally:
        running.pod.remove()


def test_container_exits_non_zero_when_torchserve_dies(images, resources, tmp_path):
    running = start_pod(resources, tmp_path)
    try:
        family = psutil.Process(running.pod.host_pid("torchserve")).children(recursive=True)
        frontend_of(family).kill()
        deadline = time.monotonic() + 60
        while running.pod.exit_code("torchserve") is None and time.monotonic() < deadline:
            time.sleep(0.5)
        assert running.pod.exit_code("torchserve") not in (None, 0)
    finally:
        running.pod.remove()
