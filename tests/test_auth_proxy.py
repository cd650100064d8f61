"""The pod's auth proxy (k8s/auth-proxy.conf.template) in a real nginx on this machine, in front of a real
TorchServe configured as in the pod (token auth off, loopback only): exactly POST /predictions/mnist with
the one shared token gets through, and nothing a client writes reaches another TorchServe API; SIGQUIT
drains it; the image's entrypoint (auth_proxy/start.sh) refuses an unsound token and renders a sound one.
The same template in the auth-proxy image, in the pod, is tested by tests/test_pod_rehearsal.py."""

import concurrent.futures
import http.client
import http.server
import os
import secrets
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import psutil
import pytest
import requests
from requests.adapters import HTTPAdapter

from tests.conftest import FRONT_DOOR_TOKEN, SERVING, SEVEN_PNG, eventually, on_path, require_tool
from tests.loopback_http import LoopbackServer
from torchserve_runner import REPO
from torchserve_runner.auth_proxy import IMAGE_FILES, MAIN_CONFIG, SITE_TEMPLATE, AuthProxy, nginx_binary, rendered_site

pytestmark = pytest.mark.server

TOKEN = FRONT_DOOR_TOKEN  # as scripts/deploy.sh makes it: 43 characters


class SourceAddressAdapter(HTTPAdapter):
    """Connections from one address of the loopback range: another client, as the proxy sees it."""

    def __init__(self, source: str):
        self.source = source
        super().__init__()

    def init_poolmanager(self, *args, **kwargs):
        super().init_poolmanager(*args, source_address=(self.source, 0), **kwargs)


@pytest.fixture(scope="module")
def torchserve_of_proxy(front_door_torchserve):
    """The session's TorchServe as in the pod: token auth off, loopback only."""
    return front_door_torchserve


@pytest.fixture(scope="module")
def proxy(front_door):
    """The session's front door (the image's nginx.conf and the site template) in front of it."""
    return front_door


def url(proxy: AuthProxy, path: str = "/predictions/mnist") -> str:
    return f"{proxy.url}{path}"


def post(
    proxy, token=TOKEN, data=SEVEN_PNG, path="/predictions/mnist", headers=None, timeout: float = 30
) -> requests.Response:
    headers = {
        "Content-Type": "image/png",
        **({"Authorization": f"Bearer {token}"} if token else {}),
        **(headers or {}),
    }
    return requests.post(url(proxy, path), data=data, headers=headers, timeout=timeout)


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
        "/v1/models/mnist:predict",
        "/v2",
        "/v2/models",
        "/v2/models/mnist/versions/1.0/infer",
        "/v2/models/mnist/explain",
        "/v2/models/other/infer",
        "/_torchserve_model",
        "/_torchserve_ping",
        "/index.html",
        "/docs.html",
        "/static/",
        "/vendor/swagger-ui/index.html",
        "/vendor/swagger-ui/oauth2-redirect.html",
    ],
)
@pytest.mark.parametrize("method", ["GET", "POST"])
def test_every_other_endpoint_is_not_found(proxy, path, method):
    """Only the allow-list of the template's header is served: TorchServe's other APIs, its other protocol
    paths, the internal locations open_inference.js asks and any other file are 404, in the service's JSON
    (the protocol's under /v2/)."""
    answer = requests.request(method, url(proxy, path), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 404 and answer.headers["Content-Type"] == "application/json"
    assert answer.json() == (
        {"error": ANY_MESSAGE} if path.startswith("/v2/") else {"code": 404, "type": "NotFound", "message": ANY_MESSAGE}
    )


class AnyMessage(str):
    """Equal to any non-empty string (the message is the template's business; its presence is ours)."""

    def __eq__(self, other):
        return isinstance(other, str) and bool(other)

    __hash__ = str.__hash__


ANY_MESSAGE = AnyMessage()

PAGES = {"/": "text/html", "/docs": "text/html", "/openapi.yaml": "application/yaml"}
SWAGGER_UI = ["/vendor/swagger-ui/swagger-ui-bundle.js", "/vendor/swagger-ui/swagger-ui.css"]


@pytest.mark.parametrize("path", [*PAGES, "/static/docs.js", *SWAGGER_UI])
def test_the_pages_are_served_to_anyone_locked_to_their_own_files(proxy, path):
    answer = requests.get(url(proxy, path), timeout=10)
    assert answer.status_code == 200 and answer.content
    assert answer.headers["Content-Type"].startswith(PAGES.get(path, "text/"))
    assert "default-src 'self'" in answer.headers["Content-Security-Policy"]
    assert answer.headers["X-Content-Type-Options"] == "nosniff"


@pytest.mark.parametrize("path", ["/", "/docs", "/openapi.yaml", "/static/docs.js"])
@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE"])
def test_the_pages_take_get_only(proxy, path, method):
    answer = requests.request(method, url(proxy, path), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 405 and answer.headers["Allow"] == "GET, HEAD"


@pytest.mark.parametrize(
    "path, method",
    [
        ("/v2/models/mnist/infer", "GET"),
        ("/v2/health/live", "POST"),
        ("/v2/health/ready", "DELETE"),
        ("/v2/models/mnist", "PUT"),
        ("/v2/models/mnist/ready", "POST"),
    ],
)
def test_the_open_inference_paths_take_their_method_only(proxy, path, method):
    answer = requests.request(method, url(proxy, path), headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert answer.status_code == 405 and answer.json() == {"error": ANY_MESSAGE}
    assert answer.headers["Allow"] == ("POST" if path.endswith("/infer") else "GET, HEAD")


@pytest.mark.parametrize("path", ["/v2/health/live", "/v2/health/ready", "/v2/models/mnist", "/v2/models/mnist/ready"])
def test_the_open_inference_paths_need_the_token(proxy, path):
    answer = requests.get(url(proxy, path), headers={"Authorization": f"Bearer {TOKEN}x"}, timeout=10)
    assert answer.status_code == 401 and "Authorization: Bearer" in answer.json()["error"]


def test_readiness_and_metadata_come_from_torchserve(proxy, torchserve_of_proxy):
    """Ready while a worker is READY, not ready (503) with none, ready again after; the version is
    TorchServe's. TorchServe's own /v2/health/ready would say true throughout."""
    headers = {"Authorization": f"Bearer {TOKEN}"}

    def states() -> dict:
        paths = ["/v2/health/live", "/v2/health/ready", "/v2/models/mnist/ready"]
        return {path: requests.get(url(proxy, path), headers=headers, timeout=10) for path in paths}

    assert [(a.status_code, a.json()) for a in states().values()] == [
        (200, {"live": True}),
        (200, {"ready": True}),
        (200, {"name": "mnist", "ready": True}),
    ]
    metadata = requests.get(url(proxy, "/v2/models/mnist"), headers=headers, timeout=10).json()
    assert metadata["versions"] == [torchserve_of_proxy.client().describe()["modelVersion"]]
    assert {tensor["datatype"] for tensor in metadata["inputs"]} == {"BYTES", "FP32"}
    torchserve_of_proxy.client().scale_workers(0)
    try:
        assert [(a.status_code, a.json()) for a in states().values()] == [
            (200, {"live": True}),
            (503, {"ready": False}),
            (503, {"name": "mnist", "ready": False}),
        ]
    finally:
        torchserve_of_proxy.client().scale_workers(SERVING.workers)
    assert all(answer.status_code == 200 for answer in states().values())


def test_a_multipart_field_without_a_name_is_read_not_answered_500(proxy):
    """TorchServe's own decoder answers it 500 (Schemathesis found it): the front door sends multipart bodies
    on as bytes and the handler reads them, as TorchServe reads a sound one."""
    boundary = "b0undary"
    body = (
        f'--{boundary}\r\nContent-Disposition: form-data; name=""\r\nContent-Type: image/png\r\n\r\n'.encode()
        + SEVEN_PNG
        + f"\r\n--{boundary}--\r\n".encode()
    )
    answer = post(proxy, data=body, headers={"Content-Type": f"multipart/form-data; boundary={boundary}"})
    assert answer.status_code == 200 and answer.json()["digit"] == 7
    two_fields = requests.post(
        url(proxy),
        files={"first": SEVEN_PNG, "second": SEVEN_PNG},
        headers={"Authorization": f"Bearer {TOKEN}"},
        timeout=30,
    )
    assert two_fields.status_code == 400 and "2 form fields" in two_fields.json()["message"]


def recording_upstream() -> LoopbackServer:
    """Stands where TorchServe stands behind the proxy: records each request and answers 200 with a digit."""
    return LoopbackServer(lambda target: (200, {"Content-Type": "application/json"}, b'{"digit": 7}'))


@pytest.fixture
def recorded(tmp_path):
    """The proxy in front of a recording upstream: what exactly reaches TorchServe."""
    require_tool("nginx", nginx_binary)
    upstream = recording_upstream()
    proxy = AuthProxy(tmp_path / "nginx", {"inference": upstream.port, "management": upstream.port}, TOKEN)
    try:
        yield proxy.start(), upstream
    finally:
        proxy.stop()
        upstream.stop()


def test_a_port_taken_before_nginx_binds_it_only_costs_a_restart(tmp_path):
    """The runner picks free ports, and nginx binds them a moment later: another process may take one in
    between. Here the proxy's port is taken on purpose: nginx exits, and it is started on new ports."""
    require_tool("nginx", nginx_binary)
    with recording_upstream() as upstream, socket.socket() as taken:
        proxy = AuthProxy(tmp_path / "nginx", {"inference": upstream.port, "management": upstream.port}, TOKEN)
        taken.bind(("127.0.0.1", proxy.port))
        taken.listen()
        try:
            proxy.start()
            assert proxy.port != taken.getsockname()[1]
            assert post(proxy).json() == {"digit": 7}
        finally:
            proxy.stop()


def test_the_token_and_the_describe_and_explain_headers_do_not_reach_torchserve(recorded):
    """describe and explain would switch TorchServe's handler into modes that answer a whole batch at once;
    the token is the proxy's business only. The body and the fixed path pass unchanged."""
    proxy, upstream = recorded
    answer = post(proxy, headers={"describe": "True", "explain": "True", "Content-Type": "image/png"})
    assert answer.status_code == 200 and answer.json() == {"digit": 7}
    (request,) = upstream.requests
    assert request.target == "/predictions/mnist" and request.body == SEVEN_PNG
    assert not {name.lower() for name in request.headers} & {"authorization", "describe", "explain"}, request
    assert request.headers["Content-Type"] == "image/png"


def test_sigquit_answers_the_request_in_flight_and_exits_zero_while_refusing_new_connections(recorded):
    """Kubernetes stops the container with the image's STOPSIGNAL, SIGQUIT, nginx's graceful stop: a request
    TorchServe is still working on is answered whole, though the port already refuses new connections (the
    Service has dropped the pod by then: the preStop sleep). SIGTERM, nginx's fast stop, would drop it."""
    proxy, upstream = recorded
    upstream.answering.clear()
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        in_flight = pool.submit(post, proxy)
        try:
            assert upstream.received.wait(timeout=30)
            proxy.process.send_signal(signal.SIGQUIT)
            eventually(lambda: not proxy.accepting(), "nginx stops listening after SIGQUIT", timeout=10)
            assert not in_flight.done()
        finally:
            upstream.answering.set()
        answer = in_flight.result()
    assert answer.status_code == 200 and answer.json() == {"digit": 7}
    assert proxy.process.wait(timeout=30) == 0


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


def unread_requests_at(port: int) -> int:
    """Connections to this local TCP port with bytes its server has not read yet (the kernel's own counts:
    established, accepted or still in the listen queue, rx_queue > 0)."""
    unread = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            local, _, state, queues = line.split()[1:5]
            received = int(queues.split(":")[1], 16)
            unread += int(local.rsplit(":", 1)[1], 16) == port and state == "01" and received > 0
    return unread


def answered(request: concurrent.futures.Future):
    """A request's status code, or the exception it raised."""
    return request.exception() or request.result().status_code


def stopped_for_sure(process: psutil.Process) -> None:
    """SIGSTOP the process and return once every thread of it has stopped. kill() returns before that: a
    thread still running then (a busy machine may run it late) could read a request sent after it."""
    process.suspend()
    eventually(
        lambda: all(psutil.Process(thread.id).status() == psutil.STATUS_STOPPED for thread in process.threads()),
        f"every thread of {process.pid} stopped",
        10,
    )


def test_requests_in_torchserve_are_limited_to_32(proxy, torchserve_of_proxy):
    """With TorchServe's frontend stopped (SIGSTOP), 32 whole requests wait in it; the 33rd is not queued
    by the proxy but answered 503 at once; once the frontend runs again the 32 are answered."""
    frontend = torchserve_of_proxy.frontend()
    torchserve_port = torchserve_of_proxy.ports["inference"]
    counts_seen = set()

    def thirty_two_wait_in_torchserve() -> bool:
        counts_seen.add(unread_requests_at(torchserve_port))
        return 32 in counts_seen

    stopped_for_sure(frontend)
    try:
        with concurrent.futures.ThreadPoolExecutor(32) as pool:
            # The clients wait longer than the test does: a failure reports the requests still waiting.
            waiting = [pool.submit(post, proxy, timeout=90) for _ in range(32)]
            eventually(
                thirty_two_wait_in_torchserve,
                lambda: (
                    f"32 requests sent on to TorchServe (counts of those there seen: {sorted(counts_seen)}; "
                    f"nginx's: {proxy.connections()}; "
                    f"answered meanwhile: {[answered(request) for request in waiting if request.done()]})"
                ),
                60,
            )
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


# auth_proxy/start.sh, the image's entrypoint, run for real as the container runs it (uid 101, no new
# privileges, the first process of a PID namespace), in a mount and a network namespace of its own: the
# image's /etc/nginx (its nginx.conf, the ConfigMap's template, an empty conf.d) and an empty /tmp are bound
# there from the test's directory, and the loopback is its own. The host's /etc/nginx, /tmp and ports are not
# touched, even by a start.sh that failed to refuse a token; killing the first process ends all the others.

START_SCRIPT = REPO / "auth_proxy" / "start.sh"
IMAGE_USER = 101  # auth-proxy (auth_proxy/Dockerfile; runAsUser in k8s/deployment.yaml)
IN_NAMESPACES = """set -e
mount --bind "$1" /etc/nginx
mount --bind "$2" /tmp
ip link set lo up
exec setpriv --reuid="$3" --regid="$3" --clear-groups --no-new-privs sh "$4"
"""


def namespaces_of_its_own() -> None:
    """A find for require_tool: root (namespaces and bind mounts) and the programs that make and enter them."""
    if os.geteuid() != 0:
        raise LookupError("start.sh runs in namespaces of its own, which need root")
    for program in ("unshare", "nsenter", "setpriv", "ip", "curl"):
        on_path(program)()


class StartedAsInTheImage:
    """start.sh with INFERENCE_TOKEN set to `token` (None: unset), in the image's layout under `workdir`."""

    def __init__(self, workdir: Path, token: str = None):
        etc = workdir / "etc-nginx"
        (etc / "templates").mkdir(parents=True)
        shutil.copy(MAIN_CONFIG, etc / "nginx.conf")
        shutil.copy(SITE_TEMPLATE, etc / "templates" / SITE_TEMPLATE.name)  # the ConfigMap's one key
        (etc / "njs").mkdir()
        shutil.copy(IMAGE_FILES["/etc/nginx/njs/open_inference.js"], etc / "njs")
        self.rendered, self.tmp = etc / "conf.d", workdir / "tmp"  # emptyDirs in the pod
        self.stdout, self.stderr = workdir / "stdout", workdir / "stderr"
        for writable in (self.rendered, self.tmp):
            writable.mkdir()
            os.chown(writable, IMAGE_USER, IMAGE_USER)
        for output in (self.stdout, self.stderr):  # nginx opens /dev/stdout (its access log) as uid 101
            output.touch()
            os.chown(output, IMAGE_USER, IMAGE_USER)
        env = {name: value for name, value in os.environ.items() if name != "INFERENCE_TOKEN"}
        with open(self.stdout, "wb") as out, open(self.stderr, "wb") as err:
            self.process = subprocess.Popen(
                ["unshare", "--mount", "--net", "--pid", "--kill-child", "--propagation", "private"]
                + ["sh", "-c", IN_NAMESPACES, "sh"]
                + [str(etc), str(self.tmp), str(IMAGE_USER), str(START_SCRIPT)],
                env=env if token is None else {**env, "INFERENCE_TOKEN": token},
                stdout=out,
                stderr=err,
            )

    def nginx_pid(self) -> int:
        """The pid, in its PID namespace, that nginx wrote into /tmp/nginx.pid (once its port is open), or 0."""
        text = (self.tmp / "nginx.pid").read_text() if (self.tmp / "nginx.pid").exists() else ""
        return int(text) if text.endswith("\n") else 0

    def first_process(self) -> int:
        """The PID namespace's first process (the container's), by its pid here; 0 until unshare forked it."""
        children = Path(f"/proc/{self.process.pid}/task/{self.process.pid}/children")
        return int(children.read_text().split()[0]) if children.exists() and children.read_text() else 0

    def curl(self, path: str, *options: str) -> tuple:
        """(status, body) of a request to its port 8000, from inside its network namespace."""
        result = subprocess.run(
            ["nsenter", "--target", str(self.process.pid), "--net", "curl", "--silent", "--show-error"]
            + ["--noproxy", "*", "--max-time", "30", "--write-out", "\n%{http_code}", *options]
            + [f"http://127.0.0.1:8000{path}"],
            capture_output=True,
            text=True,
            check=True,
        )
        body, status = result.stdout.rsplit("\n", 1)
        return int(status), body

    def kill(self) -> None:
        if self.process.poll() is None:
            if first := self.first_process():
                os.kill(first, signal.SIGKILL)  # the kernel ends the namespace's other processes with it
            self.process.kill()  # and --kill-child a first process not forked yet
            self.process.wait()


@pytest.fixture
def start_as_in_the_image(tmp_path):
    require_tool("root, unshare, nsenter, setpriv, ip and curl", namespaces_of_its_own)
    started = []

    def start(token: str = None) -> StartedAsInTheImage:
        started.append(StartedAsInTheImage(tmp_path / str(len(started)), token))
        return started[-1]

    yield start
    for process in started:
        process.kill()


SHORT, OTHER_CHARACTERS = "is unset or shorter than 32 characters", "may hold only A-Z a-z 0-9 _ -"
UNSOUND_TOKENS = [
    pytest.param(None, SHORT, id="unset"),
    pytest.param("", SHORT, id="empty"),
    pytest.param(TOKEN[:31], SHORT, id="31-characters"),
    *(
        pytest.param(TOKEN[:20] + character + TOKEN[20:], OTHER_CHARACTERS, id=name)
        for name, character in {
            "space": " ",
            "slash": "/",  # base64's alphabet (openssl rand -base64), not token_urlsafe's
            "plus": "+",
            "equals": "=",
            "double-quote": '"',  # would end the string the template compares the header with
            "dollar": "$",
            "semicolon": ";",
            "newline": "\n",
            "non-ascii": "é",
        }.items()
    ),
]


@pytest.mark.parametrize("token, refusal", UNSOUND_TOKENS)
def test_start_script_refuses_a_token_unset_short_or_with_other_characters(start_as_in_the_image, token, refusal):
    """An empty token would admit "Bearer " alone; a character outside token_urlsafe's could break out of the
    template's string. Refused with the reason on stderr and exit 1, before anything is rendered."""
    started = start_as_in_the_image(token)
    exit_code = started.process.wait(timeout=30)
    assert exit_code == 1 and f"start-auth-proxy: INFERENCE_TOKEN {refusal}" in started.stderr.read_text()
    assert started.stdout.read_text() == "" and list(started.rendered.iterdir()) == []


def test_start_script_renders_only_the_token_and_becomes_an_nginx_that_admits_it(start_as_in_the_image):
    """The shortest token accepted, with both punctuation characters: the ConfigMap's template is rendered as
    the local proxy of these tests renders it (the token only: nginx's $variables stay), the container's
    first process becomes nginx itself (exec: the STOPSIGNAL reaches it), which admits that token and no
    other, and SIGQUIT ends it with 0."""
    token = "-_" + secrets.token_urlsafe(24)[:30]
    started = start_as_in_the_image(token)
    eventually(
        lambda: started.nginx_pid() or started.process.poll() is not None, "nginx wrote its pid file", timeout=10
    )
    assert started.nginx_pid() == 1, started.stderr.read_text()
    assert [path.name for path in started.rendered.iterdir()] == ["auth-proxy.conf"]
    assert (started.rendered / "auth-proxy.conf").read_text() == rendered_site(token)
    assert started.curl("/healthz") == (200, "ok")
    prediction = ["--header", "Content-Type: image/png", "--data-binary", "not a picture"]
    status, body = started.curl("/predictions/mnist", "--header", f"Authorization: Bearer {token}", *prediction)
    assert status == 503 and "the model server" in body  # admitted: sent on to 127.0.0.1:8080, empty here
    assert started.curl("/predictions/mnist", "--header", f"Authorization: Bearer {token[:-1]}", *prediction)[0] == 401
    os.kill(started.first_process(), signal.SIGQUIT)
    assert started.process.wait(timeout=30) == 0  # unshare's exit code is its first process's
