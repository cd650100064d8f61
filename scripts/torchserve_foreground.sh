#!/usr/bin/env bash
# Run TorchServe in the foreground until it is told to stop (SIGTERM/SIGINT: exit 0) or stops by itself
# (exit 1, so a container built on this exits non-zero and Kubernetes restarts it). The one way TorchServe
# is started: `make run` (scripts/serve.sh), the container's entrypoint and every test server
# (torchserve_runner/server.py).
#   usage: torchserve_foreground.sh CONFIG_FILE MODEL_STORE LOG_CONFIG
# LOG_CONFIG may be '' for TorchServe's built-in logging. TORCHSERVE names the launcher (default:
# torchserve on PATH).
#
# TorchServe reads the effective config this script writes into a private temp file: CONFIG_FILE, then
#   - enable_envvars_config=false: no TS_* variable reaches TorchServe's own override mechanism, which
#     would accept any setting (TS_ENABLE_MODEL_API=true would turn model registration on);
#   - allowed_urls matching exactly file://<MODEL_STORE's absolute path>/mnist.mar, case-sensitive;
#   - one line per variable of the allowlist below that is set (validated; anything else is refused).
# Bash 3.2 or later: `make run` runs it with macOS's own bash too.
# Every other TS_* variable is ignored, said so on stderr, and removed from TorchServe's environment
# (TorchServe itself would still read TS_CONFIG_FILE and TS_OPEN_INFERENCE_PROTOCOL from it).
# In a container with a memory limit (a Kubernetes pod), a worker count the limit cannot hold is refused
# before TorchServe starts (scripts/memory_budget.sh): an out-of-memory kill would end the whole container.
set -euo pipefail

# Files TorchServe creates (key_file.json, which it writes before narrowing it to 0600; logs; unpacked
# archives; this config) are never readable by group or others, not even for a moment.
umask 077

[[ $# -eq 3 ]] || { echo "usage: $0 CONFIG_FILE MODEL_STORE LOG_CONFIG" >&2; exit 2; }
CONFIG_FILE=$1 MODEL_STORE=$2 LOG_CONFIG=$3
TORCHSERVE=${TORCHSERVE:-torchserve}
# The one archive the service loads (config.properties: load_models=mnist=mnist.mar).
ARCHIVE=mnist.mar

fail() { echo "$0: $*" >&2; exit 2; }
# shellcheck source=scripts/memory_budget.sh
source "$(dirname "$0")/memory_budget.sh"
command -v "$TORCHSERVE" >/dev/null || { echo "$0: $TORCHSERVE not found" >&2; exit 1; }
[[ -f $CONFIG_FILE && -r $CONFIG_FILE ]] || fail "no readable config file '$CONFIG_FILE'"
[[ -z $LOG_CONFIG || -f $LOG_CONFIG ]] || fail "no log config '$LOG_CONFIG'"
store_path=$(cd -- "$MODEL_STORE" 2>/dev/null && pwd -P) || fail "no model store directory '$MODEL_STORE'"
# allowed_urls is a comma-separated list of Java regexes in a .properties file: only paths that need no
# quoting beyond '.' go into it.
[[ $store_path =~ ^/[A-Za-z0-9._/-]+$ ]] ||
    fail "model store path '$store_path' has characters other than letters, digits and ._/-"

# The TS_* variables honoured: name -> "TorchServe property" and "the form the value must have".
ADDRESS='^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$'
PORT='^[0-9]{1,5}$'
OVERRIDES="TS_DEFAULT_WORKERS_PER_MODEL TS_DISABLE_TOKEN_AUTHORIZATION TS_METRICS_ADDRESS TS_INFERENCE_ADDRESS
TS_MANAGEMENT_ADDRESS TS_GRPC_INFERENCE_PORT TS_GRPC_MANAGEMENT_PORT TS_TOKEN_EXPIRATION_MIN TS_VMARGS"
property_of() {
    case $1 in
        TS_DEFAULT_WORKERS_PER_MODEL) echo default_workers_per_model ;;      # k8s: the pod's worker count
        TS_DISABLE_TOKEN_AUTHORIZATION) echo disable_token_authorization ;;  # k8s: the auth proxy checks the token
        TS_METRICS_ADDRESS) echo metrics_address ;;                          # k8s: Prometheus scrapes the pod IP
        TS_INFERENCE_ADDRESS) echo inference_address ;;                      # tests' free ports; `docker run -p`
        TS_MANAGEMENT_ADDRESS) echo management_address ;;                    # tests' free ports
        TS_GRPC_INFERENCE_PORT) echo grpc_inference_port ;;                  # tests' free ports
        TS_GRPC_MANAGEMENT_PORT) echo grpc_management_port ;;                # tests' free ports
        TS_TOKEN_EXPIRATION_MIN) echo token_expiration_min ;;                # key lifetime (tests: seconds)
        TS_VMARGS) echo vmargs ;;                                            # k8s: the JVM sized for the proxy
    esac
}
form_of() {
    case $1 in
        TS_DEFAULT_WORKERS_PER_MODEL) echo '^[1-9][0-9]{0,2}$' ;;
        TS_DISABLE_TOKEN_AUTHORIZATION) echo '^(true|false)$' ;;
        TS_METRICS_ADDRESS | TS_INFERENCE_ADDRESS | TS_MANAGEMENT_ADDRESS) echo "$ADDRESS" ;;
        TS_GRPC_INFERENCE_PORT | TS_GRPC_MANAGEMENT_PORT) echo "$PORT" ;;
        TS_TOKEN_EXPIRATION_MIN) echo '^[0-9]{1,5}(\.[0-9]{1,6})?$' ;;
        TS_VMARGS) echo '^-X[A-Za-z0-9:+=._-]+( -X[A-Za-z0-9:+=._-]+)*$' ;;  # JVM -X options only
    esac
}

# The container's memory limit in MiB (cgroup v2, then v1), or nothing when there is none.
memory_limit_mib() {
    local limit
    limit=$(cat /sys/fs/cgroup/memory.max 2>/dev/null || cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null) || return 0
    [[ $limit =~ ^[0-9]+$ ]] && ((limit < 1 << 50)) && echo $((limit / 1024 / 1024))
    return 0
}
# The last value of a property in CONFIG_FILE (java.util.Properties keeps the last).
property() { sed -n "s/^$1=//p" "$CONFIG_FILE" | tail -1; }
workers=${TS_DEFAULT_WORKERS_PER_MODEL:-$(property default_workers_per_model)}
frontend=$(frontend_mib "${TS_VMARGS:-$(property vmargs)}")
limit=$(memory_limit_mib)
if [[ -n $limit && $workers =~ ^[0-9]+$ ]] && ((workers > $(workers_that_fit "$limit" "$frontend"))); then
    fail "$workers workers do not fit the container's ${limit} MiB memory limit: the frontend takes up to" \
        "$frontend MiB with its JVM options and each worker $WORKER_MIB, $MARGIN_PERCENT % kept free" \
        "(scripts/memory_budget.sh); $(workers_that_fit "$limit" "$frontend") fit. $workers need" \
        "$(memory_for_workers "$workers" "$frontend") MiB: raise the limit (k8s/deployment.yaml) or lower" \
        "TS_DEFAULT_WORKERS_PER_MODEL"
fi

config=$(mktemp "${TMPDIR:-/tmp}/torchserve-config.XXXXXXXX")
trap 'rm -f "$config"' EXIT
{
    cat -- "$CONFIG_FILE"
    printf '\n# Written by %s: nothing below may be overridden.\n' "$0"
    echo "enable_envvars_config=false"
    # Java regex, matched full-string; TorchServe compiles it CASE_INSENSITIVE, (?-i) turns that off.
    # '\\.' is a regex '\.' once java.util.Properties has read it.
    echo "allowed_urls=(?-i)^file://${store_path//./\\\\.}/${ARCHIVE//./\\\\.}\$"
    for name in $OVERRIDES; do
        [[ -n ${!name+set} ]] || continue
        form=$(form_of "$name")
        [[ ${!name} =~ $form ]] || fail "$name='${!name}' is not of the form $form"
        echo "$(property_of "$name")=${!name}"
    done
} >"$config"
for name in $(compgen -e); do
    if [[ $name == TS_* ]]; then
        [[ -n $(property_of "$name") ]] || echo "$0: ignoring $name (not an override this entrypoint accepts)" >&2
        unset "$name"
    fi
done

command=("$TORCHSERVE" --foreground --ts-config "$config" --model-store "$store_path")
[[ -z $LOG_CONFIG ]] || command+=(--log-config "$LOG_CONFIG")
# A session of its own: TorchServe's Python launcher, its Java frontend and the Python workers can then be
# stopped together (the launcher alone does not pass signals on, and exits 0 whatever Java did).
setsid "${command[@]}" &
server=$!

trap 'trap - INT TERM; kill -TERM -- "-$server" 2>/dev/null || true; wait "$server" 2>/dev/null || true; exit 0' INT TERM

wait "$server" || true
kill -KILL -- "-$server" 2>/dev/null || true  # no worker outlives its frontend
echo "$0: TorchServe stopped by itself" >&2
exit 1
