"""Coverage-guided fuzzing (atheris) of everything a request goes through before the model.

Any input must end in a prepared request or the handler's typed refusal (4xx); a fault, which prepare_request
answers with an InternalError (500), is a crash.
Bounded runs only, e.g. (tests/test_fuzz.py does this with a seed corpus of real images):

    PYTHONPATH=. python tests/fuzz_prepare_request.py -runs=20000 -max_total_time=60 CORPUS_DIR
"""

import base64
import json
import sys

import atheris

from torchserve_runner.handler_modules import put_handler_modules_on_path

put_handler_modules_on_path()

with atheris.instrument_imports():
    from request_pipeline import prepare_request


def one_input(data: bytes) -> None:
    provider = atheris.FuzzedDataProvider(data)
    form = provider.ConsumeIntInRange(0, 2)
    payload = provider.ConsumeBytes(provider.remaining_bytes())
    if form == 0:  # the raw body
        request = {"body": payload}
    elif form == 1:  # base64 in JSON
        request = {"body": json.dumps({"base64": base64.b64encode(payload).decode()}).encode()}
    else:  # the same bytes twice in an instances request
        encoded = base64.b64encode(payload).decode()
        request = {"body": json.dumps({"instances": [encoded, {"b64": encoded}]}).encode()}
    prepared = prepare_request(request)
    if prepared.error is None:
        assert prepared.tensors.shape[1:] == (1, 28, 28)
    else:
        assert prepared.error.status < 500, prepared.error


if __name__ == "__main__":
    atheris.Setup(sys.argv, one_input)
    atheris.Fuzz()
