#!/usr/bin/env bash
# hostd's three scheduling modes side by side: throughput (keep-alive and Connection:
# close) and fairness under a mixed load where every 10th request burns 2 ms of CPU
# (max/min share of requests across workers; 1.00 = perfectly even).
# usage: bench/modes.sh [BUILD_DIR]   (needs the test plugins: a build with tests on)
# env: DURATION (5 s) CONNECTIONS (64) THREADS (2) WORKERS (nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
command -v wrk >/dev/null || { echo "bench: wrk is missing: apt-get install wrk" >&2; exit 1; }
[[ -f $BUILD/test-plugins/testplug.so ]] || { echo "bench: $BUILD/test-plugins/testplug.so missing (build with tests on)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/hostd-modes-XXXXXX)
trap 'stop_hostd; rm -rf "$DIR"' EXIT

start() {  # mode
  start_hostd "[server]
listen = 127.0.0.1:0
workers = $WORKERS
scheduling = $1
[plugins]
dir = $(realpath "$BUILD")/test-plugins
handler = testplug"
}

stop() { stop_hostd; }

printf '%-12s %14s %14s %16s\n' mode "keep-alive r/s" "close r/s" "mixed max/min"
for mode in shared round_robin reuseport; do
  start "$mode"
  ka=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT/" | rps)
  cl=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -H 'Connection: close' "http://127.0.0.1:$PORT/" | rps)
  stop
  # Fairness: a fresh cluster, the mixed load, then the per-worker request counters.
  start "$mode"
  wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" -s bench/mixed.lua "http://127.0.0.1:$PORT/" >/dev/null
  sleep 1.5  # counters arrive with the once-a-second heartbeats
  kill -USR2 "$PID"
  sleep 0.3
  share=$(grep -o 'H0118.*requests=[0-9]*' "$DIR/hostd.log" | sed 's/.*requests=//' |
          awk 'NR == 1 || $1 > max {max = $1} NR == 1 || $1 < min {min = $1} END {printf "%.2f", (min > 0 ? max / min : 0)}')
  stop
  printf '%-12s %14s %14s %16s\n' "$mode" "$ka" "$cl" "$share"
done
echo "($WORKERS workers, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, testplug; mixed: 1 request in 10 burns 2 ms of CPU)"
