#!/usr/bin/env bash
# Tests the greeter the way it will run: under a real hostd, on a free loopback port,
# with curl. Copy this script for your own plugin and change the checks at the bottom.
#
#   make && ./test.sh                          # hostd from PATH
#   HOSTD=../../build/hostd ./test.sh          # or a given hostd binary
set -euo pipefail
cd "$(dirname "$0")"
hostd=${HOSTD:-hostd}
plugin=${PLUGIN_SO:-./greeter.so}

dir=$(mktemp -d)
chmod 755 "$dir"  # as root, workers run as nobody: they must reach the plugin
pid=
cleanup() {
  [[ -n $pid ]] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT
cp "$plugin" "$dir/greeter.so"
cat >"$dir/server.ini" <<INI
[server]
listen = 127.0.0.1:0
workers = 2
[plugins]
dir = $dir
handler = greeter
[control]
socket = $dir/control.sock
[plugin.greeter]
greeting = Hi
INI

"$hostd" -c "$dir/server.ini" >"$dir/hostd.log" 2>&1 &
pid=$!
# Port 0: hostd picked a free port and logged it; wait until every worker is ready ([H0105]).
for _ in $(seq 100); do
  grep -q '\[H0105\]' "$dir/hostd.log" && break
  kill -0 "$pid" 2>/dev/null || { cat "$dir/hostd.log"; echo "FAIL: hostd exited"; exit 1; }
  sleep 0.1
done
grep -q '\[H0105\]' "$dir/hostd.log" || { cat "$dir/hostd.log"; echo "FAIL: hostd not ready in 10 s"; exit 1; }
port=$(sed -n 's/.* listening on 127\.0\.0\.1:\([0-9][0-9]*\).*/\1/p' "$dir/hostd.log" | head -1)
base=http://127.0.0.1:$port

failed=0
expect() {  # expect WHAT EXPECTED CURL-ARGS...
  local what=$1 want=$2 got
  shift 2
  got=$(curl -sS --max-time 5 "$@" 2>&1) || true
  if [[ $got == "$want" ]]; then echo "ok: $what"; else echo "FAIL: $what: expected '$want', got '$got'"; failed=1; fi
}
expect "greets by name" "Hi, Ada!" "$base/?name=Ada"
expect "answers later without blocking" "sorry I'm late" "$base/later?ms=50"
expect "echoes a POST body" "ping" --data-binary ping "$base/echo"

kill -TERM "$pid" && wait "$pid" && pid=  # a clean stop: exit code 0
exit $failed
