#!/usr/bin/env bash
# Local PostgreSQL on 127.0.0.1:5432 with a database `flowyard`, for the postgres sink's
# tests and the demo. Reuses a PostgreSQL that already answers there; otherwise installs
# Debian's postgresql if its server programs are missing and starts a private cluster whose
# data lives in .local/postgres. Trust authentication on 127.0.0.1 only: a test server,
# never a production setting.
# Usage: infra/postgres.sh up|down|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${FLOWYARD_POSTGRES_PORT:-5432}"
DATABASE=flowyard
SUPERUSER=postgres
PG_STATE="$STATE_DIR/postgres"
DATA_DIR="$PG_STATE/data"
# The Unix socket goes here rather than /var/run/postgresql, which may not exist or be writable.
SOCKET_DIR="$PG_STATE/run"
LOG="$PG_STATE/postgres.log"
PG_BIN=""

# find_bin: the directory holding initdb, pg_ctl and postgres of one PostgreSQL version.
# Debian keeps them in /usr/lib/postgresql/<version>/bin, off PATH; a pg_ctl that is on PATH
# (e.g. a /usr/local/bin symlink) is used only if it says it is PostgreSQL's and has its
# initdb and postgres beside it, so a wrapper or a stray script is never mistaken for it.
find_bin() {
  local candidate dir
  candidate="$(command -v pg_ctl 2>/dev/null || true)"
  if [[ -n "$candidate" ]]; then
    dir="$(dirname "$(readlink -f "$candidate")")"
    if "$dir/pg_ctl" --version 2>/dev/null | grep -q PostgreSQL && [[ -x "$dir/initdb" && -x "$dir/postgres" ]]; then
      PG_BIN="$dir"; return 0
    fi
  fi
  # The newest installed version first.
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -V -r); do
    if [[ -x "$dir/pg_ctl" && -x "$dir/initdb" && -x "$dir/postgres" ]]; then PG_BIN="$dir"; return 0; fi
  done
  return 1
}

# as_owner CMD...: runs CMD as the cluster's owner. initdb and postgres refuse to run as root,
# so under root they run as the `postgres` user the Debian package creates.
as_owner() {
  if [[ "$(id -u)" == 0 ]]; then runuser -u "$SUPERUSER" -- "$@"; else "$@"; fi
}

accepting() { command -v pg_isready >/dev/null && pg_isready -q -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -t 2; }
# A real query, not only the accept: the server may accept while still recovering.
answers_query() { psql -X -q -A -t -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d "$1" -c 'select 1' 2>/dev/null | grep -qx 1; }

ensure_database() {
  answers_query "$DATABASE" && return 0
  psql -X -q -h 127.0.0.1 -p "$PORT" -U "$SUPERUSER" -d postgres -c "create database $DATABASE" >/dev/null 2>"$PG_STATE/createdb.err" \
    || die "PostgreSQL answers on 127.0.0.1:$PORT but database $DATABASE does not exist and could not be created as user $SUPERUSER: $(cat "$PG_STATE/createdb.err")"
  say "created database $DATABASE"
}

init_cluster() {
  [[ -f "$DATA_DIR/PG_VERSION" ]] && return 0
  if [[ "$(id -u)" == 0 ]] && ! id "$SUPERUSER" >/dev/null 2>&1; then
    die "running as root, and initdb refuses root, but there is no '$SUPERUSER' user to run it as (the Debian postgresql package creates one); create it or run as a normal user"
  fi
  say "creating a PostgreSQL cluster in $DATA_DIR (trust authentication, local tests only)"
  mkdir -p "$DATA_DIR"
  if [[ "$(id -u)" == 0 ]]; then chown "$SUPERUSER": "$DATA_DIR" "$PG_STATE"; fi
  chmod 700 "$DATA_DIR"
  if ! as_owner "$PG_BIN/initdb" -D "$DATA_DIR" -U "$SUPERUSER" --auth=trust --encoding=UTF8 --locale=C.UTF-8 >"$PG_STATE/initdb.log" 2>&1; then
    tail -20 "$PG_STATE/initdb.log" >&2
    rm -rf "$DATA_DIR"
    die "initdb failed; full log: $PG_STATE/initdb.log"
  fi
}

up() {
  if accepting; then
    if [[ -f "$DATA_DIR/postmaster.pid" ]]; then
      say "PostgreSQL already running on 127.0.0.1:$PORT (data: $DATA_DIR); log: $LOG"
    else
      say "reusing the PostgreSQL that already answers on 127.0.0.1:$PORT (not started by these scripts; its logs are its own)"
    fi
    ensure_database
    return 0
  fi
  find_bin || { apt_install postgresql; find_bin; } \
    || die "PostgreSQL's server programs (initdb, pg_ctl, postgres) were not found on PATH or in /usr/lib/postgresql/*/bin even after installing the postgresql package"
  command -v psql >/dev/null || apt_install postgresql-client
  port_busy "$PORT" && die "port $PORT on 127.0.0.1 is taken by something that is not an answering PostgreSQL; stop it or set FLOWYARD_POSTGRES_PORT"
  mkdir -p "$PG_STATE"
  init_cluster
  mkdir -p "$SOCKET_DIR"
  touch "$LOG"
  if [[ "$(id -u)" == 0 ]]; then chown "$SUPERUSER": "$SOCKET_DIR" "$LOG"; fi
  say "starting PostgreSQL $("$PG_BIN/postgres" --version | awk '{print $3}') on 127.0.0.1:$PORT; log: $LOG"
  # Only the log lines of this start attempt are shown if it fails.
  local log_offset; log_offset="$(stat -c %s "$LOG")"
  # pg_ctl -w waits until the server accepts connections or gives up; a failed start (stale
  # pid file of a killed server, a bad setting, no shared memory) is described in the log.
  # fsync=off: test data is disposable, and fsync dominates the time of small inserts.
  if ! as_owner "$PG_BIN/pg_ctl" start -D "$DATA_DIR" -l "$LOG" -w -t 30 \
      -o "-c listen_addresses=127.0.0.1 -p $PORT -c unix_socket_directories=$SOCKET_DIR -c fsync=off" >"$PG_STATE/pg_ctl.out" 2>&1; then
    local attempt cause
    attempt="$(tail -c +"$((log_offset + 1))" "$LOG"; cat "$PG_STATE/pg_ctl.out")"
    printf '%s\n' "$attempt" | tail -20 >&2
    cause="$(printf '%s\n' "$attempt" | grep -m1 -E 'FATAL|PANIC|ERROR|could not' | sed -E 's/^.*(FATAL|PANIC|ERROR): +//' || true)"
    die "PostgreSQL did not start: ${cause:-see the lines above}; full log: $LOG"
  fi
  local deadline=$((SECONDS + 30))
  until answers_query postgres; do
    (( SECONDS < deadline )) || { tail -20 "$LOG" >&2; die "PostgreSQL started but did not answer a query within 30 s; log: $LOG"; }
    sleep 0.2
  done
  ensure_database
  say "PostgreSQL ready on 127.0.0.1:$PORT, database $DATABASE (postgres://$SUPERUSER@127.0.0.1:$PORT/$DATABASE)"
}

down() {
  if [[ ! -f "$DATA_DIR/postmaster.pid" ]]; then
    say "PostgreSQL is not running (started by these scripts)"
    return 0
  fi
  find_bin || die "cannot stop PostgreSQL: pg_ctl not found"
  # fast: roll back open transactions and stop now; the tests' data is disposable.
  if as_owner "$PG_BIN/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 30 >/dev/null 2>&1; then
    say "PostgreSQL stopped"
  else
    as_owner "$PG_BIN/pg_ctl" stop -D "$DATA_DIR" -m immediate -w -t 10 >/dev/null 2>&1 || true
    say "PostgreSQL did not stop within 30 s; stopped immediately (it will recover on the next start)"
  fi
}

status() {
  if answers_query "$DATABASE"; then say "PostgreSQL answers on 127.0.0.1:$PORT (database $DATABASE)"; else say "PostgreSQL not running"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
