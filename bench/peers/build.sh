#!/usr/bin/env bash
# Builds the Java peers of `make bench` (bench/peers/pom.xml) with Maven from Maven Central into
# bench/peers/target/ (ignored by git): classes/ and libs/ (the runtime jars). Like the broker's
# jars (infra/kafka.sh), the result is kept and reused: target/.complete holds a hash of the
# sources, and a build runs again only when they change. Installs a JDK 17 and Maven from Debian
# when they are missing (as infra/*.sh install what they need). Prints one line, or errors.
# Usage: bench/peers/build.sh   (make bench runs it)
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# say, die, apt_install (and set -euo pipefail)
source "$HERE/../../infra/lib.sh"
TARGET="$HERE/target"

hash="$(cd "$HERE" && find pom.xml log4j.properties src -type f -print0 | sort -z | xargs -0 sha256sum | sha256sum | cut -c1-16)"
if [[ -f "$TARGET/.complete" && "$(cat "$TARGET/.complete")" == "$hash" ]]; then
  say "Java peers up to date in $TARGET"
  exit 0
fi
# A JDK (not only the JRE the broker needs) and Maven, from Debian when missing, as infra/*.sh do.
command -v javac >/dev/null || apt_install openjdk-17-jdk-headless
command -v mvn >/dev/null || apt_install maven
say "building the Java peers (Kafka Streams, plain copy, Parallel Consumer) with Maven into $TARGET"
rm -rf "$TARGET"
mkdir -p "$TARGET"
if ! mvn -q -B -f "$HERE/pom.xml" compile dependency:copy-dependencies \
    -DoutputDirectory="$TARGET/libs" -DincludeScope=runtime >"$HERE/build.log" 2>&1; then
  tail -30 "$HERE/build.log" >&2
  die "Maven could not build the Java peers (is Maven Central reachable?); full log: $HERE/build.log"
fi
[[ -f "$TARGET/classes/dev/flowyard/bench/peers/Peers.class" ]] || die "Maven ran but built no Peers.class; see $HERE/build.log"
echo "$hash" >"$TARGET/.complete"
say "Java peers built"
