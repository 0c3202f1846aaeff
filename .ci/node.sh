#!/usr/bin/env bash
# Installs the project's Node.js (the version in .node-version, an LTS line that @pulumi/pulumi's `engines` accepts)
# from the npm registry's `node-linux-<arch>` package, checked against the integrity pinned below, into
# ${MODEL_FLEET_CACHE:-~/.cache/model-fleet}/node/<version>, and prints its bin directory. npm itself is the machine's:
# it runs on whichever `node` comes first on PATH.
#   export PATH="$(bash .ci/node.sh):$PATH"     # .ci/run does this; so can a developer shell
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=$(tr -d ' \n' < "$root/.node-version")
case "$(uname -m)" in
    x86_64) arch=x64 ;;
    aarch64 | arm64) arch=arm64 ;;
    *) echo "node.sh: no node-linux package for $(uname -m)" >&2; exit 1 ;;
esac
# `npm view node-linux-<arch>@<version> dist.integrity`; a new .node-version needs new pins.
declare -A integrity=(
    [24.22.3 - x64]="sha512-KHsob+Fv9YerATvYujMbiyJqnRCvLtrcr/eTNqRqiOSGp97EOiRP1yP47+knGgQ/xnc3XY8xzkW587dlZzNqRA=="
    [24.22.3 - arm64]="sha512-IZx0J52/1NDwAsY2iyWR9nlPIYuYviTWetjj8+ElvYQh2+XRhLfCfkbFEF/2O5vGI2hcUbyPNHV+nz342FbJXw=="
)
want=${integrity["$version - $arch"]:-}
[ -n "$want" ] || { echo "node.sh: no integrity pinned for node-linux-$arch@$version (add it from npm view)" >&2; exit 1; }
home="${MODEL_FLEET_CACHE:-$HOME/.cache/model-fleet}/node/$version-$arch"
if [ ! -x "$home/bin/node" ] || [ "$("$home/bin/node" --version)" != "v$version" ]; then
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    echo "node.sh: installing node-linux-$arch@$version from the npm registry into $home" >&2
    (cd "$tmp" && npm pack --silent "node-linux-$arch@$version" >/dev/null)
    tgz="$tmp/node-linux-$arch-$version.tgz"
    got="sha512-$(openssl dgst -sha512 -binary "$tgz" | base64 -w0)"
    [ "$got" = "$want" ] || { echo "node.sh: integrity mismatch for node-linux-$arch@$version: $got" >&2; exit 1; }
    rm -rf "$home" && mkdir -p "$home"
    tar -xzf "$tgz" -C "$home" --strip-components=1 package/bin/node package/LICENSE
fi
echo "$home/bin"
