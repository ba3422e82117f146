#!/usr/bin/env bash
# Sets up everything (Debian packages, configure, build) and runs all tests.
#
#   scripts/run-tests.sh              normal build (build/)
#   scripts/run-tests.sh --sanitize   ASan+UBSan build (build-asan/)
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
build="$root/build"
setup_args=()
if [ "${1:-}" = "--sanitize" ]; then
  build="$root/build-asan"
  setup_args+=(--sanitize)
  export ASAN_OPTIONS=detect_leaks=1:abort_on_error=1
  export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1
fi
bash "$root/scripts/setup.sh" "${setup_args[@]}"
cd "$build"
ctest --output-on-failure -j "$(nproc)"
