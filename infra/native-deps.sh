#!/usr/bin/env bash
# Makes sure the machine can compile @confluentinc/kafka-javascript's native addon (the
# `confluent` Kafka backend, KAFKA_CLIENT=confluent), and prints the environment `npm ci`
# needs to compile it for the Node that runs flowyard, one `NAME=value` a line:
#   CKJS_LINKING=dynamic   build the librdkafka the package bundles (2.15.x) as a shared library
#                          against the system's OpenSSL, zlib and zstd. The default (static)
#                          build downloads those libraries' sources from GitHub at install time,
#                          which these machines cannot reach; nor can node-pre-gyp fetch a prebuilt
#                          addon from GitHub, so npm always compiles it here (about 2 minutes).
#   npm_config_nodedir=... the headers of the Node running npm (its install prefix). node-gyp
#                          otherwise takes `nodedir` from the user's ~/.npmrc when one sets it
#                          (`nodedir=/usr` on these machines: NodeSource's Node 20 headers), and the
#                          addon then refuses to load under Node 24 (NODE_MODULE_VERSION 115 vs 137).
# The Debian packages are installed only when missing (dpkg-query first: fast when present):
#   g++, make (build-essential), python3 (node-gyp), libssl-dev (TLS, SASL SCRAM),
#   zlib1g-dev (gzip), libzstd-dev (zstd; lz4 and snappy are built into librdkafka).
# Debian's own librdkafka-dev (2.0.2 on bookworm) is not needed: the addon links the librdkafka
# it bundles, never the system's.
# Usage (the Makefile's install target): env $(bash infra/native-deps.sh) npm ci
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PACKAGES=(build-essential python3 libssl-dev zlib1g-dev libzstd-dev)

missing=()
for package in "${PACKAGES[@]}"; do
  [[ "$(dpkg-query -W -f='${Status}' "$package" 2>/dev/null)" == "install ok installed" ]] || missing+=("$package")
done
if ((${#missing[@]} > 0)); then
  [[ $EUID -eq 0 ]] || command -v sudo >/dev/null || die "the Debian packages ${missing[*]} are needed to build @confluentinc/kafka-javascript; install them as root"
  if [[ $EUID -eq 0 ]]; then apt_install "${missing[@]}" >&2; else sudo bash -c "source '$REPO_ROOT/infra/lib.sh' && apt_install ${missing[*]}" >&2; fi
fi

node_bin="$(command -v node)" || die "no node on PATH (the Makefile puts the Node of infra/node.sh first)"
nodedir="$(cd "$(dirname "$(readlink -f "$node_bin")")/.." && pwd)"
version="$(node -p 'process.versions.node')"
header="$nodedir/include/node/node_version.h"
headers_version() { awk '/#define NODE_(MAJOR|MINOR|PATCH)_VERSION/ { v = v (v == "" ? "" : ".") $3 } END { print v }' "$header"; }
[[ -f "$header" && "$(headers_version)" == "$version" ]] \
  || die "the headers of Node $version are not in $nodedir/include/node (found: $( [[ -f $header ]] && headers_version || echo none )); node-gyp needs them to build @confluentinc/kafka-javascript"

echo "CKJS_LINKING=dynamic"
echo "npm_config_nodedir=$nodedir"
