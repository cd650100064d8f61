"""Container probe: exit 0 when TorchServe can answer, 1 (with the reason on stderr) when it cannot.

    model_ready.py            readiness/startup: at least one of the model's workers is READY
    model_ready.py --frontend liveness: the frontend's inference path answers /ping

/ping turns healthy before any worker has loaded the model, so only the first form says the service can
predict. One READY worker is enough: while TorchServe replaces a worker that died, the others still answer,
and a pod taken out of the Service then (often the only replica) would turn a worker restart into an outage.

/ping is served by the same event loops as predictions (TorchServe's /metrics has its own), so a frontend
whose inference handling is stuck fails it; it stays healthy while TorchServe replaces a dead worker.

Standard library only: it runs inside the image as a Docker HEALTHCHECK and a Kubernetes exec probe
(`python3 -I model_ready.py`). Addresses come from MANAGEMENT_URL / INFERENCE_URL (default: 127.0.0.1,
TorchServe's ports);
if token auth is on, the key is read from KEY_FILE (default: key_file.json in the working directory), and
an expired key (60 minutes by default) is renewed with the API key, which never expires, as clients do:
a container run with `docker run` stays healthy past the first hour.
Requests go straight to those addresses: no proxy from the environment (http_proxy, ...; urllib would use
one even for 127.0.0.1 and hand it the management key) and no redirect (which would carry the key along).
"""

import json
import os
import sys
import urllib.error
import urllib.request

MODEL = os.environ.get("MODEL_NAME", "mnist")
MANAGEMENT_URL = os.environ.get("MANAGEMENT_URL", "http://127.0.0.1:8081")
INFERENCE_URL = os.environ.get("INFERENCE_URL", "http://127.0.0.1:8080")
KEY_FILE = os.environ.get("KEY_FILE", "key_file.json")
# Below the probes' timeoutSeconds (k8s/deployment.yaml: 5 s), above the management API's answer time
# under saturation (tests/test_pod_rehearsal.py measures it).
TIMEOUT_SECONDS = 4


class NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args, **kwargs):
        return None  # a 3xx then fails as an HTTPError


# An empty ProxyHandler replaces the one urllib builds from the environment.
OPENER = urllib.request.build_opener(urllib.request.ProxyHandler({}), NoRedirect)


def call(url: str, api: str, method: str = "GET") -> bytes:
    """The body of the answer to one request with the key of `api` ("inference", "management" or "API")."""
    request = urllib.request.Request(url, method=method)
    if os.path.exists(KEY_FILE):
        with open(KEY_FILE) as keys:
            request.add_header("Authorization", f"Bearer {json.load(keys)[api]['key']}")
    with OPENER.open(request, timeout=TIMEOUT_SECONDS) as response:
        return response.read()


def get_json(url: str, api: str):
    """The JSON answer of a GET, renewing an expired key once: TorchServe then writes it to KEY_FILE."""
    try:
        return json.loads(call(url, api))
    except urllib.error.HTTPError as error:
        if error.code not in (400, 401) or "InvalidKeyException" not in error.read().decode(errors="replace"):
            raise
    call(f"{MANAGEMENT_URL}/token?type={api}", "API", method="POST")
    return json.loads(call(url, api))


def problem() -> str:
    """Why the service cannot answer, or '' when it can."""
    if "--frontend" in sys.argv[1:]:
        status = get_json(f"{INFERENCE_URL}/ping", "inference").get("status")
        return "" if status == "Healthy" else f"/ping says {status!r}"
    (model,) = get_json(f"{MANAGEMENT_URL}/models/{MODEL}", "management")
    ready = sum(worker["status"] == "READY" for worker in model["workers"])
    return "" if ready >= 1 else f"no worker READY ({len(model['workers'])} workers, minWorkers {model['minWorkers']})"


def main() -> int:
    try:
        reason = problem()
    except (OSError, ValueError, KeyError) as error:  # refused, timed out, HTTP error, unexpected answer
        reason = f"{type(error).__name__}: {error}"
    if reason:
        print(f"not ready: {reason}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
