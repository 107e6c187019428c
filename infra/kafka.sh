#!/usr/bin/env bash
# Local single-node Apache Kafka (KRaft) on 127.0.0.1:9092, run with plain `java`
# from the broker jars Maven fetches from Maven Central (infra/kafka/pom.xml).
# A second listener on 127.0.0.1:9094 (SASL_PLAINTEXT) takes SASL/PLAIN and
# SCRAM-SHA-256/512 for the local test user below, and a third on 127.0.0.1:9095 (SSL) takes
# TLS with certificates from a local CA made at the first start (.local/kafka/tls/ca.pem),
# so secure connections can be tested.
# Usage: infra/kafka.sh up|down|status|reset
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

KAFKA_VERSION="$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' "$REPO_ROOT/infra/kafka/pom.xml")"
JARS_DIR="$CACHE_DIR/kafka-$KAFKA_VERSION/libs"
KAFKA_STATE="$STATE_DIR/kafka"
PIDFILE="$KAFKA_STATE/kafka.pid"
LOG_DIR="$KAFKA_STATE/logs"
PORT="${FLOWYARD_KAFKA_PORT:-9092}"
CONTROLLER_PORT="${FLOWYARD_KAFKA_CONTROLLER_PORT:-9093}"
SASL_PORT="${FLOWYARD_KAFKA_SASL_PORT:-9094}"
SSL_PORT="${FLOWYARD_KAFKA_SSL_PORT:-9095}"
# The SSL listener's certificates (README "Secure connections"): ca.pem (the CA a client
# trusts: KAFKA_TLS_CA_FILE), broker.pem (the broker's key and chain), client.pem +
# client.key (a client certificate from the same CA). Made once by make_tls; the CA's key is
# deleted after signing. Throwaway material for 127.0.0.1, like the SASL password below.
TLS_DIR="$KAFKA_STATE/tls"
# The local SASL test user (README "Secure connections"). A fixed, published password: this
# broker listens on 127.0.0.1 only and holds test data; it is not a secret.
SASL_USER="flowyard"
SASL_PASSWORD="flowyard-local-secret"
# Present once the SCRAM credentials exist in the metadata log; state formatted by an older
# version of this script lacks both, and `up` adds the credentials to it.
SCRAM_MARKER="$KAFKA_STATE/scram-user.done"

fetch_jars() {
  [[ -f "$JARS_DIR/.complete" ]] && return 0
  command -v mvn >/dev/null || die "Maven (mvn) is not installed; it fetches the Kafka $KAFKA_VERSION jars from Maven Central"
  say "fetching Apache Kafka $KAFKA_VERSION jars from Maven Central into $JARS_DIR"
  mkdir -p "$JARS_DIR"
  if ! mvn -q -B -f "$REPO_ROOT/infra/kafka/pom.xml" dependency:copy-dependencies \
      -DoutputDirectory="$JARS_DIR" -DincludeScope=runtime >"$CACHE_DIR/kafka-fetch.log" 2>&1; then
    tail -20 "$CACHE_DIR/kafka-fetch.log" >&2
    die "Maven could not fetch the Kafka jars (is Maven Central reachable?); full log: $CACHE_DIR/kafka-fetch.log"
  fi
  touch "$JARS_DIR/.complete"
}

write_config() {
  mkdir -p "$KAFKA_STATE/data" "$LOG_DIR"
  cat >"$KAFKA_STATE/server.properties" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$CONTROLLER_PORT
listeners=PLAINTEXT://127.0.0.1:$PORT,CONTROLLER://127.0.0.1:$CONTROLLER_PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT
advertised.listeners=PLAINTEXT://127.0.0.1:$PORT,SASL_PLAINTEXT://127.0.0.1:$SASL_PORT,SSL://127.0.0.1:$SSL_PORT
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SASL_PLAINTEXT:SASL_PLAINTEXT,SSL:SSL
# SASL only on the SASL_PLAINTEXT listener; without an authorizer an authenticated user may do anything.
sasl.enabled.mechanisms=PLAIN,SCRAM-SHA-256,SCRAM-SHA-512
listener.name.sasl_plaintext.plain.sasl.jaas.config=org.apache.kafka.common.security.plain.PlainLoginModule required user_$SASL_USER="$SASL_PASSWORD";
listener.name.sasl_plaintext.scram-sha-256.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_plaintext.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
# TLS only on the SSL listener. PEM files, no passwords (the key is unencrypted PKCS#8). A client
# certificate is requested, not required: clients with one (signed by ca.pem) and without connect.
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.pem
ssl.client.auth=requested
log.dirs=$KAFKA_STATE/data
# flowyard creates every topic it needs from the plan; a typo must not create one
auto.create.topics.enable=false
num.partitions=1
# one node: internal topics with RF 3 or min ISR 2 would stall groups and transactions silently
offsets.topic.replication.factor=1
offsets.topic.num.partitions=10
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=10
default.replication.factor=1
min.insync.replicas=1
# tests start many short-lived groups; do not wait 3 s for more members
group.initial.rebalance.delay.ms=0
log.retention.hours=24
PROPS
  cat >"$KAFKA_STATE/log4j.properties" <<PROPS
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.RollingFileAppender
log4j.appender.file.File=$LOG_DIR/server.log
log4j.appender.file.MaxFileSize=20MB
log4j.appender.file.MaxBackupIndex=2
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka.request.logger=WARN
log4j.logger.state.change.logger=WARN
PROPS
}

classpath() { echo "$JARS_DIR/*"; }

# The SSL listener's CA and certificates, made once (a fresh state dir, or one made before the
# listener existed). EC P-256 keys; the broker's for 127.0.0.1 and localhost. Built in a
# scratch folder and moved into place, so a failed run leaves nothing half made.
make_tls() {
  [[ -f "$TLS_DIR/ca.pem" && -f "$TLS_DIR/broker.pem" && -f "$TLS_DIR/client.pem" && -f "$TLS_DIR/client.key" ]] && return 0
  command -v openssl >/dev/null || apt_install openssl
  say "creating a local CA and certificates for the TLS listener in $TLS_DIR"
  local work="$KAFKA_STATE/tls.tmp"
  rm -rf "$work" && mkdir -p "$work" "$LOG_DIR"
  # One && chain: `set -e` does not apply inside a command whose status `if` tests. broker.pem
  # is Kafka's PEM keystore: the private key, then the certificate chain up to the CA.
  local key=(-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes)
  if ! (
    cd "$work" && umask 077 \
    && openssl req -x509 "${key[@]}" -keyout ca.key -out ca.pem -days 3650 -subj "/CN=flowyard local Kafka CA" \
      -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
    && openssl req "${key[@]}" -keyout broker.key -out broker.csr -subj "/CN=127.0.0.1" \
    && printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\nsubjectAltName=IP:127.0.0.1,DNS:localhost\n' >broker.ext \
    && openssl x509 -req -in broker.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 3650 -extfile broker.ext -out broker.crt \
    && openssl req "${key[@]}" -keyout client.key -out client.csr -subj "/CN=flowyard local client" \
    && printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >client.ext \
    && openssl x509 -req -in client.csr -CA ca.pem -CAkey ca.key -set_serial "0x$(openssl rand -hex 8)" -days 3650 -extfile client.ext -out client.pem \
    && cat broker.key broker.crt ca.pem >broker.pem \
    && rm -f ca.key ./*.csr ./*.ext broker.key broker.crt \
    && chmod 644 ca.pem client.pem
  ) >"$LOG_DIR/tls.log" 2>&1; then
    cat "$LOG_DIR/tls.log" >&2
    rm -rf "$work"
    die "making the TLS certificates with openssl failed; see $LOG_DIR/tls.log"
  fi
  rm -rf "$TLS_DIR" && mv "$work" "$TLS_DIR"
}

# has_listener NAME PORT: the running broker's config names the listener and its port is open.
has_listener() { grep -q "[=,]$1://127.0.0.1:$2\(,\|$\)" "$KAFKA_STATE/server.properties" 2>/dev/null && port_busy "$2"; }

up() {
  command -v java >/dev/null || die "java is not installed; the local Kafka broker needs Java 17 (apt-get install openjdk-17-jre-headless)"
  # kcat (librdkafka): the producer flowyard did not write that the integration tests feed it
  # with (test/integration/producers); the Java one comes with the broker jars below.
  command -v kcat >/dev/null || apt_install kcat
  if pid_alive "$PIDFILE"; then
    say "Kafka already running (pid $(cat "$PIDFILE")) on 127.0.0.1:$PORT; logs: $LOG_DIR/server.log"
    # A broker started by an older version of this script lacks the SASL or the SSL listener;
    # restarting it is the user's call (others may be using it), so say so instead of doing it.
    has_listener SASL_PLAINTEXT "$SASL_PORT" \
      || say "WARNING: this broker was started without the SASL listener on 127.0.0.1:$SASL_PORT (older infra/kafka.sh); the SASL tests need it: restart with \`infra/kafka.sh down && infra/kafka.sh up\`"
    has_listener SSL "$SSL_PORT" \
      || say "WARNING: this broker was started without the TLS (SSL) listener on 127.0.0.1:$SSL_PORT (older infra/kafka.sh); the TLS tests need it: restart with \`infra/kafka.sh down && infra/kafka.sh up\`"
    wait_ready
    [[ -f "$SCRAM_MARKER" ]] || add_scram_user
    return 0
  fi
  for p in "$PORT" "$CONTROLLER_PORT" "$SASL_PORT" "$SSL_PORT"; do
    port_busy "$p" && die "port $p on 127.0.0.1 is taken by another process (not started by these scripts); stop it or set FLOWYARD_KAFKA_PORT / FLOWYARD_KAFKA_CONTROLLER_PORT / FLOWYARD_KAFKA_SASL_PORT / FLOWYARD_KAFKA_SSL_PORT"
  done
  fetch_jars
  write_config
  make_tls
  if [[ ! -f "$KAFKA_STATE/data/meta.properties" ]]; then
    local cluster_id
    cluster_id="$(java -cp "$(classpath)" kafka.tools.StorageTool random-uuid 2>/dev/null | tail -1)"
    rm -f "$SCRAM_MARKER"
    # The SCRAM credentials go into the bootstrap metadata, so they exist from the first start.
    java -Dlog4j.configuration="file:$KAFKA_STATE/log4j.properties" -cp "$(classpath)" kafka.tools.StorageTool format \
      -t "$cluster_id" -c "$KAFKA_STATE/server.properties" \
      --add-scram "SCRAM-SHA-256=[name=$SASL_USER,password=$SASL_PASSWORD]" \
      --add-scram "SCRAM-SHA-512=[name=$SASL_USER,password=$SASL_PASSWORD]" >"$LOG_DIR/format.log" 2>&1 \
      || { cat "$LOG_DIR/format.log" >&2; die "formatting the KRaft storage failed; see $LOG_DIR/format.log"; }
    touch "$SCRAM_MARKER"
  fi
  say "starting Kafka $KAFKA_VERSION (KRaft) on 127.0.0.1:$PORT, SASL (PLAIN, SCRAM-SHA-256/512; user $SASL_USER) on 127.0.0.1:$SASL_PORT, TLS (CA $TLS_DIR/ca.pem) on 127.0.0.1:$SSL_PORT; logs: $LOG_DIR/server.log"
  nohup java -Xms256m -Xmx768m -XX:+UseG1GC -Djava.awt.headless=true \
    -Dlog4j.configuration="file:$KAFKA_STATE/log4j.properties" -Dkafka.logs.dir="$LOG_DIR" \
    -cp "$(classpath)" kafka.Kafka "$KAFKA_STATE/server.properties" >"$LOG_DIR/stdout.log" 2>&1 &
  echo $! >"$PIDFILE"
  wait_ready
  [[ -f "$SCRAM_MARKER" ]] || add_scram_user
}

# For state formatted before the SASL listener existed: the same credentials, through the
# broker. One mechanism per call: Kafka 3.9 refuses two for one user in a single request.
add_scram_user() {
  say "adding the SCRAM user $SASL_USER to existing Kafka state"
  local mechanism
  for mechanism in SCRAM-SHA-256 SCRAM-SHA-512; do
    java -Dlog4j.configuration="file:$KAFKA_STATE/log4j.properties" -cp "$(classpath)" kafka.admin.ConfigCommand \
      --bootstrap-server "127.0.0.1:$PORT" --alter --entity-type users --entity-name "$SASL_USER" \
      --add-config "$mechanism=[password=$SASL_PASSWORD]" >"$LOG_DIR/scram-user.log" 2>&1 \
      || { cat "$LOG_DIR/scram-user.log" >&2; die "adding the $mechanism credentials of $SASL_USER failed; see $LOG_DIR/scram-user.log"; }
  done
  touch "$SCRAM_MARKER"
}

wait_ready() {
  local deadline=$((SECONDS + 90))
  until port_busy "$PORT"; do
    pid_alive "$PIDFILE" || { tail -30 "$LOG_DIR/stdout.log" "$LOG_DIR/server.log" >&2 2>/dev/null; die "Kafka exited during start; logs: $LOG_DIR"; }
    (( SECONDS < deadline )) || die "Kafka did not open 127.0.0.1:$PORT within 90 s; logs: $LOG_DIR"
    sleep 0.5
  done
  local name port
  for name in SASL_PLAINTEXT SSL; do
    port="$SASL_PORT"; [[ "$name" == SSL ]] && port="$SSL_PORT"
    grep -q "[=,]$name://127.0.0.1:$port\(,\|$\)" "$KAFKA_STATE/server.properties" 2>/dev/null || continue
    until port_busy "$port"; do
      (( SECONDS < deadline )) || die "Kafka did not open its $name listener 127.0.0.1:$port within 90 s; logs: $LOG_DIR"
      sleep 0.5
    done
  done
  # Ready means a metadata request succeeds and a consumer group can join, not just an open port.
  node "$REPO_ROOT/infra/kafka-ready.mjs" "127.0.0.1:$PORT" \
    || die "Kafka accepts connections but is not ready (metadata or group join failed); logs: $LOG_DIR"
  say "Kafka ready on 127.0.0.1:$PORT"
}

down() { stop_pidfile Kafka "$PIDFILE"; }

status() {
  if pid_alive "$PIDFILE"; then say "Kafka running (pid $(cat "$PIDFILE")); logs: $LOG_DIR"; else say "Kafka not running"; return 1; fi
}

case "${1:-}" in
  up) up ;;
  down) down ;;
  status) status ;;
  reset) down; rm -rf "$KAFKA_STATE"; say "Kafka data removed" ;;
  *) echo "usage: $0 up|down|status|reset" >&2; exit 2 ;;
esac
