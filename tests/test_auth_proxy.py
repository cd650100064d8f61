"""The pod's auth proxy (k8s/auth-proxy.conf.template) in a real nginx, in front of a real TorchServe
configured as in the pod (token auth off, loopback only): one shared token admits, nothing else does."""

import shutil
import string
import subprocess
import time

import pytest
import requests

from tests.conftest import SEVEN_PNG
from tests.torchserve_server import REPO, TorchServe, free_port

TOKEN = "test-token_0123456789"


def render(template: str, listen_port: int, torchserve_url: str) -> str:
    """As the nginx image does it (envsubst of the defined variables), then the test's own ports."""
    conf = string.Template(template).safe_substitute(INFERENCE_TOKEN=TOKEN)
    assert "listen 8000;" in conf and "proxy_pass http://127.0.0.1:8080;" in conf
    return conf.replace("listen 8000;", f"listen 127.0.0.1:{listen_port};").replace(
        "proxy_pass http://127.0.0.1:8080;", f"proxy_pass {torchserve_url};"
    )


@pytest.fixture(scope="module")
def proxy_url(tmp_path_factory, model_store):
    nginx = shutil.which("nginx") or "/usr/sbin/nginx"
    if not shutil.which(nginx):
        pytest.skip("nginx is not installed (make setup installs nginx-light when run as root)")
    workdir = tmp_path_factory.mktemp("auth_proxy")
    server = TorchServe(workdir / "torchserve", model_store, extra_env={"TS_DISABLE_TOKEN_AUTHORIZATION": "true"})
    server.start()
    port = free_port()
    (workdir / "mnist.conf").write_text(
        render((REPO / "k8s" / "auth-proxy.conf.template").read_text(), port, server.inference_url)
    )
    (workdir / "nginx.conf").write_text(
        f"""daemon off;
user root;
worker_processes 1;
pid {workdir}/nginx.pid;
error_log {workdir}/error.log;
events {{}}
http {{
    access_log off;
    client_body_temp_path {workdir}/body;
    proxy_temp_path {workdir}/proxy;
    fastcgi_temp_path {workdir}/fastcgi;
    uwsgi_temp_path {workdir}/uwsgi;
    scgi_temp_path {workdir}/scgi;
    include {workdir}/mnist.conf;
}}
"""
    )
    proxy = subprocess.Popen([nginx, "-c", str(workdir / "nginx.conf"), "-p", str(workdir)], stderr=subprocess.PIPE)
    try:
        server.wait_until_ready()
        url = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                requests.get(f"{url}/healthz", timeout=1)
                break
            except requests.ConnectionError:
                assert proxy.poll() is None, proxy.stderr.read().decode()
                time.sleep(0.1)
        yield url
    finally:
        proxy.terminate()
        proxy.wait()
        server.stop()


def post(url: str, token=None, data=SEVEN_PNG) -> requests.Response:
    headers = {"Content-Type": "image/png", **({"Authorization": f"Bearer {token}"} if token else {})}
    return requests.post(f"{url}/predictions/mnist", data=data, headers=headers, timeout=30)


def test_shared_token_admits(proxy_url):
    answer = post(proxy_url, TOKEN)
    assert answer.status_code == 200 and answer.json()["digit"] == 7


@pytest.mark.parametrize("token", [None, "wrong", TOKEN + "x", TOKEN[:-1]])
def test_anything_else_is_refused(proxy_url, token):
    answer = post(proxy_url, token)
    assert answer.status_code == 401
    assert "Authorization: Bearer" in answer.json()["message"]


@pytest.mark.parametrize("path", ["/ping", "/models/mnist", "/metrics", "/predictions/other", "/api-description"])
def test_only_the_prediction_endpoint_is_served(proxy_url, path):
    answer = requests.get(f"{proxy_url}{path}", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=5)
    assert answer.status_code == 404


def test_oversized_body_is_refused_at_the_proxy(proxy_url):
    assert post(proxy_url, TOKEN, data=b"A" * (8 * 1024 * 1024 + 1)).status_code == 413


def test_proxy_health_endpoint(proxy_url):
    assert requests.get(f"{proxy_url}/healthz", timeout=5).status_code == 200
