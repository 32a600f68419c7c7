#!/usr/bin/env bash
# What the access log costs: keep-alive requests/s of hostd (hello plugin) with [log] access
# off and on (combined, then json), in alternating rounds of one run.
# usage: bench/access_log.sh [BUILD_DIR]      env: ROUNDS (3) DURATION (5 s) CONNECTIONS (64) THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
command -v wrk >/dev/null || { echo "bench: wrk is missing: apt-get install wrk" >&2; exit 1; }
[[ -x $BUILD/hostd ]] || { echo "bench: $BUILD/hostd not built" >&2; exit 1; }
DIR=$(mktemp -d /tmp/hostd-bench-XXXXXX)
trap 'stop_hostd; rm -rf "$DIR"' EXIT

config() {  # [log] section lines
  printf '[server]\nlisten = 127.0.0.1:0\nworkers = %s\n[plugins]\ndir = %s/plugins\nhandler = hello\n[control]\nsocket = off\n[log]\n%s\n' \
    "$WORKERS" "$(realpath "$BUILD")" "$1"
}

declare -A runs
for r in $(seq "$ROUNDS"); do
  for mode in off combined json; do
    case $mode in
      off) extra="" ;;
      combined) extra="access = $DIR/access.log" ;;
      json) extra="access = $DIR/access.json
access_format = json" ;;
    esac
    start_hostd "$(config "$extra")"
    rps=$(load "$PORT" / | rps)
    stop_hostd
    runs[$mode]+="$rps "
    printf '  round %d  access log %-9s %10s req/s\n' "$r" "$mode" "$rps"
    rm -f "$DIR/access.log" "$DIR/access.json"
  done
done

median() { tr ' ' '\n' | grep . | sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }
off=$(median <<<"${runs[off]}")
echo
printf '%-10s %12s %8s\n' "access log" "req/s" "vs off"
for mode in off combined json; do
  m=$(median <<<"${runs[$mode]}")
  printf '%-10s %12.0f %7.2fx\n' "$mode" "$m" "$(awk -v a="$m" -v b="$off" 'BEGIN {print (b > 0 ? a / b : 0)}')"
done
echo "(keep-alive, $WORKERS workers, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, medians of $ROUNDS rounds)"
