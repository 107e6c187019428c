#!/usr/bin/env bash
# Runs a command with the local servers up, and afterwards stops only the servers this
# script started (a broker a developer already had running stays up).
# Usage: infra/with-servers.sh <command...>
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

started=()
cleanup() {
  local code=$?
  for ((i=${#started[@]}-1; i>=0; i--)); do bash "$REPO_ROOT/infra/${started[$i]}.sh" down || true; done
  exit "$code"
}
trap cleanup EXIT

for server in $LOCAL_SERVERS; do
  if ! bash "$REPO_ROOT/infra/$server.sh" status >/dev/null 2>&1; then started+=("$server"); fi
  bash "$REPO_ROOT/infra/$server.sh" up
done
"$@"
