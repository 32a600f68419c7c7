#!/usr/bin/env bash
# hostd developer entry point. The README's two commands:
#   ./dev.sh run    install what is missing, build, start hostd on conf/server.ini
#   ./dev.sh test   install what is missing, build, run every test (plain build, the libFuzzer
#                   harnesses for FUZZ_SECONDS each, then the ASan+UBSan build)
#   ./dev.sh fuzz [SECONDS]   only the fuzzers (default 60 s each)
set -euo pipefail
cd "$(dirname "$0")"

BUILD_PACKAGES=(cmake g++ gcc make pkg-config libpoco-dev libuv1-dev node-llhttp catch2)
TEST_PACKAGES=(redis-server systemd prometheus strace doxygen curl)  # a real Redis on loopback;
# systemd-socket-activate and systemd-analyze; promtool (the metrics are checked by Prometheus'
# own linter); strace (the worker's syscalls per connection are counted); doxygen (the SDK
# reference is built with warnings as errors); curl (examples/greeter/test.sh)
FUZZ_PACKAGES=(clang libclang-rt-14-dev)  # libFuzzer (libclang_rt.fuzzer) for tests/fuzz
FUZZ_SECONDS=${FUZZ_SECONDS:-60}
JOBS=$(nproc 2>/dev/null || echo 2)

install_missing() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "ok installed" || missing+=("$p")
  done
  ((${#missing[@]})) || return 0
  echo "dev.sh: installing ${missing[*]}"
  local sudo=()
  [[ $(id -u) -eq 0 ]] || sudo=(sudo)
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

build() {  # build DIR [cmake args...]
  local dir=$1; shift
  cmake -S . -B "$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$dir" -j "$JOBS"
}

build_fuzz() {
  cmake -S . -B build-fuzz -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCMAKE_C_COMPILER=clang -DCMAKE_CXX_COMPILER=clang++ \
    -DHOSTD_FUZZ=ON -DHOSTD_BUILD_TESTS=OFF >/dev/null
  cmake --build build-fuzz -j "$JOBS" --target fuzzers
}

case "${1:-}" in
  run)
    install_missing "${BUILD_PACKAGES[@]}"
    build build -DHOSTD_BUILD_TESTS=OFF
    echo "dev.sh: starting hostd -c conf/server.ini (Ctrl-C stops it; try: curl http://127.0.0.1:8080/)"
    exec ./build/hostd -c conf/server.ini
    ;;
  test)
    install_missing "${BUILD_PACKAGES[@]}" "${TEST_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    build build -DHOSTD_BUILD_TESTS=ON
    (cd build && ctest --output-on-failure --no-tests=error --timeout 300)
    # The HTTP engine, frame codec, message/state decoders and config parser under libFuzzer.
    build_fuzz
    tests/fuzz/run.sh build-fuzz "$FUZZ_SECONDS"
    # The same suite under AddressSanitizer + UndefinedBehaviorSanitizer.
    build build-asan -DHOSTD_BUILD_TESTS=ON -DHOSTD_SANITIZE=ON
    (cd build-asan && ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
       ctest --output-on-failure --no-tests=error --timeout 300)
    ;;
  fuzz)
    install_missing "${BUILD_PACKAGES[@]}" "${FUZZ_PACKAGES[@]}"
    build_fuzz
    tests/fuzz/run.sh build-fuzz "${2:-$FUZZ_SECONDS}"
    ;;
  *)
    echo "usage: ./dev.sh run | test | fuzz [SECONDS]" >&2
    exit 64
    ;;
esac
