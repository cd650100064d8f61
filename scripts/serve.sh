#!/usr/bin/env bash
# `make run`: TorchServe in the foreground with the repo's config, from the repo root (so key_file.json
# lands there); waits until the model's workers are READY and prints a working curl example.
# Ctrl-C stops TorchServe and every worker it started.
set -euo pipefail
cd "$(dirname "$0")/.."
# key_file.json and the logs are TorchServe's to read only, from the moment they exist (the entrypoint sets
# this too; set here so nothing started from this script ever runs with a wider umask).
umask 077

[[ -x .venv/bin/torchserve ]] || { echo "serve.sh: no .venv/bin/torchserve; run 'make setup' first" >&2; exit 1; }
[[ -f model_store/mnist.mar ]] || ./build_mar.sh

TORCHSERVE=.venv/bin/torchserve scripts/torchserve_foreground.sh config/config.properties model_store config/log4j2.xml &
server=$!
# Background jobs of a script ignore Ctrl-C, so it is passed on as a TERM.
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit 130' INT TERM

if ! .venv/bin/python -m client.wait_ready --timeout 120; then
    echo "serve.sh: the model never became READY; the log above says why" >&2
    kill -TERM "$server"
    wait "$server"
    exit 1
fi
cat <<MSG

MNIST digit service READY on http://127.0.0.1:8080 (management 127.0.0.1:8081, metrics 127.0.0.1:8082).
Tokens are in $PWD/key_file.json. Try:

  TOKEN=\$(python3 -c 'import json; print(json.load(open("key_file.json"))["inference"]["key"])')
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: image/png' --data-binary @tests/images/seven.png http://127.0.0.1:8080/predictions/mnist

or: .venv/bin/python -m client.predict tests/images/. Ctrl-C stops the server.
MSG
wait "$server"
