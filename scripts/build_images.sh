#!/usr/bin/env bash
# Build the pod's two images, tagged with the versions k8s/kustomization.yaml deploys:
#   mnist-torchserve  (Dockerfile, context: the repo)
#   mnist-auth-proxy  (auth_proxy/Dockerfile, context: auth_proxy/)
# CONTAINER_ENGINE  docker (default) or podman
# BUILD_OPTIONS     more words for every build, e.g. "--network=host"
# TORCH_INDEX_URL   when set, passed to the Dockerfile (empty: torch from PyPI instead of PyTorch's CPU index)
set -euo pipefail
cd "$(dirname "$0")/.."

ENGINE=${CONTAINER_ENGINE:-docker}
command -v "$ENGINE" >/dev/null || { echo "build_images.sh: $ENGINE is not installed" >&2; exit 1; }
read -r -a options <<<"${BUILD_OPTIONS:-}"
if [[ -v TORCH_INDEX_URL ]]; then
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
    "$ENGINE" build "${options[@]}" --tag "$name:$tag" "$context"
    echo "built $name:$tag"
}

build mnist-torchserve .
build mnist-auth-proxy auth_proxy
