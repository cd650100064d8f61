"""A real HTTP server on a free 127.0.0.1 port, in a thread, where a test must see what arrives: TorchServe's
place behind the auth proxy, a forward proxy set in the environment, a server answering with redirects.
It records every request and answers as it is told; a test can hold its answers in flight.

    with LoopbackServer(lambda target: (200, {"Content-Type": "application/json"}, b"{}")) as server:
        ... server.url, server.port ...
        server.requests   # [Recorded(method, target, headers, body), ...]
"""

import http.server
import os
import threading
from dataclasses import dataclass

PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY")


@dataclass(frozen=True)
class Recorded:
    method: str
    target: str  # the request target: a path, or the absolute URL a proxy is handed
    headers: dict
    body: bytes


class LoopbackServer:
    """Records each request in `requests` and sets `received`; answers it with answer(target) -> (status,
    headers, body), HTTP/1.1 with keep-alive. While `answering` is clear, answers wait (stop() sets it)."""

    def __init__(self, answer):
        self.requests = []
        self.received = threading.Event()
        self.answering = threading.Event()
        self.answering.set()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def respond(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                recorder.requests.append(Recorded(self.command, self.path, dict(self.headers), body))
                recorder.received.set()
                recorder.answering.wait()
                status, headers, content = answer(self.path)
                self.send_response(status)
                for name, value in {**headers, "Content-Length": str(len(content))}.items():
                    self.send_header(name, value)
                self.end_headers()
                self.wfile.write(content)

            do_GET = do_POST = do_PUT = do_DELETE = do_CONNECT = respond

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def __enter__(self) -> "LoopbackServer":
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self) -> None:
        self.answering.set()
        self.server.shutdown()
        self.server.server_close()


def recording_proxy() -> LoopbackServer:
    """A stand-in forward proxy: records what it is handed and forwards nothing (502)."""
    return LoopbackServer(lambda target: (502, {}, b""))


def proxied_environment(proxy_url: str) -> dict:
    """This process's environment with every proxy variable pointing at `proxy_url` and no no_proxy
    exemption, so loopback addresses are proxied too by any client that honours the environment."""
    environment = {name: value for name, value in os.environ.items() if name.lower() != "no_proxy"}
    return {**environment, **dict.fromkeys(PROXY_VARIABLES, proxy_url)}
