"""Fixtures shared by the tests, and the test tiers.

Tiers (pytest.ini's markers): `server` tests talk to a real TorchServe (any test using the session's
`torchserve` fixture is marked so here; modules that start their own mark themselves), `slow` ones take
tens of seconds or more, `container` ones build images and run the pod in podman. `make test-fast` runs
what is none of them, in under a minute; `make test` runs everything.
"""

import os
import secrets
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from client.torchserve_api import read_keys
from torchserve_runner import REPO, TorchServe, built_model_store, serving_config
from torchserve_runner.auth_proxy import AuthProxy, nginx_binary
from torchserve_runner.handler_modules import put_handler_modules_on_path
from training.data import DEFAULT_DATA_ROOT, mnist

put_handler_modules_on_path()  # before pytest imports the test modules: they import the handler's

IMAGES = Path(__file__).resolve().parent / "images"
SEVEN_PNG = (IMAGES / "seven.png").read_bytes()
# config/config.properties' values (request cap, workers, batching), read from the file.
SERVING = serving_config()


def pytest_collection_modifyitems(items):
    for item in items:
        if {"torchserve", "front_door_torchserve"} & set(item.fixturenames):
            item.add_marker(pytest.mark.server)


@pytest.fixture(scope="session")
def mnist_test_set():
    """The 10,000 MNIST test images as (PIL image, label), from training.data.DEFAULT_DATA_ROOT."""
    return mnist(DEFAULT_DATA_ROOT, train=False)


@pytest.fixture(scope="session")
def model_store(tmp_path_factory) -> Path:
    """A model store holding a .mar built from the working tree by build_mar.sh."""
    return built_model_store(tmp_path_factory.mktemp("model_store"))


@pytest.fixture(scope="session")
def torchserve(tmp_path_factory, model_store):
    """One real TorchServe for the session, with the project's config, on free loopback ports."""
    server = TorchServe(tmp_path_factory.mktemp("torchserve"), model_store).start()
    try:
        server.wait_until_ready(min_workers=SERVING.workers)
        yield server
    finally:
        server.stop()


# The token of the session's front door: 43 characters, as scripts/deploy.sh and scripts/serve.sh make it.
FRONT_DOOR_TOKEN = secrets.token_urlsafe(32)


@pytest.fixture(scope="session")
def front_door_torchserve(tmp_path_factory, model_store):
    """A TorchServe as the pod has it, behind the front door: token auth off, on loopback."""
    without_token_auth = {"TS_DISABLE_TOKEN_AUTHORIZATION": "true"}
    server = TorchServe(tmp_path_factory.mktemp("front-door-torchserve"), model_store, extra_env=without_token_auth)
    try:
        server.start().wait_until_ready(min_workers=SERVING.workers)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="session")
def front_door(tmp_path_factory, front_door_torchserve):
    """The front door as the pod has it (k8s/auth-proxy.conf.template in a real nginx, with the image's files
    from auth_proxy/) in front of front_door_torchserve; admits FRONT_DOOR_TOKEN. An AuthProxy: .url, .token."""
    require_tool("nginx", nginx_binary)
    proxy = AuthProxy(tmp_path_factory.mktemp("front-door-nginx"), front_door_torchserve.ports, FRONT_DOOR_TOKEN)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


@pytest.fixture
def own_server(tmp_path, model_store):
    """start(store=None, settings=None, **TS_env): a TorchServe of the test's own, for tests that change or
    break it (the session's .mar unless a store is given; settings are test-only config lines), stopped
    when the test ends."""
    servers = []

    def start(store: Path = None, settings: dict = None, **env) -> TorchServe:
        server = TorchServe(
            tmp_path / f"server{len(servers)}", store or model_store, extra_env=env, settings=settings
        ).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop()


@pytest.fixture(scope="session")
def keys(torchserve):
    return read_keys(torchserve.key_file)


@pytest.fixture(scope="session")
def predict(torchserve, keys):
    """POST to the session server's prediction endpoint with the inference token:
    predict(data=..., json=..., files=...)."""
    url = f"{torchserve.inference_url}/predictions/mnist"
    session = requests.Session()
    session.headers["Authorization"] = f"Bearer {keys['inference']}"
    return lambda **body: session.post(url, timeout=60, **body)


def run_probe(server: TorchServe, *args, cwd=None, environment=None) -> subprocess.CompletedProcess:
    """scripts/model_ready.py against `server`, as the image runs it (python3 -I, from the directory holding
    key_file.json unless `cwd` says otherwise), in `environment` (default: this process's)."""
    env = {
        **(os.environ if environment is None else environment),
        "MANAGEMENT_URL": server.management_url,
        "INFERENCE_URL": server.inference_url,
    }
    probe = REPO / "scripts" / "model_ready.py"
    return subprocess.run(
        [sys.executable, "-I", str(probe), *args], env=env, cwd=cwd or server.workdir, capture_output=True, text=True
    )


def require_tool(name: str, find) -> None:
    """`find()` locates a tool a test needs (make setup installs it), raising FileNotFoundError, LookupError
    or ImportError when it is missing. Missing, the test is skipped with the reason; under CI=true, where
    setup has run, it fails instead: a green run never hides an untested part."""
    try:
        find()
    except (FileNotFoundError, LookupError, ImportError) as missing:
        if os.environ.get("CI") == "true":
            pytest.fail(f"{name} is missing under CI=true: {missing}")
        pytest.skip(f"{name} is missing: {missing}")


def eventually(condition, what, timeout: float = 120, every: float = 0.1) -> None:
    """Poll `condition` until it holds; the test fails, saying `what` never happened, after `timeout` s.
    `what` is a string, or a function that says it with the state found at the end."""
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"within {timeout:g} s, never: {what() if callable(what) else what}")
        time.sleep(every)


def on_path(program: str):
    """A `find` for require_tool: the program on PATH."""

    def find() -> str:
        found = shutil.which(program)
        if found is None:
            raise FileNotFoundError(f"{program} is not on PATH")
        return found

    return find


def assert_healthy(torchserve, predict):
    assert predict(data=SEVEN_PNG).json()["digit"] == 7
    assert torchserve.client().ready_workers() >= 1
