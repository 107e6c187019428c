#!/usr/bin/env bash
# Local Redis on 127.0.0.1:6379. Reuses a Redis that already answers there; otherwise
# installs Debian's redis-server if missing and starts one whose data lives in .local/,
# with AOF persistence (appendfsync everysec): flowyard's dedup and done-keys survive a
# restart or a kill -9, as they must in production (README: When Redis loses flowyard state).
# Usage: infra/redis.sh up|down|status
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

PORT="${FLOWYARD_REDIS_PORT:-6379}"
REDIS_STATE="$STATE_DIR/redis"
PIDFILE="$REDIS_STATE/redis.pid"
LOG="$REDIS_STATE/redis.log"

answers_ping() { command -v redis-cli >/dev/null && [[ "$(redis-cli -h 127.0.0.1 -p "$PORT" ping 2>/dev/null)" == PONG ]]; }

up() {
  if pid_alive "$PIDFILE"; then say "Redis already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT; log: $LOG"; return 0; fi
  command -v redis-server >/dev/null || apt_install redis-server
  if answers_ping; then say "reusing the Redis that already answers on 127.0.0.1:$PORT (not started by these scripts; its logs are its own)"; return 0; fi
  port_busy "$PORT" && die "port $PORT on 127.0.0.1 is taken by something that is not Redis; stop it or set FLOWYARD_REDIS_PORT"
  mkdir -p "$REDIS_STATE"
  say "starting Redis on 127.0.0.1:$PORT; log: $LOG"
  redis-server --bind 127.0.0.1 --port "$PORT" --daemonize yes --pidfile "$PIDFILE" --logfile "$LOG" \
    --dir "$REDIS_STATE" --save "" --appendonly yes --appendfsync everysec >/dev/null
  local deadline=$((SECONDS + 20))
  until answers_ping; do
    (( SECONDS < deadline )) || { tail -20 "$LOG" >&2; die "Redis did not answer PING within 20 s; log: $LOG"; }
    sleep 0.2
  done
  say "Redis ready on 127.0.0.1:$PORT"
}

down() { stop_pidfile Redis "$PIDFILE"; }
status() { if answers_ping; then say "Redis answers on 127.0.0.1:$PORT"; else say "Redis not running"; return 1; fi; }

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  *) echo "usage: $0 up|down|status" >&2; exit 2 ;;
esac
