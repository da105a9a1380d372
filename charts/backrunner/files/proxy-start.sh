#!/bin/sh
# Starts the proxy of the backrunner chart: resolves BACKRUNNER_STORAGE_REMOTES (DNS names
# allowed) into addresses, waiting up to RESOLVE_TIMEOUT_SECONDS for at least one, then execs
# `backrunner proxy` with them in BACKRUNNER_REMOTES and the rest from the config file.
set -eu
SCRIPTS_DIR=${SCRIPTS_DIR:-$(dirname "$0")}
. "$SCRIPTS_DIR/lib.sh"
: "${BACKRUNNER_STORAGE_REMOTES:?storage remotes are required}"
CONFIG=${BACKRUNNER_PROXY_CONFIG:-/etc/backrunner/proxy.toml}
deadline=$(( $(date +%s) + ${RESOLVE_TIMEOUT_SECONDS:-120} ))
while :; do
  remotes=$(resolve_remotes "$BACKRUNNER_STORAGE_REMOTES")
  [ -n "$remotes" ] && break
  if [ "$(date +%s)" -ge "$deadline" ]; then
    echo "proxy-start: no address for $BACKRUNNER_STORAGE_REMOTES" >&2
    exit 1
  fi
  sleep 2
done
echo "proxy-start: storage remotes $remotes" >&2
BACKRUNNER_REMOTES=$remotes
export BACKRUNNER_REMOTES
exec "${BACKRUNNER_BIN:-backrunner}" proxy --config "$CONFIG" "$@"
