#!/usr/bin/env bash
# Set how many TorchServe workers every pod runs: the Deployment's TS_DEFAULT_WORKERS_PER_MODEL, changed on
# the live Deployment (one rolling update: every replica, and every pod started later, has the new count),
# after checking that the pod's memory limit holds that many (scripts/memory_budget.sh; the entrypoint
# checks again in each pod and refuses to start an unsafe count).
#   usage: scale_workers.sh COUNT
# `make deploy` applies k8s/deployment.yaml again, with its own count: change it there to keep a new one.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/memory_budget.sh
source scripts/memory_budget.sh

usage="usage: $0 WORKER_COUNT (a whole number from 1; at most what the pod's memory limit holds)"
[[ $# -eq 1 ]] || { echo "$usage" >&2; exit 2; }
if ! [[ $1 =~ ^[1-9][0-9]{0,2}$ ]]; then
    echo "scale_workers.sh: WORKER_COUNT must be a whole number from 1, got '$1'; $usage" >&2
    exit 2
fi
command -v kubectl >/dev/null || { echo "scale_workers.sh: kubectl is not installed" >&2; exit 1; }
NAMESPACE=mnist
container='{.spec.template.spec.containers[?(@.name=="torchserve")]'

limit=$(kubectl -n "$NAMESPACE" get deployment mnist -o jsonpath="$container.resources.limits.memory}")
vmargs=$(kubectl -n "$NAMESPACE" get deployment mnist -o jsonpath="$container.env[?(@.name==\"TS_VMARGS\")].value}")
case $limit in
    *Gi) limit_mib=$((${limit%Gi} * 1024)) ;;
    *Mi) limit_mib=${limit%Mi} ;;
    *) echo "scale_workers.sh: cannot read the torchserve container's memory limit ('$limit')" >&2; exit 1 ;;
esac
frontend=$(frontend_mib "${vmargs:-$(sed -n 's/^vmargs=//p' config/config.properties | tail -1)}")
fit=$(workers_that_fit "$limit_mib" "$frontend")
if (($1 > fit)); then
    echo "scale_workers.sh: $1 workers do not fit the pod's ${limit} memory limit (frontend up to $frontend MiB," \
        "each worker $WORKER_MIB, $MARGIN_PERCENT % kept free: scripts/memory_budget.sh); $fit fit. $1 need" \
        "$(memory_for_workers "$1" "$frontend") MiB: raise the limit in k8s/deployment.yaml first" >&2
    exit 2
fi
kubectl -n "$NAMESPACE" set env deployment/mnist -c torchserve "TS_DEFAULT_WORKERS_PER_MODEL=$1"
kubectl -n "$NAMESPACE" rollout status deployment/mnist --timeout=300s
