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
# Every other TS_* variable is ignored, said so on stderr, and removed from TorchServe's environment
# (TorchServe itself would still read TS_CONFIG_FILE and TS_OPEN_INFERENCE_PROTOCOL from it).
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
command -v "$TORCHSERVE" >/dev/null || { echo "$0: $TORCHSERVE not found" >&2; exit 1; }
[[ -f $CONFIG_FILE && -r $CONFIG_FILE ]] || fail "no readable config file '$CONFIG_FILE'"
[[ -z $LOG_CONFIG || -f $LOG_CONFIG ]] || fail "no log config '$LOG_CONFIG'"
store_path=$(cd -- "$MODEL_STORE" 2>/dev/null && pwd -P) || fail "no model store directory '$MODEL_STORE'"
# allowed_urls is a comma-separated list of Java regexes in a .properties file: only paths that need no
# quoting beyond '.' go into it.
[[ $store_path =~ ^/[A-Za-z0-9._/-]+$ ]] ||
    fail "model store path '$store_path' has characters other than letters, digits and ._/-"

# The TS_* variables honoured: name -> TorchServe property, and the form the value must have.
ADDRESS='^https?://([A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\]):[0-9]{1,5}$'
PORT='^[0-9]{1,5}$'
declare -A PROPERTY=(
    [TS_DEFAULT_WORKERS_PER_MODEL]=default_workers_per_model    # k8s: the pod's worker count
    [TS_DISABLE_TOKEN_AUTHORIZATION]=disable_token_authorization  # k8s: the auth proxy checks the token
    [TS_METRICS_ADDRESS]=metrics_address                        # k8s: Prometheus scrapes the pod IP
    [TS_INFERENCE_ADDRESS]=inference_address                    # tests' free ports; `docker run -p`
    [TS_MANAGEMENT_ADDRESS]=management_address                  # tests' free ports
    [TS_GRPC_INFERENCE_PORT]=grpc_inference_port                # tests' free ports
    [TS_GRPC_MANAGEMENT_PORT]=grpc_management_port              # tests' free ports
)
declare -A FORM=(
    [TS_DEFAULT_WORKERS_PER_MODEL]='^[1-9][0-9]{0,2}$'
    [TS_DISABLE_TOKEN_AUTHORIZATION]='^(true|false)$'
    [TS_METRICS_ADDRESS]=$ADDRESS
    [TS_INFERENCE_ADDRESS]=$ADDRESS
    [TS_MANAGEMENT_ADDRESS]=$ADDRESS
    [TS_GRPC_INFERENCE_PORT]=$PORT
    [TS_GRPC_MANAGEMENT_PORT]=$PORT
)

config=$(mktemp "${TMPDIR:-/tmp}/torchserve-config.XXXXXXXX")
trap 'rm -f "$config"' EXIT
{
    cat -- "$CONFIG_FILE"
    printf '\n# Written by %s: nothing below may be overridden.\n' "$0"
    echo "enable_envvars_config=false"
    # Java regex, matched full-string; TorchServe compiles it CASE_INSENSITIVE, (?-i) turns that off.
    # '\\.' is a regex '\.' once java.util.Properties has read it.
    echo "allowed_urls=(?-i)^file://${store_path//./\\\\.}/${ARCHIVE//./\\\\.}\$"
    for name in "${!PROPERTY[@]}"; do
        [[ -v $name ]] || continue
        [[ ${!name} =~ ${FORM[$name]} ]] || fail "$name='${!name}' is not of the form ${FORM[$name]}"
        echo "${PROPERTY[$name]}=${!name}"
    done
} >"$config"
for name in $(compgen -e); do
    if [[ $name == TS_* ]]; then
        [[ -v PROPERTY[$name] ]] || echo "$0: ignoring $name (not an override this entrypoint accepts)" >&2
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
