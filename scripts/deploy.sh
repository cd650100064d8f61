#!/usr/bin/env bash
# Deploy k8s/ to the current kubectl context in one rolling update, wait for it and print a working request.
#   scripts/deploy.sh             images from minikube's Docker (make image)
#   REGISTRY=host/path scripts/deploy.sh   images pushed there (make push REGISTRY=host/path), any cluster
#   scripts/deploy.sh --render    print what would be applied, and apply nothing (no cluster needed)
# What is applied is k8s/ as kustomize renders it, with the images' IDs (or registry digests) in an annotation of
# the pod template: a rebuilt image under the same tag, or a changed proxy template, rolls the pods once,
# with the same `kubectl apply`; nothing changed, nothing rolls. Old generated ConfigMaps are deleted after.
# Bash 3.2 or later (macOS's own bash included).
set -euo pipefail
cd "$(dirname "$0")/.."

NAMESPACE=mnist
IMAGES="mnist-torchserve mnist-auth-proxy"
REGISTRY=${REGISTRY:-}
render_only=false
[[ ${1:-} == --render ]] && render_only=true

needed="kubectl python3"
[[ -n $REGISTRY || $render_only == true ]] || needed="$needed minikube docker"
for tool in $needed; do
    command -v "$tool" >/dev/null || { echo "deploy.sh: $tool is not installed (see docs/kubernetes.md)" >&2; exit 1; }
done
[[ -z $REGISTRY || $REGISTRY =~ ^[A-Za-z0-9.:_/-]+$ ]] || { echo "deploy.sh: REGISTRY='$REGISTRY' is not a registry path" >&2; exit 2; }

# The newTag of one `images:` entry of k8s/kustomization.yaml.
image_tag() {
    awk -v name="$1" '$1 == "-" && $2 == "name:" { found = ($3 == name) } found && $1 == "newTag:" { gsub(/"/, "", $2); print $2; exit }' \
        k8s/kustomization.yaml
}

# What identifies the images being deployed: their IDs in minikube's Docker, or their digests in REGISTRY.
image_identities() {
    local name reference ids=""
    if [[ $render_only == true ]]; then
        echo "rendered-only"
        return
    fi
    if [[ -z $REGISTRY ]]; then
        eval "$(minikube docker-env)"
    fi
    for name in $IMAGES; do
        reference="$name:$(image_tag "$name")"
        [[ -z $REGISTRY ]] || reference="$REGISTRY/$reference"
        ids="$ids $(docker image inspect --format '{{if .RepoDigests}}{{index .RepoDigests 0}}{{else}}{{.Id}}{{end}}' "$reference")"
    done
    echo "${ids# }"
}

# k8s/ with the images' identities (and REGISTRY) added, in a kustomize overlay of a copy of it.
overlay=$(mktemp -d)
trap 'rm -rf "$overlay"' EXIT
cp -R k8s "$overlay/base"
mkdir "$overlay/deploy"
{
    echo "resources:"
    echo "  - ../base"
    if [[ -n $REGISTRY ]]; then
        echo "images:"
        for name in $IMAGES; do
            printf '  - name: %s\n    newName: %s/%s\n' "$name" "$REGISTRY" "$name"
        done
    fi
    echo "patches:"
    echo "  - target:"
    echo "      kind: Deployment"
    echo "      name: mnist"
    echo "    patch: |-"
    echo "      - op: add"
    echo "        path: /spec/template/metadata/annotations/mnist.deploy~1images"
    echo "        value: \"$(image_identities)\""
} >"$overlay/deploy/kustomization.yaml"

if [[ $render_only == true ]]; then
    kubectl kustomize "$overlay/deploy"
    exit 0
fi

# The shared inference token: 43 URL-safe characters (the auth proxy refuses shorter or other characters).
new_token() {
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))'
}

# The Secret is made once, here, and never committed.
kubectl apply -f k8s/namespace.yaml
if ! kubectl -n "$NAMESPACE" get secret mnist-inference-token >/dev/null 2>&1; then
    kubectl -n "$NAMESPACE" create secret generic mnist-inference-token --from-literal=token="$(new_token)"
fi

kubectl apply -k "$overlay/deploy"
kubectl -n "$NAMESPACE" rollout status deployment/mnist --timeout=300s

# kustomize names each version of the proxy's template ConfigMap by its hash: keep only the one in use.
in_use=$(kubectl -n "$NAMESPACE" get deployment mnist \
    -o jsonpath='{.spec.template.spec.volumes[?(@.name=="auth-proxy-template")].configMap.name}')
for config_map in $(kubectl -n "$NAMESPACE" get configmap -l app.kubernetes.io/name=mnist -o name); do
    [[ $config_map == "configmap/$in_use" ]] || kubectl -n "$NAMESPACE" delete "$config_map"
done

NODE_PORT=$(kubectl -n "$NAMESPACE" get service mnist -o jsonpath='{.spec.ports[?(@.name=="http")].nodePort}')
if [[ -z $REGISTRY ]]; then
    URL="http://$(minikube ip):$NODE_PORT"
else
    URL="http://<a node's address>:$NODE_PORT"  # externalTrafficPolicy: Local: a node that runs a pod
fi
cat <<MSG

MNIST digit service deployed: $URL/predictions/mnist

  Draw a digit:  $URL/
  The API:       $URL/docs ("Authorize" with the token below)

  TOKEN=\$(kubectl -n $NAMESPACE get secret mnist-inference-token -o jsonpath='{.data.token}' | base64 -d)
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: image/png' --data-binary @tests/images/seven.png $URL/predictions/mnist
MSG
