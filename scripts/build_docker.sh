#!/usr/bin/env bash
# Build the service image inside minikube's Docker (so the cluster needs no registry), with BuildKit,
# tagged with the version k8s/kustomization.yaml deploys.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in docker minikube; do
    command -v "$tool" >/dev/null || { echo "build_docker.sh: $tool is not installed (see README, 'Kubernetes')" >&2; exit 1; }
done
minikube status >/dev/null || { echo "build_docker.sh: minikube is not running; start it with 'minikube start --cpus 4 --memory 6g'" >&2; exit 1; }

VERSION=$(awk '/newTag:/ {gsub(/"/, "", $2); print $2}' k8s/kustomization.yaml)
[[ -n $VERSION ]] || { echo "build_docker.sh: no newTag in k8s/kustomization.yaml" >&2; exit 1; }

eval "$(minikube docker-env)"
DOCKER_BUILDKIT=1 docker build --tag "mnist-torchserve:$VERSION" .
echo "built mnist-torchserve:$VERSION in minikube's Docker"
