# Shared by the bench scripts (sourced from the repository root). The load knobs:
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
