"""The pod's auth proxy (k8s/auth-proxy.conf.template) in a real nginx on this machine, in front of a real
TorchServe configured as in the pod (token auth off, loopback only): exactly POST /predictions/mnist with
the one shared token gets through, and nothing a client writes reaches another TorchServe API.
The same template in the auth-proxy image, in the pod, is tested by tests/test_pod_rehearsal.py."""

import concurrent.futures
import http.client
import secrets
import shutil
import socket
import string
import subprocess
import time

import pytest
import requests

from tests.conftest import SERVING, SEVEN_PNG
from torchserve_runner import REPO, TorchServe, free_port

pytestmark = pytest.mark.server

TOKEN = secrets.token_urlsafe(32)  # as scripts/deploy_minikube.sh makes it: 43 characters


def render(template: str, listen_port: int, torchserve_port: int) -> str:
    """As auth_proxy/start.sh does it (envsubst of the token only), then the test's own ports."""
    conf = string.Template(template).safe_substitute(INFERENCE_TOKEN=TOKEN)
    assert "listen 8000;" in conf and "server 127.0.0.1:8080;" in conf
    return conf.replace("listen 8000;", f"listen 127.0.0.1:{listen_port};").replace(
        "server 127.0.0.1:8080;", f"server 127.0.0.1:{torchserve_port};"
    )


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, model_store):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which(nginx):
        pytest.skip("nginx is not installed (make setup installs nginx-light when run as root)")
    workdir = tmp_path_factory.mktemp("auth_proxy")
    server = TorchServe(workdir / "torchserve", model_store, extra_env={"TS_DISABLE_TOKEN_AUTHORIZATION": "true"})
    port = free_port()
    site = render((REPO / "k8s" / "auth-proxy.conf.template").read_text(), port, int(server.inference_url.rsplit(":", 1)[1]))
    (workdir / "mnist.conf").write_text(site)
    temp_paths = "".join(f"    {kind}_temp_path {workdir}/{kind};\n" for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
    (workdir / "nginx.conf").write_text(
        f"daemon off;\nuser root;\nworker_processes 1;\npid {workdir}/nginx.pid;\nerror_log {workdir}/error.log;\n"
        f"events {{}}\nhttp {{\n    default_type application/json;\n    access_log off;\n{temp_paths}"
        f"    include {workdir}/mnist.conf;\n}}\n"
    )
    server.start()
    process = None
    try:
        process = subprocess.Popen([nginx, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)], stderr=subprocess.PIPE)
        server.wait_until_ready(min_workers=SERVING.workers)
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert process.poll() is None, process.stderr.read().decode()
                time.sleep(0.1)
        yield port
    finally:
        if process is not None:
            process.terminate()
            process.wait()
        server.stop()


def url(port: int, path: str = "/predictions/mnist") -> str:
    return f"http://127.0.0.1:{port}{path}"


def post(port, token=TOKEN, data=SEVEN_PNG, path="/predictions/mnist", headers=None) -> requests.Response:
    headers = {"Content-Type": "image/png", **({"Authorization": f"Bearer {token}"} if token else {}), **(headers or {})}
    return requests.post(url(port, path), data=data, headers=headers, timeout=30)


def raw_request(port: int, method: str, path: str, headers: dict = None, body: bytes = SEVEN_PNG):
    """A request whose path goes out exactly as written (requests would resolve the dot segments first)."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers={"Authorization": f"Bearer {TOKEN}", **(headers or {})})
        answer = connection.getresponse()
        return answer.status, answer.read()
    finally:
        connection.close()


def test_the_shared_token_admits(proxy):
    answer = post(proxy)
    assert answer.status_code == 200 and answer.json()["digit"] == 7


@pytest.mark.parametrize(
    "token", [None, "wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper(), TOKEN.lower()],
    ids=["none", "wrong", "longer", "shorter", "upper-case", "lower-case"],
)
def test_anything_but_the_exact_token_is_refused(proxy, token):
    answer = post(proxy, token)
    assert answer.status_code == 401
    assert answer.json()["code"] == 401 and "Authorization: Bearer" in answer.json()["message"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_post_is_forwarded(proxy, method):
    answer = requests.request(method, url(proxy), headers={"Authorization": f"Bearer {TOKEN}"}, data=SEVEN_PNG, timeout=10)
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert answer.json()["code"] == 405


@pytest.mark.parametrize(
    "path",
    ["/explanations/mnist/1.0/../../../predictions/mnist", "/ping/../predictions/mnist",
     "/models/../predictions/mnist", "/predictions/mnist?explain=True", "/predictions/%6Dnist"],
)
def test_whatever_the_path_says_torchserve_is_asked_only_for_a_prediction(proxy, path):
    """The upstream URI is fixed: a path that nginx normalises to /predictions/mnist still reaches
    TorchServe as /predictions/mnist, never as the explanations API, /ping or the management API."""
    status, body = raw_request(proxy, "POST", path, headers={"Content-Type": "image/png"})
    assert status == 200 and b'"digit": 7' in body


@pytest.mark.parametrize("path", ["/ping", "/models/mnist", "/metrics", "/predictions/other", "/api-description",
                                  "/explanations/mnist", "/predictions/mnist/1.0", "/predictions/mnist/"])
def test_every_other_endpoint_is_not_found(proxy, path):
    answer = post(proxy, path=path)
    assert answer.status_code == 404 and answer.json()["code"] == 404


def test_describe_and_explain_headers_do_not_reach_torchserve(proxy):
    """They would switch TorchServe's handler into modes that answer a whole batch at once."""
    def good(_):
        return post(proxy).status_code

    with concurrent.futures.ThreadPoolExecutor(8) as clients:
        good_answers = [clients.submit(good, i) for i in range(48)]
        hostile = [post(proxy, headers={"describe": "True", "explain": "True"}) for _ in range(16)]
        statuses = [answer.result() for answer in good_answers]
    assert statuses == [200] * 48
    assert all(answer.status_code == 200 and answer.json()["digit"] == 7 for answer in hostile)


def test_form_encoded_bodies_are_refused_before_torchserve_parses_them(proxy):
    """TorchServe's form parser takes quadratic time on whitespace in field names (seen: 1.2 MB > 120 s)."""
    answer = post(proxy, data=b"\t" * 100_000 + b"=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415 and "Content-Type: image/png" in answer.json()["message"]


def test_oversized_body_is_refused_at_the_proxy(proxy):
    answer = post(proxy, data=b"A" * (SERVING.max_request_size + 1))
    assert answer.status_code == 413 and answer.json()["code"] == 413


def test_slow_clients_are_cut_off(proxy):
    """A body or a header that stops coming is given up on after nginx's 10 s timeouts: the connection is
    closed; meanwhile other clients are served."""
    slow_body = socket.create_connection(("127.0.0.1", proxy), timeout=60)
    slow_body.sendall(
        f"POST /predictions/mnist HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Length: 100000\r\n\r\n".encode() + b"\x89PNG"
    )
    slow_header = socket.create_connection(("127.0.0.1", proxy), timeout=60)
    slow_header.sendall(b"POST /predictions/mnist HTTP/1.1\r\nHost: x\r\n")
    try:
        assert post(proxy).status_code == 200
        assert slow_body.recv(4096) == b""
        assert slow_header.recv(4096) == b""
    finally:
        slow_body.close()
        slow_header.close()


def test_requests_in_progress_are_limited(proxy):
    """32 requests at once, the 33rd gets a JSON 503: 32 bodies of 8 MiB fit TorchServe's direct buffers."""
    def unfinished_request() -> socket.socket:
        stalled = socket.create_connection(("127.0.0.1", proxy), timeout=30)
        stalled.sendall(f"POST /predictions/mnist HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
                        f"Content-Length: 1000\r\n\r\n".encode())
        return stalled

    stalled = [unfinished_request() for _ in range(32)]
    try:
        for _ in range(20):  # until nginx has read all 32 headers (their bodies may wait 10 s)
            answer = post(proxy)
            if answer.status_code != 200:
                break
            time.sleep(0.1)
        assert answer.status_code == 503 and answer.json()["code"] == 503 and answer.headers["Retry-After"] == "1"
    finally:
        for connection in stalled:
            connection.close()
    assert post(proxy).status_code == 200


def test_proxy_health_endpoint(proxy):
    assert requests.get(url(proxy, "/healthz"), timeout=5).status_code == 200
