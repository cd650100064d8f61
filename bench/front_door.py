"""The project as the pod serves it: the auth proxy (the pod's nginx template, in a real nginx) in front of
a TorchServe configured as in the pod (token auth off, loopback only), driven like any server of the bench.

    door = FrontDoor(workdir, model_store).start()
    door.wait_until_ready()                        # TorchServe's workers READY, then nginx in front
    ... door.prediction_url, door.inference_headers("application/json") ...
    door.stop()                                    # nginx, then TorchServe; the PIDs left alive (none)

Its overhead is measured against door.direct(): the same TorchServe asked without nginx, in the same rounds.
"""

import secrets
from pathlib import Path

from bench import SERVING
from client.torchserve_api import MODEL_NAME
from torchserve_runner import TorchServe
from torchserve_runner.auth_proxy import AuthProxy


class FrontDoor:
    def __init__(self, workdir: Path, model_store: Path):
        self.workdir = workdir
        self.token = secrets.token_urlsafe(32)  # as scripts/deploy.sh makes it
        self.torchserve = TorchServe(
            workdir / "torchserve", model_store, extra_env={"TS_DISABLE_TOKEN_AUTHORIZATION": "true"}
        )
        self.proxy = None

    def start(self) -> "FrontDoor":
        self.torchserve.start()
        return self

    def wait_until_ready(self, timeout: float = 120) -> None:
        """TorchServe's workers READY; then nginx, pointed at the port TorchServe ended up on (once: the door is
        shared by several measurements)."""
        self.torchserve.wait_until_ready(timeout, min_workers=SERVING.workers)
        if self.proxy is None:
            self.proxy = AuthProxy(self.workdir / "nginx", self.torchserve.ports, self.token).start()

    @property
    def prediction_url(self) -> str:
        return f"{self.proxy.url}/predictions/{MODEL_NAME}"

    def inference_headers(self, content_type: str = None) -> dict:
        headers = {"Authorization": f"Bearer {self.token}"}
        return {**headers, "Content-Type": content_type} if content_type else headers

    def stop(self) -> list:
        if self.proxy is not None:
            self.proxy.stop()
        return self.torchserve.stop()

    def direct(self) -> "DirectToTorchServe":
        return DirectToTorchServe(self)


class DirectToTorchServe:
    """The front door's own TorchServe asked directly (token auth off, as in the pod): what the door's cost
    is measured against, the same server in the same rounds. Stopped with the door (FrontDoor.stop)."""

    def __init__(self, door: FrontDoor):
        self.door = door

    @property
    def prediction_url(self) -> str:
        return self.door.torchserve.prediction_url

    def inference_headers(self, content_type: str = None) -> dict:
        return {"Content-Type": content_type} if content_type else {}

    def wait_until_ready(self, timeout: float = 120) -> None:
        self.door.torchserve.wait_until_ready(timeout, min_workers=SERVING.workers)
