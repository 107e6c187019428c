#!/usr/bin/env bash
# Installs the chart tools into $CACHE_DIR/bin (default ~/.cache/flowyard/bin) and the
# Kubernetes JSON schemas they validate against into $CACHE_DIR/k8s-schemas, idempotently,
# and prints where they are, one `name=path` a line:
#   helm=...            Helm v3, built with `go install` from the Go module proxy
#   kubeconform=...     kubeconform, built the same way
#   compose_spec=...    compose-go's validator for docker-compose.yml, built the same way
#   k8s_schemas=...     folder holding v<version>-local-strict/<kind>-<group>-<version>.json
#   k8s_versions=...    the Kubernetes versions extracted there, space-separated
#
# Why the schemas come from PyPI: kubeconform downloads its schemas from GitHub by default,
# which these machines cannot reach. The PyPI package kubernetes-validate ships the same
# JSON schemas (generated from the Kubernetes OpenAPI spec) for every minor version from
# 1.25 on, as `-local` schemas whose `$ref`s point at `/api/_definitions.json` under an
# https `$id`. We keep only the versions we validate against and rewrite each `$ref` to the
# sibling `_definitions.json` (dropping the `$id`), so kubeconform resolves every reference
# from disk and never touches the network.
#
# Needs: go (for helm and kubeconform) and python3 with pip (for the schema wheel).
# Usage: infra/tools.sh            install what is missing, print the paths
#        infra/tools.sh --check    print the paths only if everything is installed, else exit 1
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

HELM_VERSION="${FLOWYARD_HELM_VERSION:-v3.22.0}"
# The Kubernetes version helm assumes without a cluster (`helm template`, `helm lint`): helm's
# Makefile sets it with -ldflags from its client-go module (v0.37 for helm v3.22), and a bare
# `go install` would leave the compiled-in default of 1.20, which fails `kubeVersion: >=1.30`.
HELM_KUBE_VERSION="${FLOWYARD_HELM_KUBE_VERSION:-1.37}"
KUBECONFORM_VERSION="${FLOWYARD_KUBECONFORM_VERSION:-v0.8.0}"
# compose-go is the Compose Specification's reference loader (docker compose uses it); its
# `cmd` validates docker-compose.yml against the spec's JSON schema, interpolates and
# resolves paths, all without a Docker engine.
COMPOSE_GO_VERSION="${FLOWYARD_COMPOSE_GO_VERSION:-v2.16.2}"
K8S_SCHEMAS_PACKAGE_VERSION="${FLOWYARD_K8S_SCHEMAS_VERSION:-1.37.0}"
# Oldest Kubernetes the chart supports (Chart.yaml kubeVersion) and the newest the package ships.
K8S_VERSIONS="${FLOWYARD_K8S_VERSIONS:-1.30.0 1.37.0}"

helm_ldflags="-X helm.sh/helm/v3/internal/version.version=$HELM_VERSION"
for pkg in helm.sh/helm/v3/pkg/lint/rules helm.sh/helm/v3/pkg/chartutil; do
  helm_ldflags+=" -X $pkg.k8sVersionMajor=${HELM_KUBE_VERSION%%.*} -X $pkg.k8sVersionMinor=${HELM_KUBE_VERSION#*.}"
done

BIN_DIR="$CACHE_DIR/bin"
SCHEMAS_DIR="$CACHE_DIR/k8s-schemas/kubernetes-validate-$K8S_SCHEMAS_PACKAGE_VERSION"

say() { printf '[tools] %s\n' "$*" >&2; }
die() { printf '[tools] ERROR: %s\n' "$*" >&2; exit 1; }

# A stamp next to each binary records the version it was built from: `go install` leaves
# no exact version in the binary (helm reports only v3.N), so the stamp decides.
installed() { [[ -x "$BIN_DIR/$1" ]] && [[ "$(cat "$BIN_DIR/.$1.version" 2>/dev/null)" == "$2${3:+ $3}" ]]; }

schemas_installed() {
  local v
  for v in $K8S_VERSIONS; do [[ -f "$SCHEMAS_DIR/v$v-local-strict/.complete" ]] || return 1; done
}

print_paths() {
  echo "helm=$BIN_DIR/helm"
  echo "kubeconform=$BIN_DIR/kubeconform"
  echo "compose_spec=$BIN_DIR/compose-spec"
  echo "k8s_schemas=$SCHEMAS_DIR"
  echo "k8s_versions=$K8S_VERSIONS"
}

if [[ "${1:-}" == "--check" ]]; then
  installed helm "$HELM_VERSION" "$helm_ldflags" && installed kubeconform "$KUBECONFORM_VERSION" \
    && installed compose-spec "$COMPOSE_GO_VERSION" && schemas_installed || exit 1
  print_paths
  exit 0
fi

# go_install NAME PACKAGE VERSION [LDFLAGS]: builds PACKAGE@VERSION into $BIN_DIR/NAME.
go_install() {
  local name="$1" module="$2" version="$3" ldflags="${4:-}"
  installed "$name" "$version" "$ldflags" && return 0
  command -v go >/dev/null || die "go is not installed; it builds $name $version from the Go module proxy"
  say "building $name $version with go install (a few minutes the first time)"
  local log="$CACHE_DIR/tools-$name.log" gobin
  # A private GOBIN: go install names the binary after the package's last path element
  # (compose-go's is `cmd`), and a half-written binary never replaces a good one.
  gobin="$(mktemp -d "$CACHE_DIR/gobin.XXXXXX")"
  if ! GOBIN="$gobin" GOFLAGS="${GOFLAGS:-} -buildvcs=false" go install -ldflags="$ldflags" "$module@$version" >"$log" 2>&1; then
    tail -20 "$log" >&2
    rm -rf "$gobin"
    die "go install $module@$version failed (is the Go module proxy reachable?); full log: $log"
  fi
  mv -f "$gobin/${module##*/}" "$BIN_DIR/$name"
  rm -rf "$gobin"
  echo "$version${ldflags:+ $ldflags}" >"$BIN_DIR/.$name.version"
}

install_schemas() {
  schemas_installed && return 0
  command -v python3 >/dev/null || die "python3 is not installed; pip fetches the Kubernetes schemas (kubernetes-validate) from PyPI"
  local tmp; tmp="$(mktemp -d)"
  # shellcheck disable=SC2064 # expand now: the folder is this call's
  trap "rm -rf '$tmp'" RETURN
  say "fetching Kubernetes JSON schemas (PyPI kubernetes-validate==$K8S_SCHEMAS_PACKAGE_VERSION) for $K8S_VERSIONS"
  if ! python3 -m pip download --quiet --no-deps --disable-pip-version-check \
      --only-binary=:all: -d "$tmp" "kubernetes-validate==$K8S_SCHEMAS_PACKAGE_VERSION" >"$CACHE_DIR/tools-schemas.log" 2>&1; then
    tail -20 "$CACHE_DIR/tools-schemas.log" >&2
    die "pip could not download kubernetes-validate==$K8S_SCHEMAS_PACKAGE_VERSION (is PyPI reachable?); log: $CACHE_DIR/tools-schemas.log"
  fi
  local wheel; wheel="$(ls "$tmp"/kubernetes_validate-*.whl)"
  mkdir -p "$SCHEMAS_DIR"
  python3 - "$wheel" "$SCHEMAS_DIR" $K8S_VERSIONS <<'PY'
import json, os, sys, zipfile

wheel, out, versions = sys.argv[1], sys.argv[2], sys.argv[3:]
prefix = 'kubernetes_validate/kubernetes-json-schema/'
REMOTE_DEFS = '/api/_definitions.json#'

def rewrite(node):
    """Point every $ref at the sibling _definitions.json, so it resolves from disk."""
    if isinstance(node, dict):
        ref = node.get('$ref')
        if isinstance(ref, str) and ref.startswith(REMOTE_DEFS):
            node['$ref'] = '_definitions.json#' + ref[len(REMOTE_DEFS):]
        for value in node.values():
            rewrite(value)
    elif isinstance(node, list):
        for value in node:
            rewrite(value)

with zipfile.ZipFile(wheel) as zf:
    names = zf.namelist()
    for version in versions:
        folder = f'v{version}-local-strict'
        members = [n for n in names if n.startswith(f'{prefix}{folder}/') and n.endswith('.json')]
        if not members:
            sys.exit(f'kubernetes-validate has no schemas for Kubernetes {version} ({folder})')
        target = os.path.join(out, folder)
        os.makedirs(target, exist_ok=True)
        for member in members:
            schema = json.loads(zf.read(member))
            # The $id is an https URL; relative refs would resolve against it (and go to the network).
            schema.pop('$id', None)
            rewrite(schema)
            with open(os.path.join(target, os.path.basename(member)), 'w') as f:
                json.dump(schema, f)
        open(os.path.join(target, '.complete'), 'w').close()
PY
}

# Go's official tarball installs to /usr/local/go; its bin folder is not always on PATH.
command -v go >/dev/null || [[ ! -x /usr/local/go/bin/go ]] || PATH="$PATH:/usr/local/go/bin"
mkdir -p "$BIN_DIR"
# One installer at a time (parallel test runs, two checkouts on one machine).
exec 9>"$CACHE_DIR/tools.lock"
flock 9
go_install helm helm.sh/helm/v3/cmd/helm "$HELM_VERSION" "$helm_ldflags"
go_install kubeconform github.com/yannh/kubeconform/cmd/kubeconform "$KUBECONFORM_VERSION"
go_install compose-spec github.com/compose-spec/compose-go/v2/cmd "$COMPOSE_GO_VERSION"
install_schemas
print_paths
