#!/usr/bin/env bash
# hostd vs nginx, row by row, in alternating rounds of one run: requests/s, p99, requests
# per server CPU-second (utime+stime of master and workers from /proc: the figure that does
# not depend on how the cores are shared with wrk) and worker PSS.
# usage: bench/matrix.sh [BUILD_DIR]
# env: ROUNDS (3) DURATION (5 s) CONNECTIONS (64) THREADS (2) WORKERS (nproc)
#      ROWS (all, in this order: keepalive close pipeline16 post4k resp64k stream1m file1m idle10k
#            accesslog rr-keepalive rr-close reuseport-keepalive reuseport-close)
#      IDLE (10000: connections of the idle10k row)
# Needs wrk, nginx-light, libnginx-mod-http-echo, curl. Talks to 127.0.0.1 only; stops
# both servers on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
BUILD=${1:-build}
source bench/lib.sh
IDLE=${IDLE:-10000}
ROWS=${ROWS:-"keepalive close pipeline16 post4k resp64k stream1m file1m idle10k accesslog rr-keepalive rr-close reuseport-keepalive reuseport-close"}
ECHO_MODULE=/usr/lib/nginx/modules/ngx_http_echo_module.so
for tool in wrk nginx curl; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is missing: apt-get install wrk nginx-light curl" >&2; exit 1; }
done
[[ -f $ECHO_MODULE ]] || { echo "bench: $ECHO_MODULE is missing: apt-get install libnginx-mod-http-echo" >&2; exit 1; }
[[ -f $BUILD/bench-plugins/benchplug.so ]] || { echo "bench: $BUILD/bench-plugins/benchplug.so is missing: cmake --build $BUILD" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)"  # as many fds as allowed: the idle row holds IDLE connections
(( $(ulimit -n) > IDLE + 1000 )) || { echo "bench: IDLE=$IDLE needs more fds than ulimit -n allows ($(ulimit -n))" >&2; exit 1; }

DIR=$(mktemp -d /tmp/hostd-matrix-XXXXXX)
NGINX_PID=
stop_nginx() { [[ -n $NGINX_PID ]] && { kill -QUIT "$NGINX_PID" 2>/dev/null; wait "$NGINX_PID" 2>/dev/null || true; }; NGINX_PID=; }
trap 'stop_hostd; stop_nginx; rm -rf "$DIR"' EXIT
chmod 755 "$DIR"  # nginx workers (nobody) read the files below
mkdir -p "$DIR/www"
head -c 65536 /dev/zero | tr '\0' x > "$DIR/www/64k"
head -c 1048576 /dev/zero | tr '\0' x > "$DIR/www/1m"

established() {  # connections to 127.0.0.1:$1 in state ESTABLISHED, server side
  awk -v port="$(printf ':%04X' "$1")" '$2 ~ port"$" && $4 == "01"' /proc/net/tcp | wc -l
}

start_servers() {  # hostd_extra_ini nginx_access_log nginx_listen_options
  start_hostd "[server]
listen = 127.0.0.1:0
workers = $WORKERS
$1
[limits]
keepalive_timeout = 60
[plugins]
dir = $(realpath "$BUILD")/bench-plugins
handler = benchplug"
  NGINX_PORT=$(free_port)
  sed -e "s|@WORKERS@|$WORKERS|" -e "s|@DIR@|$DIR|g" -e "s|@PORT@|$NGINX_PORT|" -e "s|@ECHO_MODULE@|$ECHO_MODULE|" -e "s|@NOFILE@|$(ulimit -n)|" \
      -e "s|@ACCESS_LOG@|$2|" -e "s|@LISTEN_OPTIONS@|$3|" bench/nginx-matrix.conf.in > "$DIR/nginx.conf"
  nginx -c "$DIR/nginx.conf" -p "$DIR" 2>>"$DIR/nginx.stderr" &
  NGINX_PID=$!
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$NGINX_PORT/" >/dev/null 2>&1 && break; sleep 0.05; done
  curl -fs "http://127.0.0.1:$NGINX_PORT/" >/dev/null || { echo "bench: nginx did not start:" >&2; cat "$DIR/nginx.stderr" "$DIR/nginx-error.log" >&2; exit 1; }
}
stop_servers() { stop_hostd; stop_nginx; }

RESULTS=$DIR/results
row_timed() {  # name hostd_ini nginx_access nginx_listen path wrk_args...
  local name=$1 ini=$2 access=$3 listen=$4 path=$5; shift 5
  start_servers "$ini" "$access" "$listen"
  local r first second
  for r in $(seq "$ROUNDS"); do
    if (( r % 2 )); then first=hostd; second=nginx; else first=nginx; second=hostd; fi
    for s in $first $second; do
      if [[ $s == hostd ]]; then m=$(measure "$PID" "$PORT" "$path" "$@"); else m=$(measure "$NGINX_PID" "$NGINX_PORT" "$path" "$@"); fi
      echo "$name round $r $s: $m (req/s p99-ms req/cpu-s)" >&2
      echo "$s $m" >> "$DIR/$name.runs"
    done
  done
  local hw nw
  hw=$(pss_kb $(workers "$PID")); nw=$(pss_kb $(workers "$NGINX_PID"))
  stop_servers
  local col
  for s in hostd nginx; do
    for col in 2 3 4; do awk -v s="$s" -v c="$col" '$1 == s {print $c}' "$DIR/$name.runs" | median; done | tr '\n' ' '
  done | awk -v name="$name" -v hw="$hw" -v nw="$nw" -v w="$WORKERS" '
    {printf "| %s | **%.2f×** | %.2f× | %.0f | %.0f | %.0f | %.0f | %.2f | %.2f | %.1f | %.1f |\n",
       name, $3 / $6, $1 / $4, $3, $6, $1, $4, $2, $5, hw / w / 1024, nw / w / 1024}' >> "$RESULTS"
}

row_idle() {  # worker memory while holding IDLE idle keep-alive connections
  start_servers "" "access_log off;" ""
  local s master port before after per=$((IDLE / THREADS)) wrk_pid
  for s in hostd nginx; do
    if [[ $s == hostd ]]; then master=$PID port=$PORT; else master=$NGINX_PID port=$NGINX_PORT; fi
    before=$(pss_kb $(workers "$master"))
    wrk -t"$THREADS" -c"$IDLE" -d60s -s bench/idle.lua "http://127.0.0.1:$port/" -- "$per" >/dev/null 2>&1 &
    wrk_pid=$!
    for _ in $(seq 300); do (( $(established "$port") >= IDLE )) && break; sleep 0.1; done
    after=$(pss_kb $(workers "$master"))
    echo "idle $s: $(established "$port") connections, worker PSS $before -> $after KiB" >&2
    echo "$s $before $after" >> "$DIR/idle.runs"
    kill "$wrk_pid" 2>/dev/null; wait "$wrk_pid" 2>/dev/null || true
  done
  stop_servers
}

OFF="access_log off;"
for row in $ROWS; do
  case $row in
    keepalive) row_timed keepalive "" "$OFF" "" / ;;
    close) row_timed close "" "$OFF" "" / -H "Connection: close" ;;
    pipeline16) row_timed pipeline16 "" "$OFF" "" / -s bench/pipeline16.lua ;;
    post4k) row_timed post4k "" "$OFF" "" /echo -s bench/post4k.lua ;;
    resp64k) row_timed resp64k "" "$OFF" "" /64k ;;
    stream1m) row_timed stream1m "" "$OFF" "" /stream ;;
    file1m) row_timed file1m "" "$OFF" "" /1m ;;
    idle10k) row_idle ;;
    accesslog) row_timed accesslog "[log]
access = $DIR/hostd-access.log" "access_log $DIR/nginx-access.log;" "" / ;;
    rr-keepalive) row_timed rr-keepalive "scheduling = round_robin" "$OFF" "" / ;;
    rr-close) row_timed rr-close "scheduling = round_robin" "$OFF" "" / -H "Connection: close" ;;
    reuseport-keepalive) row_timed reuseport-keepalive "scheduling = reuseport" "$OFF" "reuseport" / ;;
    reuseport-close) row_timed reuseport-close "scheduling = reuseport" "$OFF" "reuseport" / -H "Connection: close" ;;
    *) echo "bench: unknown row $row" >&2; exit 1 ;;
  esac
done

echo
echo "| row | req/CPU-s hostd/nginx | req/s hostd/nginx | hostd req/CPU-s | nginx req/CPU-s | hostd req/s | nginx req/s | hostd p99 ms | nginx p99 ms | hostd worker PSS MiB | nginx worker PSS MiB |"
echo "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
cat "$RESULTS"
if [[ -f $DIR/idle.runs ]]; then
  echo
  echo "| $IDLE idle keep-alive connections | hostd | nginx |"
  echo "| --- | ---: | ---: |"
  awk -v n="$IDLE" '{b[$1] = $2; a[$1] = $3}
    END {printf "| worker PSS before, all workers (MiB) | %.1f | %.1f |\n", b["hostd"] / 1024, b["nginx"] / 1024
         printf "| worker PSS holding them (MiB) | %.1f | %.1f |\n", a["hostd"] / 1024, a["nginx"] / 1024
         printf "| bytes per connection | %d | %d |\n", (a["hostd"] - b["hostd"]) * 1024 / n, (a["nginx"] - b["nginx"]) * 1024 / n}' "$DIR/idle.runs"
fi
echo
echo "($WORKERS workers each, wrk -t$THREADS -c$CONNECTIONS -d${DURATION}s, medians of $ROUNDS alternating rounds; $(date -u +%F))"
