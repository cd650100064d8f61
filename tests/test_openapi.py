"""The public API's contract, auth_proxy/public/openapi.yaml: valid OpenAPI 3.1, every error type of the
handler documented with its status, and its examples answered as it says by the front door. Schemathesis
fuzzes every operation against `make run`'s front door (tests/test_make_run.py)."""

import requests
import yaml
from openapi_spec_validator import validate

from input_errors import InputError, RequestError
from torchserve_runner import REPO

DOCUMENT = REPO / "auth_proxy" / "public" / "openapi.yaml"


def test_the_document_is_valid_openapi_3_1():
    document = yaml.safe_load(DOCUMENT.read_text())
    validate(document)
    assert document["openapi"].startswith("3.1")


def every_subclass(cls) -> list:
    return [cls for sub in cls.__subclasses__() for cls in (sub, *every_subclass(sub))]


def test_each_error_type_of_the_handler_is_documented_with_its_status():
    """Every error type the handler raises (handler/input_errors.py) is a documented answer of POST
    /predictions/mnist with its status: a refusal (InputError, 4xx) listed by name in that status's types."""
    document = yaml.safe_load(DOCUMENT.read_text())
    responses = document["components"]["responses"]
    documented = {}
    answers = document["paths"]["/predictions/mnist"]["post"]["responses"]
    for status, response in answers.items():
        if "$ref" not in response:  # the 200
            continue
        schema = responses[response["$ref"].rsplit("/", 1)[1]]["content"]["application/json"]["schema"]
        for part in schema.get("allOf", []):
            documented.update(dict.fromkeys(part.get("properties", {}).get("type", {}).get("enum", []), int(status)))
    raised = {error.__name__: error.status for error in every_subclass(RequestError) if not error.__subclasses__()}
    refusals = {name: status for name, status in raised.items() if status < 500}
    assert {name: documented.get(name) for name in refusals} == refusals
    assert all(400 <= error.status < 500 for error in every_subclass(InputError))
    assert {str(status) for status in raised.values()} <= set(
        document["paths"]["/predictions/mnist"]["post"]["responses"]
    )


def test_the_documents_examples_are_answered_as_it_says(front_door):
    """The example bodies (which /docs puts in "Try it out") read the seven of tests/images."""
    schemas = yaml.safe_load(DOCUMENT.read_text())["components"]["schemas"]
    headers = {"Authorization": f"Bearer {front_door.token}"}
    (picture,) = schemas["Base64Picture"]["examples"]
    answer = requests.post(f"{front_door.url}/predictions/mnist", json=picture, headers=headers, timeout=30)
    assert answer.status_code == 200 and answer.json()["digit"] == 7
    (inference,) = schemas["InferenceRequest"]["examples"]
    answer = requests.post(f"{front_door.url}/v2/models/mnist/infer", json=inference, headers=headers, timeout=30)
    digit = next(output for output in answer.json()["outputs"] if output["name"] == "digit")
    assert answer.status_code == 200 and digit["data"] == [7] and answer.json()["id"] == inference["id"]
