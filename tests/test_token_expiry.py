"""Inference and management keys expire; the client renews them with the API key and carries on."""

import time

import pytest
import requests

from client.torchserve_api import read_keys
from tests.conftest import SEVEN_PNG, run_probe
from torchserve_runner import TorchServe

pytestmark = pytest.mark.server


# TorchServe reads token_expiration_min as a decimal number of minutes: keys that live 3 s.
KEY_LIFETIME_S = 3


@pytest.fixture(scope="module")
def short_lived_keys_server(tmp_path_factory, model_store):
    server = TorchServe(
        tmp_path_factory.mktemp("short_keys"), model_store, settings={"token_expiration_min": str(KEY_LIFETIME_S / 60)}
    ).start()
    try:
        server.wait_until_ready()
        yield server
    finally:
        server.stop()


def test_client_renews_expired_keys(short_lived_keys_server):
    server = short_lived_keys_server
    first_keys = read_keys(server.key_file)
    time.sleep(KEY_LIFETIME_S + 1)  # past the keys' lifetime: waiting for expiry, nothing is timed
    refused = requests.post(
        f"{server.inference_url}/predictions/mnist",
        data=SEVEN_PNG,
        headers={"Authorization": f"Bearer {first_keys['inference']}", "Content-Type": "image/png"},
    )
    assert refused.status_code == 400 and "InvalidKeyException" in refused.text

    client = server.client()
    assert client.predict(SEVEN_PNG)["digit"] == 7
    assert client.ready_workers() >= 1
    renewed = read_keys(server.key_file)
    assert renewed["inference"] != first_keys["inference"]
    assert renewed["management"] != first_keys["management"]


def test_the_probe_renews_an_expired_key_and_passes(short_lived_keys_server):
    """The image's HEALTHCHECK and Kubernetes probes run scripts/model_ready.py with token auth on (docker
    run): once the keys expire it renews the one it needs with the API key, as the client does, and passes."""
    server = short_lived_keys_server
    first_keys = read_keys(server.key_file)
    time.sleep(KEY_LIFETIME_S + 1)  # past the keys' lifetime: waiting for expiry, nothing is timed
    for args in ((), ("--frontend",)):
        result = run_probe(server, *args)
        assert result.returncode == 0, result.stderr
    renewed = read_keys(server.key_file)
    assert renewed["management"] != first_keys["management"] and renewed["inference"] != first_keys["inference"]
