#!/usr/bin/env bash
# The SDK reference check has teeth: doxygen with the project's Doxyfile passes on the
# real headers without a single warning, and fails, naming the symbol, once a public
# call without a comment is added to a copy of plugin.hpp.
# usage: check_sdk_docs.sh DOXYGEN DOXYFILE SDK_INCLUDE_DIR
set -uo pipefail
doxygen=$1 doxyfile=$2 include=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

run() {  # run DOXYFILE -> exit code; output in $work/out
  "$doxygen" "$1" >"$work/out" 2>&1
}

# 1. The real headers: exit 0, nothing printed.
sed "s|^OUTPUT_DIRECTORY .*|OUTPUT_DIRECTORY = $work/real|" "$doxyfile" >"$work/Doxyfile.real"
mkdir -p "$work/real"
if ! run "$work/Doxyfile.real" || [[ -s $work/out ]]; then
  echo "FAIL: the SDK headers do not pass the documentation check:"; cat "$work/out"; exit 1
fi

# 2. A copy with one undocumented public function: must fail and name it.
mkdir -p "$work/include/hostd" "$work/bad"
cp "$include/hostd/plugin.h" "$work/include/hostd/"
sed 's|^#endif  // HOSTD_PLUGIN_HPP|namespace hostd { inline int undocumented_call() { return 0; } }\n&|' \
  "$include/hostd/plugin.hpp" >"$work/include/hostd/plugin.hpp"
grep -q undocumented_call "$work/include/hostd/plugin.hpp" || { echo "FAIL: could not plant the symbol"; exit 1; }
sed -e "s|$include|$work/include|g" -e "s|^OUTPUT_DIRECTORY .*|OUTPUT_DIRECTORY = $work/bad|" \
  "$doxyfile" >"$work/Doxyfile.bad"
if run "$work/Doxyfile.bad"; then
  echo "FAIL: doxygen accepted an undocumented public function:"; cat "$work/out"; exit 1
fi
if ! grep -q "undocumented_call" "$work/out"; then
  echo "FAIL: doxygen failed without naming the undocumented function:"; cat "$work/out"; exit 1
fi
echo "ok: the SDK headers are fully documented, and an undocumented call fails the check"
