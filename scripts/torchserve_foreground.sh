#!/usr/bin/env bash
# Run TorchServe in the foreground until it is told to stop (SIGTERM/SIGINT: exit 0) or stops by itself
# (exit 1, so a container built on this exits non-zero and Kubernetes restarts it). Used by `make run`
# (scripts/serve.sh) and as the container's entrypoint.
#   usage: torchserve_foreground.sh CONFIG_FILE MODEL_STORE LOG_CONFIG
# TORCHSERVE names the launcher (default: torchserve on PATH).
set -euo pipefail

[[ $# -eq 3 ]] || { echo "usage: $0 CONFIG_FILE MODEL_STORE LOG_CONFIG" >&2; exit 2; }
TORCHSERVE=${TORCHSERVE:-torchserve}
command -v "$TORCHSERVE" >/dev/null || { echo "$0: $TORCHSERVE not found" >&2; exit 1; }

# A session of its own: TorchServe's Python launcher, its Java frontend and the Python workers can then be
# stopped together (the launcher alone does not pass signals on, and exits 0 whatever Java did).
setsid "$TORCHSERVE" --foreground --ts-config "$1" --model-store "$2" --log-config "$3" &
server=$!

trap 'trap - INT TERM; kill -TERM -- "-$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; exit 0' INT TERM

wait "$server" || true
kill -KILL -- "-$server" 2>/dev/null || true  # no worker outlives its frontend
echo "$0: TorchServe stopped by itself" >&2
exit 1
