"""The pod's auth proxy run on this machine: Debian's nginx with the image's own main config
(auth_proxy/nginx.conf) and the site template k8s/ mounts (k8s/auth-proxy.conf.template), rendered as
auth_proxy/start.sh renders it, in front of a TorchServe on loopback. Only the paths change: the listening
and TorchServe's ports, where nginx writes (its pid, temp files and log go into a working directory), and
where the image's files are read from (auth_proxy/public, auth_proxy/open_inference.js).

    proxy = AuthProxy(workdir, torchserve.ports, token=token).start()   # proxy.url, proxy.port
    proxy.connections()    # nginx's own counts (stub_status on a second loopback port, not the pod's)
    proxy.stop()
"""

import argparse
import os
import re
import shutil
import signal
import socket
import string
import subprocess
import time
from pathlib import Path

from client.torchserve_api import read_keys
from torchserve_runner.server import REPO, START_ATTEMPTS, free_port, port_taken

MAIN_CONFIG = REPO / "auth_proxy" / "nginx.conf"
SITE_TEMPLATE = REPO / "k8s" / "auth-proxy.conf.template"
# Where the image holds them (auth_proxy/Dockerfile) -> where they are in this repo.
IMAGE_FILES = {
    "/usr/share/mnist-front-door": REPO / "auth_proxy" / "public",
    "/etc/nginx/njs/open_inference.js": REPO / "auth_proxy" / "open_inference.js",
}


def nginx_binary() -> str:
    """Debian's nginx (make setup installs nginx-light); raises with the remedy if it is missing."""
    found = shutil.which("nginx") or ("/usr/sbin/nginx" if Path("/usr/sbin/nginx").exists() else None)
    if not found:
        raise FileNotFoundError("nginx is not installed: make setup installs nginx-light (as root on Debian)")
    return found


def rendered_site(token: str, torchserve_keys: dict = None) -> str:
    """The site template as start.sh renders it: envsubst of ${INFERENCE_TOKEN} and TorchServe's keys only
    (nginx's own $variables stay). torchserve_keys: {"inference": key, "management": key} of a TorchServe with
    token auth on (`make run`); None for one without, as in the pod."""
    keys = torchserve_keys or {}
    return string.Template(SITE_TEMPLATE.read_text()).safe_substitute(
        INFERENCE_TOKEN=token,
        **{
            f"TORCHSERVE_{api.upper()}_AUTHORIZATION": f"Bearer {keys[api]}" if api in keys else ""
            for api in ("inference", "management")
        },
    )


class AuthProxy:
    def __init__(self, workdir: Path, torchserve_ports: dict, token: str, port: int = None, torchserve_keys=None):
        """torchserve_ports: the "inference" and "management" ports of the TorchServe behind it; torchserve_keys:
        its "inference" and "management" keys when its token auth is on (rendered_site)."""
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.chosen_port = port is not None  # a port the caller chose is never swapped for another
        self.port = port or free_port()
        self.torchserve_ports = torchserve_ports
        self.token = token
        self.torchserve_keys = torchserve_keys
        self.status_port = free_port()
        self.process = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def site(self) -> str:
        """The template as start.sh renders it, on this machine's ports."""
        site = rendered_site(self.token, self.torchserve_keys)
        local = {
            "listen 8000 ": f"listen 127.0.0.1:{self.port} ",
            "server 127.0.0.1:8080 ": f"server 127.0.0.1:{self.torchserve_ports['inference']} ",
            "http://127.0.0.1:8080/": f"http://127.0.0.1:{self.torchserve_ports['inference']}/",
            "http://127.0.0.1:8081/": f"http://127.0.0.1:{self.torchserve_ports['management']}/",
            **{in_image: str(here) for in_image, here in IMAGE_FILES.items()},
        }
        for in_image, here in local.items():
            assert in_image in site, in_image
            site = site.replace(in_image, here)
        # For the tests and the bench only: nginx's connection counts, on a port of their own.
        return site + f"\nserver {{\n    listen 127.0.0.1:{self.status_port};\n    location / {{ stub_status; }}\n}}\n"

    def main_config(self) -> str:
        """The image's nginx.conf, writing into the working directory instead of /tmp."""
        main = MAIN_CONFIG.read_text()
        assert "/tmp/" in main and "include /etc/nginx/conf.d/*.conf;" in main
        main = main.replace("/tmp/", f"{self.workdir}/").replace(
            "include /etc/nginx/conf.d/*.conf;", f"include {self.workdir}/site.conf;"
        )
        # As root, nginx would hand its workers to an unprivileged user that cannot write into the workdir.
        return ("daemon off;\n" + ("user root;\n" if os.geteuid() == 0 else "")) + main

    def start(self, timeout: float = 10) -> "AuthProxy":
        """nginx, once it serves. Its ports were free when picked: if another process took one before nginx
        bound it, nginx exits ("Address already in use") and is started again on new ones (START_ATTEMPTS
        in all)."""
        for attempt in range(1, START_ATTEMPTS + 1):
            self._launch()
            deadline = time.monotonic() + timeout
            while self.process.poll() is None:
                if self._serving():
                    return self
                if time.monotonic() > deadline:
                    raise RuntimeError(f"nginx did not serve within {timeout:g} s:\n{self.log()}")
                time.sleep(0.05)
            if not port_taken(self.log()) or self.chosen_port or attempt == START_ATTEMPTS:
                break
            self.port, self.status_port = free_port(), free_port()
        raise RuntimeError(f"nginx did not start:\n{self.log()}")

    def configured(self) -> list:
        """Writes nginx's config into the working directory; the command that runs nginx with it."""
        (self.workdir / "site.conf").write_text(self.site())
        (self.workdir / "nginx.conf").write_text(self.main_config())
        return [nginx_binary(), "-e", "stderr", "-c", str(self.workdir / "nginx.conf"), "-p", str(self.workdir)]

    def _launch(self) -> None:
        command = self.configured()
        self.log_file = self.workdir / "nginx.log"
        with open(self.log_file, "wb") as log:
            self.process = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT)

    def _serving(self) -> bool:
        """Whether this nginx serves: its status page answers, which it does only once it has bound every
        port (another process on the proxy's port would accept a connection, but has no such page)."""
        try:
            self.connections()
            return True
        except (OSError, AttributeError):  # not listening yet, or not nginx's page
            return False

    def accepting(self) -> bool:
        """Whether nginx's port takes a connection now (after SIGQUIT it stops listening, then drains)."""
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def connections(self) -> dict:
        """nginx's counts now: active, reading (request headers), writing (requests in progress), waiting.
        The status request is itself an active connection writing its answer: it is left out of both."""
        with socket.create_connection(("127.0.0.1", self.status_port), timeout=5) as status:
            status.sendall(b"GET / HTTP/1.0\r\n\r\n")
            text = b"".join(iter(lambda: status.recv(4096), b"")).decode()
        counts = dict(
            zip(("reading", "writing", "waiting"), map(int, re.findall(r"(?:Reading|Writing|Waiting): (\d+)", text)))
        )
        active = int(re.search(r"Active connections: (\d+)", text).group(1))
        return {**counts, "active": active - 1, "writing": counts["writing"] - 1}

    def wait_for(self, condition, timeout: float = 10) -> dict:
        """Poll connections() until condition(counts) holds; returns the counts, or raises TimeoutError."""
        deadline = time.monotonic() + timeout
        while not condition(counts := self.connections()):
            if time.monotonic() > deadline:
                raise TimeoutError(f"nginx's counts never met the condition: {counts}")
            time.sleep(0.02)
        return counts

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-20_000:]

    def stop(self) -> None:
        """SIGQUIT, nginx's graceful stop (the image's STOPSIGNAL), then SIGKILL after 10 s."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGQUIT)
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def main() -> None:
    """`make run`'s front door (scripts/serve.sh): this process becomes nginx on 127.0.0.1:--port, in front of
    the TorchServe whose ports and key file are given, admitting the token in --token-file."""
    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--inference-port", type=int, required=True)
    parser.add_argument("--management-port", type=int, required=True)
    parser.add_argument("--token-file", type=Path, required=True)
    parser.add_argument("--key-file", type=Path, required=True, help="TorchServe's key_file.json")
    parser.add_argument("--workdir", type=Path, required=True, help="nginx's config, pid and temp files")
    arguments = parser.parse_args()
    keys = read_keys(arguments.key_file)
    proxy = AuthProxy(
        arguments.workdir,
        {"inference": arguments.inference_port, "management": arguments.management_port},
        arguments.token_file.read_text().strip(),
        port=arguments.port,
        torchserve_keys={api: keys[api] for api in ("inference", "management")},
    )
    command = proxy.configured()
    os.execv(command[0], command)


if __name__ == "__main__":
    main()
