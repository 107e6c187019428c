#!/usr/bin/env bash
# Local Confluent-compatible schema registry: Apicurio Registry, run with plain `java` from
# its distribution on Maven Central (io.apicurio:apicurio-registry-app:<version>:tar.gz:all,
# a Quarkus runner jar plus lib/). Its Confluent API is served under /apis/ccompat/v7, so
#   SCHEMA_REGISTRY_URL=http://127.0.0.1:8081/apis/ccompat/v7
# Schemas are kept in an H2 database file under .local/registry, so a restart keeps every
# id (a decoder that cached nothing yet finds them again). It needs neither Kafka nor Docker.
# Usage: infra/registry.sh up|down|status|reset
# Environment: FLOWYARD_REGISTRY_PORT (default 8081), FLOWYARD_REGISTRY_STATE (default
# .local/registry; tests run a private instance with their own port and folder).
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

# 3.0.x is the newest line that runs on Java 17 (3.1+ needs Java 21, not packaged for Debian 12).
APICURIO_VERSION="3.0.9"
DIST_DIR="$CACHE_DIR/apicurio-registry-$APICURIO_VERSION"
RUNNER_JAR="$DIST_DIR/apicurio-registry-app-$APICURIO_VERSION-runner.jar"
REGISTRY_STATE="${FLOWYARD_REGISTRY_STATE:-$STATE_DIR/registry}"
PIDFILE="$REGISTRY_STATE/registry.pid"
LOG_DIR="$REGISTRY_STATE/logs"
PORT="${FLOWYARD_REGISTRY_PORT:-8081}"
URL="http://127.0.0.1:$PORT/apis/ccompat/v7"

fetch_dist() {
  [[ -f "$DIST_DIR/.complete" ]] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is not installed; it fetches Apicurio Registry $APICURIO_VERSION from Maven Central"
  say "fetching Apicurio Registry $APICURIO_VERSION (about 105 MB) from Maven Central into $DIST_DIR"
  mkdir -p "$CACHE_DIR"
  local download="$CACHE_DIR/apicurio-download"
  rm -rf "$download" "$DIST_DIR"
  if ! mvn -q -B dependency:copy -Dartifact="io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all" \
      -DoutputDirectory="$download" >"$CACHE_DIR/registry-fetch.log" 2>&1; then
    tail -20 "$CACHE_DIR/registry-fetch.log" >&2
    die "Maven could not fetch io.apicurio:apicurio-registry-app:$APICURIO_VERSION:tar.gz:all (is Maven Central reachable?); full log: $CACHE_DIR/registry-fetch.log"
  fi
  mkdir -p "$DIST_DIR"
  tar -xzf "$download/apicurio-registry-app-$APICURIO_VERSION-all.tar.gz" -C "$DIST_DIR" \
    || die "unpacking the Apicurio Registry distribution failed; remove $DIST_DIR and $download and retry"
  [[ -f "$RUNNER_JAR" ]] || die "the Apicurio Registry distribution has no $(basename "$RUNNER_JAR"); see $DIST_DIR"
  rm -rf "$download"
  touch "$DIST_DIR/.complete"
}

# ready: the Confluent API answers (the port opens a little before the storage is ready).
ready() {
  node -e '
    fetch(process.argv[1] + "/subjects", { signal: AbortSignal.timeout(2000) })
      .then((r) => process.exit(r.status === 200 ? 0 : 1), () => process.exit(1));
  ' "$URL"
}

up() {
  command -v java >/dev/null || die "java is not installed; the local schema registry needs Java 17 (apt-get install openjdk-17-jre-headless)"
  if pid_alive "$PIDFILE"; then
    say "schema registry already running (pid $(cat "$PIDFILE")) at $URL; logs: $LOG_DIR/registry.log"
    wait_ready
    return 0
  fi
  port_busy "$PORT" && die "port $PORT on 127.0.0.1 is taken by another process (not started by these scripts); stop it or set FLOWYARD_REGISTRY_PORT"
  fetch_dist
  mkdir -p "$REGISTRY_STATE/data" "$LOG_DIR"
  say "starting Apicurio Registry $APICURIO_VERSION at $URL; logs: $LOG_DIR/registry.log"
  # - H2 in a file: schemas and their ids survive a restart (the default is in memory).
  # - global compatibility BACKWARD: Confluent's default; without a rule Apicurio accepts anything.
  # - max-subjects: Apicurio caps the Confluent API at 1000 subjects; every test run adds a few
  #   subjects of its own to this persistent store.
  # - no UI/auth: a local test registry on the loopback address only.
  nohup java -Xms64m -Xmx512m -XX:+UseSerialGC -Djava.awt.headless=true \
    -Dquarkus.http.host=127.0.0.1 -Dquarkus.http.port="$PORT" \
    -Dapicurio.storage.kind=sql -Dapicurio.storage.sql.kind=h2 \
    -Dapicurio.datasource.url="jdbc:h2:file:$REGISTRY_STATE/data/registry" \
    -Dapicurio.rules.global.compatibility=BACKWARD \
    -Dapicurio.ccompat.max-subjects=1000000 \
    -Dquarkus.http.access-log.enabled=false \
    -jar "$RUNNER_JAR" >"$LOG_DIR/registry.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_ready
}

wait_ready() {
  local deadline=$((SECONDS + 90))
  until ready; do
    pid_alive "$PIDFILE" || { tail -30 "$LOG_DIR/registry.log" >&2 2>/dev/null; die "the schema registry exited during start; log: $LOG_DIR/registry.log"; }
    (( SECONDS < deadline )) || die "the schema registry did not answer at $URL within 90 s; log: $LOG_DIR/registry.log"
    sleep 0.5
  done
  say "schema registry ready: SCHEMA_REGISTRY_URL=$URL"
}

down() { stop_pidfile "schema registry" "$PIDFILE"; }

status() {
  if pid_alive "$PIDFILE"; then
    if ready; then say "schema registry running (pid $(cat "$PIDFILE")) at $URL; logs: $LOG_DIR"
    else say "schema registry process $(cat "$PIDFILE") runs but does not answer at $URL; logs: $LOG_DIR"; return 1; fi
  else say "schema registry not running"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  reset) down; rm -rf "$REGISTRY_STATE"; say "schema registry data removed" ;;
  *) echo "usage: $0 up|down|status|reset" >&2; exit 2 ;;
esac
