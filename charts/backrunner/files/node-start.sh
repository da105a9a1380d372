#!/bin/sh
# Starts one storage node of the backrunner chart's StatefulSet. Pod N (from the host name
# `<statefulset>-N`) serves group (N mod NODE_GROUPS) + 1 with one backend on its volume,
# announces its pod IP, and joins the peers of NODE_PEERS (host:port entries; those that
# do not resolve yet join later, from their side). Writes node.toml into RUN_DIR and execs
# `backrunner node`.
set -eu
SCRIPTS_DIR=${SCRIPTS_DIR:-$(dirname "$0")}
. "$SCRIPTS_DIR/lib.sh"
: "${POD_IP:?POD_IP is required (downward API status.podIP)}"
CONFIG_DIR=${CONFIG_DIR:-/etc/backrunner}
RUN_DIR=${RUN_DIR:-/run/backrunner}
DATA_DIR=${DATA_DIR:-/var/lib/backrunner}
NODE_PORT=${NODE_PORT:-1025}
NODE_GROUPS=${NODE_GROUPS:-1}
POD_NAME=${POD_NAME:-$(hostname)}
ordinal=${POD_NAME##*-}
case $ordinal in
  ''|*[!0-9]*) echo "node-start: cannot take an ordinal from pod name $POD_NAME" >&2; exit 1 ;;
esac
group=$(( ordinal % NODE_GROUPS + 1 ))
case $POD_IP in
  *:*) advertise="[$POD_IP]:$NODE_PORT:10"; listen="[::]:$NODE_PORT" ;;
  *) advertise="$POD_IP:$NODE_PORT:2"; listen="0.0.0.0:$NODE_PORT" ;;
esac
# The StatefulSet starts its pods in parallel: give the peers' DNS records (published before
# readiness) up to NODE_PEER_WAIT_SECONDS to appear, then start with those that did.
want=$(printf '%s' "${NODE_PEERS:-}" | tr ',' '\n' | grep -c . || true)
deadline=$(( $(date +%s) + ${NODE_PEER_WAIT_SECONDS:-30} ))
while :; do
  resolved=$(resolve_remotes "${NODE_PEERS:-}")
  have=$(printf '%s' "$resolved" | tr ',' '\n' | grep -c . || true)
  [ "$have" -ge "$want" ] || [ "$(date +%s)" -ge "$deadline" ] && break
  sleep 1
done
peers=$(printf '%s' "$resolved" | tr ',' '\n' | grep -v -F -x "$advertise" | paste -sd, - || true)
remotes=$(printf '%s' "$peers" | awk -F, '{for (i = 1; i <= NF; i++) printf "%s\"%s\"", (i > 1 ? ", " : ""), $i}')
mkdir -p "$RUN_DIR" "$DATA_DIR/backend-1"
{
  printf 'listen = "%s"\n' "$listen"
  printf 'advertise = "%s"\n' "$advertise"
  printf 'remotes = [%s]\n' "$remotes"
  if [ -n "${NODE_AUTH_COOKIE:-}" ]; then
    printf 'auth_cookie = "%s"\n' "$(printf '%s' "$NODE_AUTH_COOKIE" | sed 's/\\/\\\\/g; s/"/\\"/g')"
  fi
  cat "$CONFIG_DIR/node-base.toml"
  printf '\n[[backends]]\nid = 1\ngroup = %d\ndir = "%s/backend-1"\n' "$group" "$DATA_DIR"
  cat "$CONFIG_DIR/node-backend.toml"
} >"$RUN_DIR/node.toml"
echo "node-start: pod $POD_NAME, group $group, advertise $advertise, peers [$peers]" >&2
exec "${BACKRUNNER_BIN:-backrunner}" node --config "$RUN_DIR/node.toml" "$@"
