#!/usr/bin/env bash
# How long a worker takes from spawn to ready (posix_spawn of hostd + config + shared
# state + plugin load + init): with max_requests = 1 every request recycles the worker
# (routine: no restart backoff), SAMPLES times; each replacement is timed from the
# master's "[H0103] ... started" to its "[H0104] ... ready" (ms stamps of the log).
# Prints the median and the range.  bench/worker_start.sh [BUILD_DIR] [PLUGIN]
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh
BUILD=${1:-build}
PLUGIN=${2:-hello}
SAMPLES=${SAMPLES:-21}
DIR=$(mktemp -d)
chmod 755 "$DIR"
trap 'stop_hostd; rm -rf "$DIR"' EXIT
start_hostd "[server]
listen = 127.0.0.1:0
workers = 1
[plugins]
dir = $(realpath "$BUILD")/plugins
handler = $PLUGIN
[cluster]
max_requests = 1
[control]
socket = off"
ms() { awk '{split($2, t, ":"); printf "%.0f\n", (t[1] * 3600 + t[2] * 60 + t[3]) * 1000}'; }
for i in $(seq "$SAMPLES"); do
  curl -s -o /dev/null "http://127.0.0.1:$PORT/"
  for _ in $(seq 250); do (( $(grep -c '\[H0104\]' "$DIR/hostd.log") > i )) && break; sleep 0.02; done
done
started=$(grep '\[H0103\]' "$DIR/hostd.log" | tail -n "$SAMPLES" | ms)
ready=$(grep '\[H0104\]' "$DIR/hostd.log" | tail -n "$SAMPLES" | ms)
paste <(echo "$ready") <(echo "$started") | awk '{print $1 - $2}' | sort -n >"$DIR/d"
echo "worker spawn -> ready ($PLUGIN, $SAMPLES restarts): median $(median <"$DIR/d") ms, range $(head -1 "$DIR/d")-$(tail -1 "$DIR/d") ms"
