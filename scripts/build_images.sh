#!/usr/bin/env bash
# Build the pod's two images, tagged with the versions k8s/kustomization.yaml deploys:
#   mnist-torchserve  (Dockerfile, context: the repo)
#   mnist-auth-proxy  (auth_proxy/Dockerfile, context: auth_proxy/)
#   scripts/build_images.sh [--push]
# CONTAINER_ENGINE  docker (default) or podman
# REGISTRY          a registry path (host[:port]/path): the images are named REGISTRY/mnist-...; with --push
#                   they are pushed there, for a cluster other than minikube (REGISTRY=... scripts/deploy.sh)
# BUILD_OPTIONS     more words for every build, e.g. "--network=host"
# TORCH_INDEX_URL   when set, passed to the Dockerfile (empty: torch from PyPI instead of PyTorch's CPU index)
# Bash 3.2 or later (macOS's own bash included).
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${CONTAINER_ENGINE:-docker}
REGISTRY=${REGISTRY:-}
push=false
case ${1:-} in
    --push) push=true ;;
    "") ;;
    *) echo "usage: $0 [--push]" >&2; exit 2 ;;
esac
command -v "$ENGINE" >/dev/null || { echo "build_images.sh: $ENGINE is not installed" >&2; exit 1; }
[[ -z $REGISTRY || $REGISTRY =~ ^[A-Za-z0-9.:_/-]+$ ]] || { echo "build_images.sh: REGISTRY='$REGISTRY' is not a registry path" >&2; exit 2; }
[[ $push == false || -n $REGISTRY ]] || { echo "build_images.sh: --push needs REGISTRY=host[:port]/path" >&2; exit 2; }
options=()
[[ -z ${BUILD_OPTIONS:-} ]] || read -r -a options <<<"$BUILD_OPTIONS"
if [[ -n ${TORCH_INDEX_URL+set} ]]; then
    options+=(--build-arg "TORCH_INDEX_URL=$TORCH_INDEX_URL")
fi

# The newTag of one `images:` entry of k8s/kustomization.yaml.
image_tag() {
    awk -v name="$1" '$1 == "-" && $2 == "name:" { found = ($3 == name) } found && $1 == "newTag:" { gsub(/"/, "", $2); print $2; exit }' \
        k8s/kustomization.yaml
}

build() {
    local name=$1 context=$2 tag
    tag=$(image_tag "$name")
    [[ -n $tag ]] || { echo "build_images.sh: no newTag for $name in k8s/kustomization.yaml" >&2; exit 1; }
    [[ -z $REGISTRY ]] || name="$REGISTRY/$name"
    # ${options[@]+...}: an empty array is an unbound variable to bash before 4.4
    "$ENGINE" build ${options[@]+"${options[@]}"} --tag "$name:$tag" "$context"
    echo "built $name:$tag"
    if [[ $push == true ]]; then
        "$ENGINE" push "$name:$tag"
        echo "pushed $name:$tag"
    fi
}

build mnist-torchserve .
build mnist-auth-proxy auth_proxy
