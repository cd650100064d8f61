#!/usr/bin/env bash
# Change the TorchServe workers of one pod through its management API and show the result.
#   usage: scale_workers.sh COUNT
# The management API listens on the pod's loopback only; kubectl port-forward reaches it there.
set -euo pipefail

[[ $# -eq 1 && $1 =~ ^[0-9]+$ ]] || { echo "usage: $0 WORKER_COUNT" >&2; exit 2; }
for tool in kubectl curl; do
    command -v "$tool" >/dev/null || { echo "scale_workers.sh: $tool is not installed" >&2; exit 1; }
done
NAMESPACE=mnist
LOCAL_PORT=${LOCAL_PORT:-18081}

kubectl -n "$NAMESPACE" port-forward deployment/mnist "$LOCAL_PORT:8081" >/dev/null &
forward=$!
trap 'kill "$forward" 2>/dev/null || true' EXIT
for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$LOCAL_PORT/" && break
    sleep 0.2
done

curl -sf -X PUT "http://127.0.0.1:$LOCAL_PORT/models/mnist?min_worker=$1&max_worker=$1&synchronous=true"
echo
curl -sf "http://127.0.0.1:$LOCAL_PORT/models/mnist"
