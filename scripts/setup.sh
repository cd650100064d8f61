#!/usr/bin/env bash
# Create .venv with the pinned requirements and make sure a JDK 17 is there for TorchServe's frontend,
# with nginx and its njs module (the front door of `make run`, the pod and the tests), curl, hey (the benchmark's load generator), chromium (the tests open the pages in it) and, as root,
# podman with what it needs to build the images and rehearse the pod (tests/test_pod_rehearsal.py).
set -euo pipefail
cd "$(dirname "$0")/.."

REQUIRED_JAVA=17

can_apt_install() {
    [[ $(id -u) -eq 0 ]] && command -v apt-get >/dev/null
}

apt_install() {
    [[ -n ${APT_UPDATED:-} ]] || { apt-get update -qq; APT_UPDATED=1; }
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

java_major() {
    # "openjdk version "17.0.15" 2025-04-15" -> 17
    java -version 2>&1 | awk -F'"' '/version/ {split($2, v, "."); print v[1]; exit}'
}

ensure_java() {
    if command -v java >/dev/null && [[ $(java_major) -ge $REQUIRED_JAVA ]]; then
        return
    fi
    if can_apt_install; then
        echo "setup: installing OpenJDK $REQUIRED_JAVA (TorchServe's frontend is Java)"
        apt_install "openjdk-$REQUIRED_JAVA-jdk-headless"
        return
    fi
    local found=none
    command -v java >/dev/null && found=$(java -version 2>&1 | head -1)
    cat >&2 <<MSG
setup: TorchServe needs Java $REQUIRED_JAVA or newer and found: $found.
  Debian/Ubuntu: sudo apt-get install openjdk-$REQUIRED_JAVA-jdk-headless
  macOS:         brew install openjdk@$REQUIRED_JAVA
  then run 'make setup' again.
MSG
    exit 1
}

# A command (or a file) from a Debian package that the service, tests or tools need: installed when we are
# root on Debian/Ubuntu.
ensure_tool() {
    local command=$1 package=$2 purpose=$3
    if command -v "$command" >/dev/null || [[ -x /usr/sbin/$command || -e $command ]]; then
        return
    fi
    if can_apt_install; then
        echo "setup: installing $package ($purpose)"
        apt_install "$package"
        return
    fi
    echo "setup: no $command ($purpose); the tests that need it are skipped. Install: sudo apt-get install $package" >&2
}

ensure_venv() {
    command -v python3.11 >/dev/null && PYTHON=python3.11 || PYTHON=python3
    if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))'; then
        echo "setup: Python 3.11 is needed (torch 2.14.1 wheels are pinned for it); found $("$PYTHON" --version)" >&2
        exit 1
    fi
    [[ -x .venv/bin/python ]] || "$PYTHON" -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements/dev.txt
}

ensure_java
ensure_tool nginx nginx-light "the front door of make run, and the tests run the pod's in it"
ensure_tool /usr/lib/nginx/modules/ngx_http_js_module.so libnginx-mod-http-js "the front door's Open Inference Protocol state endpoints"
ensure_tool curl curl "fetches Swagger UI, and the printed examples use it"
ensure_tool hey hey "the benchmark's HTTP load generator"
ensure_tool chromium chromium "the tests open the draw page and /docs in it, headless"
ensure_tool chromedriver chromium-driver "drives chromium for those tests"
if [[ $(id -u) -eq 0 ]]; then  # the pod rehearsal runs podman as root; elsewhere it is skipped, saying why
    ensure_tool podman podman "builds the images and runs the pod in the tests"
    ensure_tool runc runc "the container runtime the tests' podman uses (tests/podman/containers.conf)"
    ensure_tool catatonit catatonit "podman's pause process for pods"
    ensure_tool mmdebstrap mmdebstrap "builds the debian:bookworm-slim base image from Debian's packages"
fi
ensure_venv
echo "setup: ready ($(.venv/bin/python --version), Java $(java_major), torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'))"
