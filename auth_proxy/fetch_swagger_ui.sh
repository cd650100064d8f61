#!/bin/sh
# Swagger UI for the front door's /docs: the files of one pinned release of npm's swagger-ui-dist, checked
# against the sha512 npm's registry publishes for it (its "integrity", here in hex), put into $1. Run by make setup (into
# auth_proxy/public/vendor/swagger-ui, not committed) and by the image build (auth_proxy/Dockerfile).
# Nothing is fetched at run time: the browser loads these from the front door itself.
set -eu

VERSION=5.35.0
SHA512=534eaba4cb56f55dd73c638179a993512af4674f63317e0826e00da44fc465b021c341bc0a0c2bcd4e18997927fe1d3008336c5dd19aad334d1c2dec53cc9551
FILES="swagger-ui-bundle.js swagger-ui.css favicon-32x32.png LICENSE NOTICE"

destination=${1:?usage: fetch_swagger_ui.sh DESTINATION}
if [ -f "$destination/.version" ] && [ "$(cat "$destination/.version")" = "$VERSION" ]; then
    exit 0
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
curl --fail --silent --show-error --location --retry 3 --output "$work/package.tgz" \
    "https://registry.npmjs.org/swagger-ui-dist/-/swagger-ui-dist-$VERSION.tgz"
actual=$(sha512sum "$work/package.tgz" | cut -d ' ' -f 1)
if [ "$actual" != "$SHA512" ]; then
    echo "fetch_swagger_ui.sh: swagger-ui-dist $VERSION does not have the pinned sha512 (got $actual)" >&2
    exit 1
fi
tar -xzf "$work/package.tgz" -C "$work"
mkdir -p "$destination"
for file in $FILES; do
    cp "$work/package/$file" "$destination/"
done
echo "$VERSION" >"$destination/.version"
