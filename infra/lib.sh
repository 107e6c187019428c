# Shared helpers for the local-server scripts. Sourced, not run.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Runtime state (data, logs, pid files) lives in an ignored folder of the checkout.
STATE_DIR="${FLOWYARD_STATE_DIR:-$REPO_ROOT/.local}"
# Downloaded jars are cached outside the checkout so fresh clones reuse them.
CACHE_DIR="${FLOWYARD_CACHE_DIR:-$HOME/.cache/flowyard}"
# The servers `make infra-up` starts and `make test` needs, in start order; each has infra/<name>.sh up|down|status.
LOCAL_SERVERS="${FLOWYARD_LOCAL_SERVERS:-kafka registry redis postgres}"

say() { printf '[infra] %s\n' "$*"; }
die() { printf '[infra] ERROR: %s\n' "$*" >&2; exit 1; }

# port_busy PORT: true when something accepts TCP connections on 127.0.0.1:PORT.
port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

pid_alive() { [[ -f "$1" ]] && kill -0 "$(cat "$1")" 2>/dev/null; }

# stop_pidfile NAME PIDFILE: TERM, wait up to 30 s, then KILL.
stop_pidfile() {
  local name="$1" pidfile="$2"
  if ! pid_alive "$pidfile"; then
    say "$name is not running (started by these scripts)"
    rm -f "$pidfile"
    return 0
  fi
  local pid; pid="$(cat "$pidfile")"
  kill "$pid" 2>/dev/null || true
  for _ in $(seq 1 60); do
    kill -0 "$pid" 2>/dev/null || { rm -f "$pidfile"; say "$name stopped"; return 0; }
    sleep 0.5
  done
  kill -9 "$pid" 2>/dev/null || true
  rm -f "$pidfile"
  say "$name did not stop within 30 s; killed"
}

apt_install() {
  command -v apt-get >/dev/null || die "$1 is missing and apt-get is not available to install it"
  say "installing Debian package(s): $*"
  if [[ ! -d /var/lib/apt/lists ]] || [[ -z "$(ls -A /var/lib/apt/lists 2>/dev/null | grep -v lock || true)" ]]; then
    apt-get update -qq >/dev/null || die "apt-get update failed (is the Debian mirror reachable?)"
  fi
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null \
    || { apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null; } \
    || die "apt-get install $* failed"
}
