#!/usr/bin/env bash
# Shared state: what a read from the worker's replica, an exact incr through the embedded
# store (the master) and an incr through Redis cost, side by side in one run, with a plain
# request as the reference. Also checks the counter: the store must hold at least every
# answered incr, and at most that plus the requests wrk left in flight.
# usage: bench/state.sh [BUILD_DIR]   (needs the test plugins: a build with tests on)
# env: DURATION (5 s) CONNECTIONS (64) THREADS (2) WORKERS (nproc)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
for tool in wrk redis-server curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing: apt-get install ${tool}" >&2; exit 1; }
done
[[ -f $BUILD/test-plugins/shareplug.so ]] || { echo "bench: $BUILD/test-plugins/shareplug.so missing (build with tests on)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/hostd-state-XXXXXX)
REDIS_PID=
trap 'stop_hostd; [[ -n $REDIS_PID ]] && kill "$REDIS_PID" 2>/dev/null; rm -rf "$DIR"' EXIT

REDIS_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --save '' --appendonly no --dir "$DIR" >/dev/null &
REDIS_PID=$!
for _ in $(seq 100); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.05; done

config() {  # backend
  printf '[server]\nlisten = 127.0.0.1:0\nworkers = %s\n[plugins]\ndir = %s\nhandler = shareplug\n[state]\nbackend = %s\nurl = redis://127.0.0.1:%s\nprefix = bench%s:\n' \
    "$WORKERS" "$(realpath "$BUILD")/test-plugins" "$1" "$REDIS_PORT" "$RANDOM"
}

run() {  # label path -> prints a row; for incr, checks the counter
  local out answered stored
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "http://127.0.0.1:$PORT$2")
  answered=$(awk '/requests in/ {print $1}' <<<"$out")
  printf '%-22s %12s' "$1" "$(rps <<<"$out")"
  if [[ $2 == /incr* ]]; then
    sleep 0.2
    stored=$(curl -s "http://127.0.0.1:$PORT/get?key=n")
    printf '   counter %s for %s answered (+%s in flight at most): %s' "$stored" "$answered" "$CONNECTIONS" \
      "$( ((stored >= answered && stored <= answered + CONNECTIONS)) && echo exact || echo WRONG)"
  fi
  echo
}

printf '%-22s %12s\n' "request" "req/s"
for backend in embedded redis; do
  start_hostd "$(config "$backend")"
  curl -s "http://127.0.0.1:$PORT/set?key=k&value=v" >/dev/null
  run "$backend: plain" "/init"
  run "$backend: state::get" "/get?key=k"
  run "$backend: state::incr" "/incr?key=n"
  stop_hostd
done
echo "($WORKERS workers, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s keep-alive, tests/plugins/shareplug; redis-server $(redis-server --version | grep -o 'v=[0-9.]*') on loopback)"
