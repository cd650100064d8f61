#!/usr/bin/env bash
# `make run`: TorchServe with the repo's config, from the repo root (so key_file.json lands there), and once
# the model's workers are READY its front door: the pod's nginx site (k8s/auth-proxy.conf.template) on
# 127.0.0.1:8000 (FRONT_DOOR_PORT), serving the draw page, /docs and the API with one token, as the pod does.
# TorchServe keeps its own token auth on behind it (the front door holds its keys). Prints the addresses and
# a working curl. Ctrl-C stops the front door, TorchServe and every worker it started.
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

front_door=http://127.0.0.1:${FRONT_DOOR_PORT:-8000}
# The front door's token, made once (as scripts/deploy.sh makes the pod's) and kept between runs, so a browser
# tab that holds it keeps working.
[[ -s front_door_token ]] || .venv/bin/python -c 'import secrets; print(secrets.token_urlsafe(32))' >front_door_token

# The front door holds TorchServe's keys from its start: they last the run (TorchServe's longest lifetime,
# 69 days) instead of TorchServe's default hour.
TS_TOKEN_EXPIRATION_MIN=${TS_TOKEN_EXPIRATION_MIN:-99999} TORCHSERVE=.venv/bin/torchserve \
    scripts/torchserve_foreground.sh config/config.properties model_store config/log4j2.xml &
server=$!
front=''
waiting=''
stop() {
    kill -TERM "$server" $front $waiting 2>/dev/null
    wait
}
# Background jobs of a script ignore Ctrl-C, so it is passed on as a TERM.
trap 'stop; exit 130' INT TERM

# Waits on this server, whatever the client's MNIST_* variables point at, for as long as TorchServe runs: if
# it ends first (one of its ports taken, say), that is said at once, not after the wait's timeout.
MNIST_INFERENCE_URL=$inference MNIST_MANAGEMENT_URL=$management MNIST_KEY_FILE=$PWD/key_file.json \
    .venv/bin/python -m client.wait_ready --timeout 120 &
waiting=$!
while kill -0 "$waiting" 2>/dev/null && kill -0 "$server" 2>/dev/null; do
    sleep 0.2
done
if kill -0 "$waiting" 2>/dev/null; then
    echo "serve.sh: TorchServe ended before the model was READY; its log above says why" >&2
    stop
    exit 1
fi
if ! wait "$waiting"; then
    echo "serve.sh: the model never became READY; the log above says why" >&2
    stop
    exit 1
fi
waiting=''
.venv/bin/python -m torchserve_runner.auth_proxy --port "${front_door##*:}" --inference-port "${inference##*:}" \
    --management-port "${management##*:}" --token-file front_door_token --key-file key_file.json \
    --workdir "$PWD/logs/front_door" &
front=$!
for _ in $(seq 50); do
    curl --silent --fail --noproxy '*' --output /dev/null "$front_door/healthz" && break
    sleep 0.2
done
curl --silent --fail --noproxy '*' --output /dev/null "$front_door/healthz" || {
    echo "serve.sh: the front door did not start on $front_door; nginx's messages are above" >&2
    stop
    exit 1
}
cat <<MSG

MNIST digit service READY on $front_door (TorchServe behind it: inference ${inference#*://}, management ${management#*://}, metrics ${metrics#*://}).

  Draw a digit:  $front_door/
  The API:       $front_door/docs ("Authorize" with the token in $PWD/front_door_token)

  TOKEN=\$(cat front_door_token)
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: image/png' --data-binary @tests/images/seven.png $front_door/predictions/mnist

TorchServe's own keys are in $PWD/key_file.json (.venv/bin/python -m client.predict tests/images/ uses them).
Ctrl-C stops everything.
MSG
wait -n  # whichever ends first (TorchServe failing, or nginx): the other is stopped with it
status=$?
stop
exit "$status"
