#!/usr/bin/env bash
# Runs every libFuzzer harness of a fuzz build for a while, one after the other.
#   tests/fuzz/run.sh BUILD_DIR SECONDS_EACH
# BUILD_DIR was configured with -DHOSTD_FUZZ=ON (see tests/fuzz/CMakeLists.txt). Each
# harness runs on a copy of its seed corpus (tests/fuzz/corpus/<harness>) in a temp dir;
# nothing is written into the repository. Exits non-zero if any harness failed, after
# printing each crashing input's path and a hexdump of its first 512 bytes.
set -uo pipefail

if [[ $# -ne 2 || ! $2 =~ ^[0-9]+$ || $2 -lt 1 ]]; then
  echo "usage: $0 BUILD_DIR SECONDS_EACH" >&2
  exit 64
fi
build=$(cd "$1" 2>/dev/null && pwd) || { echo "run.sh: no build directory $1" >&2; exit 64; }
seconds=$2
here=$(cd "$(dirname "$0")" && pwd)

shopt -s nullglob
harnesses=()
for f in "$build"/fuzz/fuzz_*; do
  [[ -f $f && -x $f ]] && harnesses+=("$f")
done
if ((${#harnesses[@]} == 0)); then
  echo "run.sh: no fuzz_* executables in $build/fuzz (configure with -DHOSTD_FUZZ=ON and build)" >&2
  exit 64
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/hostd-fuzz.XXXXXX")
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1}

passed=0
failed=0
crashes=()
for bin in "${harnesses[@]}"; do
  name=$(basename "$bin")
  corpus=$work/$name/corpus
  artifacts=$work/$name/artifacts
  log=$work/$name/log.txt
  mkdir -p "$corpus" "$artifacts"
  [[ -d $here/corpus/$name ]] && cp -r "$here/corpus/$name/." "$corpus/"
  # libFuzzer stops itself after -max_total_time; the outer timeout only catches a hang.
  (cd "$work/$name" && timeout -k 10 $((seconds + 120)) "$bin" "$corpus" \
     -max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
     -artifact_prefix="$artifacts/" >"$log" 2>&1)
  rc=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *\([0-9]*\).*/\1/p' "$log" | tail -1)
  [[ -n $execs ]] || execs=$(sed -n 's/^Done \([0-9]*\) runs.*/\1/p' "$log" | tail -1)
  [[ -n $execs ]] || execs=$(sed -n 's/^#\([0-9]*\).*/\1/p' "$log" | tail -1)
  found=()
  for a in "$artifacts"/crash-* "$artifacts"/leak-* "$artifacts"/timeout-* "$artifacts"/oom-*; do found+=("$a"); done
  if ((rc == 0 && ${#found[@]} == 0)); then
    echo "$name: ok, ${execs:-0} execs"
    passed=$((passed + 1))
  else
    why="exit $rc"
    ((rc == 124 || rc == 137)) && why="hung (killed after $((seconds + 120)) s)"
    ((${#found[@]} > 0)) && why=$(basename "${found[0]}" | sed 's/-.*//')
    echo "$name: FAILED ($why), ${execs:-0} execs; log: $log"
    failed=$((failed + 1))
    crashes+=("${found[@]}")
  fi
done

echo "fuzz: $passed passed, $failed failed"
if ((failed > 0)); then
  for c in "${crashes[@]}"; do
    echo
    echo "crashing input: $c ($(stat -c %s "$c") bytes)"
    head -c 512 "$c" | od -A x -t x1z -v
  done
  exit 1
fi
rm -rf "$work"
exit 0
