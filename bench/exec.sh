#!/usr/bin/env bash
# Child processes per second, hostd vs Node.js, side by side in alternating rounds:
# a request that runs `true` through a shell (hostd::exec / child_process.exec) or
# /bin/true without one (exec_file / execFile), answered with the exit code. hostd runs
# ONE worker and Node one process, so the ratio is per worker / per process; the CPU
# figure is the server's utime+stime (children included once reaped) per request.
#   bench/exec.sh [BUILD_DIR]        (needs: node, wrk; ROUNDS, DURATION, CONNECTIONS)
set -euo pipefail
cd "$(dirname "$0")/.."
CONNECTIONS=${CONNECTIONS:-16}  # (before lib.sh, whose default suits the matrix)
source bench/lib.sh
BUILD=${1:-build}
THREADS=1
command -v node >/dev/null || { echo "bench: node is not installed (apt-get install nodejs)" >&2; exit 1; }
[[ -f $BUILD/bench-plugins/benchplug.so ]] || { echo "bench: $BUILD/bench-plugins/benchplug.so is missing" >&2; exit 1; }
DIR=$(mktemp -d)
chmod 755 "$DIR"
NODE_PID=
trap 'stop_hostd; [[ -n $NODE_PID ]] && kill "$NODE_PID" 2>/dev/null; rm -rf "$DIR"' EXIT

start_node() {
  node bench/exec-node.js >"$DIR/node.port" &
  NODE_PID=$!
  for _ in $(seq 100); do [[ -s $DIR/node.port ]] && break; sleep 0.05; done
  NODE_PORT=$(cat "$DIR/node.port")
}
# requests/s of one wrk run (not lib.sh's measure: Node's children come and go, so its
# processes' CPU cannot be summed from /proc)
run() { load "$1" "$2" | rps; }  # port path

start_hostd "[server]
listen = 127.0.0.1:0
workers = 1
[plugins]
dir = $(realpath "$BUILD")/bench-plugins
handler = benchplug
[control]
socket = off"
start_node
echo "exec requests/s, hostd (1 worker) vs Node.js $(node --version) (1 process), $ROUNDS alternating rounds of ${DURATION}s, wrk -t1 -c$CONNECTIONS"
printf '%-11s %10s %10s %7s\n' path hostd node ratio
for path in /exec /exec-file; do
  h=() n=()
  for _ in $(seq "$ROUNDS"); do
    h+=("$(run "$PORT" "$path")")
    n+=("$(run "$NODE_PORT" "$path")")
  done
  hm=$(printf '%s\n' "${h[@]}" | median)
  nm=$(printf '%s\n' "${n[@]}" | median)
  printf '%-11s %10s %10s %6.2fx\n' "$path" "$hm" "$nm" "$(awk -v a="$hm" -v b="$nm" 'BEGIN {print (b > 0 ? a / b : 0)}')"
done
