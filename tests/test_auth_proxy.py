"""The pod's auth proxy (k8s/auth-proxy.conf.template) in a real nginx on this machine, in front of a real
TorchServe configured as in the pod (token auth off, loopback only): exactly POST /predictions/mnist with
the one shared token gets through, and nothing a client writes reaches another TorchServe API.
The same template in the auth-proxy image, in the pod, is tested by tests/test_pod_rehearsal.py."""

import concurrent.futures
import http.client
import http.server
import secrets
import socket
import threading

import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.conftest import SERVING, SEVEN_PNG, require_tool
from torchserve_runner import TorchServe
from torchserve_runner.auth_proxy import AuthProxy, nginx_binary

pytestmark = pytest.mark.server

TOKEN = secrets.token_urlsafe(32)  # as scripts/deploy.sh makes it: 43 characters


class SourceAddressAdapter(HTTPAdapter):
    """Connections from one address of the loopback range: another client, as the proxy sees it."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.source, 0), **kwargs)


@pytest.fixture(scope="module")
def torchserve_of_proxy(tmp_path_factory, model_store):
    """A TorchServe as in the pod: token auth off, loopback only."""
    server = TorchServe(
        tmp_path_factory.mktemp("torchserve"), model_store, extra_env={"TS_DISABLE_TOKEN_AUTHORIZATION": "true"}
    )
    try:
        server.start().wait_until_ready(min_workers=SERVING.workers)
        yield server
    finally:
        server.stop()


@pytest.fixture(scope="module")
def proxy(tmp_path_factory, torchserve_of_proxy):
    """The auth proxy (the image's nginx.conf and the site template) in front of it."""
    require_tool("nginx", nginx_binary)
    proxy = AuthProxy(tmp_path_factory.mktemp("nginx"), int(torchserve_of_proxy.inference_url.rsplit(":", 1)[1]), TOKEN)
    try:
        yield proxy.start()
    finally:
        proxy.stop()


def url(proxy: AuthProxy, path: str = "/predictions/mnist") -> str:
    return f"{proxy.url}{path}"


def post(proxy, token=TOKEN, data=SEVEN_PNG, path="/predictions/mnist", headers=None) -> requests.Response:
    headers = {
        "Content-Type": "image/png",
        **({"Authorization": f"Bearer {token}"} if token else {}),
        **(headers or {}),
    }
    return requests.post(url(proxy, path), data=data, headers=headers, timeout=30)


def raw_request(proxy, method: str, path: str, headers: dict = None, body: bytes = SEVEN_PNG):
    """A request whose path goes out exactly as written (requests would resolve the dot segments first)."""
    connection = http.client.HTTPConnection("127.0.0.1", proxy.port, timeout=30)
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
    "token",
    [None, "wrong", TOKEN + "x", TOKEN[:-1], TOKEN.upper(), TOKEN.lower()],
    ids=["none", "wrong", "longer", "shorter", "upper-case", "lower-case"],
)
def test_anything_but_the_exact_token_is_refused(proxy, token):
    answer = post(proxy, token)
    assert answer.status_code == 401
    assert answer.json()["code"] == 401 and "Authorization: Bearer" in answer.json()["message"]


@pytest.mark.parametrize("method", ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"])
def test_only_post_is_forwarded(proxy, method):
    answer = requests.request(
        method, url(proxy), headers={"Authorization": f"Bearer {TOKEN}"}, data=SEVEN_PNG, timeout=10
    )
    assert answer.status_code == 405 and answer.headers["Allow"] == "POST"
    assert answer.json()["code"] == 405


@pytest.mark.parametrize(
    "path",
    [
        "/explanations/mnist/1.0/../../../predictions/mnist",
        "/ping/../predictions/mnist",
        "/models/../predictions/mnist",
        "/predictions/mnist?explain=True",
        "/predictions/%6Dnist",
    ],
)
def test_whatever_the_path_says_torchserve_is_asked_only_for_a_prediction(proxy, path):
    """The upstream URI is fixed: a path that nginx normalises to /predictions/mnist still reaches
    TorchServe as /predictions/mnist, never as the explanations API, /ping or the management API."""
    status, body = raw_request(proxy, "POST", path, headers={"Content-Type": "image/png"})
    assert status == 200 and b'"digit": 7' in body


@pytest.mark.parametrize(
    "path",
    [
        "/ping",
        "/models/mnist",
        "/metrics",
        "/predictions/other",
        "/api-description",
        "/explanations/mnist",
        "/predictions/mnist/1.0",
        "/predictions/mnist/",
    ],
)
def test_every_other_endpoint_is_not_found(proxy, path):
    answer = post(proxy, path=path)
    assert answer.status_code == 404 and answer.json()["code"] == 404


class RecordingUpstream:
    """Stands where TorchServe stands behind the proxy: records each request it gets (path, headers, body)
    and answers 200 with a digit. It binds its own loopback port."""

    def __init__(self):
        self.requests = []
        upstream = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"  # keep-alive, as nginx's upstream block uses it

            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                upstream.requests.append((self.path, dict(self.headers), body))
                answer = b'{"digit": 7}'
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(answer)))
                self.end_headers()
                self.wfile.write(answer)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def recorded(tmp_path):
    """The proxy in front of a RecordingUpstream: what exactly reaches TorchServe."""
    require_tool("nginx", nginx_binary)
    upstream = RecordingUpstream()
    proxy = AuthProxy(tmp_path / "nginx", upstream.port, TOKEN)
    try:
        yield proxy.start(), upstream
    finally:
        proxy.stop()
        upstream.stop()


def test_the_token_and_the_describe_and_explain_headers_do_not_reach_torchserve(recorded):
    """describe and explain would switch TorchServe's handler into modes that answer a whole batch at once;
    the token is the proxy's business only. The body and the fixed path pass unchanged."""
    proxy, upstream = recorded
    answer = post(proxy, headers={"describe": "True", "explain": "True", "Content-Type": "image/png"})
    assert answer.status_code == 200 and answer.json() == {"digit": 7}
    ((path, headers, body),) = upstream.requests
    assert path == "/predictions/mnist" and body == SEVEN_PNG
    assert not {name.lower() for name in headers} & {"authorization", "describe", "explain"}, headers
    assert headers["Content-Type"] == "image/png"


def test_form_encoded_bodies_are_refused_before_torchserve_parses_them(proxy):
    """TorchServe's form parser takes quadratic time on whitespace in field names (seen: 1.2 MB > 120 s)."""
    answer = post(proxy, data=b"\t" * 100_000 + b"=1", headers={"Content-Type": "application/x-www-form-urlencoded"})
    assert answer.status_code == 415 and "Content-Type: image/png" in answer.json()["message"]


def test_oversized_body_is_refused_at_the_proxy(proxy):
    answer = post(proxy, data=b"A" * (SERVING.max_request_size + 1))
    assert answer.status_code == 413 and answer.json()["code"] == 413


def test_slow_clients_are_cut_off(proxy):
    """A body that stops coming is given up on after 10 s, a header after 5 s: the connection is closed;
    meanwhile other clients are served."""
    slow_body = unfinished(proxy, content_length=100_000, body=b"\x89PNG")
    slow_header = socket.create_connection(("127.0.0.1", proxy.port), timeout=60)
    slow_header.sendall(b"POST /predictions/mnist HTTP/1.1\r\nHost: x\r\n")
    try:
        assert post(proxy).status_code == 200
        assert closed_by_proxy(slow_body) and closed_by_proxy(slow_header)
    finally:
        slow_body.close()
        slow_header.close()


def closed_by_proxy(connection: socket.socket) -> bool:
    """Whether nginx closes the connection (within the socket's timeout): a timed-out one is reset
    (reset_timedout_connection), so its memory is freed at once."""
    try:
        return connection.recv(4096) == b""
    except ConnectionResetError:
        return True


def unfinished(proxy, content_length: int = 100_000, body: bytes = b"", source: str = "127.0.0.1") -> socket.socket:
    """A request with the token whose headers are complete and whose body is not, from `source` (any
    address of the loopback range stands for another client)."""
    connection = socket.create_connection(("127.0.0.1", proxy.port), timeout=60, source_address=(source, 0))
    connection.sendall(
        f"POST /predictions/mnist HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {TOKEN}\r\n"
        f"Content-Type: image/png\r\nContent-Length: {content_length}\r\n\r\n".encode()
        + body
    )
    return connection


def in_progress(proxy, count: int) -> None:
    """Wait until nginx counts at least `count` requests in progress (headers read: their slots are taken)."""
    proxy.wait_for(lambda counts: counts["writing"] >= count)


def good_clients_meanwhile(proxy, clients: int = 4, each: int = 5, source: str = "127.0.0.1") -> list:
    """Status codes of `clients` x `each` good requests sent at once."""
    session = requests.Session()
    session.mount("http://", SourceAddressAdapter(source))

    def client(_):
        return [
            session.post(
                url(proxy),
                data=SEVEN_PNG,
                headers={"Content-Type": "image/png", "Authorization": f"Bearer {TOKEN}"},
                timeout=30,
            ).status_code
            for _ in range(each)
        ]

    with concurrent.futures.ThreadPoolExecutor(clients) as pool:
        return [status for statuses in pool.map(client, range(clients)) for status in statuses]


def test_slow_bodies_hold_only_their_own_receiving_slots(proxy):
    """Finding 5 of the second review: 32 clients with the token trickling 100 kB bodies held all 32 slots
    and every other client got 503. Bodies are read whole here before TorchServe sees them, so a slow one
    holds a cheap receiving slot; the others are served. The trickle keeps under the 10 s read timeout."""
    slow = [unfinished(proxy) for _ in range(32)]
    try:
        in_progress(proxy, 32)
        for connection in slow:
            connection.sendall(b"\x00")  # one byte each: still coming, not timed out
        assert good_clients_meanwhile(proxy) == [200] * 20
        assert proxy.connections()["writing"] >= 32  # the slow ones are all still there
    finally:
        for connection in slow:
            connection.close()


def test_large_bodies_are_received_eight_at_a_time(proxy):
    """Bodies over 1 MB (temp files here, 8 MiB each in TorchServe) share 8 slots; small ones go on."""
    large = [unfinished(proxy, content_length=5_000_000) for _ in range(8)]
    try:
        in_progress(proxy, 8)
        refused = unfinished(proxy, content_length=5_000_000)
        answer = refused.recv(4096)
        assert answer.startswith(b"HTTP/1.1 503") and b"Retry-After: 1" in answer and b'"code": 503' in answer
        assert good_clients_meanwhile(proxy, clients=2) == [200] * 10
    finally:
        for connection in large:
            connection.close()


def test_one_address_gets_at_most_its_share_of_the_slots(proxy):
    """128 requests in progress from one address (127.0.0.2 here): its 129th gets 503, another address
    (127.0.0.3) is served."""
    hogging = [unfinished(proxy, source="127.0.0.2") for _ in range(128)]
    try:
        in_progress(proxy, 128)
        answer = unfinished(proxy, source="127.0.0.2").recv(4096)
        assert answer.startswith(b"HTTP/1.1 503")
        assert good_clients_meanwhile(proxy, clients=2, source="127.0.0.3") == [200] * 10
    finally:
        for connection in hogging:
            connection.close()


def test_requests_in_torchserve_are_limited_to_32(proxy, torchserve_of_proxy):
    """With TorchServe's frontend stopped (SIGSTOP), 32 whole requests wait in it; the 33rd is not queued
    by the proxy but answered 503 at once; once the frontend runs again the 32 are answered."""
    frontend = torchserve_of_proxy.frontend()
    frontend.suspend()
    try:
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            waiting = [pool.submit(post, proxy) for _ in range(32)]
            in_progress(proxy, 32)
            refused = post(proxy)
            assert (
                refused.status_code == 503 and refused.json()["code"] == 503 and refused.headers["Retry-After"] == "1"
            )
            frontend.resume()
            assert [answer.result().status_code for answer in waiting] == [200] * 32
    finally:
        frontend.resume()


def test_a_burst_of_twice_what_the_proxy_admits_in_largest_bodies_leaves_torchserve_as_it_was(
    proxy, torchserve_of_proxy
):
    """Finding 3 in the pod: twice the 32 requests the proxy lets into TorchServe, each the largest body
    accepted, all at once. Each is answered (200, or the JSON 503 of a full share), TorchServe's frontend
    and workers are the same processes, and the next request is answered."""
    frontend, workers = torchserve_of_proxy.frontend().pid, [worker.pid for worker in torchserve_of_proxy.workers()]
    largest = SEVEN_PNG + bytes(SERVING.max_request_size - len(SEVEN_PNG) - 1024)
    with concurrent.futures.ThreadPoolExecutor(64) as pool:
        answers = list(pool.map(lambda _: post(proxy, data=largest), range(64)))
    statuses = [answer.status_code for answer in answers]
    print(
        f"\n64 concurrent {len(largest):,}-byte bodies through the proxy: "
        f"{ {status: statuses.count(status) for status in set(statuses)} }"
    )
    assert set(statuses) <= {200, 503} and statuses.count(200) >= 8
    assert all(answer.json()["code"] == 503 for answer in answers if answer.status_code == 503)
    assert (
        torchserve_of_proxy.frontend().pid == frontend
        and [worker.pid for worker in torchserve_of_proxy.workers()] == workers
    )
    assert post(proxy).status_code == 200


def test_partial_headers_without_a_token_do_not_exhaust_the_connections(proxy):
    """Finding 6: a stream of partial headers ran nginx's 1,024 connections out and every other client
    was reset. 3,000 such connections now leave room for the clients; each is closed after 5 s."""
    partial = []
    try:
        for _ in range(3_000):
            connection = socket.create_connection(("127.0.0.1", proxy.port), timeout=30)
            connection.sendall(b"POST /predictions/mnist HTTP/1.1\r\nHost: x\r\n")
            partial.append(connection)
        proxy.wait_for(lambda counts: counts["active"] >= 3_000)
        assert good_clients_meanwhile(proxy) == [200] * 20
        assert closed_by_proxy(partial[0])  # after client_header_timeout
    finally:
        for connection in partial:
            connection.close()


def test_proxy_health_endpoint(proxy):
    assert requests.get(url(proxy, "/healthz"), timeout=5).status_code == 200
