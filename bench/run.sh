#!/usr/bin/env bash
# hostd (hello plugin) vs nginx on loopback, wrk against each in alternation.
# usage: bench/run.sh [BUILD_DIR]      env: ROUNDS (3) DURATION (5 s) CONNECTIONS (64) THREADS (2)
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
WORKERS=$(nproc)

for tool in wrk nginx; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing: apt-get install ${tool/nginx/nginx-light}" >&2; exit 1; }
done
[[ -x $BUILD/hostd ]] || { echo "bench: $BUILD/hostd not built (cmake -S . -B $BUILD && cmake --build $BUILD)" >&2; exit 1; }

DIR=$(mktemp -d /tmp/hostd-bench-XXXXXX)
HOSTD_PID= NGINX_PID=
cleanup() {
  [[ -n $HOSTD_PID ]] && kill -TERM "$HOSTD_PID" 2>/dev/null && wait "$HOSTD_PID" 2>/dev/null
  [[ -n $NGINX_PID ]] && kill -QUIT "$NGINX_PID" 2>/dev/null && wait "$NGINX_PID" 2>/dev/null
  rm -rf "$DIR"
}
trap cleanup EXIT

wait_http() {  # url
  for _ in $(seq 100); do
    curl -fs "$1" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  echo "bench: $1 does not answer" >&2; exit 1
}

# hostd: hello plugin, one worker per CPU, free port reported in its log.
cat > "$DIR/hostd.ini" <<INI
[server]
listen = 127.0.0.1:0
workers = $WORKERS
[plugins]
dir = $(realpath "$BUILD")/plugins
handler = hello
INI
"$BUILD/hostd" -c "$DIR/hostd.ini" 2>"$DIR/hostd.log" &
HOSTD_PID=$!
for _ in $(seq 100); do grep -q "listening on" "$DIR/hostd.log" 2>/dev/null && break; sleep 0.05; done
HOSTD_PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$DIR/hostd.log" | head -1 | sed 's/.*://')
[[ -n $HOSTD_PORT ]] || { echo "bench: hostd did not start:" >&2; cat "$DIR/hostd.log" >&2; exit 1; }

NGINX_PORT=$(free_port)
sed -e "s|@WORKERS@|$WORKERS|" -e "s|@DIR@|$DIR|g" -e "s|@PORT@|$NGINX_PORT|" bench/nginx.conf.in > "$DIR/nginx.conf"
nginx -c "$DIR/nginx.conf" -p "$DIR" 2>>"$DIR/nginx.stderr" &
NGINX_PID=$!

wait_http "http://127.0.0.1:$HOSTD_PORT/"
wait_http "http://127.0.0.1:$NGINX_PORT/"
echo "hostd $(curl -s "http://127.0.0.1:$HOSTD_PORT/" | tr -d '\n') on :$HOSTD_PORT, nginx on :$NGINX_PORT;" \
     "$WORKERS workers each; wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, $ROUNDS rounds"

# one_run URL [wrk args...] -> "rps p99_ms errors"
one_run() {
  local url=$1; shift
  local out rps p99 errs
  out=$(wrk -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" --latency "$@" "$url" 2>&1)
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {v=$2; if (v ~ /us$/) {sub(/us$/,"",v); v=v/1000} else if (v ~ /ms$/) {sub(/ms$/,"",v)} else if (v ~ /s$/) {sub(/s$/,"",v); v=v*1000}; print v}' <<<"$out")
  errs=$(awk '/Socket errors|Non-2xx/ {e=1} END {print e ? "yes" : "no"}' <<<"$out")
  echo "${rps:-0} ${p99:-0} $errs"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2}'; }

for shape in keepalive close; do
  args=()
  [[ $shape == close ]] && args=(-H "Connection: close")
  : > "$DIR/hostd.$shape"; : > "$DIR/nginx.$shape"
  for r in $(seq "$ROUNDS"); do
    read -r rps p99 errs < <(one_run "http://127.0.0.1:$HOSTD_PORT/" "${args[@]}")
    echo "$rps $p99" >> "$DIR/hostd.$shape"
    printf '  %-9s round %d  hostd %10.0f req/s  p99 %7.2f ms  errors: %s\n' "$shape" "$r" "$rps" "$p99" "$errs"
    read -r rps p99 errs < <(one_run "http://127.0.0.1:$NGINX_PORT/" "${args[@]}")
    echo "$rps $p99" >> "$DIR/nginx.$shape"
    printf '  %-9s round %d  nginx %10.0f req/s  p99 %7.2f ms  errors: %s\n' "$shape" "$r" "$rps" "$p99" "$errs"
  done
done

echo
printf '%-10s %14s %10s %14s %10s %8s\n' shape "hostd req/s" "p99 ms" "nginx req/s" "p99 ms" ratio
for shape in keepalive close; do
  h_rps=$(cut -d' ' -f1 "$DIR/hostd.$shape" | median); h_p99=$(cut -d' ' -f2 "$DIR/hostd.$shape" | median)
  n_rps=$(cut -d' ' -f1 "$DIR/nginx.$shape" | median); n_p99=$(cut -d' ' -f2 "$DIR/nginx.$shape" | median)
  ratio=$(awk -v h="$h_rps" -v n="$n_rps" 'BEGIN {printf "%.2f", (n > 0 ? h / n : 0)}')
  printf '%-10s %14.0f %10.2f %14.0f %10.2f %7sx\n' "$shape" "$h_rps" "$h_p99" "$n_rps" "$n_p99" "$ratio"
done
echo "(medians over $ROUNDS rounds; ratio = hostd/nginx requests per second)"
