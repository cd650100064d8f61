#!/usr/bin/env bash
# Build the pod's images inside minikube's Docker (so the cluster needs no registry). Bash 3.2 or later.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in docker minikube; do
    command -v "$tool" >/dev/null || { echo "build_in_minikube.sh: $tool is not installed (see docs/kubernetes.md)" >&2; exit 1; }
done
# Without minikube's environment the images would land in the host's Docker, where the cluster cannot see them.
docker_env=$(minikube docker-env) || {
    echo "build_in_minikube.sh: 'minikube docker-env' failed; start minikube with 'minikube start --cpus 5 --memory 11g' (docs/kubernetes.md)" >&2
    exit 1
}
eval "$docker_env"
CONTAINER_ENGINE=docker scripts/build_images.sh
echo "built in minikube's Docker"
