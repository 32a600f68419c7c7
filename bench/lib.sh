# Shared by the bench scripts (sourced from the repository root). The load knobs:
ROUNDS=${ROUNDS:-3}  # for the scripts that alternate servers or settings
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-64}
THREADS=${THREADS:-2}
WORKERS=${WORKERS:-$(nproc)}
# start_hostd needs BUILD and DIR set; it sets PID and PORT.

# start_hostd INI_TEXT: runs $BUILD/hostd on it until all workers are ready.
start_hostd() {
  printf '%s\n' "$1" > "$DIR/hostd.ini"
  : > "$DIR/hostd.log"
  "$BUILD/hostd" -c "$DIR/hostd.ini" 2>"$DIR/hostd.log" &
  PID=$!
  for _ in $(seq 200); do grep -q "\[H0105\]" "$DIR/hostd.log" && break; sleep 0.05; done
  PORT=$(grep -o 'listening on 127.0.0.1:[0-9]*' "$DIR/hostd.log" | head -1 | sed 's/.*://')
  [[ -n $PORT ]] || { echo "bench: hostd did not start:" >&2; cat "$DIR/hostd.log" >&2; exit 1; }
}

stop_hostd() { [[ -n ${PID:-} ]] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }; PID=; }

# wrk output -> requests/s, rounded
rps() { awk '/^Requests\/sec:/ {printf "%.0f", $2}'; }

# A free loopback port for nginx (nothing answers a connect to it).
free_port() {
  local p
  for p in $(seq 18080 18999); do
    (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
  done
  echo "bench: no free port" >&2; exit 1
}

# A server's processes: the master and its children (the workers).
procs() { echo "$1" $(pgrep -P "$1"); }
workers() { pgrep -P "$1" | tr '\n' ' '; }
cpu_ticks() {  # utime+stime of the given pids
  local p s=0
  for p in "$@"; do s=$((s + $(sed 's/.*) //' "/proc/$p/stat" | awk '{print $12 + $13}'))); done
  echo "$s"
}
pss_kb() {  # summed Pss of the given pids
  local p s=0
  for p in "$@"; do s=$((s + $(awk '/^Pss:/ {print $2}' "/proc/$p/smaps_rollup"))); done
  echo "$s"
}
# One wrk run (--latency, THREADS, CONNECTIONS, DURATION): its output; errors in the run
# (non-2xx answers, socket errors) are also reported on stderr.
load() {  # port path wrk_args...
  local port=$1 path=$2 out; shift 2
  out=$(wrk --latency -t"$THREADS" -c"$CONNECTIONS" -d"${DURATION}s" "$@" "http://127.0.0.1:$port$path")
  grep -q "Non-2xx\|Socket errors" <<<"$out" && echo "bench: errors in a run: $out" >&2
  echo "$out"
}
# One wrk run against a server: "requests/s p99_ms requests_per_cpu_second".
measure() {  # master_pid port path wrk_args...
  local master=$1 port=$2 path=$3; shift 3
  local pids t0 t1 out
  pids=$(procs "$master")
  t0=$(cpu_ticks $pids)
  out=$(load "$port" "$path" "$@")
  t1=$(cpu_ticks $pids)
  awk -v cpu="$(( t1 - t0 ))" -v ticks="$(getconf CLK_TCK)" '
    /requests in/ {n = $1}
    /^Requests\/sec:/ {rps = $2}
    /^ +99%/ {v = $2; u = v; sub(/[a-z]+$/, "", v); sub(/^[0-9.]+/, "", u)
              p99 = (u == "us" ? v / 1000 : u == "s" ? v * 1000 : v)}
    END {printf "%.0f %.2f %.0f\n", rps, p99, (cpu > 0 ? n / (cpu / ticks) : 0)}' <<<"$out"
}
median() { sort -n | awk '{a[NR] = $1} END {print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2)}'; }

