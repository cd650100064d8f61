#!/bin/sh
# Render /etc/nginx/templates/*.template into /etc/nginx/conf.d with the token, then run nginx in the
# foreground. Refuses to start without a sound token: an empty one would admit "Bearer " alone.
set -eu

token=${INFERENCE_TOKEN:-}  # unset reads as empty: refused below with its message, not by set -u
case $token in
    *[!A-Za-z0-9_-]*)
        echo "start-auth-proxy: INFERENCE_TOKEN may hold only A-Z a-z 0-9 _ - (secrets.token_urlsafe)" >&2
        exit 1 ;;
esac
if [ "${#token}" -lt 32 ]; then
    echo "start-auth-proxy: INFERENCE_TOKEN is unset or shorter than 32 characters" >&2
    exit 1
fi

for template in /etc/nginx/templates/*.template; do
    [ -e "$template" ] || { echo "start-auth-proxy: no template in /etc/nginx/templates" >&2; exit 1; }
    # Only the token (and TorchServe's keys, unset in the pod: TorchServe runs without them there) is
    # substituted: nginx's own $variables stay as they are.
    # shellcheck disable=SC2016,SC2094  # the literal names are envsubst's argument; template and output differ
    envsubst '${INFERENCE_TOKEN} ${TORCHSERVE_INFERENCE_AUTHORIZATION} ${TORCHSERVE_MANAGEMENT_AUTHORIZATION}' \
        <"$template" >"/etc/nginx/conf.d/$(basename "$template" .template)"
done
# -e: nginx's own error log from the first moment, before it reads nginx.conf (its built-in path is on the
# read-only root, and trying it logged an alert at every start).
exec nginx -e stderr -g 'daemon off;'
