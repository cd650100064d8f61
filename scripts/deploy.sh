#!/usr/bin/env bash
# Deploy k8s/ to the current kubectl context (minikube), roll the pods onto freshly built images, wait for
# the rollout and print a working request.
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in kubectl minikube python3; do
    command -v "$tool" >/dev/null || { echo "deploy_minikube.sh: $tool is not installed (see docs/kubernetes.md)" >&2; exit 1; }
done
NAMESPACE=mnist

# The shared inference token: 43 URL-safe characters (the auth proxy refuses shorter or other characters).
new_token() {
    python3 -c 'import secrets; print(secrets.token_urlsafe(32))'
}

# The Secret is made once, here, and never committed.
kubectl apply -f k8s/namespace.yaml
if ! kubectl -n "$NAMESPACE" get secret mnist-inference-token >/dev/null 2>&1; then
    kubectl -n "$NAMESPACE" create secret generic mnist-inference-token --from-literal=token="$(new_token)"
fi

already_deployed=$(kubectl -n "$NAMESPACE" get deployment mnist --ignore-not-found -o name)
kubectl apply -k k8s/
# A rebuilt image under the same tag does not change the Deployment: restart so the pods take it.
if [[ -n $already_deployed ]]; then
    kubectl -n "$NAMESPACE" rollout restart deployment/mnist
fi
kubectl -n "$NAMESPACE" rollout status deployment/mnist --timeout=300s

NODE_PORT=$(kubectl -n "$NAMESPACE" get service mnist -o jsonpath='{.spec.ports[?(@.name=="http")].nodePort}')
URL="http://$(minikube ip):$NODE_PORT"
cat <<MSG

MNIST digit service deployed: $URL/predictions/mnist
  TOKEN=\$(kubectl -n $NAMESPACE get secret mnist-inference-token -o jsonpath='{.data.token}' | base64 -d)
  curl -s -H "Authorization: Bearer \$TOKEN" -H 'Content-Type: image/png' --data-binary @tests/images/seven.png $URL/predictions/mnist
MSG
