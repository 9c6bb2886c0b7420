#!/bin/sh
# Build the pdv-alert-desktop wheel into dist/: stage pyproject.toml with protocol/ and
# desktop_client/ (setuptools packages only what lies under the project's own directory).
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
cp "$root/deploy/desktop/pyproject.toml" "$stage/"
cp -R "$root/protocol" "$root/desktop_client" "$stage/"
find "$stage" -name __pycache__ -prune -exec rm -rf {} +
mkdir -p "$root/dist"
"${PYTHON:-python3}" -m pip wheel --no-deps -w "$root/dist" "$stage"
