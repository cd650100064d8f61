#!/usr/bin/env bash
# Run TorchServe in the foreground with the repo's config, from the repo root (so key_file.json lands
# there), wait until the model's workers are READY and print a working curl example. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")/.."

[[ -x .venv/bin/torchserve ]] || { echo "serve.sh: no .venv/bin/torchserve; run 'make setup' first" >&2; exit 1; }
[[ -f model_store/mnist.mar ]] || ./build_mar.sh

# Own session, so that stopping it stops the Java frontend and every Python worker it started.
setsid .venv/bin/torchserve --foreground --ts-config config/config.properties --model-store model_store &
server=$!
stop() {
    trap - INT TERM EXIT
    kill -TERM -- "-$server" 2>/dev/null || true
    wait "$server" 2>/dev/null || true
}
trap 'stop; exit 130' INT TERM
trap stop EXIT

if ! .venv/bin/python -m client.wait_ready --timeout 120; then
    echo "serve.sh: the model never became READY; the log above says why" >&2
    exit 1
fi
cat <<MSG

MNIST digit service READY on http://127.0.0.1:8080 (management 127.0.0.1:8081, metrics 127.0.0.1:8082).
Tokens are in $PWD/key_file.json. Try:

  TOKEN=\$(python3 -c 'import json; print(json.load(open("key_file.json"))["inference"]["key"])')
  python3 -c 'import base64, json, sys; print(json.dumps({"base64": base64.b64encode(open(sys.argv[1], "rb").read()).decode()}))' tests/images/seven.png > /tmp/seven.json
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: application/json' --data @/tmp/seven.json http://127.0.0.1:8080/predictions/mnist
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: image/png' --data-binary @tests/images/seven.png http://127.0.0.1:8080/predictions/mnist

or: .venv/bin/python -m client.predict tests/images/. Ctrl-C stops the server.
MSG
wait "$server"
