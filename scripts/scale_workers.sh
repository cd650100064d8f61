#!/usr/bin/env bash
# Change the TorchServe workers of one pod through its management API and show the result.
#   usage: scale_workers.sh COUNT
# The management API listens on the pod's loopback only; kubectl port-forward reaches it there.
set -euo pipefail

# At most MAX_WORKERS workers per pod: TorchServe itself accepts any count (min_worker=200 too) and would
# try to start them all in one pod. 4 is a ceiling, not a target. Each worker runs one torch thread
# (handler/mnist_handler.py) and the pod has a small CPU limit (k8s/deployment.yaml: 1 CPU, 2 workers):
# beyond a few workers per core they only fight over the cores (bench/README.md). Each worker also needs
# ~700 MiB, so more than the deployment's workers needs the pod's memory limit raised first. Raise this
# ceiling only together with the pod's limits.
MAX_WORKERS=4

[[ $# -eq 1 ]] || { echo "usage: $0 WORKER_COUNT (1 to $MAX_WORKERS)" >&2; exit 2; }
if ! [[ $1 =~ ^[1-9][0-9]{0,2}$ ]] || (($1 > MAX_WORKERS)); then
    echo "scale_workers.sh: WORKER_COUNT must be a whole number from 1 to $MAX_WORKERS (workers per pod," \
        "see MAX_WORKERS in scripts/scale_workers.sh), got '$1'" >&2
    exit 2
fi
for tool in kubectl curl; do
    command -v "$tool" >/dev/null || { echo "scale_workers.sh: $tool is not installed" >&2; exit 1; }
done
NAMESPACE=mnist
LOCAL_PORT=${LOCAL_PORT:-18081}

kubectl -n "$NAMESPACE" port-forward deployment/mnist "$LOCAL_PORT:8081" >/dev/null &
forward=$!
trap 'kill "$forward" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -s --noproxy "*" -o /dev/null "http://127.0.0.1:$LOCAL_PORT/" && break
    sleep 0.2
done

curl -sf --noproxy "*" -X PUT "http://127.0.0.1:$LOCAL_PORT/models/mnist?min_worker=$1&max_worker=$1&synchronous=true"
echo
curl -sf --noproxy "*" "http://127.0.0.1:$LOCAL_PORT/models/mnist"
