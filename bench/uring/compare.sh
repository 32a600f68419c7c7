#!/usr/bin/env bash
# The io_uring experiment: bench/uring/responder.cpp on its epoll path and on its io_uring
# path, side by side in alternating rounds; requests/s, p99 and requests per CPU-second.
# usage: bench/uring/compare.sh     env: ROUNDS (3) DURATION (5) CONNECTIONS (64) THREADS (2) WORKERS (nproc)
#                                  SHAPES ("keepalive close pipeline16")
# Needs g++, liburing-dev, wrk. Talks to 127.0.0.1 only.
set -euo pipefail
cd "$(dirname "$0")/../.."
source bench/lib.sh
DIR=$(mktemp -d /tmp/hostd-uring-XXXXXX)
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done; rm -rf "$DIR"' EXIT
[[ -f /usr/include/liburing.h ]] || { echo "bench: liburing is missing: apt-get install liburing-dev" >&2; exit 1; }
g++ -O2 -Wall -Wextra -std=c++17 bench/uring/responder.cpp -o "$DIR/responder" -luring

declare -A PORT MASTER
for mode in epoll uring; do
  PORT[$mode]=$(free_port)
  "$DIR/responder" "$mode" "${PORT[$mode]}" "$WORKERS" &
  MASTER[$mode]=$!
  PIDS+=("$!")
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/${PORT[$mode]}") 2>/dev/null && break; sleep 0.05; done
done

printf '%-11s %-6s %12s %9s %14s\n' shape path "req/s" "p99 ms" "req/CPU-s"
for shape in ${SHAPES:-keepalive close pipeline16}; do
  case $shape in
    keepalive) args=() ;;
    close) args=(-H "Connection: close") ;;
    pipeline16) args=(-s bench/pipeline16.lua) ;;
  esac
  : > "$DIR/$shape"
  for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then order="epoll uring"; else order="uring epoll"; fi
    for mode in $order; do echo "$mode $(measure "${MASTER[$mode]}" "${PORT[$mode]}" / "${args[@]}")" >> "$DIR/$shape"; done
  done
  for mode in epoll uring; do
    printf '%-11s %-6s' "$shape" "$mode"
    for col in 2 3 4; do awk -v m="$mode" -v c="$col" '$1 == m {print $c}' "$DIR/$shape" | median; done |
      awk '{printf " %12s", $1} END {print ""}'
  done
done
echo "($WORKERS processes each, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, medians of $ROUNDS alternating rounds)"
