"""Start a real TorchServe on free loopback ports with the project's config, and stop it for sure.

Every instance is started the one way TorchServe is started anywhere: through the container's entrypoint,
scripts/torchserve_foreground.sh, which writes the effective config (the config file plus the few TS_*
overrides it accepts) and sets umask 077. Each instance gets its own working directory (key_file.json,
logs) and TEMP (unpacked archives, worker sockets), so it never collides with a `make run` server or
another instance. Used alike by the tests, the benchmarks, the soak and the profiler.
"""

import os
import socket
import subprocess
import time
from pathlib import Path

import psutil

from client.torchserve_api import MODEL_NAME, MnistService, ServerExited, read_keys
from torchserve_runner.process_tree import family, is_alive, stop_session

REPO = Path(__file__).resolve().parent.parent
CONFIG = REPO / "config" / "config.properties"
LOG_CONFIG = REPO / "config" / "log4j2.xml"
TORCHSERVE = REPO / ".venv" / "bin" / "torchserve"
# The container's ENTRYPOINT (Dockerfile), run here with the same arguments for every server.
CONTAINER_ENTRYPOINT = REPO / "scripts" / "torchserve_foreground.sh"


PORTS = ("inference", "management", "metrics", "grpc_inference", "grpc_management")
# What a server logs when it exits because a port it was given is taken (Netty's, gRPC's, nginx's and
# uvicorn's words, lower-cased).
PORT_TAKEN = ("address already in use", "failed to bind")
START_ATTEMPTS = 3


def free_port() -> int:
    """A loopback port free now; the caller binds it later, so another process may take it first."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def free_ports() -> dict:
    return {name: free_port() for name in PORTS}


def port_taken(log: str) -> bool:
    """Whether a server's log says it exited because a port it was given was taken."""
    return any(marker in log.lower() for marker in PORT_TAKEN)


def _command_line(process: psutil.Process) -> str:
    try:
        return " ".join(process.cmdline())
    except psutil.NoSuchProcess:  # ZombieProcess included: ended since it was listed
        return ""


def frontend_of(processes: list) -> psutil.Process:
    """TorchServe's Java frontend among `processes` (a TorchServe's family, or a container's); raises
    LookupError unless exactly one is alive."""
    found = [process for process in processes if is_alive(process) and process.name() == "java"]
    if len(found) != 1:
        raise LookupError(f"expected one TorchServe frontend (java), found {len(found)}: {found}")
    return found[0]


def workers_of(processes: list) -> list:
    """TorchServe's Python model workers (model_service_worker) among `processes` that are alive, by PID."""
    found = [process for process in processes if is_alive(process) and "model_service_worker" in _command_line(process)]
    return sorted(found, key=lambda process: process.pid)


class TorchServe:
    def __init__(
        self,
        workdir: Path,
        model_store: Path = REPO / "model_store",
        extra_env: dict = None,
        config: Path = CONFIG,
        log_config: Path = LOG_CONFIG,
        settings: dict = None,
        ports: dict = None,
    ):
        """extra_env: the process environment, as a container's (the entrypoint honours only its allowlist
        of TS_* variables, e.g. TS_DEFAULT_WORKERS_PER_MODEL, and ignores the rest).
        settings: test-only config lines, {property: value}, written into a derived copy of `config`
        (e.g. {"job_queue_size": "4"}); the entrypoint's own lines (allowed_urls, ...) still come last.
        log_config=None keeps TorchServe's built-in logging (the benchmark's defaults run).
        ports: {name: port} for the PORTS to use first; by default free ones."""
        self.config = config
        self.log_config = log_config
        self.settings = settings or {}
        self.workdir = workdir
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.model_store = model_store
        self.ports = ports or free_ports()
        self.key_file = workdir / "key_file.json"
        self.log_file = workdir / "torchserve.log"
        self.extra_env = extra_env or {}
        self.process = None

    @property
    def inference_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['inference']}"

    @property
    def prediction_url(self) -> str:
        return f"{self.inference_url}/predictions/{MODEL_NAME}"

    @property
    def management_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['management']}"

    @property
    def metrics_url(self) -> str:
        return f"http://127.0.0.1:{self.ports['metrics']}"

    def environment(self) -> dict:
        tmp = self.workdir / "tmp"
        tmp.mkdir(parents=True, exist_ok=True)
        return {
            **os.environ,
            "TEMP": str(tmp),
            "LOG_LOCATION": str(self.workdir / "logs"),
            "METRICS_LOCATION": str(self.workdir / "logs"),
            # Overrides the entrypoint accepts: only the ports change here.
            "TS_INFERENCE_ADDRESS": self.inference_url,
            "TS_MANAGEMENT_ADDRESS": self.management_url,
            "TS_METRICS_ADDRESS": self.metrics_url,
            "TS_GRPC_INFERENCE_PORT": str(self.ports["grpc_inference"]),
            "TS_GRPC_MANAGEMENT_PORT": str(self.ports["grpc_management"]),
            "TORCHSERVE": str(TORCHSERVE),
            **self.extra_env,
        }

    def effective_config(self) -> Path:
        """`config`, or with settings a copy of it in the working directory with those lines appended."""
        if not self.settings:
            return self.config
        lines = []
        for name, value in self.settings.items():
            if not (
                isinstance(value, str) and name.replace("_", "").isalnum() and "\n" not in value and "\r" not in value
            ):
                raise ValueError(f"setting {name}={value!r}: a property name and a one-line string value")
            lines.append(f"{name}={value}")
        derived = self.workdir / "test-config.properties"
        derived.write_text(
            self.config.read_text() + "\n# Test-only settings (torchserve_runner)\n" + "\n".join(lines) + "\n"
        )
        return derived

    def start(self) -> "TorchServe":
        log_config = "" if self.log_config is None else str(self.log_config)
        command = [str(CONTAINER_ENTRYPOINT), str(self.effective_config()), str(self.model_store), log_config]
        with open(self.log_file, "wb") as log:
            # A session of its own, so stop() can end the Java frontend and every Python worker together;
            # umask 077 as the entrypoint sets it, from the first process on.
            self.process = subprocess.Popen(
                command,
                cwd=self.workdir,
                env=self.environment(),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
                umask=0o077,
            )
        return self

    def client(self) -> MnistService:
        return MnistService(self.inference_url, self.management_url, self.key_file)

    def wait_until_ready(self, timeout: float = 120, min_workers: int = 1) -> None:
        """Until the model has `min_workers` READY workers. The ports were free when picked, but Java binds
        them seconds later: if another process took one meanwhile, TorchServe exits, and it is started
        again on new free ports (up to START_ATTEMPTS times in all)."""
        deadline = time.monotonic() + timeout
        for attempt in range(1, START_ATTEMPTS + 1):
            try:
                self._wait_for_keys(deadline)
                self.client().wait_until_ready(max(deadline - time.monotonic(), 1), min_workers, self.running)
                return
            except TimeoutError as error:
                raise RuntimeError(f"{error}; log:\n{self.log()}") from None
            except ServerExited:
                if not port_taken(self.log()) or attempt == START_ATTEMPTS:
                    raise RuntimeError(f"TorchServe exited ({self.process.returncode}); log:\n{self.log()}") from None
                self.ports = free_ports()
                self.key_file.unlink(missing_ok=True)  # the keys of the start that failed
                self.start()

    def _wait_for_keys(self, deadline: float) -> None:
        """Until TorchServe has written its key file (with token auth on): the client needs the keys."""
        token_auth = self.extra_env.get("TS_DISABLE_TOKEN_AUTHORIZATION") != "true"
        while token_auth and not self.key_file.exists():
            if not self.running():
                raise ServerExited("TorchServe exited before it wrote its keys")
            if time.monotonic() > deadline:
                raise TimeoutError("TorchServe wrote no key file in time")
            time.sleep(0.2)

    def running(self) -> bool:
        return self.process.poll() is None

    def log(self) -> str:
        return self.log_file.read_text(errors="replace")[-20_000:]

    def processes(self) -> list:
        """The entrypoint script and everything it started that is still alive."""
        return family(self.process)

    def frontend(self) -> psutil.Process:
        """The Java frontend; raises LookupError unless exactly one is alive."""
        return frontend_of(self.processes())

    def workers(self) -> list:
        """The Python model workers alive now, by PID (a killed one is gone at once; its replacement shows up
        as soon as it is forked, before the management API lists it READY)."""
        return workers_of(self.processes())

    def rss_mib(self) -> dict:
        """Resident memory in MiB: {"frontend": MiB, "workers": [MiB of each worker, by PID]}."""
        return {
            "frontend": round(self.frontend().memory_info().rss / 2**20),
            "workers": [round(worker.memory_info().rss / 2**20) for worker in self.workers()],
        }

    def inference_headers(self, content_type: str = None) -> dict:
        """The inference key as a bearer token (read from key_file.json now: keys are renewed there), and
        a Content-Type when given."""
        headers = {"Authorization": f"Bearer {read_keys(self.key_file)['inference']}"}
        if content_type:
            headers["Content-Type"] = content_type
        return headers

    def stop(self) -> list:
        """SIGTERM as Kubernetes or Ctrl-C would send it; then SIGKILL whatever outlived it by 30 s. Returns
        the PIDs still alive after it (none)."""
        if self.process is None:
            return []
        return stop_session(self.process, grace_seconds=30)
