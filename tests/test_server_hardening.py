"""The security review's findings, checked against a real TorchServe started the one way it is started
everywhere (scripts/torchserve_foreground.sh): what can be registered (6), who can read the keys (7), where
the probe sends the management key (8), how many workers can be asked for (11); what held up in it and
is kept so (token checks on gRPC); and two promises of the serving config (one torch thread per worker,
the 30 s responseTimeout). docs/security.md says what each test closes."""

import concurrent.futures
import json
import os
import socketserver
import stat
import subprocess
import threading
import time
from pathlib import Path

import grpc
import pytest
import requests
import yaml

from client.torchserve_api import read_keys
from tests.conftest import SERVING, SEVEN_PNG, run_probe
from torchserve_runner import CONFIG, CONTAINER_ENTRYPOINT, LOG_CONFIG, REPO, TorchServe

pytestmark = pytest.mark.server

SCALE_WORKERS = REPO / "scripts" / "scale_workers.sh"
ARCHIVER = REPO / ".venv" / "bin" / "torch-model-archiver"
ONE_WORKER = {"TS_DEFAULT_WORKERS_PER_MODEL": "1"}


@pytest.fixture
def planted(tmp_path) -> dict:
    """An archive whose handler, once a worker loads it, writes a marker file: the archive in a folder of
    its own and in another folder named model_store, beside the real model store (also named model_store)."""
    marker = tmp_path / "planted-handler-ran"
    source = tmp_path / "planted-source"
    source.mkdir()
    (source / "planted_handler.py").write_text(
        f"from pathlib import Path\nPath({str(marker)!r}).write_text('ran')\n\n\n"
        "def handle(data, context):\n    return data\n"
    )
    elsewhere = tmp_path / "elsewhere"
    other_store = elsewhere / "model_store"
    other_store.mkdir(parents=True)
    subprocess.run(
        [
            str(ARCHIVER),
            "--model-name",
            "evil",
            "--version",
            "1.0",
            "--handler",
            "planted_handler.py",
            "--export-path",
            str(elsewhere),
        ],
        cwd=source,
        check=True,
    )
    (other_store / "evil.mar").write_bytes((elsewhere / "evil.mar").read_bytes())
    return {"marker": marker, "mar": elsewhere / "evil.mar", "other_store": other_store}


@pytest.fixture
def writable_store(tmp_path, model_store) -> Path:
    """A copy of the model store, writable, so an accepted URL could really be copied into it."""
    store = tmp_path / "served" / "model_store"
    store.mkdir(parents=True)
    (store / "mnist.mar").write_bytes((model_store / "mnist.mar").read_bytes())
    return store


def register(server: TorchServe, url: str) -> requests.Response:
    """POST /models as an operator would, waiting for the worker so that a planted handler would have run."""
    return requests.post(
        f"{server.management_url}/models",
        params={"url": url, "initial_workers": "1", "synchronous": "true"},
        headers={"Authorization": f"Bearer {read_keys(server.key_file)['management']}"},
        timeout=120,
    )


def served_models(server: TorchServe) -> list:
    answer = requests.get(
        f"{server.management_url}/models",
        headers={"Authorization": f"Bearer {read_keys(server.key_file)['management']}"},
    )
    return [model["modelName"] for model in answer.json()["models"]]


# Finding 6: model registration and allowed_urls.


def test_environment_cannot_turn_model_registration_on(tmp_path, writable_store, planted):
    """enable_envvars_config=true made every TS_* variable a setting; TS_CONFIG_FILE is read by TorchServe
    even without it. The entrypoint passes neither on."""
    looser_config = tmp_path / "looser.properties"
    looser_config.write_text(CONFIG.read_text() + "\nenable_model_api=true\nallowed_urls=file://.*\n")
    env = {
        **ONE_WORKER,
        "TS_ENABLE_MODEL_API": "true",
        "TS_ALLOWED_URLS": "file://.*",
        "TS_USE_ENV_ALLOWED_URLS": "true",
        "TS_CONFIG_FILE": str(looser_config),
    }
    server = TorchServe(tmp_path / "server", writable_store, extra_env=env).start()
    try:
        server.wait_until_ready()
        answer = register(server, f"file://{planted['mar']}")
        assert answer.status_code == 405 and "MethodNotAllowedException" in answer.text, answer.text
        assert not planted["marker"].exists()
        assert served_models(server) == ["mnist"]
        log = server.log()
        for name in env:
            if name != "TS_DEFAULT_WORKERS_PER_MODEL":
                assert f"ignoring {name} " in log
        assert "Model API enabled: false" in log
    finally:
        server.stop()


def test_allowed_urls_admit_only_the_model_stores_archive(tmp_path, writable_store, planted):
    """The model API switched on in a test-only config: every bypass the review found is refused by
    allowed_urls itself, and no planted handler runs."""
    server = TorchServe(
        tmp_path / "server", writable_store, extra_env=ONE_WORKER, settings={"enable_model_api": "true"}
    ).start()
    mar, other_store = planted["mar"], planted["other_store"]
    bypasses = [
        f"file://{mar}?/model_store/x.mar",  # query looks like the store, the file read is elsewhere
        f"file://{mar}#/model_store/x.mar",  # the same with a fragment
        f"file://{other_store}/evil.mar",  # any folder named model_store
        f"FILE://{other_store}/evil.mar",
        f"file://localhost{other_store}/evil.mar",
        f"FILE://{writable_store}/mnist.mar",  # the served archive, but not spelled exactly
        f"File://{writable_store}/mnist.mar",
        f"file://localhost{writable_store}/mnist.mar",
        f"file://{writable_store}/mnist.mar?/x.mar",
        f"file://{writable_store}/mnist.mar#x",
        f"file://{writable_store}/MNIST.mar",
        "http://127.0.0.1:1/model_store/mnist.mar",
    ]
    try:
        server.wait_until_ready()
        assert "Model API enabled: true" in server.log()
        for url in bypasses:
            answer = register(server, url)
            assert 400 <= answer.status_code < 500, (url, answer.status_code, answer.text)
            assert "does not match any allowed URL(s)" in answer.json()["message"], (url, answer.text)
        # The one URL allowed_urls admits: the served archive itself, which is already there.
        exact = register(server, f"file://{writable_store}/mnist.mar")
        assert "does not match" not in exact.text and "already exists" in exact.text, exact.text

        assert not planted["marker"].exists()
        assert served_models(server) == ["mnist"]
        assert sorted(path.name for path in writable_store.iterdir()) == ["mnist.mar"]
    finally:
        server.stop()


@pytest.mark.parametrize(
    "name, value",
    [
        ("TS_METRICS_ADDRESS", "http://0.0.0.0:8082\nenable_model_api=true"),  # a line smuggled into the config
        ("TS_INFERENCE_ADDRESS", "http://127.0.0.1:8080,http://0.0.0.0:8080"),
        ("TS_DEFAULT_WORKERS_PER_MODEL", "0"),
        ("TS_DISABLE_TOKEN_AUTHORIZATION", "yes"),
    ],
)
def test_entrypoint_refuses_a_malformed_override_before_starting(tmp_path, writable_store, name, value):
    env = {**os.environ, "TORCHSERVE": str(REPO / ".venv" / "bin" / "torchserve"), name: value}
    result = subprocess.run(
        [str(CONTAINER_ENTRYPOINT), str(CONFIG), str(writable_store), str(LOG_CONFIG)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 2 and f"{name}=" in result.stderr and "is not of the form" in result.stderr
    assert not (tmp_path / "key_file.json").exists()  # TorchServe never started


# Finding 7: the key file is private from its first byte.


def test_key_file_and_logs_are_created_private(tmp_path, model_store):
    """TorchServe creates key_file.json 0644 and narrows it to 0600 only after writing the keys; under
    umask 077 it is 0600 from the start. (Its keys are 8 characters: TorchServe's choice, left alone.)"""
    server = TorchServe(tmp_path / "server", model_store, extra_env=ONE_WORKER).start()
    try:
        deadline = time.monotonic() + 120
        while not server.key_file.exists():
            assert server.process.poll() is None, server.log()
            assert time.monotonic() < deadline, "no key_file.json within 120 s"
            time.sleep(0.001)
        first_mode = stat.S_IMODE(os.stat(server.key_file).st_mode)  # as soon as it appeared
        assert first_mode & 0o077 == 0, oct(first_mode)

        server.wait_until_ready()
        for path in (server.key_file, server.workdir / "logs", *(server.workdir / "logs").rglob("*")):
            mode = stat.S_IMODE(os.stat(path).st_mode)
            assert mode & 0o077 == 0, (path, oct(mode))
        # Every process TorchServe runs (launcher, Java frontend, workers) creates files under umask 077.
        family = server.processes()
        assert any(p.name() == "java" for p in family)
        for process in family:
            umask = Path(f"/proc/{process.pid}/status").read_text().split("Umask:")[1].split()[0]
            assert int(umask, 8) == 0o077, (process.cmdline(), umask)
    finally:
        server.stop()


# Finding 8: the probe's requests go to TorchServe only, whatever proxy its environment names.


class RecordingListener(socketserver.ThreadingTCPServer):
    """A would-be proxy on 127.0.0.1 that records whatever reaches it."""

    daemon_threads = True

    def __init__(self):
        self.received = []

        class Handler(socketserver.BaseRequestHandler):
            def handle(handler):
                handler.request.settimeout(2)
                try:
                    self.received.append(handler.request.recv(65536) or b"<connected, sent nothing>")
                except OSError:
                    self.received.append(b"<connected>")
                handler.request.sendall(b"HTTP/1.0 502 Bad Gateway\r\nContent-Length: 0\r\n\r\n")

        super().__init__(("127.0.0.1", 0), Handler)


def test_probe_never_hands_the_key_to_a_proxy(torchserve, tmp_path):
    listener = RecordingListener()
    thread = threading.Thread(target=listener.serve_forever, daemon=True)
    thread.start()
    try:
        proxy = f"http://127.0.0.1:{listener.server_address[1]}"
        env = {
            name: value
            for name, value in os.environ.items()
            if name.lower() not in ("no_proxy", "http_proxy", "https_proxy", "all_proxy")
        }
        env.update({name: proxy for name in ("http_proxy", "HTTP_PROXY", "all_proxy", "ALL_PROXY")})
        for args in ([], ["--frontend"]):
            result = run_probe(torchserve, *args, environment=env)  # token auth on here: the key file is read
            assert result.returncode == 0, result.stderr
        assert listener.received == []
    finally:
        listener.shutdown()
        listener.server_close()
        thread.join()


# Finding 11 (and the deployment review's finding 2): `make scale` changes the count every replica starts
# with, and refuses what the pod's memory limit cannot hold.


@pytest.fixture
def cluster_stand_in(tmp_path):
    """No cluster runs here: kubectl on PATH is a stand-in that answers the two reads of the live
    Deployment as k8s/deployment.yaml sets them (memory limit, JVM options) and records any other call."""
    bin_dir, calls = tmp_path / "bin", tmp_path / "kubectl-calls"
    bin_dir.mkdir()
    pod = yaml.safe_load_all(
        subprocess.run(
            [str(REPO / ".venv" / "bin" / "kubectl"), "kustomize", str(REPO / "k8s")],
            capture_output=True,
            text=True,
            check=True,
        ).stdout
    )
    (torchserve,) = [
        c
        for doc in pod
        if doc["kind"] == "Deployment"
        for c in doc["spec"]["template"]["spec"]["containers"]
        if c["name"] == "torchserve"
    ]
    vmargs = next(env["value"] for env in torchserve["env"] if env["name"] == "TS_VMARGS")
    (bin_dir / "kubectl").write_text(
        "#!/bin/sh\n"
        f'case "$*" in *limits.memory*) echo "{torchserve["resources"]["limits"]["memory"]}" ;; '
        f'*TS_VMARGS*) echo "{vmargs}" ;; *) echo "$*" >> {calls} ;; esac\n'
    )
    (bin_dir / "kubectl").chmod(0o755)
    return {**os.environ, "PATH": f"{bin_dir}:{os.environ['PATH']}"}, calls


@pytest.mark.parametrize("count", ["0", "-1", "04", "2.5", "two", ""])
def test_scale_workers_refuses_what_is_not_a_count_before_anything_is_contacted(cluster_stand_in, count):
    env, calls = cluster_stand_in
    result = subprocess.run([str(SCALE_WORKERS), count], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "WORKER_COUNT must be a whole number from 1" in result.stderr and f"got '{count}'" in result.stderr
    assert not calls.exists()


# What held up in the review and is kept so: token checks on gRPC too, each key for its own API.
# The services are called by method path with hand-encoded messages (frontend/server/src/main/resources/proto/
# of TorchServe 0.12.0); TorchServe's GRPCInterceptor reads the "authorization" metadata, "Bearer <key>".

GRPC_INFERENCE = "/org.pytorch.serve.grpc.inference.InferenceAPIsService/"
GRPC_MANAGEMENT = "/org.pytorch.serve.grpc.management.ManagementAPIsService/"


def length_delimited(field: int, payload: bytes) -> bytes:
    """One protobuf field of wire type 2 (string, bytes, message, map entry)."""
    encoded, size = bytearray([field << 3 | 2]), len(payload)
    while size > 0x7F:
        encoded.append(size & 0x7F | 0x80)
        size >>= 7
    encoded.append(size)
    return bytes(encoded) + payload


def first_field(message: bytes) -> bytes:
    """The payload of field 1, when it is the message's only field and length-delimited: what each answer
    used here holds (TorchServeHealthResponse.health, PredictionResponse.prediction, ManagementResponse.msg)."""
    assert message[0] == 1 << 3 | 2, message
    size, shift, position = 0, 0, 1
    while True:
        byte = message[position]
        size |= (byte & 0x7F) << shift
        shift, position = shift + 7, position + 1
        if byte < 0x80:
            break
    assert len(message) == position + size, message
    return message[position:]


# PredictionsRequest: model_name = 1, input = 3 (a map entry: key = 1, value = 2).
PREDICT_SEVEN = length_delimited(1, b"mnist") + length_delimited(
    3, length_delimited(1, b"data") + length_delimited(2, SEVEN_PNG)
)
# ListModelsRequest: limit = 1, a varint; unset it is 0, and TorchServe then lists no model at all.
LIST_100_MODELS = bytes([1 << 3, 100])
# name: (port, method path, request, the key it takes). Ping takes google.protobuf.Empty: no bytes.
GRPC_CALLS = {
    "Ping": ("grpc_inference", GRPC_INFERENCE + "Ping", b"", "inference"),
    "Predictions": ("grpc_inference", GRPC_INFERENCE + "Predictions", PREDICT_SEVEN, "inference"),
    "ListModels": ("grpc_management", GRPC_MANAGEMENT + "ListModels", LIST_100_MODELS, "management"),
}


def grpc_call(server: TorchServe, call: str, authorization: str = None):
    """(answer bytes, grpc.Call) of one gRPC call to `server`, with `authorization` as its metadata if given."""
    port, method, request, _ = GRPC_CALLS[call]
    # Straight to the loopback port: grpc would otherwise honour http_proxy from the environment.
    with grpc.insecure_channel(f"127.0.0.1:{server.ports[port]}", options=[("grpc.enable_http_proxy", 0)]) as channel:
        stub = channel.unary_unary(method, request_serializer=None, response_deserializer=None)
        metadata = [] if authorization is None else [("authorization", authorization)]
        return stub.with_call(request, metadata=metadata, timeout=60)


@pytest.mark.parametrize("call", GRPC_CALLS)
@pytest.mark.parametrize("credential", ["none", "wrong-key", "other-apis-key", "key-without-bearer"])
def test_grpc_refuses_a_call_without_its_own_key(torchserve, keys, call, credential):
    """As over HTTP: no key, a wrong one, the key without "Bearer " and the other API's key (the inference key
    for management, the management key for inference) are refused, before the call reaches the service."""
    own = GRPC_CALLS[call][3]
    other = "management" if own == "inference" else "inference"
    authorization = {
        "none": None,
        "wrong-key": "Bearer not-the-key",
        "other-apis-key": f"Bearer {keys[other]}",
        "key-without-bearer": keys[own],
    }[credential]
    with pytest.raises(grpc.RpcError) as refused:
        grpc_call(torchserve, call, authorization)
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED, refused.value
    assert "Token Authorization failed" in refused.value.details()


def test_grpc_answers_each_call_with_its_own_key(torchserve, keys):
    """The refusals above come from the token check, not from a call that could never work: with its own
    key each call gets its real answer."""
    answers = {}
    for call, (_, _, _, api) in GRPC_CALLS.items():
        answer, outcome = grpc_call(torchserve, call, f"Bearer {keys[api]}")
        assert outcome.code() == grpc.StatusCode.OK, (call, outcome.details())
        answers[call] = json.loads(first_field(answer))
    assert answers["Ping"] == {"status": "Healthy"}
    assert answers["Predictions"]["digit"] == 7
    assert [model["modelName"] for model in answers["ListModels"]["models"]] == ["mnist"]


# One torch thread per worker (handler/mnist_handler.py: MNIST_TORCH_THREADS, default 1; docs/operating.md).


def cpu_ticks_by_thread(pid: int) -> dict:
    """{thread id: user + system CPU time in clock ticks} of every OS thread of process `pid`."""
    ticks = {}
    for task in Path(f"/proc/{pid}/task").iterdir():
        try:
            fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:  # the thread ended since it was listed
            continue
        ticks[int(task.name)] = int(fields[11]) + int(fields[12])  # utime, stime (stat fields 14 and 15)
    return ticks


def threads_that_ran_during_a_burst(server: TorchServe) -> dict:
    """{thread id: CPU ticks used} of the only worker's OS threads that used any CPU while it answered 200
    requests of 8 images each, 8 at a time: the threads that do the model work (the worker's main thread
    reads the requests)."""
    (worker,) = server.workers()
    client = server.client()
    before = cpu_ticks_by_thread(worker.pid)
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        predictions = list(pool.map(lambda _: client.predict_many([SEVEN_PNG] * 8), range(200)))
    after = cpu_ticks_by_thread(worker.pid)
    assert all(p["digit"] == 7 for batch in predictions for p in batch)
    return {thread: ticks - before.get(thread, 0) for thread, ticks in after.items() if ticks > before.get(thread, 0)}


def test_a_worker_does_the_model_work_on_one_thread(own_server):
    """Left to torch and ONNX Runtime, each worker would run one thread per core and the workers would fight
    over the cores. A worker told to use one per core shows that more threads would be seen if they ran."""
    per_core = max(2, len(os.sched_getaffinity(0)))
    default = own_server(**ONE_WORKER)
    raised = own_server(**ONE_WORKER, MNIST_TORCH_THREADS=str(per_core))
    default.wait_until_ready()
    raised.wait_until_ready()

    (worker,) = default.workers()
    ran = threads_that_ran_during_a_burst(default)
    assert list(ran) == [worker.pid], ran  # the main thread alone
    ran = threads_that_ran_during_a_burst(raised)
    assert len(ran) > 1, ran


# The configured responseTimeout (30 s) is what the served model runs with (tests/test_serving.py checks the
# described batchSize and maxBatchDelay; tests/test_faults.py what a request past the timeout gets).


def test_the_served_model_runs_with_the_configured_response_timeout(torchserve):
    """Not TorchServe's default (120 s) nor anything the entrypoint wrote: config.properties' value."""
    assert torchserve.client().describe()["responseTimeout"] == SERVING.response_timeout_s
