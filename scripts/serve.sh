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

# The addresses it serves on: the config's, or the overrides of them the entrypoint accepts (TS_*).
config_value() { sed -n "s/^$1=//p" config/config.properties | tail -1; }
inference=${TS_INFERENCE_ADDRESS:-$(config_value inference_address)}
management=${TS_MANAGEMENT_ADDRESS:-$(config_value management_address)}
metrics=${TS_METRICS_ADDRESS:-$(config_value metrics_address)}

TORCHSERVE=.venv/bin/torchserve scripts/torchserve_foreground.sh config/config.properties model_store config/log4j2.xml &
server=$!
# Background jobs of a script ignore Ctrl-C, so it is passed on as a TERM.
trap 'kill -TERM "$server" 2>/dev/null; wait "$server"; exit 130' INT TERM

# Waits on this server, whatever the client's MNIST_* variables point at.
if ! MNIST_INFERENCE_URL=$inference MNIST_MANAGEMENT_URL=$management MNIST_KEY_FILE=$PWD/key_file.json \
    .venv/bin/python -m client.wait_ready --timeout 120; then
    echo "serve.sh: the model never became READY; the log above says why" >&2
    kill -TERM "$server"
    wait "$server"
    exit 1
fi
cat <<MSG

MNIST digit service READY on $inference (management ${management#*://}, metrics ${metrics#*://}).
Tokens are in $PWD/key_file.json. Try:

  TOKEN=\$(python3 -c 'import json; print(json.load(open("key_file.json"))["inference"]["key"])')
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: image/png' --data-binary @tests/images/seven.png $inference/predictions/mnist

or: .venv/bin/python -m client.predict tests/images/. Ctrl-C stops the server.
MSG
wait "$server"
