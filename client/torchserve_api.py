"""A small requests-based client for the MNIST service: predictions, model status and readiness.

Addresses default to the local server (`make run`); override with MNIST_INFERENCE_URL,
MNIST_MANAGEMENT_URL and MNIST_KEY_FILE. TorchServe writes its tokens to key_file.json in the
directory it was started from (the repo root for `make run`); every call sends the matching one.
"""

import base64
import json
import os
import time
from pathlib import Path

import requests

MODEL_NAME = "mnist"
INFERENCE_URL = os.environ.get("MNIST_INFERENCE_URL", "http://127.0.0.1:8080")
MANAGEMENT_URL = os.environ.get("MNIST_MANAGEMENT_URL", "http://127.0.0.1:8081")
KEY_FILE = Path(os.environ.get("MNIST_KEY_FILE", Path(__file__).resolve().parent.parent / "key_file.json"))


class ServiceError(RuntimeError):
    """The service answered with an error; the message carries its status and explanation."""


class ServerExited(RuntimeError):
    """The server stopped running while the client waited for it to become ready."""


def read_keys(key_file: Path = KEY_FILE) -> dict:
    """{"inference": key, "management": key, "API": key} from TorchServe's key file."""
    try:
        document = json.loads(Path(key_file).read_text())
    except FileNotFoundError:
        raise ServiceError(f"no token file at {key_file}: is TorchServe running from that directory?") from None
    except ValueError:  # TorchServe is still writing it
        raise ServiceError(f"the token file {key_file} is incomplete") from None
    return {api: entry["key"] for api, entry in document.items()}


class MnistService:
    def __init__(self, inference_url=INFERENCE_URL, management_url=MANAGEMENT_URL, key_file=KEY_FILE, timeout=30):
        self.inference_url = inference_url.rstrip("/")
        self.management_url = management_url.rstrip("/")
        self.key_file = Path(key_file)
        self.timeout = timeout
        self.session = requests.Session()
        # Straight to the given addresses: a proxy from the environment (http_proxy) would receive the keys.
        self.session.trust_env = False

    def _call(self, method: str, url: str, api: str, headers=None, **kwargs) -> requests.Response:
        """One request with the key for `api` ("inference" or "management"), renewing it once if expired."""
        kwargs.setdefault("timeout", self.timeout)

        def send() -> requests.Response:
            return self.session.request(method, url, headers={**(headers or {}), **self._auth(api)}, **kwargs)

        response = send()
        if response.status_code in (400, 401) and "InvalidKeyException" in response.text:
            self.renew_key(api)
            response = send()
        if not response.ok:
            raise ServiceError(f"{response.status_code} from {response.url}: {response.text.strip()}")
        return response

    def _auth(self, api: str) -> dict:
        if not self.key_file.exists():  # token auth off (as inside the Kubernetes pod), or a wrong path:
            return {}  # TorchServe's refusal then leads to renew_key, which names the missing file
        return {"Authorization": f"Bearer {read_keys(self.key_file)[api]}"}

    def renew_key(self, api: str) -> None:
        """Inference and management keys expire (60 min by default); the API key, which does not, gets a
        fresh one, and TorchServe writes it to the key file."""
        url = f"{self.management_url}/token"
        response = self.session.post(url, params={"type": api}, headers=self._auth("API"), timeout=self.timeout)
        if not response.ok:
            raise ServiceError(f"could not renew the {api} key: {response.status_code} {response.text.strip()}")

    def predict(self, image: bytes) -> dict:
        """One encoded image (PNG, JPEG, ...) -> {"digit": d, "probabilities": [...]}."""
        url = f"{self.inference_url}/predictions/{MODEL_NAME}"
        # The handler reads the format from the bytes; the header only says "not a form" to TorchServe.
        headers = {"Content-Type": "application/octet-stream"}
        return self._call("POST", url, "inference", data=image, headers=headers).json()

    def predict_many(self, images: list) -> list:
        """Several encoded images in one request -> one prediction each, in order."""
        body = {"instances": [{"base64": base64.b64encode(image).decode("ascii")} for image in images]}
        url = f"{self.inference_url}/predictions/{MODEL_NAME}"
        return self._call("POST", url, "inference", json=body).json()["predictions"]

    def describe(self) -> dict:
        """The management API's description of the model, with its workers."""
        return self._call("GET", f"{self.management_url}/models/{MODEL_NAME}", "management").json()[0]

    def scale_workers(self, count: int, timeout: float = 120) -> None:
        """Ask for exactly `count` workers, then wait until the model has them, every one READY. The request
        is asynchronous: TorchServe 0.12 may answer a synchronous scale-down with a 500 although it scaled."""
        params = {"min_worker": count, "max_worker": count}
        self._call("PUT", f"{self.management_url}/models/{MODEL_NAME}", "management", params=params)
        deadline = time.monotonic() + timeout
        while True:
            workers = self.describe()["workers"]
            if len(workers) == count and all(worker["status"] == "READY" for worker in workers):
                return
            if time.monotonic() > deadline:
                raise TimeoutError(f"asked for {count} READY workers; after {timeout:.0f} s: {workers}")
            time.sleep(0.2)

    def ready_workers(self) -> int:
        return sum(worker["status"] == "READY" for worker in self.describe()["workers"])

    def wait_until_ready(self, timeout: float = 120, min_workers: int = 1, running=None) -> None:
        """Block until the model has min_workers READY workers: /ping turns healthy before the model loads.
        running: for a caller that started the server, running() says whether it still runs; once it does not,
        ServerExited is raised at once instead of waiting out the timeout."""
        deadline = time.monotonic() + timeout
        last_problem = "no answer yet"
        while time.monotonic() < deadline:
            if running is not None and not running():
                raise ServerExited(f"the server exited while model '{MODEL_NAME}' was not READY: {last_problem}")
            try:
                ready = self.ready_workers()
                if ready >= min_workers:
                    return
                last_problem = f"{ready} READY workers, {min_workers} wanted"
            except (requests.ConnectionError, ServiceError) as error:
                last_problem = str(error)
            time.sleep(0.2)
        raise TimeoutError(f"model '{MODEL_NAME}' not READY after {timeout:.0f} s: {last_problem}")
